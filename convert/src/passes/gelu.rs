//! Recognizes GELU written out as elementwise nodes (how PyTorch exports `gelu` before opset 20,
//! and how hand-written transformer code spells it) and replaces the chain by one `Gelu`:
//!
//! ```text
//! x * 0.5 * (1 + Erf(x / √2))                                  approximate = "none"
//! x * 0.5 * (1 + Tanh(√(2/π) * (x + 0.044715 * x³)))          approximate = "tanh"
//! ```
//!
//! Accepted spellings: the three factors `x`, `0.5` and `1 + F` multiplied in any grouping and
//! order (`(x * 0.5) * s`, `(0.5 * x) * s`, `(x * s) * 0.5`, `0.5 * (x * s)`, `x * (s * 0.5)`, …),
//! the halving also as `Div(·, 2)`; `1 + F` either side; `x / √2` or `x * (1/√2)`; `x³` as
//! `Pow(x, 3)`, `x * (x * x)` or `(x * x) * x`; every other binary node with its constant on
//! either side.
//!
//! Exact in meaning only: every constant is one f32 element, equal to the value named within
//! one f32 rounding, with no more dims than the value it combines with; `x` is f32 and is the same
//! value wherever the formula reads it; every intermediate value is private to the chain
//! ([`super::pattern`]).

use mobiquant_core::graph::ValueId;
use mobiquant_core::{AttrValue, Attribute};

use super::pattern::{
    Matcher, Operand, Replacement, is_f32, operands, rank_of, rewrite_all, scalar_within,
    with_constant,
};
use crate::ir::IrModel;

/// √(2/π), the tanh form's scale.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The tanh form's cubic coefficient.
const CUBIC: f32 = 0.044_715;

/// Replaces every written-out GELU; returns how many.
pub fn fuse_gelus(ir: &mut IrModel) -> usize {
    rewrite_all(ir, match_at)
}

/// When node `i` ends a written-out GELU: one `Gelu` of its input.
fn match_at(m: &Matcher<'_>, i: usize) -> Option<Replacement> {
    let last = m.node(i);
    // The last node either halves the product of the other two factors, or multiplies one
    // factor by the halved other one.
    let candidates: Vec<(usize, ValueId, ValueId)> = match halved(m, i) {
        Some(product) => {
            let (p_i, p) = m.single(product, "Mul")?;
            operands(p, "Mul")?.map(|(a, b)| (p_i, a, b)).to_vec()
        }
        None => operands(last, "Mul")?
            .into_iter()
            .filter_map(|(h, other)| {
                let (h_i, _) = m.private(h, 1)?;
                Some((h_i, halved(m, h_i)?, other))
            })
            .collect(),
    };
    candidates.into_iter().find_map(|(k, a, b)| {
        // {a, b} = {x, 1 + F(x)}.
        [(a, b), (b, a)].into_iter().find_map(|(x, s)| {
            let (approximate, mut nodes) = one_plus(m, s, x)?;
            if !is_f32(m.ir, x) {
                return None;
            }
            nodes.push(k);
            Some(Replacement {
                op: "Gelu",
                inputs: vec![Operand::Value(x)],
                attributes: vec![Attribute {
                    name: "approximate".into(),
                    value: AttrValue::String(approximate.into()),
                }],
                drop: nodes,
            })
        })
    })
}

/// When node `i` is `Mul(v, 0.5)`, `Mul(0.5, v)` or `Div(v, 2)`: `v`.
fn halved(m: &Matcher<'_>, i: usize) -> Option<ValueId> {
    let n = m.node(i);
    with_constant(m.ir, n, "Mul", 0.5).or_else(|| with_constant(m.ir, n, "Div", 2.0))
}

/// When `s` is `1 + Erf(x / √2)` or `1 + Tanh(√(2/π) * (x + 0.044715 * x³))`: the `Gelu`
/// approximation it spells and its nodes.
fn one_plus(m: &Matcher<'_>, s: ValueId, x: ValueId) -> Option<(&'static str, Vec<usize>)> {
    let ir = m.ir;
    let (add_i, add) = m.private(s, 1)?;
    let (f_i, f) = m.private(with_constant(ir, add, "Add", 1.0)?, 1)?;
    let (arg_i, arg) = m.private((*f.inputs.first()?)?, 1)?;
    let mut nodes = vec![add_i, f_i, arg_i];
    match f.op.as_str() {
        "Erf" => {
            let scaled = with_constant(ir, arg, "Div", std::f32::consts::SQRT_2)
                .or_else(|| with_constant(ir, arg, "Mul", std::f32::consts::FRAC_1_SQRT_2));
            (scaled == Some(x)).then_some(("none", nodes))
        }
        "Tanh" => {
            let (sum_i, sum) = m.private(with_constant(ir, arg, "Mul", SQRT_2_OVER_PI)?, 1)?;
            let cubic = operands(sum, "Add")?
                .into_iter()
                .find_map(|(a, k)| (a == x).then_some(k))?;
            let (k_i, k) = m.private(cubic, 1)?;
            let cube = with_constant(ir, k, "Mul", CUBIC)?;
            nodes.extend([sum_i, k_i]);
            nodes.extend(cube_of(m, cube, x)?);
            Some(("tanh", nodes))
        }
        _ => None,
    }
}

/// When `c` is `Pow(x, 3)`, `x * (x * x)` or `(x * x) * x`: its nodes.
fn cube_of(m: &Matcher<'_>, c: ValueId, x: ValueId) -> Option<Vec<usize>> {
    let (c_i, cube) = m.private(c, 1)?;
    if cube.op == "Pow" {
        let [Some(base), e] = cube.inputs.as_slice() else {
            return None;
        };
        let three = scalar_within(m.ir, *e, rank_of(m.ir, x)) == Some(3.0);
        return (*base == x && three).then(|| vec![c_i]);
    }
    operands(cube, "Mul")?.into_iter().find_map(|(a, sq)| {
        let (sq_i, square) = m.single(sq, "Mul")?;
        (a == x && square.inputs == [Some(x), Some(x)]).then(|| vec![c_i, sq_i])
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn constants_are_the_f32_roundings() {
        let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt() as f32;
        assert_eq!(super::SQRT_2_OVER_PI, sqrt_2_over_pi);
    }
}
