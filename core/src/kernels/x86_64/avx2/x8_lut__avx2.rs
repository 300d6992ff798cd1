//! `x8_lut__avx2`: 256-entry table lookup, 32 bytes per step with 16 VPSHUFB (see
//! `lut::shuffle_tables`: two telescoping passes of 8 16-entry tables, one for bytes below 128 and
//! one for the others).

use std::arch::x86_64::*;

use crate::kernels::qs8::lut::{lookup_scalar, shuffle_tables};

/// `dst[i] = table[src[i]]` for `i < len` (see `LutFn`).
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes, equal or not overlapping; the CPU has
/// AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn x8_lut__avx2(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize) {
    let rows = shuffle_tables(table);
    // SAFETY: each row is 16 readable bytes.
    let t: [__m256i; 16] = std::array::from_fn(|r| unsafe {
        _mm256_broadcastsi128_si256(_mm_loadu_si128(rows[r].as_ptr().cast()))
    });
    let (step, flip) = (_mm256_set1_epi8(16), _mm256_set1_epi8(i8::MIN));
    let mut i = 0;
    // SAFETY: each step reads and then writes bytes i .. i + 32 <= len; the tail goes through the
    // scalar loop with the remaining length.
    unsafe {
        while i + 32 <= len {
            let x = _mm256_loadu_si256(src.add(i).cast());
            let (mut lo, mut hi) = (x, _mm256_xor_si256(x, flip));
            let mut y = _mm256_setzero_si256();
            for r in 0..8 {
                y = _mm256_xor_si256(y, _mm256_shuffle_epi8(t[r], lo));
                y = _mm256_xor_si256(y, _mm256_shuffle_epi8(t[8 + r], hi));
                lo = _mm256_subs_epi8(lo, step);
                hi = _mm256_subs_epi8(hi, step);
            }
            _mm256_storeu_si256(dst.add(i).cast(), y);
            i += 32;
        }
        lookup_scalar(table, src.add(i), dst.add(i), len - i);
    }
}
