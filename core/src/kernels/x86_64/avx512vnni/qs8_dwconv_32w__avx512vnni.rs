//! `qs8_dwconv_32w__avx512vnni`: the int8 depthwise plane kernel, 32 outputs per chunk, VPDPWSSD
//! (i16 pair dot product with accumulation) on zmm.
//!
//! The AVX2 kernel's scheme on 32 i16 lanes (see `qs8_dwconv_16w__avx2`): `x[o]` = 32 input bytes
//! at offset `o` widened to i16; VPDPWSSD with a broadcast tap pair `(wa, wb)` adds
//! `wa x[o + 2j] + wb x[o + 2j + 1]` to dword `j`. Stride 2: two halves of 16 outputs, 32 bytes
//! apart. Stride 1: accumulators `e` (even outputs) and `o` (odd outputs), interleaved by two
//! VPERMT2D. Planes whose runs are at most 16 outputs (rows of at most 16, or at most 16 flat
//! positions in the flat layout of narrow planes) run the AVX2 kernel's 16-wide chunks instead
//! (AVX-512 implies AVX2), so that tiny planes do not compute 32 lanes for a few.

use std::arch::x86_64::*;

use crate::kernels::arch::avx2::qs8_dwconv_16w__avx2 as narrow;
use crate::kernels::qs8::dwconv::plane::{Chunk, dwconv_plane_kernel};

/// Outputs per chunk.
const V: usize = 32;

dwconv_plane_kernel!(
    /// Computes one depthwise channel plane with AVX-512 BW and VNNI.
    qs8_dwconv_32w__avx512vnni,
    features: ["avx512f,avx512bw,avx512vnni"],
    v: V,
    chunk,
    narrow: narrow::V,
    narrow::chunk
);

/// 32 bytes at `p` widened to i16.
///
/// # Safety
/// `p` is readable for 32 bytes; the CPU has AVX-512 F/BW.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn load<const U: bool>(p: *const u8) -> __m512i {
    // SAFETY: 32 readable bytes (the contract); unaligned load.
    let b = unsafe { _mm256_loadu_si256(p.cast()) };
    if U {
        _mm512_cvtepu8_epi16(b)
    } else {
        _mm512_cvtepi8_epi16(b)
    }
}

/// `acc + dot(x, broadcast(pair))` per dword.
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
fn mac(acc: __m512i, x: __m512i, pair: i32) -> __m512i {
    _mm512_dpwssd_epi32(acc, x, _mm512_set1_epi32(pair))
}

/// `acc[j] = sum_r sum_kx taps[r][kx] * x_r[S j + kx]` for `j < 32`.
///
/// # Safety
/// The first `c.n` row pointers are readable for `span(32, K, S)` bytes; the CPU has AVX-512
/// F/BW/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn chunk<const K: usize, const S: usize, const U: bool>(c: &Chunk, acc: &mut [i32; V]) {
    let zero = _mm512_setzero_si512();
    // SAFETY: every load reads 32 bytes at an offset o: stride 1, o <= K - 1, ending at
    // K + 30 < span = K + 31; stride 2, o <= 32 + K - 1, ending at K + 62 < span = K + 63.
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
            // Output 2j is e[j], output 2j + 1 is o[j] (index 16 + j of the pair).
            let first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
            let second =
                _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
            let dst = acc.as_mut_ptr();
            _mm512_storeu_si512(dst.cast(), _mm512_permutex2var_epi32(e, first, o));
            _mm512_storeu_si512(dst.add(16).cast(), _mm512_permutex2var_epi32(e, second, o));
        } else {
            for half in 0..2 {
                let mut a = zero;
                for (&p, w) in c.rows.iter().zip(c.pairs).take(c.n) {
                    for (i, &pair) in w.iter().enumerate().take(K.div_ceil(2)) {
                        a = mac(a, load::<U>(p.add(32 * half + 2 * i)), pair);
                    }
                }
                _mm512_storeu_si512(acc.as_mut_ptr().add(16 * half).cast(), a);
            }
        }
    }
}
