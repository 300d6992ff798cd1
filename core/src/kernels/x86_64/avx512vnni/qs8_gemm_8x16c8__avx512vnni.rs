//! `qs8_gemm_8x16c8__avx512vnni`: 8 rows x 16 columns, k-blocks of 8, VPDPBUSD on zmm (16
//! independent accumulators hide its latency and halve the weight traffic of a 4-row tile).
//!
//! Register map per k-block: `w0`, `w1` = columns 0-7 and 8-15 (8 bytes each = one qword lane);
//! `x` = the row's 8 activation bytes (u8 view, s8 + 128) broadcast to every qword; `acc[r][h]`
//! dword lane `2c` sums k 0-3 and lane `2c + 1` k 4-7 of column `8h + c`. At the end the lane
//! pairs are added (two permutes) and `128 * colsum` is subtracted to return to the s8 view.
//!
//! The activation tile is k-block major ([`APacking::Interleaved`]): the 8 rows of a k-block are
//! 64 consecutive bytes, so each broadcast is `vpbroadcastq` from a constant offset of one
//! pointer. Per k-block the loop is 2 weight loads, 8 broadcast loads, 16 VPDPBUSD and two
//! pointer increments: with row pointers at `r * kp` it also carried an address add per row,
//! and those scalar uops competed with VPDPBUSD for ports 0 and 5.

use std::arch::x86_64::*;

use crate::kernels::qs8::pack::{COLSUM_OFFSET, KBLOCK_LEN, KR};
use crate::kernels::qs8::tile::{self, APacking, Acc, tile_kernel};

/// Rows per tile.
pub(crate) const MR: usize = 8;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Interleaved;

tile_kernel!(
    /// Computes one tile (see [`Tile`](crate::kernels::qs8::tile::Tile)) with VPDPBUSD; u8 activations.
    qs8_gemm_8x16c8__avx512vnni,
    "avx512f,avx512bw,avx512vnni",
    mr: MR,
    accumulate
);

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    let mut sums = [[_mm512_setzero_si512(); 2]; R];
    // SAFETY: k-block kb < kp / 8 lies inside the panel (KBLOCK_LEN bytes each); the activation
    // k-block kb is the 8 MR bytes at `a + 8 MR kb` of the Interleaved tile (MR kp bytes), and
    // rows r < R <= MR read 8 bytes at 8 r inside it.
    unsafe {
        let w = tile::panel_weights(panel);
        for kb in 0..kp / KR {
            let w0 = _mm512_loadu_si512(w.add(kb * KBLOCK_LEN).cast());
            let w1 = _mm512_loadu_si512(w.add(kb * KBLOCK_LEN + 64).cast());
            let x = a.add(kb * KR * MR);
            for (r, s) in sums.iter_mut().enumerate() {
                let x = _mm512_set1_epi64(x.add(KR * r).cast::<i64>().read_unaligned());
                s[0] = _mm512_dpbusd_epi32(s[0], x, w0);
                s[1] = _mm512_dpbusd_epi32(s[1], x, w1);
            }
        }
        let even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        let odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        let colsum = _mm512_loadu_si512(panel.add(COLSUM_OFFSET).cast());
        let shift = _mm512_slli_epi32::<7>(colsum);
        for (r, s) in sums.iter().enumerate() {
            let lo = _mm512_permutex2var_epi32(s[0], even, s[1]);
            let hi = _mm512_permutex2var_epi32(s[0], odd, s[1]);
            let total = _mm512_sub_epi32(_mm512_add_epi32(lo, hi), shift);
            _mm512_storeu_si512(acc[r].as_mut_ptr().cast(), total);
        }
    }
}
