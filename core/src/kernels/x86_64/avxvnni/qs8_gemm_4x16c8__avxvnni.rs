//! `qs8_gemm_4x16c8__avxvnni`: 4 rows x 16 columns in two passes of 8 columns,
//! k-blocks of 8, VEX VPDPBUSD on ymm.
//!
//! The activation tile is k-block major ([`APacking::Interleaved`]), so each broadcast reads a
//! constant offset of one pointer (no per-row address arithmetic in the loop).
//!
//! Register map per k-block and half panel `h`: `w0`, `w1` = columns `8h + 0..4` and
//! `8h + 4..8` (8 bytes each = one qword lane); `x` = the row's 8 activation bytes (u8 view,
//! s8 + 128) broadcast to every qword; `sums[r][j]` dword lane `2c` sums k 0-3 and lane `2c + 1`
//! k 4-7 of column `8h + 4j + c`. 8 accumulators + 2 weights + 1 broadcast fit the 16 ymm
//! registers. At the end VPHADDD adds the lane pairs, VPERMD orders the columns and
//! `128 * colsum` is subtracted to return to the s8 view.

use std::arch::x86_64::*;

use crate::kernels::qs8::WeightOrder;
use crate::kernels::qs8::pack::{COLSUM_OFFSET, KBLOCK_LEN, KR};
use crate::kernels::qs8::tile::{self, APacking, Acc, tile_kernel};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Interleaved;
/// Order of the weights in each k-block: the stored one.
pub(crate) const WEIGHT_ORDER: WeightOrder = WeightOrder::C8;
/// Panels computed together: one (a panel group may hold any number).
pub(crate) const PASS_PANELS: usize = 1;

tile_kernel!(
    /// Computes one tile (see [`Tile`](crate::kernels::qs8::tile::Tile)) with VPDPBUSD ymm; u8
    /// activations.
    qs8_gemm_4x16c8__avxvnni,
    "avx2,avxvnni",
    mr: MR,
    accumulate
);

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    // SAFETY: k-block kb < kp / 8 lies inside the panel; the 32-byte loads at 64h and 64h + 32
    // (h < 2) stay inside its 128 bytes; the column sums are 64 bytes inside the panel header;
    // the activation k-block kb is the 8 MR bytes at 8 MR kb of the Interleaved tile (MR kp
    // bytes), and rows r < R <= MR read 8 bytes at 8 r inside it.
    unsafe {
        let w = tile::panel_weights(panel);
        let order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
        for h in 0..2 {
            let mut sums = [[_mm256_setzero_si256(); 2]; R];
            for kb in 0..kp / KR {
                let block = w.add(kb * KBLOCK_LEN + 64 * h);
                let w0 = _mm256_loadu_si256(block.cast());
                let w1 = _mm256_loadu_si256(block.add(32).cast());
                let x = a.add(kb * KR * MR);
                for (r, s) in sums.iter_mut().enumerate() {
                    let x = _mm256_set1_epi64x(x.add(KR * r).cast::<i64>().read_unaligned());
                    s[0] = _mm256_dpbusd_avx_epi32(s[0], x, w0);
                    s[1] = _mm256_dpbusd_avx_epi32(s[1], x, w1);
                }
            }
            let colsum = _mm256_loadu_si256(panel.add(COLSUM_OFFSET + 32 * h).cast());
            let shift = _mm256_slli_epi32::<7>(colsum);
            for (r, s) in sums.iter().enumerate() {
                // [c0 c1 c4 c5 | c2 c3 c6 c7] -> columns 8h + 0..8 in order.
                let cols = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(s[0], s[1]), order);
                let total = _mm256_sub_epi32(cols, shift);
                _mm256_storeu_si256(acc[r].as_mut_ptr().add(8 * h).cast(), total);
            }
        }
    }
}
