//! `f32_dwconv_16c__avx2`'s transpose: 8 × 8 floats in ymm registers (UNPCKLPS/UNPCKHPS, SHUFPS,
//! VPERM2F128: 24 shuffles), moving 8 of a block's channels of 8 pixels into channel-minor order
//! and back. The kernel body is `kernels::f32::dwconv::channels`.

use std::arch::x86_64::*;

use crate::kernels::f32::dwconv::channels::F32Transpose;

// SAFETY: used only inside functions compiled with avx2 and fma (`dwconv_channels_kernel!`).
unsafe impl F32Transpose for __m256 {
    #[inline(always)]
    unsafe fn transpose(from: &[*const f32], to: &[*mut f32]) {
        // SAFETY: the CPU has AVX; `from[i]` is readable and `to[j]` writable for 8 floats (the
        // contract); unaligned loads and stores.
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(from[i]));
            // Per 128-bit lane: rows 2k and 2k + 1 interleaved, columns 0-1 and 2-3.
            let t: [__m256; 8] = std::array::from_fn(|i| {
                let (a, b) = (r[i & !1], r[i | 1]);
                if i % 2 == 0 {
                    _mm256_unpacklo_ps(a, b)
                } else {
                    _mm256_unpackhi_ps(a, b)
                }
            });
            // `u[4 k + j]`, lane `q`: column `4 q + j` of rows `4 k .. 4 k + 4`.
            let u: [__m256; 8] = std::array::from_fn(|i| {
                let (k, j) = (i / 4, i % 4);
                let (a, b) = (t[4 * k + j / 2], t[4 * k + j / 2 + 2]);
                if j % 2 == 0 {
                    _mm256_shuffle_ps::<0x44>(a, b)
                } else {
                    _mm256_shuffle_ps::<0xee>(a, b)
                }
            });
            for j in 0..4 {
                _mm256_storeu_ps(to[j], _mm256_permute2f128_ps::<0x20>(u[j], u[4 + j]));
                _mm256_storeu_ps(to[4 + j], _mm256_permute2f128_ps::<0x31>(u[j], u[4 + j]));
            }
        }
    }
}
