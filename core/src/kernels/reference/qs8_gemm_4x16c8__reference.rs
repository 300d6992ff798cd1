//! `qs8_gemm_4x16c8__reference`: the int8 GEMM tile as plain loops over the `c8` layout.

use crate::kernels::qs8::WeightOrder;
use crate::kernels::qs8::pack::{KBLOCK_LEN, KR, NR};
use crate::kernels::qs8::tile::{self, APacking, Acc, Tile};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Rows;
/// Order of the weights in each k-block: the stored one.
pub(crate) const WEIGHT_ORDER: WeightOrder = WeightOrder::C8;
/// Panels computed together: one (a panel group may hold any number).
pub(crate) const PASS_PANELS: usize = 1;

/// Computes one tile (see [`Tile`]) with scalar code.
///
/// # Safety
/// `tile` satisfies the [`Tile`] contract (s8 activations).
pub(crate) unsafe fn qs8_gemm_4x16c8__reference(tile: &Tile) {
    let (a, kp) = (tile.a, tile.kp);
    debug_assert!(kp.is_multiple_of(KR) && tile.rows <= MR);
    // SAFETY: the closure reads the tile's activations and the panel it is given (within kp).
    unsafe {
        tile::run::<MR>(tile, |panel, acc: &mut Acc<MR>| {
            *acc = [[0; NR]; MR];
            let w = tile::panel_weights(panel);
            for kb in 0..kp / KR {
                for (r, acc_row) in acc.iter_mut().enumerate() {
                    let x = tile::a_block(a, kp, r, kb).to_le_bytes();
                    for (c, sum) in acc_row.iter_mut().enumerate() {
                        for (kk, &xa) in x.iter().enumerate() {
                            let wv = *w.add(kb * KBLOCK_LEN + c * KR + kk) as i8;
                            *sum = sum.wrapping_add(i32::from(xa as i8) * i32::from(wv));
                        }
                    }
                }
            }
            debug_assert_eq!(acc[0].len(), NR);
        })
    }
}
