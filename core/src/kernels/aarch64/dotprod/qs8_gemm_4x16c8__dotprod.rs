//! `qs8_gemm_4x16c8__dotprod`: 4 rows x 16 columns, k-blocks of 8, SDOT.
//!
//! Register map, per half panel (8 columns): `w[i]` = columns `2i`, `2i + 1` of one k-block
//! (16 bytes); `x` = the row's 8 activations repeated twice; SDOT leaves in `sums[r][i]` the lanes
//! [col 2i k0-3, col 2i k4-7, col 2i+1 k0-3, col 2i+1 k4-7]; one ADDP per 4 columns finishes.

use std::arch::aarch64::*;

use crate::kernels::qs8::pack::{KBLOCK_LEN, KR};
use crate::kernels::qs8::tile::{self, APacking, Acc, tile_kernel};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Doubled;

tile_kernel!(
    /// Computes one tile (see [`Tile`](crate::kernels::qs8::tile::Tile)) with SDOT; s8 activations.
    qs8_gemm_4x16c8__dotprod,
    "neon,dotprod",
    mr: MR,
    accumulate
);

super::super::int8_mla!(
    /// `acc +` the 4-byte dot products of `x` and `w`, lane by lane (SDOT).
    sdot,
    "sdot",
    "neon,dotprod"
);

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    // SAFETY: the activation loads at 2 r kp + 16 kb (r < R <= MR, kb < kp / 8) stay inside the
    // 2 MR kp bytes of a Doubled tile; k-block kb < kp / 8 is inside the panel; the loads at
    // 64h + 16i (h < 2, i < 4) stay inside its 128 bytes.
    unsafe {
        let w = tile::panel_weights(panel);
        for h in 0..2 {
            let mut sums = [[vdupq_n_s32(0); 4]; R];
            for kb in 0..kp / KR {
                let wv: [int8x16_t; 4] = std::array::from_fn(|i| {
                    vld1q_s8(w.add(kb * KBLOCK_LEN + 64 * h + 16 * i).cast())
                });
                for (r, s) in sums.iter_mut().enumerate() {
                    // k-block kb of row r, stored twice (APacking::Doubled).
                    let x = vld1q_s8(a.add(2 * r * kp + 16 * kb).cast());
                    for i in 0..4 {
                        s[i] = sdot(s[i], x, wv[i]);
                    }
                }
            }
            for (r, s) in sums.iter().enumerate() {
                vst1q_s32(acc[r].as_mut_ptr().add(8 * h), vpaddq_s32(s[0], s[1]));
                vst1q_s32(acc[r].as_mut_ptr().add(8 * h + 4), vpaddq_s32(s[2], s[3]));
            }
        }
    }
}
