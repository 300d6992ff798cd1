//! `qs8_dwconv_16w__reference`: the int8 depthwise plane kernel, chunks of 16 outputs as plain
//! loops.

use crate::kernels::qs8::dwconv::plane::{Chunk, dwconv_plane_kernel};

/// Outputs per chunk.
const V: usize = 16;

dwconv_plane_kernel!(
    /// Computes one depthwise channel plane with scalar code.
    qs8_dwconv_16w__reference,
    features: [],
    v: V,
    chunk
);

/// `acc[j] = sum_r sum_kx taps[r][kx] * x_r[S j + kx]` for `j < V`, bytes read as u8 when `U`.
///
/// # Safety
/// The first `c.n` row pointers are readable for `span(V, K, S)` bytes.
#[inline(always)]
unsafe fn chunk<const K: usize, const S: usize, const U: bool>(c: &Chunk, acc: &mut [i32; V]) {
    for (&row, taps) in c.rows.iter().zip(c.taps).take(c.n) {
        for (j, a) in acc.iter_mut().enumerate() {
            for (kx, &t) in taps.iter().enumerate().take(K) {
                // SAFETY: S j + kx <= S (V - 1) + K - 1 < span(V, K, S).
                let b = unsafe { *row.add(S * j + kx) };
                let x = if U { i32::from(b) } else { i32::from(b as i8) };
                *a = a.wrapping_add(i32::from(t) * x);
            }
        }
    }
}
