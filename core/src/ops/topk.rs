//! TopK (opset 11+): the `k` largest (`largest` = 1, the default) or smallest elements along
//! `axis` (default −1), with their i64 indices; X f32, i64 or i32; K a one-element i64 input that
//! sets the output shape, so it must be known at plan time.
//!
//! The output is always sorted (also for `sorted` = 0, where ONNX leaves the order open); equal
//! values keep their input order (lower index first); NaN counts as larger than every number.
//! Values and Indices are computed in one pass (`runs_once`); an output nothing reads is not
//! written.
//!
//! Invariant: run allocates nothing: each slice's index permutation is built in the op's
//! scratch (one u32 per element of the axis) and ordered with unstable sorts under a total
//! order, so results do not depend on the sort's implementation.

use std::cmp::Ordering;

use super::{
    BuildError, BuiltMulti, Fact, Inputs, NodeContext, Op, OpResult, Outputs, RunContext,
    normalize_axis,
};
use crate::exec::TensorRef;
use crate::tensor::DType;

#[derive(Debug)]
struct TopK {
    /// Products of the dimensions before and after the axis, and the axis length.
    outer: usize,
    inner: usize,
    n: usize,
    k: usize,
    largest: bool,
}

/// Element types TopK orders.
trait Key: Copy + bytemuck::Pod {
    /// A total order with NaN above every number.
    fn order(a: Self, b: Self) -> Ordering;
}

impl Key for f32 {
    fn order(a: f32, b: f32) -> Ordering {
        match (a.is_nan(), b.is_nan()) {
            (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (x, y) => x.cmp(&y),
        }
    }
}

impl Key for i64 {
    fn order(a: i64, b: i64) -> Ordering {
        a.cmp(&b)
    }
}

impl Key for i32 {
    fn order(a: i32, b: i32) -> Ordering {
        a.cmp(&b)
    }
}

impl TopK {
    fn select<T: Key>(
        &self,
        x: TensorRef<'_>,
        mut outputs: Outputs<'_>,
        scratch: &mut [f32],
    ) -> OpResult<()> {
        let cast = |e: bytemuck::PodCastError| e.to_string();
        let xs: &[T] = bytemuck::try_cast_slice(x.bytes()).map_err(cast)?;
        let mut values = match outputs.next_output()? {
            Some(t) => {
                Some(bytemuck::try_cast_slice_mut::<u8, T>(t.into_bytes_mut()).map_err(cast)?)
            }
            None => None,
        };
        let mut indices = match outputs.next_output()? {
            Some(t) => {
                Some(bytemuck::try_cast_slice_mut::<u8, i64>(t.into_bytes_mut()).map_err(cast)?)
            }
            None => None,
        };
        let order: &mut [u32] = bytemuck::cast_slice_mut(
            scratch
                .get_mut(..self.n)
                .ok_or("scratch shorter than the axis")?,
        );
        let (n, k, inner) = (self.n, self.k, self.inner);
        if xs.len() < self.outer * n * inner {
            return Err("X does not match the planned shape".into());
        }
        for o in 0..self.outer {
            for i in 0..inner {
                let at = |j: u32| xs[(o * n + j as usize) * inner + i];
                // Wanted first; ties by index.
                let cmp = |a: &u32, b: &u32| {
                    let by_value = T::order(at(*a), at(*b));
                    let by_value = if self.largest {
                        by_value.reverse()
                    } else {
                        by_value
                    };
                    by_value.then(a.cmp(b))
                };
                for (j, slot) in order.iter_mut().enumerate() {
                    *slot = j as u32;
                }
                if k < n && k > 0 {
                    order.select_nth_unstable_by(k - 1, cmp);
                }
                order[..k].sort_unstable_by(cmp);
                for (r, &j) in order[..k].iter().enumerate() {
                    let dst = (o * k + r) * inner + i;
                    if let Some(v) = values.as_deref_mut() {
                        *v.get_mut(dst).ok_or("Values shorter than planned")? = at(j);
                    }
                    if let Some(ix) = indices.as_deref_mut() {
                        *ix.get_mut(dst).ok_or("Indices shorter than planned")? = i64::from(j);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Op for TopK {
    fn run(
        &self,
        _: &dyn Inputs,
        _: crate::exec::TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        Err("TopK runs through run_multi".into())
    }

    fn run_multi(
        &self,
        inputs: &dyn Inputs,
        outputs: Outputs<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?;
        match x.dtype() {
            DType::F32 => self.select::<f32>(x, outputs, cx.scratch),
            DType::I64 => self.select::<i64>(x, outputs, cx.scratch),
            DType::I32 => self.select::<i32>(x, outputs, cx.scratch),
            d => Err(format!("dtype {d}")),
        }
    }

    fn scratch_len(&self) -> usize {
        self.n
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<BuiltMulti, BuildError> {
    let x = cx.input(0)?;
    let rank = x.shape.len();
    let axis = normalize_axis(cx.int("axis", -1)?, rank)?;
    let n = x.shape[axis];
    let k = match cx.known_ints(1)?.as_deref() {
        Some(&[k]) => k,
        other => return Err(format!("K must be one i64, got {other:?}").into()),
    };
    let k = usize::try_from(k).ok().filter(|&k| k <= n).ok_or(format!(
        "K = {k} is outside 0..={n} (axis {axis} of {:?})",
        x.shape
    ))?;
    if u32::try_from(n).is_err() {
        return Err(BuildError::Unsupported(format!("an axis of {n} elements")));
    }
    let mut shape = x.shape.clone();
    shape[axis] = k;
    Ok(BuiltMulti {
        op: Box::new(TopK {
            outer: x.shape[..axis].iter().product(),
            inner: x.shape[axis + 1..].iter().product(),
            n,
            k,
            largest: cx.int("largest", 1)? != 0,
        }),
        outputs: vec![
            Fact::new(x.dtype, shape.clone()),
            Fact::new(DType::I64, shape),
        ],
    })
}
