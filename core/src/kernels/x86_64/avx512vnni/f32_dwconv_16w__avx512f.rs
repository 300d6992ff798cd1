//! `f32_dwconv_plane__avx512f`'s vector: 16 lanes in a zmm register, fused multiply-add
//! (VFMADD231PS), the clamp as VMAXPS / VMINPS with the bound first so a NaN passes; rows of 8 to
//! 15 outputs take the AVX2 ymm vector. Copies of rows shorter than 16 and the stride-2
//! deinterleave of the input copy use masked loads and stores (VPERMT2PS splits the pairs). The plane body is `kernels::f32::dwconv::plane`.

use std::arch::x86_64::*;

use crate::kernels::f32::dwconv::plane::F32Vec;

// SAFETY: used only inside functions compiled with avx512f (`dwconv_plane_kernel!`).
unsafe impl F32Vec for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY: the CPU has AVX-512F (the caller's contract).
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `p` is readable for 16 floats (the contract); unaligned load.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, w: Self, x: Self) -> Self {
        // SAFETY: the CPU has AVX-512F (the contract).
        unsafe { _mm512_fmadd_ps(w, x, acc) }
    }
    #[inline(always)]
    unsafe fn clamp(self, min: Self, max: Self) -> Self {
        // SAFETY: the CPU has AVX-512F (the contract). VMAXPS(min, a) is `min > a ? min : a` and
        // VMINPS(max, v) is `max < v ? max : v`: a NaN `a` passes, crossed bounds give `max`.
        unsafe { _mm512_min_ps(max, _mm512_max_ps(min, self)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: `p` is writable for 16 floats (the contract); unaligned store.
        unsafe { _mm512_storeu_ps(p, self) }
    }
    const MASKED: bool = true;
    #[inline(always)]
    unsafe fn copy_part(from: *const f32, to: *mut f32, n: usize) {
        let m = mask(n);
        // SAFETY: the CPU has AVX-512F (the contract); masked-off lanes are neither read nor
        // written (no fault either), the `n` others are in bounds (the contract).
        unsafe { _mm512_mask_storeu_ps(to, m, _mm512_maskz_loadu_ps(m, from)) }
    }
    #[inline(always)]
    unsafe fn split_part(from: *const f32, even: *mut f32, odd: *mut f32, n: usize) {
        // The `2 n` inputs as two vectors (masked), then VPERMT2PS picks the even and the odd
        // lanes of the pair.
        let (lo, hi) = (mask((2 * n).min(16)), mask((2 * n).saturating_sub(16)));
        // SAFETY: the CPU has AVX-512F (the contract); the masks cover inputs `0..2 n` and
        // outputs `0..n`, in bounds (the contract); masked-off lanes are not accessed.
        unsafe {
            let a = _mm512_maskz_loadu_ps(lo, from);
            let b = _mm512_maskz_loadu_ps(hi, from.add(16));
            let evens =
                _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            let m = mask(n);
            _mm512_mask_storeu_ps(even, m, _mm512_permutex2var_ps(a, evens, b));
            _mm512_mask_storeu_ps(odd, m, _mm512_permutex2var_ps(a, odds, b));
        }
    }
}

/// The lane mask of the first `n` lanes (`n <= 16`).
#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}
