//! `wo_gemv_1x16c4__avx512f`: the weight-only GEMV panel kernel with AVX-512F (the `avx512vnni`
//! tier's; it needs only AVX-512F and FMA). Same arithmetic, in the same order, as the shared
//! body (`wo::body`), so it matches that body compiled for this tier bit for bit.
//!
//! Codes become floats without a conversion instruction: a code `u` (0..=255) OR-ed into the bits
//! of 2^23 is the float `2^23 + u`, and subtracting `2^23 + zero` (exact) leaves `u - zero`.
//! Register map: `acc[0..4]` = the 16 columns' sums of rows k mod 4 of the group (4 zmm, one FMA
//! chain each); `total` = the scaled sum over groups; `zf` = `2^23 + zero` of the group; x[k] is
//! an embedded `{1to16}` broadcast of each VFMADD231PS. Per block of 4 rows × 16 columns: int8,
//! 4 × (VPMOVZXBD load, VPORD, VSUBPS, VFMADD231PS); int4, 2 × (VPMOVZXBD load, VPANDD + VPORD
//! for the even row, VPSRLD + VPORD for the odd row, 2 VSUBPS, 2 VFMADD231PS).

use std::arch::x86_64::*;

use crate::kernels::wo::WoShape;
use crate::kernels::wo::body::{Groups, gemv_panels};
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
    let magic = _mm512_set1_epi32(MAGIC);
    let nibble = _mm512_set1_epi32(15);
    let mut total = _mm512_setzero_ps();
    for g in Groups::new(shape, panel) {
        let Some(xg) = x.get(g.rows) else { break };
        // SAFETY (loads of `g.zero`, `g.scale`): 16-element arrays, read unaligned.
        let zf = unsafe {
            _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_loadu_si512(g.zero.as_ptr().cast()),
                magic,
            ))
        };
        let scale = unsafe { _mm512_loadu_ps(g.scale.as_ptr()) };
        let mut acc = [_mm512_setzero_ps(); KR];
        for (block, x4) in g.codes.chunks_exact(BLOCK).zip(xg.chunks_exact(KR)) {
            let (Ok(block), Ok(x4)) = (<&[u8; BLOCK]>::try_from(block), <&[f32; KR]>::try_from(x4))
            else {
                break;
            };
            // Rows as floats `2^23 + code`, 16 columns each.
            let rows: [__m512; KR] = if BITS == 8 {
                // SAFETY: `block` holds 64 bytes: four 16-byte loads at 0, 16, 32, 48.
                std::array::from_fn(|r| unsafe {
                    let v =
                        _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().add(16 * r).cast()));
                    _mm512_castsi512_ps(_mm512_or_si512(v, magic))
                })
            } else {
                // SAFETY: `block` holds 32 bytes: two 16-byte loads at 0 and 16.
                let (v01, v23) = unsafe {
                    (
                        _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().cast())),
                        _mm512_cvtepu8_epi32(_mm_loadu_si128(block.as_ptr().add(16).cast())),
                    )
                };
                let lo =
                    |v| _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(v, nibble), magic));
                let hi = |v| _mm512_castsi512_ps(_mm512_or_si512(_mm512_srli_epi32::<4>(v), magic));
                [lo(v01), hi(v01), lo(v23), hi(v23)]
            };
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
