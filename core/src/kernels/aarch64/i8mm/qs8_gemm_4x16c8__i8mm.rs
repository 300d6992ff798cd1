//! `qs8_gemm_4x16c8__i8mm`: 4 rows x 16 columns, k-blocks of 8, SMMLA.
//!
//! Register map per k-block: `x[p]` = rows `2p`, `2p + 1` (8 bytes each; a single row is paired
//! with itself); `w[i]` = columns `2i`, `2i + 1` (8 bytes each, exactly as stored); SMMLA leaves in
//! `sums[p][i]` the 2x2 block [r0 c0, r0 c1, r1 c0, r1 c1]. At the end ZIP1/ZIP2 on 64-bit lanes
//! of two neighbouring blocks give 4 consecutive columns of each row.

use std::arch::aarch64::*;

use crate::kernels::qs8::pack::{KBLOCK_LEN, KR};
use crate::kernels::qs8::tile::{self, APacking, Acc, tile_kernel};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Interleaved;

tile_kernel!(
    /// Computes one tile (see [`Tile`](crate::kernels::qs8::tile::Tile)) with SMMLA; s8 activations.
    qs8_gemm_4x16c8__i8mm,
    "neon,i8mm",
    mr: MR,
    accumulate
);

super::super::int8_mla!(
    /// `acc +` the 2x2 product of the 2x8 rows `x` and the 2x8 columns `w` (SMMLA).
    smmla,
    "smmla",
    "neon,i8mm"
);

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has NEON and i8mm.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    let pairs = R.div_ceil(2);
    let mut sums = [[vdupq_n_s32(0); 8]; MR / 2];
    // SAFETY: the activation loads at 8 MR kb + 16 p (p < MR / 2, kb < kp / 8) stay inside the
    // MR kp bytes of an Interleaved tile; k-block kb < kp / 8 is inside the panel; the loads at 16i
    // (i < 8) stay inside its 128 bytes.
    unsafe {
        let w = tile::panel_weights(panel);
        for kb in 0..kp / KR {
            let wv: [int8x16_t; 8] =
                std::array::from_fn(|i| vld1q_s8(w.add(kb * KBLOCK_LEN + 16 * i).cast()));
            for (p, s) in sums.iter_mut().enumerate().take(pairs) {
                // k-block kb of rows 2p and 2p + 1 (APacking::Interleaved).
                let x = vld1q_s8(a.add(KR * MR * kb + 16 * p).cast());
                for i in 0..8 {
                    s[i] = smmla(s[i], x, wv[i]);
                }
            }
        }
        for (p, s) in sums.iter().enumerate().take(pairs) {
            for j in 0..4 {
                let (b0, b1) = (
                    vreinterpretq_s64_s32(s[2 * j]),
                    vreinterpretq_s64_s32(s[2 * j + 1]),
                );
                vst1q_s32(
                    acc[2 * p].as_mut_ptr().add(4 * j),
                    vreinterpretq_s32_s64(vzip1q_s64(b0, b1)),
                );
                if 2 * p + 1 < R {
                    vst1q_s32(
                        acc[2 * p + 1].as_mut_ptr().add(4 * j),
                        vreinterpretq_s32_s64(vzip2q_s64(b0, b1)),
                    );
                }
            }
        }
    }
}
