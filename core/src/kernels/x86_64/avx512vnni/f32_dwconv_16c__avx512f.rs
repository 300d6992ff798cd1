//! `f32_dwconv_16c__avx512f`'s transpose: 16 × 16 floats in zmm registers (UNPCKLPS/UNPCKHPS,
//! SHUFPS, then two rounds of SHUFF32X4: 64 shuffles), moving a block's 16 channels of 16 pixels
//! into channel-minor order and back. The kernel body is `kernels::f32::dwconv::channels`.

use std::arch::x86_64::*;

use crate::kernels::f32::dwconv::channels::F32Transpose;

// SAFETY: used only inside functions compiled with avx512f (`dwconv_channels_kernel!`).
unsafe impl F32Transpose for __m512 {
    #[inline(always)]
    unsafe fn transpose(from: &[*const f32], to: &[*mut f32]) {
        // SAFETY: the CPU has AVX-512F; `from[i]` is readable and `to[j]` writable for 16 floats
        // (the contract); unaligned loads and stores.
        unsafe {
            let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(from[i]));
            // Per 128-bit lane: rows 2k and 2k + 1 interleaved, columns 0-1 and 2-3.
            let t: [__m512; 16] = std::array::from_fn(|i| {
                let (a, b) = (r[i & !1], r[i | 1]);
                if i % 2 == 0 {
                    _mm512_unpacklo_ps(a, b)
                } else {
                    _mm512_unpackhi_ps(a, b)
                }
            });
            // `u[4 k + j]`, lane `q`: column `4 q + j` of rows `4 k .. 4 k + 4`.
            let u: [__m512; 16] = std::array::from_fn(|i| {
                let (k, j) = (i / 4, i % 4);
                let (a, b) = (t[4 * k + j / 2], t[4 * k + j / 2 + 2]);
                if j % 2 == 0 {
                    _mm512_shuffle_ps::<0x44>(a, b)
                } else {
                    _mm512_shuffle_ps::<0xee>(a, b)
                }
            });
            for j in 0..4 {
                // Lanes 0 and 2 (0x88) or 1 and 3 (0xdd) of each of two vectors.
                let v0 = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
                let v1 = _mm512_shuffle_f32x4::<0xdd>(u[j], u[4 + j]);
                let v2 = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
                let v3 = _mm512_shuffle_f32x4::<0xdd>(u[8 + j], u[12 + j]);
                _mm512_storeu_ps(to[j], _mm512_shuffle_f32x4::<0x88>(v0, v2));
                _mm512_storeu_ps(to[4 + j], _mm512_shuffle_f32x4::<0x88>(v1, v3));
                _mm512_storeu_ps(to[8 + j], _mm512_shuffle_f32x4::<0xdd>(v0, v2));
                _mm512_storeu_ps(to[12 + j], _mm512_shuffle_f32x4::<0xdd>(v1, v3));
            }
        }
    }
}
