//! `qs8_dwconv_16w__avx2`: the int8 depthwise plane kernel, 16 outputs per chunk, VPMADDWD on tap
//! pairs.
//!
//! Register map: `x[o]` = the 16 input bytes at offset `o`, widened to i16 (VPMOVSXBW, or
//! VPMOVZXBW for u8). VPMADDWD of `x[o]` with a broadcast tap pair `(wa, wb)` gives, in dword `j`,
//! `wa x[o + 2j] + wb x[o + 2j + 1]`. Stride 2: output `j` of a half is `sum_kx w[kx] x[2j + kx]`,
//! the pairs `(w0, w1)`, `(w2, w3)`, `(w4, 0)` at offsets 0, 2, 4 give it directly (two halves of 8
//! outputs, 16 input bytes apart). Stride 1: even outputs `2j` take the same pairs at offsets 0, 2,
//! 4 (accumulator `e`), odd outputs `2j + 1` take `(w0, w1)`, `(w2, w3)` at offsets 1, 3 and
//! `(0, w[K-1])` at offset `K - 1` (accumulator `o`); VPUNPCK{L,H}DQ and VPERM2I128 interleave them.

use std::arch::x86_64::*;

use crate::kernels::qs8::dwconv::plane::{Chunk, dwconv_plane_kernel};

/// Outputs per chunk.
pub(in crate::kernels::arch) const V: usize = 16;

dwconv_plane_kernel!(
    /// Computes one depthwise channel plane with AVX2.
    qs8_dwconv_16w__avx2,
    features: ["avx2"],
    v: V,
    chunk
);

/// 16 bytes at `p` widened to i16.
///
/// # Safety
/// `p` is readable for 16 bytes; the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load<const U: bool>(p: *const u8) -> __m256i {
    // SAFETY: 16 readable bytes (the contract); unaligned load.
    let b = unsafe { _mm_loadu_si128(p.cast()) };
    if U {
        _mm256_cvtepu8_epi16(b)
    } else {
        _mm256_cvtepi8_epi16(b)
    }
}

/// `acc + madd(x, broadcast(pair))`.
#[target_feature(enable = "avx2")]
#[inline]
fn mac(acc: __m256i, x: __m256i, pair: i32) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(x, _mm256_set1_epi32(pair)))
}

/// `acc[j] = sum_r sum_kx taps[r][kx] * x_r[S j + kx]` for `j < 16`.
///
/// # Safety
/// The first `c.n` row pointers are readable for `span(16, K, S)` bytes; the CPU has AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(in crate::kernels::arch) unsafe fn chunk<const K: usize, const S: usize, const U: bool>(
    c: &Chunk,
    acc: &mut [i32; V],
) {
    let zero = _mm256_setzero_si256();
    // SAFETY: every load reads 16 bytes at an offset o: stride 1, o <= K - 1, ending at
    // K + 14 < span = K + 15; stride 2, o <= 16 + K - 1, ending at K + 30 < span = K + 31.
    unsafe {
        if S == 1 {
            let (mut e, mut o) = (zero, zero);
            for (&p, w) in c.rows.iter().zip(c.pairs).take(c.n) {
                for (i, &pair) in w.iter().enumerate().take(K.div_ceil(2)) {
                    e = mac(e, load::<U>(p.add(2 * i)), pair);
                }
                for i in 0..K / 2 {
                    o = mac(o, load::<U>(p.add(2 * i + 1)), w[3 + i]);
                }
                o = mac(o, load::<U>(p.add(K - 1)), w[3 + K / 2]);
            }
            // e = outputs 0 2 4 6 | 8 10 12 14, o = 1 3 5 7 | 9 11 13 15.
            let lo = _mm256_unpacklo_epi32(e, o); // 0 1 2 3 | 8 9 10 11
            let hi = _mm256_unpackhi_epi32(e, o); // 4 5 6 7 | 12 13 14 15
            let dst = acc.as_mut_ptr().cast::<__m256i>();
            _mm256_storeu_si256(dst, _mm256_permute2x128_si256::<0x20>(lo, hi));
            _mm256_storeu_si256(dst.add(1), _mm256_permute2x128_si256::<0x31>(lo, hi));
        } else {
            for half in 0..2 {
                let mut a = zero;
                for (&p, w) in c.rows.iter().zip(c.pairs).take(c.n) {
                    for (i, &pair) in w.iter().enumerate().take(K.div_ceil(2)) {
                        a = mac(a, load::<U>(p.add(16 * half + 2 * i)), pair);
                    }
                }
                _mm256_storeu_si256(acc.as_mut_ptr().add(8 * half).cast(), a);
            }
        }
    }
}
