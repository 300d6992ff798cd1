//! `qs8_gemm_6x16c4__avx512vnni`: 6 rows x 16 columns, weights in the `c4` order (made once by
//! `Qs8Prepared::new`, see `qs8::repack`), VPDPBUSD on zmm.
//!
//! Register map per k-block of 8: `w[p][h]` = k `4h .. 4h + 4` of panel `p`'s 16 columns (one
//! dword lane per column); `x` = 4 activation bytes of one row (u8 view, s8 + 128) broadcast to
//! every dword; `acc[r][p]` lane `c` is the dot product of row `r` with column `c` of panel `p`,
//! so no lane pairs are added at the end; `128 * colsum` returns it to the s8 view.
//!
//! The activation tile is k-block major ([`APacking::Interleaved`]): the 6 rows of a k-block are
//! 48 consecutive bytes, each broadcast is `vpbroadcastd` from a constant offset of one pointer.
//!
//! Statically quantized tiles of several rows with byte output (the full-int8 path) run four
//! panels at a time (24 accumulators; per k-block 8 weight loads and 12 broadcasts for 48
//! VPDPBUSD), the last 1-3 panels together, with the accumulators starting at `bias - 128
//! colsum` and the epilogue in registers: the same IEEE operations in the same order as
//! [`tile`]'s epilogue (f32 scale, clamp, round-to-nearest-even, zero point, masked narrowing
//! store), so the same bits. Other tiles of several rows (f32 output, dynamic rows) compute the
//! same passes and hand them to the shared epilogue panel by panel; single-row tiles (GEMV) run
//! one panel at a time with four accumulator chains.

use std::arch::x86_64::*;

use crate::kernels::qs8::WeightOrder;
use crate::kernels::qs8::pack::{BIAS_OFFSET, COLSUM_OFFSET, KBLOCK_LEN, KR, NR, SCALE_OFFSET};
use crate::kernels::qs8::tile::{self, APacking, Acc, ByteOut, Tile};

/// Rows per tile.
pub(crate) const MR: usize = 6;
/// Layout of the activation tile.
pub(crate) const A_PACKING: APacking = APacking::Interleaved;
/// Order of the weights in each k-block.
pub(crate) const WEIGHT_ORDER: WeightOrder = WeightOrder::C4;

/// Panels of one pass (`MR * PASS_PANELS` = 24 accumulators); the driver's panel groups hold
/// at least this many.
pub(crate) const PASS_PANELS: usize = 4;

/// Computes one tile (see [`Tile`]) with VPDPBUSD; u8 activations, `c4` weights.
///
/// # Safety
/// `tile` satisfies the `Tile` contract (u8 activations, tiles of `MR` rows, panels in the
/// `c4` order), and the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn qs8_gemm_6x16c4__avx512vnni(tile: &Tile) {
    let (a, kp, rows) = (tile.a, tile.kp, tile.rows);
    debug_assert!((1..=MR).contains(&rows) && kp.is_multiple_of(KR));
    if rows > 1
        && let Some(out) = tile::static_byte_out(tile)
    {
        let count = tile.panel_count;
        let pass = |p: usize, width: usize| {
            // SAFETY: p + width <= panel_count, so the panels and their output columns p*16 ..
            // p*16 + 16 (width - 1) + ncols of rows < rows are inside what the tile contract
            // guarantees.
            unsafe {
                let panel = |i: usize| tile.panels.add((p + i) * tile.panel_len);
                let ncols = NR.min(tile.n - (p + width - 1) * NR);
                let args = (
                    a,
                    kp,
                    rows,
                    tile.out.add(p * NR),
                    tile.out_stride,
                    ncols,
                    out,
                );
                match width {
                    4 => requantize(args, [panel(0), panel(1), panel(2), panel(3)]),
                    3 => requantize(args, [panel(0), panel(1), panel(2)]),
                    2 => requantize(args, [panel(0), panel(1)]),
                    _ => requantize(args, [panel(0)]),
                }
            }
        };
        for p in (0..count / PASS_PANELS).map(|i| PASS_PANELS * i) {
            pass(p, PASS_PANELS);
        }
        if !count.is_multiple_of(PASS_PANELS) {
            pass(count / PASS_PANELS * PASS_PANELS, count % PASS_PANELS);
        }
        return;
    }
    if rows == 1 {
        // SAFETY: the tile is valid (this function's contract); the closure hands
        // `accumulate_row` the tile's activations and one of its panels.
        unsafe { tile::run::<MR>(tile, |panel, acc| accumulate_row(a, kp, panel, acc)) };
        return;
    }
    // The dot products of up to four panels at a time (24 accumulators), handed to the shared
    // epilogue panel by panel (`run` asks for the panels in order).
    let mut pass = [[[0i32; NR]; MR]; PASS_PANELS];
    let mut next = 0;
    // SAFETY: the tile is valid (this function's contract); when the closure starts a pass,
    // next + width <= panel_count, so it hands `accumulate_pass` panels of the tile.
    unsafe {
        tile::run::<MR>(tile, |_, acc| {
            let i = next % PASS_PANELS;
            if i == 0 {
                let panel = |j: usize| tile.panels.add((next + j) * tile.panel_len);
                match PASS_PANELS.min(tile.panel_count - next) {
                    4 => {
                        accumulate_pass(a, kp, [panel(0), panel(1), panel(2), panel(3)], &mut pass)
                    }
                    3 => accumulate_pass(a, kp, [panel(0), panel(1), panel(2)], &mut pass),
                    2 => accumulate_pass(a, kp, [panel(0), panel(1)], &mut pass),
                    _ => accumulate_pass(a, kp, [panel(0)], &mut pass),
                }
            }
            *acc = pass[i];
            next += 1;
        })
    }
}

/// The dot products of the first `R` rows of the tile with the `c4` weights `w` of `P` panels,
/// added to `init`: `sums[r][p]`.
///
/// # Safety
/// `a` and `kp` come from a valid `Tile`, each `w[p]` is the k-blocks of one of its panels;
/// `R <= MR`; `R P` accumulators fit in registers (at most 24); the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn dot<const R: usize, const P: usize>(
    a: *const u8,
    kp: usize,
    w: [*const u8; P],
    init: [__m512i; P],
) -> [[__m512i; P]; R] {
    debug_assert!(R <= MR && kp.is_multiple_of(KR));
    let mut sums = [init; R];
    // SAFETY: k-block kb < kp / 8 lies inside each panel (KBLOCK_LEN bytes each, two halves of
    // 64); the activation k-block kb is the 8 MR bytes at `a + 8 MR kb` of the Interleaved tile
    // (MR kp bytes), and row r < MR reads 4 bytes at 8 r + 4 h inside it.
    unsafe {
        for kb in 0..kp / KR {
            let x = a.add(kb * KR * MR);
            for h in 0..2 {
                let wv = w.map(|w| _mm512_loadu_si512(w.add(kb * KBLOCK_LEN + 64 * h).cast()));
                for (r, s) in sums.iter_mut().enumerate() {
                    let xr = x.add(KR * r + 4 * h).cast::<i32>().read_unaligned();
                    let xr = _mm512_set1_epi32(xr);
                    for (s, w) in s.iter_mut().zip(&wv) {
                        *s = _mm512_dpbusd_epi32(*s, xr, *w);
                    }
                }
            }
        }
    }
    sums
}

/// `dot::<1, 1>` for a tile of one row (GEMV) with four accumulators (the two halves of two
/// consecutive k-blocks) summed at the end: one chain would wait on VPDPBUSD's latency. (i32
/// addition wraps and is associative: the same sums.)
///
/// # Safety
/// As `dot::<1, 1>` with zero start values.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn dot_row(a: *const u8, kp: usize, w: *const u8) -> __m512i {
    let mut sums = [[_mm512_setzero_si512(); 2]; 2];
    // SAFETY: as in `dot`: k-block kb < kp / 8 of the panel and row 0 of the tile's k-block kb.
    let step = |s: &mut [__m512i; 2], kb: usize| unsafe {
        let x = a.add(kb * KR * MR);
        for (h, s) in s.iter_mut().enumerate() {
            let xr = _mm512_set1_epi32(x.add(4 * h).cast::<i32>().read_unaligned());
            let wv = _mm512_loadu_si512(w.add(kb * KBLOCK_LEN + 64 * h).cast());
            *s = _mm512_dpbusd_epi32(*s, xr, wv);
        }
    };
    let blocks = kp / KR;
    for kb in (0..blocks / 2).map(|i| 2 * i) {
        step(&mut sums[0], kb);
        step(&mut sums[1], kb + 1);
    }
    if blocks % 2 == 1 {
        step(&mut sums[0], blocks - 1);
    }
    _mm512_add_epi32(
        _mm512_add_epi32(sums[0][0], sums[0][1]),
        _mm512_add_epi32(sums[1][0], sums[1][1]),
    )
}

/// The s8 dot products of each row with `panel`'s 16 columns, from `u8` activations (`-128
/// colsum` returns them to the s8 view).
///
/// # Safety
/// `panel` is a panel of a valid `Tile`; the CPU has AVX-512 F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn s8_view_start(panel: *const u8) -> __m512i {
    // SAFETY: the column sums are 64 bytes of the panel header.
    let colsum = unsafe { _mm512_loadu_si512(panel.add(COLSUM_OFFSET).cast()) };
    _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32::<7>(colsum))
}

/// Writes the dot products of the tile's single row with the panel's 16 columns into `acc`.
///
/// # Safety
/// `a`, `kp` and `panel` come from a valid `Tile`; the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn accumulate_row(a: *const u8, kp: usize, panel: *const u8, acc: &mut Acc<MR>) {
    // SAFETY: the caller's contract is `dot_row`'s and `s8_view_start`'s; row 0 of `acc` holds
    // 16 i32.
    unsafe {
        let sum = dot_row(a, kp, tile::panel_weights(panel));
        let total = _mm512_add_epi32(sum, s8_view_start(panel));
        _mm512_storeu_si512(acc[0].as_mut_ptr().cast(), total);
    }
}

/// Writes the dot products of the tile's `MR` rows with the 16 columns of each of `P` panels
/// into `pass[p]`.
///
/// # Safety
/// `a`, `kp` and `panels` come from a valid `Tile`; `P <= PASS_PANELS`; the CPU has AVX-512
/// F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn accumulate_pass<const P: usize>(
    a: *const u8,
    kp: usize,
    panels: [*const u8; P],
    pass: &mut [Acc<MR>; PASS_PANELS],
) {
    // SAFETY: the caller's contract is `dot`'s (24 accumulators at most) and
    // `s8_view_start`'s; each pass[p][r] holds 16 i32.
    unsafe {
        let w = panels.map(|panel| tile::panel_weights(panel));
        let sums = dot::<MR, P>(a, kp, w, panels.map(|panel| s8_view_start(panel)));
        for (r, s) in sums.iter().enumerate() {
            for (p, s) in s.iter().enumerate() {
                _mm512_storeu_si512(pass[p][r].as_mut_ptr().cast(), *s);
            }
        }
    }
}

/// The register epilogue's per-panel constants: the accumulators' starting value `bias - 128
/// colsum` (wrapping, like the shared epilogue's `acc + bias` with `acc` back in the s8 view)
/// and the column scales.
///
/// # Safety
/// `panel` is a panel of a valid `Tile`; the CPU has AVX-512 F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn panel_start(panel: *const u8) -> (__m512i, __m512) {
    // SAFETY: the per-column arrays are 64 bytes each inside the panel header.
    unsafe {
        let bias = _mm512_loadu_si512(panel.add(BIAS_OFFSET).cast());
        let colsum = _mm512_loadu_si512(panel.add(COLSUM_OFFSET).cast());
        let scale = _mm512_loadu_ps(panel.add(SCALE_OFFSET).cast());
        (
            _mm512_sub_epi32(bias, _mm512_slli_epi32::<7>(colsum)),
            scale,
        )
    }
}

/// The arguments of [`requantize`] besides its panels: `(a, kp, rows, dst, stride, ncols,
/// out)`.
type PassArgs = (*const u8, usize, usize, *mut u8, usize, usize, ByteOut);

/// `P` consecutive panels of a statically quantized tile with byte output, in registers:
/// writes `16 (P - 1) + ncols` bytes of each of the first `rows` rows at `dst + r * stride`.
///
/// # Safety
/// `a`, `kp` and `panels` come from a valid `Tile` of `rows` rows whose output row `r < rows`
/// holds `16 (P - 1) + ncols` writable bytes at `dst + r * stride` (`ncols <= 16`);
/// `P <= PASS_PANELS`; the CPU has AVX-512 F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn requantize<const P: usize>(
    (a, kp, rows, dst, stride, ncols, out): PassArgs,
    panels: [*const u8; P],
) {
    debug_assert!(rows <= MR && ncols <= NR && P <= PASS_PANELS);
    let starts = panels.map(|panel| {
        // SAFETY: each panel is a panel of the tile (this function's contract).
        unsafe { panel_start(panel) }
    });
    let w = panels.map(|panel| {
        // SAFETY: as above.
        unsafe { tile::panel_weights(panel) }
    });
    // SAFETY: `dot`'s contract is the caller's, with R = MR and P <= 4 (24 accumulators).
    let sums = unsafe { dot::<MR, P>(a, kp, w, starts.map(|s| s.0)) };
    let lo = _mm512_set1_ps(out.lo);
    let hi = _mm512_set1_ps(out.hi);
    let zp = _mm512_set1_epi32(out.zero_point);
    let last: __mmask16 = (((1u32 << ncols) - 1) & 0xffff) as __mmask16;
    for (r, s) in sums.iter().enumerate().take(rows) {
        for (p, (s, (_, scale))) in s.iter().zip(&starts).enumerate() {
            let f = _mm512_mul_ps(_mm512_cvtepi32_ps(*s), *scale);
            // `f` is never NaN (a finite integer times a finite scale), so MAXPS / MINPS give
            // the shared clamp's results.
            let f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
            let q =
                _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(f);
            let q = _mm512_add_epi32(q, zp);
            let mask = if p + 1 == P { last } else { 0xffff };
            // SAFETY: output row r < rows holds 16 p + 16 (or + ncols for the last panel)
            // bytes at its start (the caller's contract); the masked store writes only those.
            unsafe {
                let at = dst.add(r * stride + p * NR);
                _mm512_mask_cvtepi32_storeu_epi8(at.cast(), mask, q);
            }
        }
    }
}
