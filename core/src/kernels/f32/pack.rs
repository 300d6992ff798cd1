//! The packed-B layout of the f32 GEMM: B (`k × n`) cut into panels of [`NR`] = 16 columns;
//! panel `j` holds, for each `p < k`, the 16 values `B[p, 16j .. 16j + 16]` contiguously, so that
//! element `(p, c)` of the panel is at `j * 16 * k + 16 * p + c`. Columns past `n` are zero.
//!
//! The layout does not depend on the tier (AVX2 reads a panel row as two ymm, AVX-512F as one
//! zmm, NEON as four q registers, the reference as 16 scalars), so packed constant weights can be
//! stored once per model. Packing is a pure function of the values.

use crate::error::{Error, Result};

/// Columns per packed panel, on every tier.
pub const NR: usize = 16;

/// f32 elements of B (`k × n`) once packed: `ceil(n / 16) * 16 * k`, or `None` on overflow.
pub fn packed_b_len(k: usize, n: usize) -> Option<usize> {
    n.div_ceil(NR).checked_mul(NR)?.checked_mul(k)
}

/// Packs B, element `(p, j)` read at `src[p * row_stride + j * col_stride]`, into `dst` (which must
/// hold exactly [`packed_b_len`] elements). Fails, without panicking, on short or wrong buffers.
pub fn pack_b_into(
    src: &[f32],
    row_stride: usize,
    col_stride: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
) -> Result<()> {
    let len =
        packed_b_len(k, n).ok_or_else(|| Error::invalid_argument("f32 pack: size overflows"))?;
    if dst.len() != len {
        return Err(Error::invalid_argument(format!(
            "f32 pack: destination holds {} elements, {k}x{n} packs into {len}",
            dst.len()
        )));
    }
    if k == 0 || n == 0 {
        return Ok(());
    }
    let last = (k - 1)
        .checked_mul(row_stride)
        .and_then(|x| x.checked_add((n - 1).checked_mul(col_stride)?))
        .filter(|&last| last < src.len());
    if last.is_none() {
        return Err(Error::invalid_argument(format!(
            "f32 pack: {k}x{n} with strides ({row_stride}, {col_stride}) overruns {} elements",
            src.len()
        )));
    }
    for (j, panel) in dst.chunks_exact_mut(NR * k).enumerate() {
        let first = j * NR;
        let cols = NR.min(n - first);
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            let start = p * row_stride + first * col_stride;
            if let (1, NR, Ok(full), Some(Ok(from))) = (
                col_stride,
                cols,
                <&mut [f32; NR]>::try_from(&mut *row),
                src.get(start..start + NR).map(<&[f32; NR]>::try_from),
            ) {
                // A whole panel row: a fixed-size copy the compiler inlines (no memmove call).
                *full = *from;
                continue;
            }
            if col_stride == 1 {
                row[..cols].copy_from_slice(&src[start..start + cols]);
            } else {
                for (c, d) in row[..cols].iter_mut().enumerate() {
                    *d = src[start + c * col_stride];
                }
            }
            row[cols..].fill(0.0);
        }
    }
    Ok(())
}

/// Packs B (see [`pack_b_into`]) into a new vector: what an op does once with constant weights.
pub fn pack_b(
    src: &[f32],
    row_stride: usize,
    col_stride: usize,
    k: usize,
    n: usize,
) -> Result<Vec<f32>> {
    let len =
        packed_b_len(k, n).ok_or_else(|| Error::invalid_argument("f32 pack: size overflows"))?;
    let mut dst = vec![0.0; len];
    pack_b_into(src, row_stride, col_stride, k, n, &mut dst)?;
    Ok(dst)
}
