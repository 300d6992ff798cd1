//! ONNX multidirectional broadcasting of any number of inputs of any dtypes into one output:
//! the geometry is computed at build time, and `run` visits every output element with the
//! element index of each input.
//!
//! Invariant: the output shape is the broadcast of all input shapes (checked at build time);
//! a visit never reads out of bounds (callers index with `get`). [`collapse`] only merges
//! dimensions, so a visit of the collapsed geometry reads the same elements in the same order.

use super::strided::{broadcast_shapes, broadcast_strides, for_each_row};
use super::{OpResult, check_rank, checked_numel};

#[derive(Debug)]
pub(crate) struct Broadcast<const K: usize> {
    /// The output shape.
    shape: Vec<usize>,
    /// The visit's geometry: `shape` collapsed, and each input's strides through it.
    rows: Vec<usize>,
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
        let (rows, strides) = collapse(&shape, strides);
        Ok(Broadcast {
            shape,
            rows,
            strides,
        })
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
        let inner = self.rows.last().copied().unwrap_or(1);
        let step: [isize; K] =
            std::array::from_fn(|k| self.strides[k].last().copied().unwrap_or(0));
        let strides: [&[isize]; K] = std::array::from_fn(|k| self.strides[k].as_slice());
        let mut ok = true;
        for_each_row(&self.rows, strides, |row, offsets| {
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

/// Drops size-1 dimensions and merges each pair of adjacent dimensions that every input reads
/// alike (each input's stride across the pair is contiguous, or 0 on both): the same element
/// mapping in row-major order with fewer, longer rows, e.g. `[1, C, H, W]` read through
/// `[1, C, 1, 1]` becomes `[C, H·W]`.
pub(crate) fn collapse<const K: usize>(
    shape: &[usize],
    strides: [Vec<isize>; K],
) -> (Vec<usize>, [Vec<isize>; K]) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out: [Vec<isize>; K] = std::array::from_fn(|_| Vec::with_capacity(shape.len()));
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let merges = out_shape.last().is_some()
            && (0..K).all(|k| out[k].last() == Some(&(strides[k][d] * n as isize)));
        if merges {
            if let Some(last) = out_shape.last_mut() {
                *last *= n;
            }
            for k in 0..K {
                if let Some(last) = out[k].last_mut() {
                    *last = strides[k][d];
                }
            }
        } else {
            out_shape.push(n);
            for k in 0..K {
                out[k].push(strides[k][d]);
            }
        }
    }
    (out_shape, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_merges_per_channel_and_keeps_row_broadcast() {
        // [1, C, H, W] * [1, C, 1, 1] → [C, H·W].
        let (shape, [a, b]) = collapse(&[1, 3, 4, 5], [vec![60, 20, 5, 1], vec![0, 1, 0, 0]]);
        assert_eq!((shape, a, b), (vec![3, 20], vec![20, 1], vec![1, 0]));
        // [N, C] + [C]: nothing to merge.
        let (shape, [a, b]) = collapse(&[2, 3], [vec![3, 1], vec![0, 1]]);
        assert_eq!((shape, a, b), (vec![2, 3], vec![3, 1], vec![0, 1]));
        // A zero dimension leaves no elements to visit.
        let (shape, _) = collapse(&[2, 0, 3], [vec![0, 3, 1]]);
        assert_eq!(shape.iter().product::<usize>(), 0);
        // Same shapes: one row.
        let (shape, [a, b]) = collapse(&[2, 3, 4], [vec![12, 4, 1], vec![12, 4, 1]]);
        assert_eq!((shape, a, b), (vec![24], vec![1], vec![1]));
        // All ones: rank 0, one element.
        let (shape, [a]) = collapse(&[1, 1], [vec![0, 0]]);
        assert!(shape.is_empty() && a.is_empty());
    }
}
