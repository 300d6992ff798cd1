//! Index arithmetic shared by broadcasting and data-movement ops: row-major strides, ONNX
//! multidirectional broadcasting, and visiting a tensor row by row through strided sources.
//!
//! Invariant: callers have checked ranks against `MAX_RANK` at build time; every function here
//! still refuses larger ranks rather than index out of bounds.

use super::{MAX_RANK, OpResult};

/// Row-major strides (in elements) of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<isize> {
    let mut s = vec![1isize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1].saturating_mul(shape[d + 1] as isize);
    }
    s
}

/// The ONNX multidirectional broadcast of two shapes.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let pad = rank - s.len();
        if i < pad { 1 } else { s[i - pad] }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(format!(
                "shapes {a:?} and {b:?} do not broadcast (dimension {i}: {x} vs {y})"
            )),
        })
        .collect()
}

/// The strides through which an input of `shape` is read for an output of `out` (rank ≥ the
/// input's): broadcast dimensions get stride 0.
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<isize> {
    let own = strides(shape);
    let pad = out.len() - shape.len().min(out.len());
    (0..out.len())
        .map(|i| {
            if i < pad || shape[i - pad] == 1 {
                0
            } else {
                own[i - pad]
            }
        })
        .collect()
}

/// Calls `f(row_start, offsets)` for every row (run of the last dimension) of a tensor of
/// `shape` in row-major order: `row_start` is the row's first element index, `offsets[k]` the
/// offset of its first element through `strides[k]`. A rank-0 shape is one row of one element.
pub(crate) fn for_each_row<const K: usize>(
    shape: &[usize],
    strides: [&[isize]; K],
    mut f: impl FnMut(usize, [isize; K]),
) {
    let rank = shape.len();
    if rank == 0 {
        f(0, [0; K]);
        return;
    }
    if rank > MAX_RANK || shape.contains(&0) || strides.iter().any(|s| s.len() != rank) {
        return;
    }
    let inner = shape[rank - 1];
    let outer_rank = rank - 1;
    let rows: usize = shape[..outer_rank].iter().product();
    let mut idx = [0usize; MAX_RANK];
    let mut off = [0isize; K];
    for row in 0..rows {
        f(row * inner, off);
        let mut d = outer_rank;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            for k in 0..K {
                off[k] += strides[k][d];
            }
            if idx[d] < shape[d] {
                break;
            }
            for k in 0..K {
                off[k] -= strides[k][d] * shape[d] as isize;
            }
            idx[d] = 0;
        }
    }
}

/// `dst[i] = src[offset + Σ index_d · strides_d]` for every index of `shape`, in row-major order
/// (transpose, slice). Fails instead of reading outside `src`.
pub(crate) fn strided_copy<T: Copy>(
    src: &[T],
    dst: &mut [T],
    shape: &[usize],
    offset: isize,
    strides: &[isize],
) -> OpResult<()> {
    let inner_stride = strides.last().copied().unwrap_or(0);
    let inner = shape.last().copied().unwrap_or(1);
    let mut ok = true;
    for_each_row(shape, [strides], |row, [off]| {
        let Some(out) = dst.get_mut(row..row + inner) else {
            ok = false;
            return;
        };
        let mut at = offset + off;
        for y in out {
            match usize::try_from(at).ok().and_then(|i| src.get(i)) {
                Some(v) => *y = *v,
                None => ok = false,
            }
            at += inner_stride;
        }
    });
    if ok {
        Ok(())
    } else {
        Err("strided copy out of bounds".into())
    }
}

/// [`strided_copy`] on raw element bytes of `elem_size` bytes each.
pub(crate) fn strided_copy_bytes(
    elem_size: usize,
    src: &[u8],
    dst: &mut [u8],
    shape: &[usize],
    offset: isize,
    strides: &[isize],
) -> OpResult<()> {
    fn typed<T: bytemuck::Pod>(
        src: &[u8],
        dst: &mut [u8],
        shape: &[usize],
        offset: isize,
        strides: &[isize],
    ) -> OpResult<()> {
        let src = bytemuck::try_cast_slice::<u8, T>(src).map_err(|e| e.to_string())?;
        let dst = bytemuck::try_cast_slice_mut::<u8, T>(dst).map_err(|e| e.to_string())?;
        strided_copy(src, dst, shape, offset, strides)
    }
    match elem_size {
        1 => strided_copy(src, dst, shape, offset, strides),
        2 => typed::<u16>(src, dst, shape, offset, strides),
        4 => typed::<u32>(src, dst, shape, offset, strides),
        8 => typed::<u64>(src, dst, shape, offset, strides),
        n => Err(format!("unsupported element size {n}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_onnx() {
        assert_eq!(broadcast_shapes(&[2, 3, 4, 5], &[5]).unwrap(), [2, 3, 4, 5]);
        assert_eq!(
            broadcast_shapes(&[4, 5], &[2, 3, 4, 5]).unwrap(),
            [2, 3, 4, 5]
        );
        assert_eq!(
            broadcast_shapes(&[1, 4, 5], &[2, 3, 1, 1]).unwrap(),
            [2, 3, 4, 5]
        );
        assert_eq!(broadcast_shapes(&[], &[3]).unwrap(), [3]);
        assert!(broadcast_shapes(&[3], &[4]).is_err());
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), [0, 1, 0]);
    }

    #[test]
    fn strided_copy_transposes() {
        let src: Vec<u32> = (0..6).collect();
        let mut dst = vec![0u32; 6];
        strided_copy(&src, &mut dst, &[3, 2], 0, &[1, 3]).unwrap();
        assert_eq!(dst, [0, 3, 1, 4, 2, 5]);
        assert!(strided_copy(&src, &mut dst, &[3, 2], 1, &[1, 3]).is_err());
    }
}
