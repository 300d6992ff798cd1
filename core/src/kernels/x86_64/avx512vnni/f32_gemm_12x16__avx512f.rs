//! `f32_gemm_12x16__avx512f`: 12 rows × 16 columns with AVX-512F (the `avx512vnni` tier's f32
//! GEMM; it needs only AVX-512F).
//!
//! Register map (R rows, R <= 12): `acc[i]` = row i, all 16 columns (12 zmm at R = 12, enough
//! independent chains to cover 2 FMA ports × 4 cycles of latency); `b` = the panel row of step p
//! (1 zmm); `A[i, p]` (packed: consecutive addresses per step) is an embedded `{1to16}` broadcast operand
//! of each VFMADD231PS; a continued k block starts from C (masked loads). Per k
//! step: 1 load + R broadcast-FMAs.

use std::arch::x86_64::*;

use crate::kernels::f32::tile::{F32Tile, f32_tile_kernel};

f32_tile_kernel!(
    /// Computes one tile (see [`F32Tile`]) with VFMADD231PS on zmm registers.
    f32_gemm_12x16__avx512f,
    mr: 12,
    rows: [1 2 3 4 5 6 7 8 9 10 11 12]
);

/// The tile of `R` rows.
///
/// # Safety
/// `R == t.m`; otherwise as for [`F32GemmFn`](crate::kernels::f32::F32GemmFn) (the CPU has
/// AVX-512F).
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize>(t: &F32Tile) {
    let mask: __mmask16 = if t.n >= 16 { 0xffff } else { (1u16 << t.n) - 1 };
    let mut acc = [_mm512_setzero_ps(); R];
    if t.accumulate {
        for (i, s) in acc.iter_mut().enumerate() {
            // SAFETY: row `i < m` of C has `n` readable elements at `c + i * c_rs`; the mask
            // keeps the load to them (masked-off lanes are neither read nor faulted).
            *s = unsafe { _mm512_maskz_loadu_ps(mask, t.c.add(i * t.c_rs)) };
        }
    }
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: this is step p < k, `b` = panel + p b_rs: the step's 16 readable values.
        let bv = unsafe { _mm512_loadu_ps(b) };
        for (i, s) in acc.iter_mut().enumerate() {
            // SAFETY: `a` = packed A + MR p and `i < m <= MR`: `A[i, p]` (caller's contract).
            let ai = _mm512_set1_ps(unsafe { *a.add(i) });
            *s = _mm512_fmadd_ps(ai, bv, *s);
        }
        // SAFETY: one step of packed A further, within or one past its k block. B's pointer
        // may leave B after the last step (in place, rows are `b_rs` apart): it wraps, unread.
        (a, b) = (unsafe { a.add(MR) }, b.wrapping_add(t.b_rs));
    }
    let (lo, hi) = (_mm512_set1_ps(t.min), _mm512_set1_ps(t.max));
    for (i, &s) in acc.iter().enumerate() {
        // SAFETY: the bias, when present, holds `m` elements and `i < m`.
        let bias = _mm512_set1_ps(if t.bias.is_null() {
            0.0
        } else {
            unsafe { *t.bias.add(i) }
        });
        // max(lo, x) and min(hi, x) return x when x is NaN (the second operand): Clip.
        let v = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(s, bias)));
        // SAFETY: row `i < m` of C has `n` writable elements at `c + i * c_rs`; the mask keeps
        // the store to the first `n` lanes (masked-off lanes are neither written nor faulted).
        unsafe { _mm512_mask_storeu_ps(t.c.add(i * t.c_rs), mask, v) };
    }
}
