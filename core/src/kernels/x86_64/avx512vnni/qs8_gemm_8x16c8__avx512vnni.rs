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
//!
//! Statically quantized tiles of several rows with byte output (the full-int8 path) skip the
//! shared epilogue's round trip through memory: the accumulators start at `bias - 128 * colsum`
//! in the even lanes, and each row goes from the two accumulators to its 16 output bytes in
//! registers (two permutes and an add, then the epilogue's f32 scale, clamp, round-to-nearest-
//! even, zero point and a masked narrowing store); the same IEEE operations in the same order as
//! [`tile`]'s epilogue, so the same bits. Those tiles run two panels at a time as two 4x32
//! halves (rows 0-3, then 4-7; an odd last panel as 8x16): per k-block 4 weight loads, 4
//! broadcasts and 16 VPDPBUSD instead of 2, 8 and 16 (see `docs/performance.md` for what each
//! load costs). Other tiles (f32 output, dynamic rows, GEMV) take the shared epilogue.

use std::arch::x86_64::*;

use crate::kernels::qs8::pack::{BIAS_OFFSET, COLSUM_OFFSET, KBLOCK_LEN, KR, NR, SCALE_OFFSET};
use crate::kernels::qs8::tile::{self, APacking, Acc, ByteOut, Tile};

/// Rows per tile.
pub(crate) const MR: usize = 8;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Interleaved;

/// Computes one tile (see [`Tile`]) with VPDPBUSD; u8 activations.
///
/// # Safety
/// `tile` satisfies the `Tile` contract (u8 activations, tiles of `MR` rows), and the CPU has
/// AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn qs8_gemm_8x16c8__avx512vnni(tile: &Tile) {
    let (a, kp, rows) = (tile.a, tile.kp, tile.rows);
    debug_assert!((1..=MR).contains(&rows) && kp.is_multiple_of(KR));
    if rows > 1
        && let Some(out) = tile::static_byte_out(tile)
    {
        let pairs = tile.panel_count / 2;
        for p in (0..pairs).map(|i| 2 * i) {
            // SAFETY: p + 1 < panel_count, so both panels and their output columns p*16 ..
            // p*16 + 16 + ncols of rows < rows are inside what the tile contract guarantees.
            unsafe {
                let panels = [p, p + 1].map(|p| tile.panels.add(p * tile.panel_len));
                let ncols = NR.min(tile.n - (p + 1) * NR);
                let dst = tile.out.add(p * NR);
                requantize::<4, 2>(a, kp, panels, rows, dst, tile.out_stride, ncols, out);
            }
        }
        if tile.panel_count % 2 == 1 {
            let p = tile.panel_count - 1;
            // SAFETY: p < panel_count, so the panel and its output columns p*16 ..
            // p*16 + ncols of rows < rows are inside what the tile contract guarantees.
            unsafe {
                let panel = tile.panels.add(p * tile.panel_len);
                let ncols = NR.min(tile.n - p * NR);
                let dst = tile.out.add(p * NR);
                requantize::<MR, 1>(a, kp, [panel], rows, dst, tile.out_stride, ncols, out);
            }
        }
        return;
    }
    // SAFETY: the tile is valid (this function's contract); the closure hands the accumulator
    // the tile's activations and one of its panels.
    unsafe {
        tile::run::<MR>(tile, |panel, acc| {
            if rows == 1 {
                accumulate::<1>(a, kp, panel, acc)
            } else {
                accumulate::<MR>(a, kp, panel, acc)
            }
        })
    }
}

/// The dot products of `R` rows of the tile, starting at row `row0`, with the weights `w` of
/// `P` panels, added to `init` (lane pairs not yet added; see the module docs): `sums[r][p]`.
///
/// # Safety
/// `a` and `kp` come from a valid `Tile`, each `w[p]` is the k-blocks of one of its panels;
/// `row0 + R <= MR`; `2 R P` accumulators fit in registers (at most 16); the CPU has AVX-512
/// F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn dot<const R: usize, const P: usize>(
    a: *const u8,
    row0: usize,
    kp: usize,
    w: [*const u8; P],
    init: [[__m512i; 2]; P],
) -> [[[__m512i; 2]; P]; R] {
    debug_assert!(row0 + R <= MR && kp.is_multiple_of(KR));
    let mut sums = [init; R];
    // SAFETY: k-block kb < kp / 8 lies inside each panel (KBLOCK_LEN bytes each); the
    // activation k-block kb is the 8 MR bytes at `a + 8 MR kb` of the Interleaved tile (MR kp
    // bytes), and rows row0 + r < MR read 8 bytes at 8 (row0 + r) inside it.
    unsafe {
        for kb in 0..kp / KR {
            let wv = w.map(|w| {
                let w = w.add(kb * KBLOCK_LEN);
                [
                    _mm512_loadu_si512(w.cast()),
                    _mm512_loadu_si512(w.add(64).cast()),
                ]
            });
            let x = a.add(kb * KR * MR + KR * row0);
            for (r, s) in sums.iter_mut().enumerate() {
                let x = _mm512_set1_epi64(x.add(KR * r).cast::<i64>().read_unaligned());
                for (s, w) in s.iter_mut().zip(&wv) {
                    s[0] = _mm512_dpbusd_epi32(s[0], x, w[0]);
                    s[1] = _mm512_dpbusd_epi32(s[1], x, w[1]);
                }
            }
        }
    }
    sums
}

/// `dot::<1, 1>` for a tile of one row (GEMV) with four accumulator pairs (k-blocks `kb % 4`)
/// summed at the end: two chains would wait on VPDPBUSD's latency at every k-block. (i32
/// addition wraps and is associative: the same sums.)
///
/// # Safety
/// As `dot::<1, 1>` with `row0 = 0` and zero start values.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn dot_row(a: *const u8, kp: usize, w: *const u8) -> [__m512i; 2] {
    let mut sums = [[_mm512_setzero_si512(); 2]; 4];
    let blocks = kp / KR;
    // SAFETY: as in `dot`: k-block kb < kp / 8 of the panel and row 0 of the tile's k-block kb.
    let step = |s: &mut [__m512i; 2], kb: usize| unsafe {
        let x = _mm512_set1_epi64(a.add(kb * KR * MR).cast::<i64>().read_unaligned());
        let w = w.add(kb * KBLOCK_LEN);
        s[0] = _mm512_dpbusd_epi32(s[0], x, _mm512_loadu_si512(w.cast()));
        s[1] = _mm512_dpbusd_epi32(s[1], x, _mm512_loadu_si512(w.add(64).cast()));
    };
    for kb in (0..blocks / 4).map(|i| 4 * i) {
        for (j, s) in sums.iter_mut().enumerate() {
            step(s, kb + j);
        }
    }
    for kb in blocks / 4 * 4..blocks {
        step(&mut sums[0], kb);
    }
    let add = |x: [__m512i; 2], y: [__m512i; 2]| {
        [_mm512_add_epi32(x[0], y[0]), _mm512_add_epi32(x[1], y[1])]
    };
    add(add(sums[0], sums[1]), add(sums[2], sums[3]))
}

/// The 16 column sums of one row's accumulators: lane `j` = lanes `2j` + `2j + 1` of `s[0]`
/// followed by `s[1]`.
#[target_feature(enable = "avx512f")]
#[inline]
fn add_pairs(s: [__m512i; 2]) -> __m512i {
    let even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    let odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    let lo = _mm512_permutex2var_epi32(s[0], even, s[1]);
    let hi = _mm512_permutex2var_epi32(s[0], odd, s[1]);
    _mm512_add_epi32(lo, hi)
}

/// Writes the dot products of the first `R` rows with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; `R <= MR`; the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn accumulate<const R: usize>(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    let zero = _mm512_setzero_si512();
    // SAFETY: the caller's contract is `dot`'s; the column sums are 64 bytes of the panel
    // header; rows r < R <= MR of `acc` hold 16 i32.
    unsafe {
        let w = tile::panel_weights(panel);
        let sums = if R == 1 {
            [[dot_row(a, kp, w)]; R]
        } else {
            dot::<R, 1>(a, 0, kp, [w], [[zero; 2]])
        };
        let colsum = _mm512_loadu_si512(panel.add(COLSUM_OFFSET).cast());
        let shift = _mm512_slli_epi32::<7>(colsum);
        for (r, [s]) in sums.iter().enumerate() {
            let total = _mm512_sub_epi32(add_pairs(*s), shift);
            _mm512_storeu_si512(acc[r].as_mut_ptr().cast(), total);
        }
    }
}

/// The register epilogue's per-panel constants: the accumulators' starting values (`bias -
/// 128 colsum`, spread over the even lanes of the two halves) and the column scales.
///
/// # Safety
/// `panel` is a panel of a valid `Tile`; the CPU has AVX-512 F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn panel_start(panel: *const u8) -> ([__m512i; 2], __m512) {
    // SAFETY: the per-column arrays are 64 bytes each inside the panel header.
    let (bias, colsum, scale) = unsafe {
        (
            _mm512_loadu_si512(panel.add(BIAS_OFFSET).cast()),
            _mm512_loadu_si512(panel.add(COLSUM_OFFSET).cast()),
            _mm512_loadu_ps(panel.add(SCALE_OFFSET).cast()),
        )
    };
    // acc + bias - 128 colsum (wrapping, like the shared epilogue's `acc + bias` with `acc`
    // already back in the s8 view), spread over the even lanes.
    let start = _mm512_sub_epi32(bias, _mm512_slli_epi32::<7>(colsum));
    let spread = |h: i32| {
        let idx = _mm512_set_epi32(
            0,
            h + 7,
            0,
            h + 6,
            0,
            h + 5,
            0,
            h + 4,
            0,
            h + 3,
            0,
            h + 2,
            0,
            h + 1,
            0,
            h,
        );
        _mm512_maskz_permutexvar_epi32(0x5555, idx, start)
    };
    ([spread(0), spread(8)], scale)
}

/// `P` consecutive panels of a statically quantized tile with byte output, in registers, `R`
/// rows at a time: writes `16 (P - 1) + ncols` bytes of each of the first `rows` rows at
/// `dst + r * stride`.
///
/// # Safety
/// `a`, `kp` and `panels` come from a valid `Tile` of `rows` rows whose output row `r < rows`
/// holds `16 (P - 1) + ncols` writable bytes at `dst + r * stride` (`ncols <= 16`); `R`
/// divides `MR` and `2 R P <= 16`; the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn requantize<const R: usize, const P: usize>(
    a: *const u8,
    kp: usize,
    panels: [*const u8; P],
    rows: usize,
    dst: *mut u8,
    stride: usize,
    ncols: usize,
    out: ByteOut,
) {
    debug_assert!(rows <= MR && MR.is_multiple_of(R) && ncols <= NR);
    let starts = panels.map(|panel| {
        // SAFETY: each panel is a panel of the tile (this function's contract).
        unsafe { panel_start(panel) }
    });
    let w = panels.map(|panel| {
        // SAFETY: as above.
        unsafe { tile::panel_weights(panel) }
    });
    let lo = _mm512_set1_ps(out.lo);
    let hi = _mm512_set1_ps(out.hi);
    let zp = _mm512_set1_epi32(out.zero_point);
    let full: __mmask16 = 0xffff;
    let last: __mmask16 = (((1u32 << ncols) - 1) & 0xffff) as __mmask16;
    for row0 in (0..rows).step_by(R) {
        // SAFETY: row0 + R <= MR (R divides MR, row0 < rows <= MR); the rest is `dot`'s
        // contract, which is the caller's.
        let sums = unsafe { dot::<R, P>(a, row0, kp, w, starts.map(|s| s.0)) };
        for (r, s) in sums.iter().enumerate().take(rows - row0) {
            for (p, (s, (_, scale))) in s.iter().zip(&starts).enumerate() {
                let f = _mm512_mul_ps(_mm512_cvtepi32_ps(add_pairs(*s)), *scale);
                // `f` is never NaN (a finite integer times a finite scale), so MAXPS / MINPS
                // give the shared clamp's results.
                let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
                let q = _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                    f,
                );
                let q = _mm512_add_epi32(q, zp);
                let mask = if p + 1 == P { last } else { full };
                // SAFETY: output row row0 + r < rows holds 16 p + 16 (or + ncols for the
                // last panel) bytes at its start (the caller's contract); the masked store
                // writes only those.
                unsafe {
                    let at = dst.add((row0 + r) * stride + p * NR);
                    _mm512_mask_cvtepi32_storeu_epi8(at.cast(), mask, q);
                }
            }
        }
    }
}
