//! `x8_lut__avx512vbmi` (VPERMI2B: two 128-entry halves, chosen by the index's top bit) and
//! `x8_lut__avx512bw` (the AVX2 kernel's 16 VPSHUFB on zmm), 64 bytes per step; `x8_lut__avx512`
//! picks the first when the CPU has AVX-512 VBMI (detected at run time: the AVX-512 VNNI tier does
//! not imply it, e.g. Cascade Lake).

use std::arch::x86_64::*;

use crate::kernels::qs8::lut::{lookup_scalar, shuffle_tables};

/// The AVX-512 VNNI tier's lookup: [`x8_lut__avx512vbmi`] if the CPU has VBMI, else
/// [`x8_lut__avx512bw`].
///
/// # Safety
/// As `LutFn`; the CPU has AVX-512 F/BW.
pub(crate) unsafe fn x8_lut__avx512(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: the caller's contract; VBMI is checked at run time before its kernel runs.
    unsafe {
        if is_x86_feature_detected!("avx512vbmi") {
            x8_lut__avx512vbmi(table, src, dst, len)
        } else {
            x8_lut__avx512bw(table, src, dst, len)
        }
    }
}

/// `dst[i] = table[src[i]]` with VPERMI2B.
///
/// # Safety
/// As `LutFn`; the CPU has AVX-512 F/BW/VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn x8_lut__avx512vbmi(
    table: &[u8; 256],
    src: *const u8,
    dst: *mut u8,
    len: usize,
) {
    let mut i = 0;
    // SAFETY: the four table loads read 256 bytes; each step reads then writes bytes
    // i .. i + 64 <= len; the tail goes through the scalar loop.
    unsafe {
        let t: [__m512i; 4] =
            std::array::from_fn(|q| _mm512_loadu_si512(table.as_ptr().add(64 * q).cast()));
        while i + 64 <= len {
            let x = _mm512_loadu_si512(src.add(i).cast());
            let low = _mm512_permutex2var_epi8(t[0], x, t[1]);
            let high = _mm512_permutex2var_epi8(t[2], x, t[3]);
            let y = _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), low, high);
            _mm512_storeu_si512(dst.add(i).cast(), y);
            i += 64;
        }
        lookup_scalar(table, src.add(i), dst.add(i), len - i);
    }
}

/// `dst[i] = table[src[i]]` with VPSHUFB on zmm.
///
/// # Safety
/// As `LutFn`; the CPU has AVX-512 F/BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn x8_lut__avx512bw(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize) {
    let rows = shuffle_tables(table);
    // SAFETY: each row is 16 readable bytes.
    let t: [__m512i; 16] = std::array::from_fn(|r| unsafe {
        _mm512_broadcast_i32x4(_mm_loadu_si128(rows[r].as_ptr().cast()))
    });
    let (step, flip) = (_mm512_set1_epi8(16), _mm512_set1_epi8(i8::MIN));
    let mut i = 0;
    // SAFETY: each step reads then writes bytes i .. i + 64 <= len; the tail goes through the
    // scalar loop.
    unsafe {
        while i + 64 <= len {
            let x = _mm512_loadu_si512(src.add(i).cast());
            let (mut lo, mut hi) = (x, _mm512_xor_si512(x, flip));
            let mut y = _mm512_setzero_si512();
            for r in 0..8 {
                y = _mm512_xor_si512(y, _mm512_shuffle_epi8(t[r], lo));
                y = _mm512_xor_si512(y, _mm512_shuffle_epi8(t[8 + r], hi));
                lo = _mm512_subs_epi8(lo, step);
                hi = _mm512_subs_epi8(hi, step);
            }
            _mm512_storeu_si512(dst.add(i).cast(), y);
            i += 64;
        }
        lookup_scalar(table, src.add(i), dst.add(i), len - i);
    }
}
