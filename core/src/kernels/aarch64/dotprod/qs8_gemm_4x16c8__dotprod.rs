//! `qs8_gemm_4x16c8__dotprod`: 4 rows x 16 columns, k-blocks of 8, SDOT.
//!
//! Register map, per half panel (8 columns): `w[i]` = columns `2i`, `2i + 1` of one k-block
//! (16 bytes); `x[r]` = row r's 8 activations repeated twice; SDOT leaves in `sums[r][i]` the
//! lanes [col 2i k0-3, col 2i k4-7, col 2i+1 k0-3, col 2i+1 k4-7]; one ADDP per 4 columns
//! finishes. 16 accumulators + 4 weights + 4 activations = 24 of the 32 vector registers.
//!
//! Both operands are streamed by one pointer each: the half panel's 4 weight registers are 64
//! consecutive bytes of the k-block, and the activation tile is k-block major
//! ([`APacking::Doubled`]: the 4 doubled rows of a k-block are 64 consecutive bytes), so a
//! k-block is one 4-register LD1 per operand and 16 SDOT; the full-tile loop (`asm!`) runs four
//! k-blocks per iteration so that its counter and branch are shared by 64 SDOT.

use std::arch::aarch64::*;

use crate::kernels::qs8::WeightOrder;
use crate::kernels::qs8::pack::{KBLOCK_LEN, KR};
use crate::kernels::qs8::tile::{self, APacking, Acc, tile_kernel};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Doubled;
/// Order of the weights in each k-block: the stored one.
pub(crate) const WEIGHT_ORDER: WeightOrder = WeightOrder::C8;
/// Panels computed together: one (a panel group may hold any number).
pub(crate) const PASS_PANELS: usize = 1;

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

/// Adds one k-block of the first `R` rows (`x`: the doubled rows, 16 bytes each) times one half
/// panel (`w`: 4 registers of 2 columns) to `sums`.
///
/// # Safety
/// `x` points to `16 R` readable bytes, `w` to 64; the CPU has NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn step<const R: usize>(sums: &mut [[int32x4_t; 4]; R], x: *const u8, w: *const u8) {
    // SAFETY: the caller's contract covers both loads.
    let (wv, xv) = unsafe {
        let w = vld1q_s8_x4(w.cast());
        let wv = [w.0, w.1, w.2, w.3];
        let xv: [int8x16_t; R] = if R == MR {
            let x = vld1q_s8_x4(x.cast());
            std::array::from_fn(|r| [x.0, x.1, x.2, x.3][r])
        } else {
            std::array::from_fn(|r| vld1q_s8(x.add(16 * r).cast()))
        };
        (wv, xv)
    };
    for (s, &x) in sums.iter_mut().zip(&xv) {
        for i in 0..4 {
            s[i] = sdot(s[i], x, wv[i]);
        }
    }
}

/// The asm text of two k-blocks of [`sdot_quads`] (weights in v16-v19 then v24-v27, activations
/// in v20-v23 then v28-v31); the loop body is this twice.
macro_rules! two_k_blocks {
    () => {
        concat!(
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{w}], {stride}\n",
            "ld1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{x}], #64\n",
            "sdot v0.4s, v20.16b, v16.16b\n",
            "sdot v1.4s, v20.16b, v17.16b\n",
            "sdot v2.4s, v20.16b, v18.16b\n",
            "sdot v3.4s, v20.16b, v19.16b\n",
            "sdot v4.4s, v21.16b, v16.16b\n",
            "sdot v5.4s, v21.16b, v17.16b\n",
            "sdot v6.4s, v21.16b, v18.16b\n",
            "sdot v7.4s, v21.16b, v19.16b\n",
            "sdot v8.4s, v22.16b, v16.16b\n",
            "sdot v9.4s, v22.16b, v17.16b\n",
            "sdot v10.4s, v22.16b, v18.16b\n",
            "sdot v11.4s, v22.16b, v19.16b\n",
            "sdot v12.4s, v23.16b, v16.16b\n",
            "sdot v13.4s, v23.16b, v17.16b\n",
            "sdot v14.4s, v23.16b, v18.16b\n",
            "sdot v15.4s, v23.16b, v19.16b\n",
            "ld1 {{v24.16b, v25.16b, v26.16b, v27.16b}}, [{w}], {stride}\n",
            "ld1 {{v28.16b, v29.16b, v30.16b, v31.16b}}, [{x}], #64\n",
            "sdot v0.4s, v28.16b, v24.16b\n",
            "sdot v1.4s, v28.16b, v25.16b\n",
            "sdot v2.4s, v28.16b, v26.16b\n",
            "sdot v3.4s, v28.16b, v27.16b\n",
            "sdot v4.4s, v29.16b, v24.16b\n",
            "sdot v5.4s, v29.16b, v25.16b\n",
            "sdot v6.4s, v29.16b, v26.16b\n",
            "sdot v7.4s, v29.16b, v27.16b\n",
            "sdot v8.4s, v30.16b, v24.16b\n",
            "sdot v9.4s, v30.16b, v25.16b\n",
            "sdot v10.4s, v30.16b, v26.16b\n",
            "sdot v11.4s, v30.16b, v27.16b\n",
            "sdot v12.4s, v31.16b, v24.16b\n",
            "sdot v13.4s, v31.16b, v25.16b\n",
            "sdot v14.4s, v31.16b, v26.16b\n",
            "sdot v15.4s, v31.16b, v27.16b\n",
        )
    };
}

/// Adds `quads` groups of four k-blocks of all `MR` rows times one half panel to `sums`,
/// advancing `x` by `4 * 16 * MR` and `w` by `4 * KBLOCK_LEN` bytes per group. One iteration
/// is eight 4-register LD1 with post-increment, 64 SDOT, SUBS and B.NE (the compiler splits
/// 4-register loads into LDP pairs and adds address arithmetic, which this loop does not need).
///
/// # Safety
/// `quads >= 1`; `x` points to `64 * MR * quads` readable bytes; `w` points into a panel so
/// that the 64 bytes at `w + KBLOCK_LEN * j` are readable for `j < 4 * quads`; the CPU has NEON
/// and dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot_quads(
    sums: &mut [[int32x4_t; 4]; MR],
    x: &mut *const u8,
    w: &mut *const u8,
    quads: usize,
) {
    debug_assert!(quads >= 1);
    // SAFETY: the loop reads exactly the bytes the caller guarantees (4 quads k-blocks of 64
    // activation bytes and 64 weight bytes each), writes only the named registers, and leaves
    // the flags changed (no `preserves_flags`).
    unsafe {
        std::arch::asm!(
            "2:",
            two_k_blocks!(),
            two_k_blocks!(),
            "subs {n}, {n}, #1",
            "b.ne 2b",
            w = inout(reg) *w,
            x = inout(reg) *x,
            n = inout(reg) quads => _,
            stride = in(reg) KBLOCK_LEN,
            inout("v0") sums[0][0],
            inout("v1") sums[0][1],
            inout("v2") sums[0][2],
            inout("v3") sums[0][3],
            inout("v4") sums[1][0],
            inout("v5") sums[1][1],
            inout("v6") sums[1][2],
            inout("v7") sums[1][3],
            inout("v8") sums[2][0],
            inout("v9") sums[2][1],
            inout("v10") sums[2][2],
            inout("v11") sums[2][3],
            inout("v12") sums[3][0],
            inout("v13") sums[3][1],
            inout("v14") sums[3][2],
            inout("v15") sums[3][3],
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack, readonly)
        );
    }
}

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has NEON and dotprod.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    let blocks = kp / KR;
    // SAFETY: k-block kb < blocks of the Doubled tile is the 16 MR bytes at 16 MR kb (2 MR kp
    // bytes in all) and step reads its first 16 R; the half panel h of k-block kb is the 64
    // bytes at KBLOCK_LEN kb + 64 h inside the panel. Both pointers advance one k-block per
    // step (four per group of sdot_quads), `blocks` k-blocks in all.
    unsafe {
        let w = tile::panel_weights(panel);
        for h in 0..2 {
            let mut sums = [[vdupq_n_s32(0); 4]; R];
            let (mut wp, mut xp) = (w.add(64 * h), a);
            let mut left = blocks;
            if R == MR && blocks >= 4 {
                let full: &mut [[int32x4_t; 4]; MR] = (&mut sums[..]).try_into().expect("R = MR");
                sdot_quads(full, &mut xp, &mut wp, blocks / 4);
                left = blocks % 4;
            }
            for _ in 0..left {
                step::<R>(&mut sums, xp, wp);
                wp = wp.add(KBLOCK_LEN);
                xp = xp.add(16 * MR);
            }
            for (r, s) in sums.iter().enumerate() {
                vst1q_s32(acc[r].as_mut_ptr().add(8 * h), vpaddq_s32(s[0], s[1]));
                vst1q_s32(acc[r].as_mut_ptr().add(8 * h + 4), vpaddq_s32(s[2], s[3]));
            }
        }
    }
}
