//! `f32_gemm_6x16__neon`: 6 rows × 16 columns with NEON FMLA (every aarch64 tier uses it).
//!
//! Register map (R rows, R <= 6): `acc[i][0..4]` = row i, columns 4q .. 4q + 4 (24 q registers
//! at R = 6); `b[0..4]` = the panel row of step p (4 q); `A[i, p]` (packed: consecutive addresses per step) is loaded into one lane and
//! multiplied by element (`FMLA Vd.4S, Vn.4S, Vm.S[0]`), 1-4 q: at most 32 registers.
//! Per k step: 4 loads of 16 bytes + R scalar loads + 4R FMLA.

use std::arch::aarch64::*;

use crate::kernels::f32::tile::{F32Tile, f32_tile_kernel};

f32_tile_kernel!(
    /// Computes one tile (see [`F32Tile`]) with FMLA on q registers.
    f32_gemm_6x16__neon,
    mr: 6,
    rows: [1 2 3 4 5 6]
);

/// The tile of `R` rows.
///
/// # Safety
/// `R == t.m`; otherwise as for [`F32GemmFn`](crate::kernels::f32::F32GemmFn) (the CPU has NEON).
#[target_feature(enable = "neon")]
unsafe fn tile<const R: usize>(t: &F32Tile) {
    let mut acc = [[vdupq_n_f32(0.0); 4]; R];
    if t.accumulate {
        for (i, acc_row) in acc.iter_mut().enumerate() {
            let mut row = [0.0f32; 16];
            // SAFETY: row `i < m` of C has `n <= 16` readable elements at `c + i * c_rs`, and
            // `row` (a local) does not overlap C.
            unsafe { std::ptr::copy_nonoverlapping(t.c.add(i * t.c_rs), row.as_mut_ptr(), t.n) };
            for (q, s) in acc_row.iter_mut().enumerate() {
                // SAFETY: `row` has 16 elements, `4 q + 4 <= 16`.
                *s = unsafe { vld1q_f32(row.as_ptr().add(4 * q)) };
            }
        }
    }
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.k {
        // SAFETY: this is step p < k, `b` = panel + p b_rs: the step's 16 readable values.
        let bv = unsafe {
            [
                vld1q_f32(b),
                vld1q_f32(b.add(4)),
                vld1q_f32(b.add(8)),
                vld1q_f32(b.add(12)),
            ]
        };
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: `a` = packed A + MR p and `i < m <= MR`: `A[i, p]` (caller's contract).
            let ai = unsafe { *a.add(i) };
            for (s, &bq) in acc_row.iter_mut().zip(&bv) {
                *s = vfmaq_n_f32(*s, bq, ai);
            }
        }
        // SAFETY: one step of packed A further, within or one past its k block. B's pointer
        // may leave B after the last step (in place, rows are `b_rs` apart): it wraps, unread.
        (a, b) = (unsafe { a.add(MR) }, b.wrapping_add(t.b_rs));
    }
    let (lo, hi) = (vdupq_n_f32(t.min), vdupq_n_f32(t.max));
    for (i, acc_row) in acc.iter().enumerate() {
        // SAFETY: the bias, when present, holds `m` elements and `i < m`.
        let bias = vdupq_n_f32(if t.bias.is_null() {
            0.0
        } else {
            unsafe { *t.bias.add(i) }
        });
        let mut out = [0.0f32; 16];
        for (q, &s) in acc_row.iter().enumerate() {
            // Clip exactly (x < lo → lo, x > hi → hi, NaN and signed zeros pass through), by
            // selection rather than FMAX/FMIN, which differ on NaN and -0.
            let x = vaddq_f32(s, bias);
            let x = vbslq_f32(vcltq_f32(x, lo), lo, x);
            let x = vbslq_f32(vcgtq_f32(x, hi), hi, x);
            // SAFETY: `out` has 16 elements, `4 q + 4 <= 16`.
            unsafe { vst1q_f32(out.as_mut_ptr().add(4 * q), x) };
        }
        // SAFETY: row `i < m` of C has `n <= 16` writable elements at `c + i * c_rs`, and `out`
        // (a local) does not overlap C.
        unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), t.c.add(i * t.c_rs), t.n) };
    }
}
