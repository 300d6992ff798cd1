//! Recognizes layer normalization written out as elementwise nodes (how PaddlePaddle exports
//! `LayerNorm`: PP-OCRv4 recognition's SVTR neck has five) and replaces the chain by one
//! `LayerNormalization`:
//!
//! ```text
//! m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2)); y = Div(d, Sqrt(Add(v, eps)))
//! out = Add(Mul(y, gamma), beta)
//! ```
//!
//! Accepted spellings: `Pow(d, 2)` or `Mul(d, d)`; `Add(v, eps)` or `Add(eps, v)`; the closing
//! `Mul` and `Add` take their constant on either side, and either or both may be absent (Scale
//! is then a one-element 1, B is left out).
//!
//! Exact in meaning only, so the rewrite needs: both ReduceMeans over the same trailing axes
//! (all of them, or the last `k`: `LayerNormalization` `axis` = −k, or 0 for all) with
//! `keepdims` = 1, the second one reading the square of the `d` that the first one centred; `x`
//! f32; `eps` one finite f32 element and 2 exactly; `gamma` and `beta` f32 constants holding one
//! element or exactly the normalized dims (leading 1s allowed), never more dims than `x` (so that
//! broadcasting never widened the result); every intermediate value private to the chain
//! ([`super::pattern`]: `d` is read by the square and the `Div`, the others once). Otherwise
//! nothing changes, except that a `Mul` or `Add` whose constant does not fit stays after a
//! normalization without them.

use mobiquant_core::graph::ValueId;
use mobiquant_core::{AttrValue, Attribute, Dim, Node};

use super::pattern::{
    Matcher, Operand, Replacement, is_f32, operands, rank_of, rewrite_all, scalar_within,
};
use crate::ir::{IrModel, IrTensor};

/// Replaces every written-out layer normalization; returns how many.
pub fn fuse_layer_norms(ir: &mut IrModel) -> usize {
    rewrite_all(ir, match_at)
}

/// The normalization chain up to its `Div`.
struct Normalized {
    x: ValueId,
    /// `LayerNormalization`'s axis: −k for the last k axes, 0 for all.
    axis: i64,
    epsilon: f32,
    /// The chain's nodes before the `Div`.
    nodes: Vec<usize>,
}

/// When node `i` ends a written-out layer normalization: one `LayerNormalization`.
fn match_at(m: &Matcher<'_>, i: usize) -> Option<Replacement> {
    let mut at = (i, m.node(i));
    let mut nodes = vec![];
    let bias = peel(m, &mut at, &mut nodes, "Add");
    let scale = peel(m, &mut at, &mut nodes, "Mul");
    let core = normalized(m, at.1)?;
    nodes.push(at.0);
    nodes.extend(&core.nodes);
    let fits = |c: Option<ValueId>| c.is_none_or(|c| fits_normalized(m.ir, c, &core));
    if !fits(scale) || !fits(bias) {
        return None;
    }
    let name = &m.node(i).name;
    let scale = match scale {
        Some(s) => Operand::Value(s),
        None => Operand::New(IrTensor::from_f32s(
            format!("{name}.scale"),
            vec![1],
            &[1.0],
        )),
    };
    let mut inputs = vec![Operand::Value(core.x), scale];
    inputs.extend(bias.map(Operand::Value));
    Some(Replacement {
        op: "LayerNormalization",
        inputs,
        attributes: vec![
            Attribute {
                name: "axis".into(),
                value: AttrValue::Int(core.axis),
            },
            Attribute {
                name: "epsilon".into(),
                value: AttrValue::Float(core.epsilon),
            },
        ],
        drop: nodes.into_iter().filter(|&k| k != i).collect(),
    })
}

/// When `at` is the binary `op` of a private value and an f32 constant: moves `at` to the node
/// that defines that value, records the node left, and returns the constant.
fn peel<'a>(
    m: &Matcher<'a>,
    at: &mut (usize, &'a Node),
    nodes: &mut Vec<usize>,
    op: &str,
) -> Option<ValueId> {
    let (value, constant) = operands(at.1, op)?
        .into_iter()
        .find(|&(_, c)| m.ir.constant(c).is_some_and(|t| t.f32s().is_some()))?;
    let before = m.private(value, 1)?;
    nodes.push(at.0);
    *at = before;
    Some(constant)
}

/// When `n` is `Div(d, Sqrt(Add(ReduceMean(d²), eps)))` with `d = Sub(x, ReduceMean(x))`.
fn normalized(m: &Matcher<'_>, n: &Node) -> Option<Normalized> {
    let ir = m.ir;
    let ("Div", [Some(d), Some(s)], [_]) = (n.op.as_str(), n.inputs.as_slice(), &n.outputs[..])
    else {
        return None;
    };
    let (sqrt_i, sqrt) = m.single(*s, "Sqrt")?;
    let (add_i, add) = m.single((*sqrt.inputs.first()?)?, "Add")?;
    let (v, epsilon) = operands(add, "Add")?.into_iter().find_map(|(v, e)| {
        let eps = scalar_within(ir, Some(e), rank_of(ir, v))?;
        eps.is_finite().then_some((v, eps))
    })?;
    let (var_i, var) = m.single(v, "ReduceMean")?;
    let axis = trailing_axes(ir, var)?;
    let (square_i, square) = m.private((*var.inputs.first()?)?, 1)?;
    let (squared, reads_of_d) = match (square.op.as_str(), square.inputs.as_slice()) {
        ("Pow", [Some(a), e]) if scalar_within(ir, *e, rank_of(ir, *a)) == Some(2.0) => (*a, 2),
        ("Mul", [Some(a), Some(b)]) if a == b => (*a, 3),
        _ => return None,
    };
    if squared != *d {
        return None;
    }
    let (sub_i, sub) = m.private(*d, reads_of_d).filter(|(_, n)| n.op == "Sub")?;
    let [Some(x), Some(mean)] = sub.inputs.as_slice() else {
        return None;
    };
    let (mean_i, mean) = m.single(*mean, "ReduceMean")?;
    if mean.inputs.first() != Some(&Some(*x)) || trailing_axes(ir, mean)? != axis || !is_f32(ir, *x)
    {
        return None;
    }
    Some(Normalized {
        x: *x,
        axis,
        epsilon,
        nodes: vec![sqrt_i, add_i, var_i, square_i, sub_i, mean_i],
    })
}

/// When `n` is a ReduceMean with `keepdims` = 1 over the trailing axes of its input:
/// `LayerNormalization`'s axis for them (−k for the last k, 0 for all).
fn trailing_axes(ir: &IrModel, n: &Node) -> Option<i64> {
    let int = |name: &str, default: i64| match n.attribute(name) {
        None => Some(default),
        Some(AttrValue::Int(v)) => Some(*v),
        Some(_) => None,
    };
    if n.outputs.len() != 1 || int("keepdims", 1)? != 1 {
        return None;
    }
    let axes = match (n.attribute("axes"), n.inputs.get(1).copied().flatten()) {
        (Some(AttrValue::Ints(a)), None) => a.clone(),
        (None, Some(a)) => ir.constant(a)?.i64s()?,
        (None, None) => vec![],
        _ => return None,
    };
    if axes.is_empty() {
        // All axes, unless the op is the identity.
        return (int("noop_with_empty_axes", 0)? == 0).then_some(0);
    }
    let rank = rank_of(ir, (*n.inputs.first()?)?);
    // Every axis counted from the end: −1 is the last.
    let mut from_end = axes
        .iter()
        .map(|&a| {
            if a < 0 {
                Some(a)
            } else {
                a.checked_sub(i64::try_from(rank?).ok()?)
            }
        })
        .collect::<Option<Vec<i64>>>()?;
    from_end.sort_unstable();
    let k = from_end.len() as i64;
    let trailing = from_end.iter().zip(-k..).all(|(&a, want)| a == want);
    trailing.then_some(-k)
}

/// Whether constant `c` can be the Scale or B of the normalization: one element, or the
/// normalized dims of `x` (fixed) with leading 1s; and no more dims than `x`.
fn fits_normalized(ir: &IrModel, c: ValueId, core: &Normalized) -> bool {
    let Some(t) = ir.constant(c) else {
        return false;
    };
    let shape = ir.values[core.x as usize].shape.as_ref();
    let rank = shape.map(|s| s.rank());
    // x has at least the normalized axes.
    let k = if core.axis < 0 {
        Some(core.axis.unsigned_abs() as usize)
    } else {
        rank
    };
    if t.dims.len() > rank.or(k).unwrap_or(0) {
        return false;
    }
    if t.dims.iter().product::<u64>() == 1 {
        return true;
    }
    let (Some(shape), Some(k)) = (shape, k) else {
        return false;
    };
    let Some(lead) = t.dims.len().checked_sub(k) else {
        return false;
    };
    // k <= dims of c <= rank of x (checked above).
    let tail = &shape.0[shape.rank() - k..];
    t.dims[..lead].iter().all(|&d| d == 1)
        && t.dims[lead..]
            .iter()
            .zip(tail)
            .all(|(&c, d)| *d == Dim::Fixed(c))
}

#[cfg(test)]
mod tests {
    //! [`trailing_axes`] on its own (the pass as a whole is tested in `tests_patterns`).
    use super::*;
    use crate::passes::tests::{empty_model, node, value};

    fn reduce(ir: &mut IrModel, rank: Option<usize>, attributes: Vec<Attribute>) -> Node {
        let dims = rank.map(|r| vec![2u64; r]);
        let x = value(ir, "x", dims.as_deref());
        let y = value(ir, "y", None);
        node("r", "ReduceMean", &[x], &[y], attributes)
    }

    fn ints(name: &str, v: &[i64]) -> Attribute {
        Attribute {
            name: name.into(),
            value: AttrValue::Ints(v.to_vec()),
        }
    }

    fn int(name: &str, v: i64) -> Attribute {
        Attribute {
            name: name.into(),
            value: AttrValue::Int(v),
        }
    }

    #[test]
    fn trailing_axes_are_counted_from_the_end() {
        let mut ir = empty_model("axes");
        let cases: [(Option<usize>, Vec<Attribute>, Option<i64>); 9] = [
            (None, vec![ints("axes", &[-1])], Some(-1)),
            (None, vec![ints("axes", &[-1, -2])], Some(-2)),
            (Some(3), vec![ints("axes", &[2, 1])], Some(-2)),
            (Some(3), vec![ints("axes", &[1])], None),
            (None, vec![ints("axes", &[2])], None),
            (None, vec![ints("axes", &[-1, -3])], None),
            (None, vec![ints("axes", &[-1]), int("keepdims", 0)], None),
            (None, vec![], Some(0)),
            (None, vec![int("noop_with_empty_axes", 1)], None),
        ];
        for (rank, attributes, want) in cases {
            let n = reduce(&mut ir, rank, attributes.clone());
            assert_eq!(trailing_axes(&ir, &n), want, "{rank:?} {attributes:?}");
        }
        // Axes as a constant input (opset 18).
        let n = reduce(&mut ir, Some(4), vec![]);
        let axes = ir.add_constant(IrTensor {
            name: "axes".into(),
            dtype: mobiquant_core::DType::I64,
            dims: vec![2],
            bytes: [3i64, 2].iter().flat_map(|a| a.to_le_bytes()).collect(),
        });
        let with_input = Node {
            inputs: vec![n.inputs[0], Some(axes)],
            ..n
        };
        assert_eq!(trailing_axes(&ir, &with_input), Some(-2));
    }

    #[test]
    fn scale_fit_never_reads_past_the_rank() {
        let mut ir = empty_model("fit");
        let x = value(&mut ir, "x", Some(&[4]));
        let core = |axis| Normalized {
            x,
            axis,
            epsilon: 1e-5,
            nodes: vec![],
        };
        let c = |ir: &mut IrModel, dims: &[u64]| {
            let n = dims.iter().product::<u64>() as usize;
            ir.add_constant(IrTensor::from_f32s("c", dims.to_vec(), &vec![1.0; n]))
        };
        let (row, matrix, one) = (c(&mut ir, &[4]), c(&mut ir, &[2, 4]), c(&mut ir, &[1]));
        assert!(fits_normalized(&ir, row, &core(-1)));
        assert!(fits_normalized(&ir, one, &core(-1)));
        // Two normalized axes on a rank-1 x (an invalid model): no fit, no panic.
        assert!(!fits_normalized(&ir, matrix, &core(-2)));
        assert!(!fits_normalized(&ir, row, &core(-2)));
    }
}
