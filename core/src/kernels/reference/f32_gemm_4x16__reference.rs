//! `f32_gemm_4x16__reference`: the plain-Rust f32 tile kernel (4 rows × one 16-column panel),
//! the fallback on every CPU and the twin of the tests' oracle. Separate multiply and add (no
//! fused multiply-add), in increasing k order.

use crate::kernels::f32::tile::{F32Tile, f32_tile_kernel};

f32_tile_kernel!(
    /// Computes one tile (see [`F32Tile`]) in plain Rust.
    f32_gemm_4x16__reference,
    mr: 4,
    rows: [1 2 3 4]
);

/// The tile of `R` rows.
///
/// # Safety
/// `R == t.m`; otherwise as for [`F32GemmFn`](crate::kernels::f32::F32GemmFn).
unsafe fn tile<const R: usize>(t: &F32Tile) {
    let mut acc = [[0.0f32; 16]; R];
    if t.accumulate {
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: row `i < m` of C has `n <= 16` readable elements at `c + i * c_rs`.
            let row = unsafe { std::slice::from_raw_parts(t.c.add(i * t.c_rs), t.n) };
            acc_row[..t.n].copy_from_slice(row);
        }
    }
    for p in 0..t.k {
        // SAFETY: `p < k`: the panel row at `p b_rs` has 16 readable values.
        let b = unsafe { std::slice::from_raw_parts(t.b.add(p * t.b_rs), 16) };
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: `i < m <= MR` and `p < k`: the caller guarantees packed `A[i, p]` is readable.
            let a = unsafe { *t.a.add(p * MR + i) };
            for (s, &bv) in acc_row.iter_mut().zip(b) {
                *s += a * bv;
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        // SAFETY: the bias, when present, holds `m` elements and `i < m`.
        let bias = if t.bias.is_null() {
            0.0
        } else {
            unsafe { *t.bias.add(i) }
        };
        // SAFETY: row `i < m` of C has `n <= 16` writable elements at `c + i * c_rs`.
        let row = unsafe { std::slice::from_raw_parts_mut(t.c.add(i * t.c_rs), t.n) };
        for (d, &s) in row.iter_mut().zip(acc_row) {
            let v = s + bias;
            *d = if v < t.min {
                t.min
            } else if v > t.max {
                t.max
            } else {
                v
            };
        }
    }
}
