//! The arithmetic shared by the passes that fold a per-channel `y = x * s + t` into the linear op
//! that computes `x` ([`super::batch_norm`], [`super::affine`]): output channel `k` of a Conv,
//! Gemm or MatMul with constant f32 weights becomes `out[k] * s[k] + t[k]` by scaling the
//! weights of that channel by `s[k]` and the bias to `b[k] * s[k] + t[k]`.
//!
//! Where the output channel is: Conv, axis 1 of the output (axis 0 of W, one row of W per
//! channel); Gemm, the column (axis 1 of the `[M, N]` output; axis 1 of B, or axis 0 when
//! `transB`); MatMul with a 2-D constant B, the last output axis (axis 1 of B). A MatMul of a
//! matrix that takes a shift becomes the Gemm that computes the same with the shift as C.
//!
//! Invariant: [`fold_into_outputs`] either rewrites the node completely or leaves it untouched
//! (every check happens before the first change). New constants get model-unique names.

use mobiquant_core::graph::ValueId;
use mobiquant_core::{AttrValue, Attribute, DType, Node};

use super::float_attr;
use crate::ir::{IrModel, IrTensor};

/// Where the output channels of a linear op with constant f32 weights are.
#[derive(Clone, Debug)]
pub(super) struct Linear {
    /// Rank of the op's output.
    pub rank: usize,
    /// The output axis that indexes channels.
    pub axis: usize,
    pub channels: usize,
    weight: ValueId,
    /// The weight axis that indexes output channels.
    weight_axis: usize,
}

/// The channel layout of `n` when it is a Conv, Gemm or MatMul (2-D constant B, output rank
/// known) with constant f32 weights and no fused activation.
pub(super) fn linear(ir: &IrModel, n: &Node) -> Option<Linear> {
    if n.attribute("activation").is_some() || n.outputs.len() != 1 {
        return None;
    }
    let weight = (*n.inputs.get(1)?)?;
    let w = ir.constant(weight).filter(|w| w.dtype == DType::F32)?;
    let dim = |k: usize| usize::try_from(*w.dims.get(k)?).ok();
    let (rank, axis, weight_axis) = match n.op.as_str() {
        "Conv" if w.dims.len() >= 3 => (w.dims.len(), 1, 0),
        "Gemm" if w.dims.len() == 2 => (2, 1, usize::from(!transposed_b(n))),
        "MatMul" if w.dims.len() == 2 => {
            let rank = ir.values[n.outputs[0] as usize].shape.as_ref()?.rank();
            (rank, rank.checked_sub(1)?, 1)
        }
        _ => return None,
    };
    Some(Linear {
        rank,
        axis,
        channels: dim(weight_axis)?,
        weight,
        weight_axis,
    })
}

fn transposed_b(n: &Node) -> bool {
    matches!(n.attribute("transB"), Some(AttrValue::Int(t)) if *t != 0)
}

/// `w` (row-major, `dims`) with each element multiplied by `s` of its index along `axis`.
pub(super) fn scale_along(w: &[f32], dims: &[u64], axis: usize, s: &[f32]) -> Vec<f32> {
    let inner: usize = dims[axis + 1..].iter().map(|&d| d as usize).product();
    let n = s.len();
    w.iter()
        .enumerate()
        .map(|(k, v)| v * s[(k / inner.max(1)) % n])
        .collect()
}

/// Adds an f32 constant named after `base` (made unique).
pub(super) fn new_constant(ir: &mut IrModel, base: &str, dims: Vec<u64>, v: &[f32]) -> ValueId {
    let name = ir.unique_tensor_name(base);
    ir.add_constant(IrTensor::from_f32s(name, dims, v))
}

/// Rewrites node `pi` of graph `g` so that output channel `k` computes `out[k] * s[k] + t[k]`
/// (`tag` names the new constants). A MatMul has no bias: with a shift it becomes a Gemm
/// (`alpha` = `beta` = 1, B not transposed, C the shift per column) when its output is 2-D (A
/// is a matrix, which is all Gemm takes). False, with nothing changed, when the node is not a
/// [`linear`] op with `s.len()` channels, its bias is not a constant per-channel f32, or it is a
/// batched MatMul and `t` is not all zero.
pub(super) fn fold_into_outputs(
    ir: &mut IrModel,
    g: usize,
    pi: usize,
    s: &[f32],
    t: &[f32],
    tag: &str,
) -> bool {
    let n = &ir.graphs[g].nodes[pi];
    let Some(lin) = linear(ir, n).filter(|l| l.channels == s.len() && t.len() == s.len()) else {
        return false;
    };
    let has_shift = t.iter().any(|&v| v != 0.0);
    let bias_input = n.inputs.get(2).copied().flatten();
    let bias = match (n.op.as_str(), bias_input) {
        ("MatMul", _) if has_shift && lin.rank != 2 => return false,
        ("MatMul", _) => has_shift.then(|| vec![0.0; s.len()]),
        (_, None) => has_shift.then(|| vec![0.0; s.len()]),
        (_, Some(b)) => match per_column_bias(ir, n, b, s.len()) {
            Some(b) => Some(b),
            None => return false,
        },
    };
    let w = ir.constant(lin.weight).expect("checked by linear");
    let weights = scale_along(&w.f32s().expect("f32 checked"), &w.dims, lin.weight_axis, s);
    let (name, w_dims) = (n.name.clone(), w.dims.clone());
    let w_value = new_constant(ir, &format!("{name}.weight+{tag}"), w_dims, &weights);
    let b_value = bias.map(|b| {
        let b: Vec<f32> = (0..s.len()).map(|k| b[k] * s[k] + t[k]).collect();
        new_constant(ir, &format!("{name}.bias+{tag}"), vec![s.len() as u64], &b)
    });
    let n = &mut ir.graphs[g].nodes[pi];
    n.inputs[1] = Some(w_value);
    if let Some(b) = b_value {
        if n.op == "MatMul" {
            n.op = "Gemm".into();
        }
        n.inputs.resize(3, None);
        n.inputs[2] = Some(b);
        if n.op == "Gemm" {
            // `beta` is now inside the bias.
            n.attributes.retain(|a| a.name != "beta");
            n.attributes.push(Attribute {
                name: "beta".into(),
                value: AttrValue::Float(1.0),
            });
        }
    }
    true
}

/// The bias of a Conv (`[channels]`) or Gemm (C broadcasting per column, times `beta`) as one
/// value per channel, when it is a constant f32.
fn per_column_bias(ir: &IrModel, n: &Node, b: ValueId, channels: usize) -> Option<Vec<f32>> {
    let c = ir.constant(b)?;
    let v = c.f32s()?;
    if n.op == "Conv" {
        return (v.len() == channels).then_some(v);
    }
    let beta = float_attr(n, "beta", 1.0);
    let per_column = match c.dims.as_slice() {
        [] | [1] | [1, 1] => vec![v[0]; channels],
        [k] | [1, k] if *k as usize == channels => v,
        _ => return None,
    };
    Some(per_column.iter().map(|x| x * beta).collect())
}
