//! ONNX multidirectional broadcasting of any number of inputs of any dtypes into one output:
//! the geometry is computed at build time, and `run` visits every output element with the
//! element index of each input.
//!
//! Invariant: the output shape is the broadcast of all input shapes (checked at build time);
//! a visit never reads out of bounds (callers index with `get`).

use super::strided::{broadcast_shapes, broadcast_strides, for_each_row};
use super::{OpResult, check_rank, checked_numel};

#[derive(Debug)]
pub(crate) struct Broadcast<const K: usize> {
    shape: Vec<usize>,
    strides: [Vec<isize>; K],
}

impl<const K: usize> Broadcast<K> {
    pub(crate) fn new(shapes: [&[usize]; K]) -> OpResult<Self> {
        let mut shape: Vec<usize> = Vec::new();
        for s in shapes {
            shape = broadcast_shapes(&shape, s)?;
        }
        check_rank(&shape)?;
        checked_numel(&shape)?;
        let strides = shapes.map(|s| broadcast_strides(s, &shape));
        Ok(Broadcast { shape, strides })
    }

    pub(crate) fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Sets `out[i] = f(indices)` for every output element `i`, where `indices[k]` is the
    /// element of input `k` it reads; `f` returns `None` for an index it cannot read.
    pub(crate) fn run<O>(
        &self,
        out: &mut [O],
        mut f: impl FnMut([usize; K]) -> Option<O>,
    ) -> OpResult<()> {
        let inner = self.shape.last().copied().unwrap_or(1);
        let step: [isize; K] =
            std::array::from_fn(|k| self.strides[k].last().copied().unwrap_or(0));
        let strides: [&[isize]; K] = std::array::from_fn(|k| self.strides[k].as_slice());
        let mut ok = true;
        for_each_row(&self.shape, strides, |row, offsets| {
            let Some(ys) = out.get_mut(row..row + inner) else {
                ok = false;
                return;
            };
            let mut at = offsets;
            for y in ys {
                match f(at.map(|o| o as usize)) {
                    Some(v) => *y = v,
                    None => ok = false,
                }
                for k in 0..K {
                    at[k] += step[k];
                }
            }
        });
        if ok {
            Ok(())
        } else {
            Err("broadcast index out of bounds".into())
        }
    }
}
