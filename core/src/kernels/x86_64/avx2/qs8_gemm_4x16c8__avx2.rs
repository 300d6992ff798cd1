//! `qs8_gemm_4x16c8__avx2`: 4 rows x 16 columns, k-blocks of 8, sign extension + VPMADDWD.
//!
//! Register map, one row at a time: `x` = the row's 8 activations as i16, in both 128-bit lanes;
//! `w` = columns `2i`, `2i + 1` (8 k each) as i16; `sums[i]` dword lanes 0-3 hold partial sums of
//! column `2i`, lanes 4-7 of column `2i + 1`. Three rounds of VPHADDD and one VPERMD reduce the
//! eight accumulators to the 16 column sums in order.

use std::arch::x86_64::*;

use crate::kernels::qs8::WeightOrder;
use crate::kernels::qs8::pack::{KBLOCK_LEN, KR};
use crate::kernels::qs8::tile::{self, APacking, Acc, tile_kernel};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Rows;
/// Order of the weights in each k-block: the stored one.
pub(crate) const WEIGHT_ORDER: WeightOrder = WeightOrder::C8;
/// Panels computed together: one (a panel group may hold any number).
pub(crate) const PASS_PANELS: usize = 1;

tile_kernel!(
    /// Computes one tile (see [`Tile`](crate::kernels::qs8::tile::Tile)) with VPMADDWD; s8 activations.
    qs8_gemm_4x16c8__avx2,
    "avx2",
    mr: MR,
    accumulate
);

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    for (r, acc_row) in acc.iter_mut().enumerate().take(R) {
        // SAFETY: r < R <= MR; the rest is this function's contract.
        unsafe { accumulate_row(a, kp, r, panel, acc_row) }
    }
}

/// Writes the dot products of row `r` with the panel's 16 columns into `out`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `r < MR`; the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn accumulate_row(a: *const u8, kp: usize, r: usize, panel: *const u8, out: &mut [i32; 16]) {
    debug_assert!(r < MR && kp.is_multiple_of(KR));
    let mut sums = [_mm256_setzero_si256(); 8];
    // SAFETY: k-block kb < kp / 8 lies inside the panel; each 16-byte load reads two columns of
    // one k-block; activations are read through tile::a_block within the tile.
    unsafe {
        let w = tile::panel_weights(panel);
        for kb in 0..kp / KR {
            let x8 = _mm_cvtsi64_si128(tile::a_block(a, kp, r, kb) as i64);
            let x = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(x8));
            for (i, s) in sums.iter_mut().enumerate() {
                let w8 = _mm_loadu_si128(w.add(kb * KBLOCK_LEN + 16 * i).cast());
                *s = _mm256_add_epi32(*s, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(w8)));
            }
        }
        // hadd(s0, s1) = [c0 c0 c2 c2 | c1 c1 c3 c3] (partial sums), hadd of two of those =
        // [c0 c2 c4 c6 | c1 c3 c5 c7] (complete), VPERMD puts the columns in order.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (half, s) in sums.chunks_exact(4).enumerate() {
            let q0 = _mm256_hadd_epi32(s[0], s[1]);
            let q1 = _mm256_hadd_epi32(s[2], s[3]);
            let cols = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(q0, q1), order);
            _mm256_storeu_si256(out.as_mut_ptr().add(8 * half).cast(), cols);
        }
    }
}
