//! Recognizes hard-swish written out as elementwise nodes, `x * Clip(x + 3, 0, 6) / 6` (how
//! PaddlePaddle and some PyTorch exports spell it: PP-OCR has dozens), and replaces the four
//! nodes by one `HardSwish`, which activation fusion can then fold into the producing Conv.
//!
//! Accepted spellings: `Add(x, 3)` or `Add(3, x)`; `Clip(·, 0, 6)` with constant bounds;
//! `Mul(x, clip)` or `Mul(clip, x)`; then `Div(·, 6)` or `Mul(·, 1/6)` (either operand order for
//! the Mul). Every constant is a single f32 element equal to the value named (1/6 within one f32
//! rounding), with no more dims than the value it combines with.
//!
//! Invariants: the rewrite only happens when the three intermediate values are read once (by
//! the next node of the pattern), are not exported, and all four nodes are in the same graph
//! ([`super::pattern`] matches and replaces).

use super::pattern::{Matcher, Operand, Replacement, operands, rewrite_all, scalar, with_constant};
use crate::ir::IrModel;

/// Replaces every written-out hard-swish; returns how many.
pub fn fuse_hard_swish(ir: &mut IrModel) -> usize {
    rewrite_all(ir, match_at)
}

/// When node `i` ends a written-out hard-swish: one `HardSwish` of its input `x`.
fn match_at(m: &Matcher<'_>, i: usize) -> Option<Replacement> {
    let ir = m.ir;
    let last = m.node(i);
    let product = with_constant(ir, last, "Div", 6.0)
        .or_else(|| with_constant(ir, last, "Mul", 1.0 / 6.0))?;
    let (mul_i, mul) = m.private(product, 1)?;
    // One factor is the clip, the other is x.
    for (clipped, x) in operands(mul, "Mul")? {
        let Some((clip_i, clip)) = m.single(clipped, "Clip") else {
            continue;
        };
        if clip.inputs.len() != 3
            || scalar(ir, clip.inputs[1]) != Some(0.0)
            || scalar(ir, clip.inputs[2]) != Some(6.0)
        {
            continue;
        }
        let Some((add_i, add)) = clip.inputs[0].and_then(|a| m.private(a, 1)) else {
            continue;
        };
        if with_constant(ir, add, "Add", 3.0) == Some(x) {
            return Some(Replacement {
                op: "HardSwish",
                inputs: vec![Operand::Value(x)],
                attributes: vec![],
                drop: vec![mul_i, clip_i, add_i],
            });
        }
    }
    None
}
