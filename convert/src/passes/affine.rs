//! Folds elementwise affine nodes with a constant operand (`Mul`, `Add`, `Sub`, `Div`: the
//! "learnable affine blocks" of PP-LCNetV3, and scale/shift layers in general) into the
//! convolution or matrix product next to them, so that they cost nothing at run time and the
//! activation behind them can fuse ([`super::activation`]).
//!
//! Each such node is `y = x * s + t` with the constant broadcast: `Mul` gives `s = c`, `Add`
//! `t = c`, `Sub` `t = -c` (`x - c`) or `s = -1, t = c` (`c - x`), `Div` `s = 1 / c` (`x / c`
//! only, no zero in `c`; `c / x` is not affine in `x`). `Mul` and `Add` take the constant on
//! either side.
//!
//! Backward, into the producer: when `x` is the output of a Conv, Gemm or MatMul with constant
//! weights ([`super::channels::linear`]) that only this node reads, and `c` is per output
//! channel, the producer absorbs it ([`super::channels::fold_into_outputs`]; a MatMul has no
//! bias: a MatMul of a matrix becomes a Gemm with the shift as its bias, a batched MatMul absorbs
//! only scales, since neither of the runtime's ops takes a bias on a batched product).
//!
//! Forward, into the consumer: when only a Conv reads `y`, as its input, with constant f32
//! weights, and `c` is per input channel, the Conv absorbs it: `W'[m, j] = W[m, j] * s[j]`,
//! `b'[m] = b[m] + Σ W[m, j, ·] * t[j]`. The shift is exact only where the Conv never reads its
//! zero padding (a padded border would see `t` in the original, 0 in the folded model), so a
//! non-zero `t` needs all pads zero (`auto_pad` unset or `VALID`); a pure scale folds through
//! any padding.
//!
//! Per channel means the constant, right-aligned against the `rank` dims of the value it
//! combines with, has size 1 on every axis except the channel axis (size 1 or the channel count)
//! and no more dims than that value: shapes `[1]`, `[C, 1, 1]`, `[1, C, 1, 1]` for a 4-D Conv
//! output, `[N]` or `[1, N]` for a Gemm's columns. Anything that would broadcast the value to a
//! larger shape, or vary along another axis, stays.
//!
//! Invariants: only f32 values and constants; non-finite constants stay; the folded node is
//! removed and its output is then defined by the producer (backward) or no longer read (forward,
//! the Conv reads `x`), which keeps the order topological.

use mobiquant_core::graph::ValueId;
use mobiquant_core::{AttrValue, DType, Dim, Node};

use super::channels::{fold_into_outputs, linear, new_constant, scale_along};
use super::producers;
use crate::ir::IrModel;

/// Folds affine nodes until none is left that can fold; returns (into the producer, into the
/// consuming Conv).
pub fn fold_affines(ir: &mut IrModel) -> (usize, usize) {
    let (mut backward, mut forward) = (0, 0);
    loop {
        let before = (backward, forward);
        for g in 0..ir.graphs.len() {
            let mut i = 0;
            while i < ir.graphs[g].nodes.len() {
                let Some(a) = affine(ir, &ir.graphs[g].nodes[i]) else {
                    i += 1;
                    continue;
                };
                if fold_backward(ir, g, &a) {
                    backward += 1;
                } else if fold_forward(ir, g, i, &a) {
                    forward += 1;
                } else {
                    i += 1;
                    continue;
                }
                ir.graphs[g].nodes.remove(i);
            }
        }
        // A forward fold can make the node before it foldable (Mul, Add, Conv: the Add folds
        // first); one more walk picks that up.
        if (backward, forward) == before {
            return (backward, forward);
        }
    }
}

/// `y = x * s + t`, with `s` and `t` as many as the constant's elements, shaped `dims`.
#[derive(Debug)]
struct Affine {
    x: ValueId,
    y: ValueId,
    dims: Vec<u64>,
    s: Vec<f32>,
    t: Vec<f32>,
}

fn affine(ir: &IrModel, n: &Node) -> Option<Affine> {
    let ([Some(a), Some(b)], [y]) = (n.inputs.as_slice(), n.outputs.as_slice()) else {
        return None;
    };
    let (x, c, constant_first) = match (ir.constant(*a), ir.constant(*b)) {
        (None, Some(c)) => (*a, c, false),
        (Some(c), None) => (*b, c, true),
        _ => return None,
    };
    let v = c.f32s()?;
    if ir.values[x as usize].dtype != DType::F32 || v.iter().any(|c| !c.is_finite()) {
        return None;
    }
    let len = v.len();
    let fill = |k: f32| vec![k; len];
    let (s, t) = match (n.op.as_str(), constant_first) {
        ("Mul", _) => (v, fill(0.0)),
        ("Add", _) => (fill(1.0), v),
        ("Sub", false) => (fill(1.0), v.iter().map(|c| -c).collect()),
        ("Sub", true) => (fill(-1.0), v),
        ("Div", false) => (v.iter().map(|c| 1.0 / c).collect(), fill(0.0)),
        _ => return None,
    };
    if s.iter().any(|s| !s.is_finite()) {
        return None;
    }
    Some(Affine {
        x,
        y: *y,
        dims: c.dims.clone(),
        s,
        t,
    })
}

/// `s` and `t` as one value per channel, when the constant combined with a value of `rank` dims
/// varies only along `axis`, which has `channels` entries (see the module docs).
fn per_channel(
    a: &Affine,
    rank: usize,
    axis: usize,
    channels: usize,
) -> Option<(Vec<f32>, Vec<f32>)> {
    let k = a.dims.len();
    if k > rank || channels == 0 {
        return None;
    }
    let fits = a
        .dims
        .iter()
        .enumerate()
        .all(|(i, &d)| d == 1 || (rank - k + i == axis && d == channels as u64));
    match (fits, a.s.len()) {
        (false, _) => None,
        (true, 1) => Some((vec![a.s[0]; channels], vec![a.t[0]; channels])),
        (true, _) => Some((a.s.clone(), a.t.clone())),
    }
}

fn fold_backward(ir: &mut IrModel, g: usize, a: &Affine) -> bool {
    let Some((pg, pi)) = producers(ir)[a.x as usize] else {
        return false;
    };
    if pg != g || ir.use_counts()[a.x as usize] != 1 {
        return false;
    }
    let Some(lin) = linear(ir, &ir.graphs[g].nodes[pi]) else {
        return false;
    };
    let Some((s, t)) = per_channel(a, lin.rank, lin.axis, lin.channels) else {
        return false;
    };
    if !fold_into_outputs(ir, g, pi, &s, &t, "affine") {
        return false;
    }
    ir.graphs[g].nodes[pi].outputs[0] = a.y;
    true
}

/// Whether Conv `n` never reads its zero padding.
fn unpadded(n: &Node) -> bool {
    let auto_pad_ok = match n.attribute("auto_pad") {
        None => true,
        Some(AttrValue::String(p)) => p == "NOTSET" || p == "VALID",
        Some(_) => false,
    };
    let pads_zero = match n.attribute("pads") {
        None => true,
        Some(AttrValue::Ints(p)) => p.iter().all(|&p| p == 0),
        Some(_) => false,
    };
    auto_pad_ok && pads_zero
}

fn fold_forward(ir: &mut IrModel, g: usize, i: usize, a: &Affine) -> bool {
    if ir.use_counts()[a.y as usize] != 1 {
        return false;
    }
    let Some(ci) = (i + 1..ir.graphs[g].nodes.len())
        .find(|&k| ir.graphs[g].nodes[k].inputs.first() == Some(&Some(a.y)))
    else {
        return false;
    };
    let conv = &ir.graphs[g].nodes[ci];
    let Some(w) = conv
        .inputs
        .get(1)
        .copied()
        .flatten()
        .and_then(|w| ir.constant(w))
        .filter(|w| conv.op == "Conv" && w.dtype == DType::F32 && w.dims.len() >= 3)
    else {
        return false;
    };
    let group = match conv.attribute("group") {
        None => 1,
        Some(AttrValue::Int(k)) if *k >= 1 => *k as usize,
        Some(_) => return false,
    };
    let (m, per_group) = (w.dims[0] as usize, w.dims[1] as usize);
    let channels = per_group * group;
    if m % group != 0 {
        return false;
    }
    // `y` has the shape of `x`: same rank, and the channels come from `x`, not the constant.
    let x_shape = ir.values[a.x as usize].shape.as_ref();
    let same_shape = x_shape.is_some_and(|sh| {
        sh.rank() == w.dims.len() && (a.s.len() == 1 || sh.0[1] == Dim::Fixed(channels as u64))
    });
    let Some((s, t)) = per_channel(a, w.dims.len(), 1, channels).filter(|_| same_shape) else {
        return false;
    };
    let shifts = t.iter().any(|&t| t != 0.0);
    if shifts && !unpadded(conv) {
        return false;
    }
    let bias = match conv.inputs.get(2).copied().flatten() {
        None => vec![0.0; m],
        Some(b) => match ir
            .constant(b)
            .and_then(|b| b.f32s())
            .filter(|b| b.len() == m)
        {
            Some(b) => b,
            None => return false,
        },
    };
    let dims = w.dims.clone();
    let (scaled, new_bias) =
        absorb_input_affine(&w.f32s().expect("f32 checked"), m, group, &bias, &s, &t);
    let name = conv.name.clone();
    let w_value = new_constant(ir, &format!("{name}.weight+affine"), dims, &scaled);
    let b_value = new_constant(
        ir,
        &format!("{name}.bias+affine"),
        vec![m as u64],
        &new_bias,
    );
    let conv = &mut ir.graphs[g].nodes[ci];
    conv.inputs.resize(3, None);
    conv.inputs[0] = Some(a.x);
    conv.inputs[1] = Some(w_value);
    conv.inputs[2] = Some(b_value);
    true
}

/// The weights (`[m, C / group, kernel…]`, flattened) and bias of a Conv that computes on `x`
/// what the original computes on `x * s + t` (`s`, `t` per input channel): `W'[o, j, ·] =
/// W[o, j, ·] * s[c]` and `b'[o] = b[o] + Σ W[o, j, ·] * t[c]` (summed in f64), where `c` is
/// input channel `j` of output channel `o`'s group.
fn absorb_input_affine(
    weights: &[f32],
    m: usize,
    group: usize,
    bias: &[f32],
    s: &[f32],
    t: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let per_group = s.len() / group;
    let row_len = weights.len() / m.max(1);
    let kernel = row_len / per_group.max(1);
    let channel = |o: usize, j: usize| o / (m / group) * per_group + j;
    let mut scaled = Vec::with_capacity(weights.len());
    let mut new_bias = Vec::with_capacity(m);
    for (o, row) in weights.chunks_exact(row_len.max(1)).enumerate() {
        let s_row: Vec<f32> = (0..per_group).map(|j| s[channel(o, j)]).collect();
        scaled.extend(scale_along(
            row,
            &[per_group as u64, kernel as u64],
            0,
            &s_row,
        ));
        let shift: f64 = row
            .iter()
            .enumerate()
            .map(|(e, &w)| f64::from(w) * f64::from(t[channel(o, e / kernel)]))
            .sum();
        new_bias.push((f64::from(bias[o]) + shift) as f32);
    }
    (scaled, new_bias)
}
