//! `qs8_gemm_4x16c8__i8mm`: 4 rows x 16 columns, k-blocks of 8, SMMLA.
//!
//! Register map per k-block: `x[p]` = rows `2p`, `2p + 1` (8 bytes each); `w[i]` = columns
//! `2i`, `2i + 1` (8 bytes each, exactly as stored); SMMLA leaves in `sums[p][i]` the 2x2 block
//! [r0 c0, r0 c1, r1 c0, r1 c1]. 16 accumulators + 8 weights + 2 activations = 26 registers. At
//! the end ZIP1/ZIP2 on 64-bit lanes of two neighbouring blocks give 4 consecutive columns of
//! each row.
//!
//! Both operands are streamed by one pointer each: a k-block is the panel's 128 consecutive
//! weight bytes (two 4-register LD1) and, in the k-block-major tile ([`APacking::Interleaved`]),
//! the 4 rows' 32 consecutive bytes (one 2-register LD1), for 16 SMMLA; the loop runs two
//! k-blocks per iteration so that its counter and branch are shared by 32 SMMLA.

use std::arch::aarch64::*;

use crate::kernels::qs8::WeightOrder;
use crate::kernels::qs8::pack::{KBLOCK_LEN, KR};
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

/// Adds one k-block of the first `P` row pairs (`x`: 16 bytes a pair) times the panel's
/// k-block (`w`: 128 bytes) to `sums`.
///
/// # Safety
/// `x` points to `16 P` readable bytes, `w` to 128; the CPU has NEON and i8mm.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn step<const P: usize>(sums: &mut [[int32x4_t; 8]; P], x: *const u8, w: *const u8) {
    // SAFETY: the caller's contract covers the loads.
    let (xv, w0, w1) = unsafe {
        let xv: [int8x16_t; P] = if P == MR / 2 {
            let x = vld1q_s8_x2(x.cast());
            std::array::from_fn(|p| [x.0, x.1][p])
        } else {
            std::array::from_fn(|p| vld1q_s8(x.add(16 * p).cast()))
        };
        (xv, vld1q_s8_x4(w.cast()), vld1q_s8_x4(w.add(64).cast()))
    };
    let wv = [w0.0, w0.1, w0.2, w0.3, w1.0, w1.1, w1.2, w1.3];
    for (s, &x) in sums.iter_mut().zip(&xv) {
        for i in 0..8 {
            s[i] = smmla(s[i], x, wv[i]);
        }
    }
}

/// Adds `pairs` pairs of k-blocks of all `MR` rows times the panel to `sums`, advancing `x` by
/// `2 * 8 * MR` and `w` by `2 * KBLOCK_LEN` bytes per pair. One iteration is six LD1 with
/// post-increment, 32 SMMLA, SUBS and B.NE (the compiler splits multi-register loads into LDP
/// pairs and adds address arithmetic, which this loop does not need).
///
/// # Safety
/// `pairs >= 1`; `x` points to `16 * MR * pairs` readable bytes and `w` to `2 * KBLOCK_LEN *
/// pairs`; the CPU has NEON and i8mm.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn smmla_pairs(
    sums: &mut [[int32x4_t; 8]; MR / 2],
    x: &mut *const u8,
    w: &mut *const u8,
    pairs: usize,
) {
    debug_assert!(pairs >= 1);
    // SAFETY: the loop reads exactly the bytes the caller guarantees (2 pairs k-blocks of 32
    // activation bytes and 128 weight bytes each), writes only the named registers, and leaves
    // the flags changed (no `preserves_flags`).
    unsafe {
        std::arch::asm!(
            "2:",
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{w}], #64",
            "ld1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{w}], #64",
            "ld1 {{v24.16b, v25.16b}}, [{x}], #32",
            "smmla v0.4s, v24.16b, v16.16b",
            "smmla v1.4s, v24.16b, v17.16b",
            "smmla v2.4s, v24.16b, v18.16b",
            "smmla v3.4s, v24.16b, v19.16b",
            "smmla v4.4s, v24.16b, v20.16b",
            "smmla v5.4s, v24.16b, v21.16b",
            "smmla v6.4s, v24.16b, v22.16b",
            "smmla v7.4s, v24.16b, v23.16b",
            "smmla v8.4s, v25.16b, v16.16b",
            "smmla v9.4s, v25.16b, v17.16b",
            "smmla v10.4s, v25.16b, v18.16b",
            "smmla v11.4s, v25.16b, v19.16b",
            "smmla v12.4s, v25.16b, v20.16b",
            "smmla v13.4s, v25.16b, v21.16b",
            "smmla v14.4s, v25.16b, v22.16b",
            "smmla v15.4s, v25.16b, v23.16b",
            "ld1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [{w}], #64",
            "ld1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [{w}], #64",
            "ld1 {{v26.16b, v27.16b}}, [{x}], #32",
            "smmla v0.4s, v26.16b, v16.16b",
            "smmla v1.4s, v26.16b, v17.16b",
            "smmla v2.4s, v26.16b, v18.16b",
            "smmla v3.4s, v26.16b, v19.16b",
            "smmla v4.4s, v26.16b, v20.16b",
            "smmla v5.4s, v26.16b, v21.16b",
            "smmla v6.4s, v26.16b, v22.16b",
            "smmla v7.4s, v26.16b, v23.16b",
            "smmla v8.4s, v27.16b, v16.16b",
            "smmla v9.4s, v27.16b, v17.16b",
            "smmla v10.4s, v27.16b, v18.16b",
            "smmla v11.4s, v27.16b, v19.16b",
            "smmla v12.4s, v27.16b, v20.16b",
            "smmla v13.4s, v27.16b, v21.16b",
            "smmla v14.4s, v27.16b, v22.16b",
            "smmla v15.4s, v27.16b, v23.16b",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            w = inout(reg) *w,
            x = inout(reg) *x,
            n = inout(reg) pairs => _,
            inout("v0") sums[0][0],
            inout("v1") sums[0][1],
            inout("v2") sums[0][2],
            inout("v3") sums[0][3],
            inout("v4") sums[0][4],
            inout("v5") sums[0][5],
            inout("v6") sums[0][6],
            inout("v7") sums[0][7],
            inout("v8") sums[1][0],
            inout("v9") sums[1][1],
            inout("v10") sums[1][2],
            inout("v11") sums[1][3],
            inout("v12") sums[1][4],
            inout("v13") sums[1][5],
            inout("v14") sums[1][6],
            inout("v15") sums[1][7],
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            options(nostack, readonly)
        );
    }
}

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has NEON and i8mm.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    if R <= 2 {
        // SAFETY: this function's contract; one row pair covers R <= 2 rows.
        unsafe { accumulate_pairs::<R, 1>(a, kp, panel, acc) }
    } else {
        // SAFETY: as above, with all MR / 2 pairs.
        unsafe { accumulate_pairs::<R, 2>(a, kp, panel, acc) }
    }
}

/// [`accumulate`] over the first `P` row pairs (`2 P >= R`).
///
/// # Safety
/// As for [`accumulate`], and `R <= 2 P <= MR`.
#[target_feature(enable = "neon,i8mm")]
#[inline]
unsafe fn accumulate_pairs<const R: usize, const P: usize>(
    a: *const u8,
    kp: usize,
    panel: *const u8,
    acc: &mut Acc<MR>,
) {
    debug_assert!(R <= 2 * P && 2 * P <= MR);
    let blocks = kp / KR;
    let mut sums = [[vdupq_n_s32(0); 8]; P];
    // SAFETY: k-block kb < blocks of the Interleaved tile is the 8 MR bytes at 8 MR kb (MR kp
    // bytes in all), and step reads its first 16 P <= 8 MR; k-block kb of the panel is the
    // KBLOCK_LEN bytes at KBLOCK_LEN kb. Both pointers advance one k-block per step (two per
    // iteration of smmla_pairs), `blocks` k-blocks in all.
    unsafe {
        let (mut wp, mut xp) = (tile::panel_weights(panel), a);
        if P == MR / 2 && blocks >= 2 {
            let all: &mut [[int32x4_t; 8]; MR / 2] =
                (&mut sums[..]).try_into().expect("P = MR / 2");
            smmla_pairs(all, &mut xp, &mut wp, blocks / 2);
        } else {
            for _ in 0..blocks / 2 {
                step::<P>(&mut sums, xp, wp);
                step::<P>(&mut sums, xp.add(KR * MR), wp.add(KBLOCK_LEN));
                wp = wp.add(2 * KBLOCK_LEN);
                xp = xp.add(2 * KR * MR);
            }
        }
        if blocks % 2 == 1 {
            step::<P>(&mut sums, xp, wp);
        }
        for (p, s) in sums.iter().enumerate() {
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
