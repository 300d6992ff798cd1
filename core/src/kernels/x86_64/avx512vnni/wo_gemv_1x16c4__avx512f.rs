//! `wo_gemv_1x16c4__avx512f` and `wo_dequant_16c4__avx512f`: the weight-only GEMV panel kernel
//! and panel dequantizer with AVX-512F (the `avx512vnni` tier's; they need only AVX-512F and
//! FMA). Same arithmetic, in the same order, as the shared body (`wo::body`).
//!
//! Codes become floats without a conversion instruction: a code `u` (0..=255) OR-ed into the bits
//! of 2^23 is the float `2^23 + u`, and subtracting `2^23 + zero` (exact) leaves `u - zero`.
//! Register map: `acc[0..4]` = the 16 columns' sums of rows k mod 4 of the group (4 zmm, one FMA
//! chain each); `total` = the scaled sum over groups; `zf` = `2^23 + zero` of the group; `x[k]` is
//! an embedded `{1to16}` broadcast of each VFMADD231PS. Per block of 4 rows × 16 columns: int8,
//! 4 × (VPMOVZXBD load, VPORD, VSUBPS, VFMADD231PS); int4, 2 × (VPMOVZXBD load, VPANDD + VPORD
//! for the even row, VPSRLD + VPORD for the odd row, 2 VSUBPS, 2 VFMADD231PS).

use std::arch::x86_64::*;

use crate::kernels::wo::WoShape;
use crate::kernels::wo::body::{Group, Groups, gemv_panels};
use crate::kernels::wo::pack::{KR, NR, WoBits};

/// The bits of 2^23 as an f32.
const MAGIC: i32 = 0x4B00_0000;

/// The GEMV of consecutive panels (see [`WoGemvFn`](crate::kernels::wo::WoGemvFn)).
///
/// # Safety
/// The CPU has AVX-512F and FMA (the slices are checked).
#[allow(non_snake_case)]
#[target_feature(enable = "avx512f,fma")]
pub(crate) unsafe fn wo_gemv_1x16c4__avx512f(
    shape: &WoShape,
    panels: &[u8],
    x: &[f32],
    y: &mut [f32],
) {
    gemv_panels(shape, panels, x, y, |shape, panel, x| match shape.bits {
        // SAFETY: this function's caller guarantees AVX-512F and FMA.
        WoBits::Int8 => unsafe { panel_gemv::<8, { NR * KR }>(shape, panel, x) },
        // SAFETY: as above.
        WoBits::Int4 => unsafe { panel_gemv::<4, { NR * KR / 2 }>(shape, panel, x) },
    })
}

/// Dequantizes one panel (see [`WoDequantFn`](crate::kernels::wo::WoDequantFn)): per row,
/// VPMOVZXBD, VPORD (or VPANDD / VPSRLD + VPORD for int4), VSUBPS, VMULPS, one store.
///
/// # Safety
/// The CPU has AVX-512F (the slices are checked).
#[allow(non_snake_case)]
#[target_feature(enable = "avx512f,fma")]
pub(crate) unsafe fn wo_dequant_16c4__avx512f(shape: &WoShape, panel: &[u8], out: &mut [f32]) {
    for g in Groups::new(shape, panel) {
        let Some(dst) = out.get_mut(NR * g.rows.start..NR * g.rows.end) else {
            return;
        };
        let (zf, scale) = group_vectors(&g);
        for (block, dst) in g
            .codes
            .chunks_exact(shape.bits.block_len())
            .zip(dst.chunks_exact_mut(NR * KR))
        {
            let rows = match shape.bits {
                WoBits::Int8 => <&[u8; NR * KR]>::try_from(block).map(|b| rows_int8(b)),
                WoBits::Int4 => <&[u8; NR * KR / 2]>::try_from(block).map(|b| rows_int4(b)),
            };
            let Ok(rows) = rows else { return };
            for (d, row) in dst.chunks_exact_mut(NR).zip(rows) {
                let w = _mm512_mul_ps(scale, _mm512_sub_ps(row, zf));
                // SAFETY: `d` holds 16 floats.
                unsafe { _mm512_storeu_ps(d.as_mut_ptr(), w) };
            }
        }
    }
}

/// The group's `2^23 + zero` and scale vectors, loaded straight from its head.
#[inline]
#[target_feature(enable = "avx512f")]
fn group_vectors(g: &Group) -> (__m512, __m512) {
    // SAFETY: the head holds 64 bytes of scales then 16 zero-point bytes, read unaligned.
    unsafe {
        let zero = _mm512_cvtepu8_epi32(_mm_loadu_si128(g.head.as_ptr().add(4 * NR).cast()));
        (
            _mm512_castsi512_ps(_mm512_or_si512(zero, _mm512_set1_epi32(MAGIC))),
            _mm512_loadu_ps(g.head.as_ptr().cast()),
        )
    }
}

/// The four rows of an int8 block as floats `2^23 + code`.
#[inline]
#[target_feature(enable = "avx512f")]
fn rows_int8(block: &[u8; NR * KR]) -> [__m512; KR] {
    let magic = _mm512_set1_epi32(MAGIC);
    // SAFETY: `block` holds 64 bytes: four 16-byte loads at 0, 16, 32, 48.
    std::array::from_fn(|r| unsafe {
        let v = _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().add(16 * r).cast()));
        _mm512_castsi512_ps(_mm512_or_si512(v, magic))
    })
}

/// The four rows of an int4 block as floats `2^23 + code`.
#[inline]
#[target_feature(enable = "avx512f")]
fn rows_int4(block: &[u8; NR * KR / 2]) -> [__m512; KR] {
    let (magic, nibble) = (_mm512_set1_epi32(MAGIC), _mm512_set1_epi32(15));
    // SAFETY: `block` holds 32 bytes: two 16-byte loads at 0 and 16.
    let (v01, v23) = unsafe {
        (
            _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().cast())),
            _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().add(16).cast())),
        )
    };
    let lo = |v| _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(v, nibble), magic));
    let hi = |v| _mm512_castsi512_ps(_mm512_or_si512(_mm512_srli_epi32::<4>(v), magic));
    [lo(v01), hi(v01), lo(v23), hi(v23)]
}

/// The 16 sums of one panel with codes of `BITS` bits (`BLOCK` bytes per block of 4 rows).
///
/// # Safety
/// The CPU has AVX-512F and FMA.
#[target_feature(enable = "avx512f,fma")]
unsafe fn panel_gemv<const BITS: usize, const BLOCK: usize>(
    shape: &WoShape,
    panel: &[u8],
    x: &[f32],
) -> [f32; NR] {
    let mut total = _mm512_setzero_ps();
    for g in Groups::new(shape, panel) {
        let Some(xg) = x.get(g.rows.clone()) else {
            break;
        };
        let (zf, scale) = group_vectors(&g);
        let mut acc = [_mm512_setzero_ps(); KR];
        for (block, x4) in g.codes.chunks_exact(BLOCK).zip(xg.chunks_exact(KR)) {
            let Ok(x4) = <&[f32; KR]>::try_from(x4) else {
                break;
            };
            let rows = if BITS == 8 {
                <&[u8; NR * KR]>::try_from(block).map(|b| rows_int8(b))
            } else {
                <&[u8; NR * KR / 2]>::try_from(block).map(|b| rows_int4(b))
            };
            let Ok(rows) = rows else { break };
            for r in 0..KR {
                let w = _mm512_sub_ps(rows[r], zf);
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(x4[r]), w, acc[r]);
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        total = _mm512_fmadd_ps(sum, scale, total);
    }
    let mut out = [0.0f32; NR];
    // SAFETY: `out` holds 16 floats.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), total) };
    out
}
