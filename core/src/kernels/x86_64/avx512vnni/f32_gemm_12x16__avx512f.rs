//! `f32_gemm_12x16__avx512f`: 12 rows × 16 columns with AVX-512F (the `avx512vnni` tier's f32
//! GEMM; it needs only AVX-512F), and the body it shares with the pair kernel
//! (`f32_gemm_12x32__avx512f`): [`panels_tile`], R rows over P = 1 or 2 panels.
//!
//! Register map (R rows, R <= 12, P panels): `acc[h][i]` = row i, the 16 columns of panel h
//! (12 zmm at R = 12, P = 1: enough independent chains to cover 2 FMA ports × 4 cycles of
//! latency; 24 at P = 2); `b[h]` = panel h's row of step p (P zmm); `A[i, p]` (packed:
//! consecutive addresses per step) is broadcast once per step and feeds P FMAs (at P = 1 an
//! embedded `{1to16}` operand of the VFMADD231PS); a continued k block starts from C (masked
//! loads). Per k step: P loads + R broadcasts (embedded at P = 1) + P·R FMAs, so at P = 1 the two
//! load ports bound the tile (13 loads per 12 FMAs), at P = 2 the FMA ports (14 per 24).

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
    // SAFETY: the caller's contract, with `t.n <= 16` (one panel).
    unsafe { panels_tile::<R, 1>(t) }
}

/// The tile of `R` rows over `P` panels: columns `16 h..16 h + 16` (those below `t.n`) from the
/// panel at `t.b` (h = 0) or `t.b2` (h = 1), each element one FMA chain in increasing k order.
///
/// # Safety
/// `R == t.m`, `P` is 1 or 2 and `t.n` within `16 (P - 1) + 1..=16 P`; otherwise as for
/// [`F32GemmFn`](crate::kernels::f32::F32GemmFn) (the CPU has AVX-512F).
#[target_feature(enable = "avx512f")]
// The row loops index `acc[h][i]` across the P panels' accumulators (row-major order of the
// FMAs: one broadcast of `A[i, p]` feeds the P of row i).
#[allow(clippy::needless_range_loop)]
pub(super) unsafe fn panels_tile<const R: usize, const P: usize>(t: &F32Tile) {
    let panels = [(t.b, t.b_rs), (t.b2, t.b2_rs)];
    // Panel h stores `n - 16 h` columns, at most 16 (at least 1 by the contract on `n`).
    let masks: [__mmask16; P] = std::array::from_fn(|h| match t.n - 16 * h {
        w if w >= 16 => 0xffff,
        w => (1u16 << w) - 1,
    });
    let mut acc = [[_mm512_setzero_ps(); R]; P];
    if t.accumulate {
        for (h, acc) in acc.iter_mut().enumerate() {
            for (i, s) in acc.iter_mut().enumerate() {
                // SAFETY: row `i < m` of C has `n` readable elements at `c + i * c_rs`, and
                // panel h's `16 h` onwards are among them; the mask keeps the load to them
                // (masked-off lanes are neither read nor faulted).
                *s = unsafe { _mm512_maskz_loadu_ps(masks[h], t.c.add(i * t.c_rs + 16 * h)) };
            }
        }
    }
    let mut a = t.a;
    let mut b: [*const f32; P] = std::array::from_fn(|h| panels[h].0);
    for _ in 0..t.k {
        // SAFETY: this is step p < k, `b[h]` = panel h + p b_rs (its own row stride): the step's
        // 16 readable values of panel h.
        let bv: [__m512; P] = std::array::from_fn(|h| unsafe { _mm512_loadu_ps(b[h]) });
        for i in 0..R {
            // SAFETY: `a` = packed A + MR p and `i < m <= MR`: `A[i, p]` (caller's contract).
            let ai = _mm512_set1_ps(unsafe { *a.add(i) });
            for h in 0..P {
                acc[h][i] = _mm512_fmadd_ps(ai, bv[h], acc[h][i]);
            }
        }
        // SAFETY: one step of packed A further, within or one past its k block. B's pointers
        // may leave B after the last step (in place, rows are `b_rs` apart): they wrap, unread.
        a = unsafe { a.add(MR) };
        for (h, b) in b.iter_mut().enumerate() {
            *b = b.wrapping_add(panels[h].1);
        }
    }
    let (lo, hi) = (_mm512_set1_ps(t.min), _mm512_set1_ps(t.max));
    for i in 0..R {
        // SAFETY: the bias, when present, holds `m` elements and `i < m`.
        let bias = _mm512_set1_ps(if t.bias.is_null() {
            0.0
        } else {
            unsafe { *t.bias.add(i) }
        });
        for h in 0..P {
            // max(lo, x) and min(hi, x) return x when x is NaN (the second operand): Clip.
            let v = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(acc[h][i], bias)));
            // SAFETY: row `i < m` of C has `n` writable elements at `c + i * c_rs`, panel h's
            // from `16 h`; the mask keeps the store to those below `n` (masked-off lanes are
            // neither written nor faulted).
            unsafe { _mm512_mask_storeu_ps(t.c.add(i * t.c_rs + 16 * h), masks[h], v) };
        }
    }
}
