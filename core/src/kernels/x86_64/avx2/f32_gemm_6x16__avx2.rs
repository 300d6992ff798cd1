//! `f32_gemm_6x16__avx2`: 6 rows × 16 columns with AVX2 + FMA.
//!
//! Register map (R rows, R <= 6): `acc[i][0..2]` = row i, columns 0-7 and 8-15 (12 ymm at
//! R = 6); `b0`, `b1` = the panel row of step p (2 ymm); one broadcast of `A[i, p]` (packed: consecutive
//! addresses per step) at a time (1 ymm): 15 of the 16 ymm registers. Per k step: 2 loads + R broadcasts + 2R VFMADD231PS.

use std::arch::x86_64::*;

use crate::kernels::f32::tile::{F32Tile, f32_tile_kernel};

f32_tile_kernel!(
    /// Computes one tile (see [`F32Tile`]) with VFMADD231PS on ymm registers.
    f32_gemm_6x16__avx2,
    mr: 6,
    rows: [1 2 3 4 5 6]
);

/// The tile of `R` rows.
///
/// # Safety
/// `R == t.m`; otherwise as for [`F32GemmFn`](crate::kernels::f32::F32GemmFn) (the CPU has AVX2
/// and FMA).
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize>(t: &F32Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    if t.accumulate {
        for (i, acc_row) in acc.iter_mut().enumerate() {
            let mut row = [0.0f32; 16];
            // SAFETY: row `i < m` of C has `n <= 16` readable elements at `c + i * c_rs`, and
            // `row` (a local) does not overlap C.
            unsafe { std::ptr::copy_nonoverlapping(t.c.add(i * t.c_rs), row.as_mut_ptr(), t.n) };
            // SAFETY: `row` has 16 elements.
            *acc_row = unsafe {
                [
                    _mm256_loadu_ps(row.as_ptr()),
                    _mm256_loadu_ps(row.as_ptr().add(8)),
                ]
            };
        }
    }
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: this is step p < k, `b` = panel + p b_rs: the step's 16 readable values.
        let (b0, b1) = unsafe { (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))) };
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: `a` = packed A + MR p and `i < m <= MR`: `A[i, p]` (caller's contract).
            let ai = unsafe { _mm256_broadcast_ss(&*a.add(i)) };
            acc_row[0] = _mm256_fmadd_ps(ai, b0, acc_row[0]);
            acc_row[1] = _mm256_fmadd_ps(ai, b1, acc_row[1]);
        }
        // SAFETY: one step of packed A further, within or one past its k block. B's pointer
        // may leave B after the last step (in place, rows are `b_rs` apart): it wraps, unread.
        (a, b) = (unsafe { a.add(MR) }, b.wrapping_add(t.b_rs));
    }
    let (lo, hi) = (_mm256_set1_ps(t.min), _mm256_set1_ps(t.max));
    for (i, acc_row) in acc.iter().enumerate() {
        // SAFETY: the bias, when present, holds `m` elements and `i < m`.
        let bias = _mm256_set1_ps(if t.bias.is_null() {
            0.0
        } else {
            unsafe { *t.bias.add(i) }
        });
        let mut out = [0.0f32; 16];
        for (h, &s) in acc_row.iter().enumerate() {
            // max(lo, x) and min(hi, x) return x when x is NaN (the second operand): Clip.
            let v = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(s, bias)));
            // SAFETY: `out` has 16 elements, `8 h + 8 <= 16`.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(8 * h), v) };
        }
        // SAFETY: row `i < m` of C has `n <= 16` writable elements at `c + i * c_rs`, and `out`
        // (a local) does not overlap C.
        unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), t.c.add(i * t.c_rs), t.n) };
    }
}
