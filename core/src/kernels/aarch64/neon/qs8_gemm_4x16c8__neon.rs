//! `qs8_gemm_4x16c8__neon`: 4 rows x 16 columns, k-blocks of 8, SMULL + SMLAL + SADALP.
//!
//! Register map, per group of 4 columns: `wa0`/`wa1` = columns (0,1)/(2,3) of k-block `kb`,
//! `wb0`/`wb1` the same for `kb + 1`; `xa`/`xb` = the row's 8 activations of both blocks; the i16
//! products of the two blocks are added lane-wise (at most 2 * 128 * 127 = 32512, no overflow),
//! then SADALP folds them into `sums[r][c]`, 4 i32 partial sums per column; two ADDP rounds give
//! the 4 column sums.

use std::arch::aarch64::*;

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
    /// Computes one tile (see [`Tile`](crate::kernels::qs8::tile::Tile)) with SMULL/SMLAL/SADALP; s8 activations.
    qs8_gemm_4x16c8__neon,
    "neon",
    mr: MR,
    accumulate
);

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has NEON.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    let blocks = kp / KR;
    // SAFETY: every k-block index read is < blocks, inside the panel; 16-byte loads at 32g and
    // 32g + 16 (g < 4) stay inside a 128-byte k-block; activations go through tile::a_block.
    unsafe {
        let w = tile::panel_weights(panel);
        for g in 0..4 {
            let mut sums = [[vdupq_n_s32(0); 4]; R];
            for kb in (0..blocks).step_by(2) {
                let second = kb + 1 < blocks;
                let kb1 = if second { kb + 1 } else { kb };
                let wa = [
                    vld1q_s8(w.add(kb * KBLOCK_LEN + 32 * g).cast()),
                    vld1q_s8(w.add(kb * KBLOCK_LEN + 32 * g + 16).cast()),
                ];
                let wb = [
                    vld1q_s8(w.add(kb1 * KBLOCK_LEN + 32 * g).cast()),
                    vld1q_s8(w.add(kb1 * KBLOCK_LEN + 32 * g + 16).cast()),
                ];
                for (r, s) in sums.iter_mut().enumerate() {
                    let xa = vcreate_s8(tile::a_block(a, kp, r, kb));
                    // A zero second block adds nothing when the block count is odd.
                    let xb = vcreate_s8(if second {
                        tile::a_block(a, kp, r, kb1)
                    } else {
                        0
                    });
                    for c in 0..4 {
                        let (ha, hb) = if c % 2 == 0 {
                            (vget_low_s8(wa[c / 2]), vget_low_s8(wb[c / 2]))
                        } else {
                            (vget_high_s8(wa[c / 2]), vget_high_s8(wb[c / 2]))
                        };
                        s[c] = vpadalq_s16(s[c], vmlal_s8(vmull_s8(xa, ha), xb, hb));
                    }
                }
            }
            for (r, s) in sums.iter().enumerate() {
                let cols = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                vst1q_s32(acc[r].as_mut_ptr().add(4 * g), cols);
            }
        }
    }
}
