//! Ops that work along one axis of their input: ArgMax and ArgMin (f32 → i64; keepdims,
//! select_last_index), Hardmax (f32; opset 13, one axis) and CumSum (f32, i64, i32; the axis is
//! a scalar input read at run time, exclusive, reverse).
//!
//! Invariant: the input is viewed as [outer, len, inner] around the axis; every index stays
//! below `outer · len · inner`, the element count the op was built for (lengths are checked
//! before indexing).

use super::elems::{Num, dispatch, view, view_mut};
use super::{
    Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, checked_numel, normalize_axis,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

/// `shape` viewed as [outer, len, inner] around `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Pick {
    ArgMax,
    ArgMin,
    Hardmax,
}

#[derive(Debug)]
struct Select {
    pick: Pick,
    outer: usize,
    len: usize,
    inner: usize,
    last: bool,
}

impl Op for Select {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let (outer, len, inner) = (self.outer, self.len, self.inner);
        if x.len() != outer * len * inner {
            return Err("input does not match the planned shape".into());
        }
        // The index along the axis of the extreme (first one, or last with select_last_index;
        // NaN never wins a comparison).
        let best = |o: usize, i: usize| -> usize {
            let mut best = 0;
            for j in 1..len {
                let (v, b) = (
                    x[(o * len + j) * inner + i],
                    x[(o * len + best) * inner + i],
                );
                let better = match self.pick {
                    Pick::ArgMin => v < b || (self.last && v == b),
                    _ => v > b || (self.last && v == b),
                };
                if better {
                    best = j;
                }
            }
            best
        };
        if self.pick == Pick::Hardmax {
            let y = output.as_f32_mut().map_err(|e| e.to_string())?;
            y.fill(0.0);
            for o in 0..outer {
                for i in 0..inner {
                    let at = (o * len + best(o, i)) * inner + i;
                    *y.get_mut(at).ok_or("output too short")? = 1.0;
                }
            }
            return Ok(());
        }
        let y = output.as_i64_mut().map_err(|e| e.to_string())?;
        for o in 0..outer {
            for i in 0..inner {
                *y.get_mut(o * inner + i).ok_or("output too short")? = best(o, i) as i64;
            }
        }
        Ok(())
    }
}

/// ArgMax, ArgMin and Hardmax.
pub(crate) fn build_select(cx: &NodeContext<'_>, op: &str) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    let rank = x.shape.len();
    let (pick, default_axis) = match op {
        "ArgMax" => (Pick::ArgMax, 0),
        "ArgMin" => (Pick::ArgMin, 0),
        "Hardmax" => (Pick::Hardmax, -1),
        other => return Err(format!("{other} is not an axis selection")),
    };
    let axis = normalize_axis(cx.int("axis", default_axis)?, rank)?;
    let (outer, len, inner) = split_at_axis(&x.shape, axis);
    if len == 0 {
        return Err(format!("axis {axis} of {:?} is empty", x.shape));
    }
    let (dtype, shape) = if pick == Pick::Hardmax {
        (DType::F32, x.shape.clone())
    } else {
        let mut s = x.shape.clone();
        if cx.int("keepdims", 1)? != 0 {
            s[axis] = 1;
        } else {
            s.remove(axis);
        }
        (DType::I64, s)
    };
    checked_numel(&shape)?;
    Ok(Built {
        op: Box::new(Select {
            pick,
            outer,
            len,
            inner,
            // Hardmax has no such attribute: its first maximum wins.
            last: pick != Pick::Hardmax && cx.int("select_last_index", 0)? != 0,
        }),
        output: Fact::new(dtype, shape),
    })
}

#[derive(Debug)]
struct CumSum {
    shape: Vec<usize>,
    exclusive: bool,
    reverse: bool,
}

fn cumsum<T: Num>(op: &CumSum, inputs: &dyn Inputs, out: &mut TensorMut<'_>) -> OpResult<()> {
    let x = view::<T>(&inputs.req(0)?)?;
    let a = inputs.req(1)?;
    let axis = match a.dtype() {
        DType::I64 => view::<i64>(&a)?.first().copied(),
        DType::I32 => view::<i32>(&a)?.first().map(|&v| i64::from(v)),
        d => return Err(format!("axis has dtype {d}")),
    }
    .ok_or("the axis input is empty")?;
    let axis = normalize_axis(axis, op.shape.len())?;
    let (outer, len, inner) = split_at_axis(&op.shape, axis);
    let y = view_mut::<T>(out)?;
    if x.len() != outer * len * inner || y.len() != x.len() {
        return Err("input does not match the planned shape".into());
    }
    let add = |a: T, b: T| {
        if T::FLOAT {
            T::from_f64(a.to_f64() + b.to_f64())
        } else {
            T::from_i64(a.to_i64().wrapping_add(b.to_i64()))
        }
    };
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = T::from_i64(0);
            for step in 0..len {
                let j = if op.reverse { len - 1 - step } else { step };
                let at = (o * len + j) * inner + i;
                let next = add(acc, x[at]);
                y[at] = if op.exclusive { acc } else { next };
                acc = next;
            }
        }
    }
    Ok(())
}

impl Op for CumSum {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let d = output.dtype();
        dispatch!(
            d,
            cumsum(self, inputs, &mut output),
            Err(format!("dtype {d}"))
        )
    }
}

pub(crate) fn build_cumsum(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let a = cx.input(1)?;
    if x.shape.is_empty() || a.shape.iter().product::<usize>() != 1 {
        return Err(format!(
            "CumSum needs a tensor of rank ≥ 1 and a scalar axis, got {:?} and {:?}",
            x.shape, a.shape
        ));
    }
    Ok(Built {
        op: Box::new(CumSum {
            shape: x.shape.clone(),
            exclusive: cx.int("exclusive", 0)? != 0,
            reverse: cx.int("reverse", 0)? != 0,
        }),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}
