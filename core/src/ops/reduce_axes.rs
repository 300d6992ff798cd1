//! Reductions over a set of axes: ReduceMean, ReduceMax, ReduceMin, ReduceSum, ReduceProd,
//! ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, on f32.
//!
//! Axes come from the `axes` attribute (before opset 18; ReduceSum before 13) or the optional
//! second input (which must be known at plan time); `keepdims` (default 1) keeps reduced
//! dimensions as 1; no axes means all axes, unless `noop_with_empty_axes` is 1, which makes the
//! op the identity. Invariants: an empty reduction gives the op's identity element (0 for sums,
//! 1 for ReduceProd, −∞ for ReduceMax and ReduceLogSumExp, +∞ for ReduceMin, NaN for ReduceMean);
//! ReduceMax/Min propagate NaN; ReduceLogSumExp subtracts the maximum before exponentiating.

use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    normalize_axis,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Mean,
    Max,
    Min,
    Sum,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

#[derive(Debug)]
struct Reduce {
    kind: Kind,
    /// Input dimensions and strides of the kept axes, outermost first (output order).
    kept: Vec<(usize, usize)>,
    /// Input dimensions and strides of the reduced axes.
    reduced: Vec<(usize, usize)>,
    /// Elements reduced into each output.
    count: usize,
}

/// Calls `f(offset)` for every index of `dims` (pairs of size and stride), row-major.
fn for_each_offset(dims: &[(usize, usize)], base: usize, f: &mut impl FnMut(usize)) {
    match dims.split_first() {
        None => f(base),
        Some((&(n, stride), rest)) => {
            for i in 0..n {
                for_each_offset(rest, base + i * stride, f);
            }
        }
    }
}

impl Reduce {
    fn reduce(&self, x: &[f32], base: usize) -> Option<f32> {
        let mut missing = false;
        let mut get = |o: usize| match x.get(o) {
            Some(&v) => v,
            None => {
                missing = true;
                0.0
            }
        };
        let mut max = f32::NEG_INFINITY;
        if matches!(self.kind, Kind::LogSumExp) {
            for_each_offset(&self.reduced, base, &mut |o| {
                let v = get(o);
                if v > max || v.is_nan() {
                    max = v;
                }
            });
        }
        let (init, step): (f32, fn(f32, f32, f32) -> f32) = match self.kind {
            Kind::Max => (
                f32::NEG_INFINITY,
                |a, v, _| if v.is_nan() || v > a { v } else { a },
            ),
            Kind::Min => (
                f32::INFINITY,
                |a, v, _| if v.is_nan() || v < a { v } else { a },
            ),
            Kind::Prod => (1.0, |a, v, _| a * v),
            Kind::L1 => (0.0, |a, v, _| a + v.abs()),
            Kind::L2 | Kind::SumSquare => (0.0, |a, v, _| a + v * v),
            Kind::LogSumExp => (0.0, |a, v, m| a + (v - m).exp()),
            Kind::Mean | Kind::Sum | Kind::LogSum => (0.0, |a, v, _| a + v),
        };
        let mut acc = init;
        let nan_sticky = matches!(self.kind, Kind::Max | Kind::Min);
        for_each_offset(&self.reduced, base, &mut |o| {
            if !(nan_sticky && acc.is_nan()) {
                acc = step(acc, get(o), max);
            }
        });
        if missing {
            return None;
        }
        Some(match self.kind {
            Kind::Mean => acc / self.count as f32,
            Kind::L2 => acc.sqrt(),
            Kind::LogSum => acc.ln(),
            Kind::LogSumExp if max.is_finite() => acc.ln() + max,
            Kind::LogSumExp => max,
            _ => acc,
        })
    }
}

impl Op for Reduce {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let mut out = y.iter_mut();
        let mut failed = false;
        for_each_offset(
            &self.kept,
            0,
            &mut |base| match (out.next(), self.reduce(x, base)) {
                (Some(y), Some(v)) => *y = v,
                _ => failed = true,
            },
        );
        if failed {
            return Err("reduction index out of bounds".into());
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>, op: &str) -> Result<Built, BuildError> {
    let kind = match op {
        "ReduceMean" => Kind::Mean,
        "ReduceMax" => Kind::Max,
        "ReduceMin" => Kind::Min,
        "ReduceSum" => Kind::Sum,
        "ReduceProd" => Kind::Prod,
        "ReduceL1" => Kind::L1,
        "ReduceL2" => Kind::L2,
        "ReduceSumSquare" => Kind::SumSquare,
        "ReduceLogSum" => Kind::LogSum,
        "ReduceLogSumExp" => Kind::LogSumExp,
        other => return Err(BuildError::Invalid(format!("{other} is not a reduction"))),
    };
    let x = cx.input(0)?;
    if x.dtype != DType::F32 {
        return Err(BuildError::Unsupported(format!("{op} on {}", x.dtype)));
    }
    let rank = x.shape.len();
    check_rank(&x.shape)?;
    let known = cx
        .known_ints(1)
        .map_err(|e| BuildError::Unsupported(format!("axes: {e}")))?;
    let axes = match (cx.ints("axes")?, known) {
        (Some(a), _) => a.to_vec(),
        (None, Some(a)) => a,
        (None, None) => Vec::new(),
    };
    let mut reduce_axis = vec![axes.is_empty(); rank];
    if axes.is_empty() && cx.int("noop_with_empty_axes", 0)? != 0 {
        reduce_axis = vec![false; rank];
    }
    for &a in &axes {
        reduce_axis[normalize_axis(a, rank)?] = true;
    }
    let keepdims = cx.int("keepdims", 1)? != 0;
    let strides = super::strided::strides(&x.shape);
    let (mut kept, mut reduced, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for d in 0..rank {
        let pair = (x.shape[d], strides[d].max(0) as usize);
        if reduce_axis[d] {
            reduced.push(pair);
            if keepdims {
                out.push(1);
            }
        } else {
            kept.push(pair);
            out.push(x.shape[d]);
        }
    }
    let count = reduced.iter().map(|&(n, _)| n).product();
    Ok(Built {
        op: Box::new(Reduce {
            kind,
            kept,
            reduced,
            count,
        }),
        output: Fact::new(DType::F32, out),
    })
}
