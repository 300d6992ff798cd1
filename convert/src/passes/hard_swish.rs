//! Recognizes hard-swish written out as elementwise nodes, `x * Clip(x + 3, 0, 6) / 6` (how
//! PaddlePaddle and some PyTorch exports spell it: PP-OCR has dozens), and replaces the four
//! nodes by one `HardSwish`, which activation fusion can then fold into the producing Conv.
//!
//! Accepted spellings: `Add(x, 3)` or `Add(3, x)`; `Clip(·, 0, 6)` with constant bounds;
//! `Mul(x, clip)` or `Mul(clip, x)`; then `Div(·, 6)` or `Mul(·, 1/6)` (either operand order for
//! the Mul). Every constant is a single f32 element equal to the value named (1/6 within one f32
//! rounding).
//!
//! Invariants: the rewrite only happens when the three intermediate values are read once (by
//! the next node of the pattern), are not exported, and all four nodes are in the same graph;
//! the `HardSwish` takes the place of the last node, which keeps the order topological (`x` is
//! defined before the first node of the pattern).

use mobiquant_core::Node;
use mobiquant_core::graph::ValueId;

use super::{is_exported, producers};
use crate::ir::IrModel;

/// Replaces every written-out hard-swish; returns how many.
pub fn fuse_hard_swish(ir: &mut IrModel) -> usize {
    let mut fused = 0;
    for g in 0..ir.graphs.len() {
        let mut i = 0;
        while i < ir.graphs[g].nodes.len() {
            match match_at(ir, g, i) {
                Some((x, mut drop)) => {
                    let last = &mut ir.graphs[g].nodes[i];
                    last.op = "HardSwish".into();
                    last.inputs = vec![Some(x)];
                    last.attributes.clear();
                    drop.sort_unstable_by(|a, b| b.cmp(a));
                    for d in &drop {
                        ir.graphs[g].nodes.remove(*d);
                    }
                    // The three removed nodes came before the rewritten one.
                    i = i - drop.len() + 1;
                    fused += 1;
                }
                None => i += 1,
            }
        }
    }
    fused
}

/// The single f32 value of a constant input.
fn scalar(ir: &IrModel, v: Option<ValueId>) -> Option<f32> {
    match ir.constant(v?)?.f32s()?.as_slice() {
        [x] => Some(*x),
        _ => None,
    }
}

/// When `n` is the binary `op` with one operand (either one) the constant `c`: the other operand.
fn with_constant(ir: &IrModel, n: &Node, op: &str, c: f32) -> Option<ValueId> {
    if n.op != op || n.inputs.len() != 2 || n.outputs.len() != 1 {
        return None;
    }
    let (a, b) = (n.inputs[0], n.inputs[1]);
    let close = |x: f32| (x - c).abs() <= f32::EPSILON * c.abs();
    if scalar(ir, b).is_some_and(close) {
        a
    } else if scalar(ir, a).is_some_and(close) {
        b
    } else {
        None
    }
}

/// When node `i` of graph `g` ends a written-out hard-swish: its input `x` and the indices of
/// the other three nodes.
fn match_at(ir: &IrModel, g: usize, i: usize) -> Option<(ValueId, Vec<usize>)> {
    let last = &ir.graphs[g].nodes[i];
    let product = with_constant(ir, last, "Div", 6.0)
        .or_else(|| with_constant(ir, last, "Mul", 1.0 / 6.0))?;
    let producers = producers(ir); // O(nodes) per candidate: there are few Div-by-6 nodes
    let uses = ir.use_counts();
    let single = |v: ValueId| uses[v as usize] == 1 && !is_exported(ir, v);
    let node_of = |v: ValueId| -> Option<(usize, &Node)> {
        let (pg, pi) = producers[v as usize]?;
        (pg == g && single(v)).then(|| (pi, &ir.graphs[g].nodes[pi]))
    };
    let (mul_i, mul) = node_of(product)?;
    if mul.op != "Mul" || mul.inputs.len() != 2 {
        return None;
    }
    // One factor is the clip, the other is x.
    for (clipped, x) in [
        (mul.inputs[0]?, mul.inputs[1]?),
        (mul.inputs[1]?, mul.inputs[0]?),
    ] {
        let Some((clip_i, clip)) = node_of(clipped) else {
            continue;
        };
        if clip.op != "Clip"
            || clip.inputs.len() != 3
            || scalar(ir, clip.inputs[1]) != Some(0.0)
            || scalar(ir, clip.inputs[2]) != Some(6.0)
        {
            continue;
        }
        let Some((add_i, add)) = clip.inputs[0].and_then(node_of) else {
            continue;
        };
        if with_constant(ir, add, "Add", 3.0) == Some(x) {
            return Some((x, vec![mul_i, clip_i, add_i]));
        }
    }
    None
}
