//! `f32_dwconv_plane__avx2`'s vectors: 8 lanes in a ymm register (4 in an xmm one for rows of 4
//! to 7 outputs), fused multiply-add (VFMADD231PS), the clamp as VMAXPS / VMINPS with the bound
//! first so a NaN passes. The plane body is `kernels::f32::dwconv::plane`.

use std::arch::x86_64::*;

use crate::kernels::f32::dwconv::plane::F32Vec;

// SAFETY: used only inside functions compiled with avx2 and fma (`dwconv_plane_kernel!`).
unsafe impl F32Vec for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY: the CPU has AVX (the caller's contract).
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `p` is readable for 8 floats (the contract); unaligned load.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, w: Self, x: Self) -> Self {
        // SAFETY: the CPU has FMA (the contract).
        unsafe { _mm256_fmadd_ps(w, x, acc) }
    }
    #[inline(always)]
    unsafe fn clamp(self, min: Self, max: Self) -> Self {
        // SAFETY: the CPU has AVX (the contract). VMAXPS(min, a) is `min > a ? min : a` and
        // VMINPS(max, v) is `max < v ? max : v`: a NaN `a` passes, crossed bounds give `max`.
        unsafe { _mm256_min_ps(max, _mm256_max_ps(min, self)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: `p` is writable for 8 floats (the contract); unaligned store.
        unsafe { _mm256_storeu_ps(p, self) }
    }
}

// SAFETY: used only inside functions compiled with avx2 and fma (`dwconv_plane_kernel!`).
unsafe impl F32Vec for __m128 {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY: SSE is baseline on x86-64.
        unsafe { _mm_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `p` is readable for 4 floats (the contract); unaligned load.
        unsafe { _mm_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, w: Self, x: Self) -> Self {
        // SAFETY: the CPU has FMA (the contract).
        unsafe { _mm_fmadd_ps(w, x, acc) }
    }
    #[inline(always)]
    unsafe fn clamp(self, min: Self, max: Self) -> Self {
        // SAFETY: SSE is baseline; the operand order is the ymm one's.
        unsafe { _mm_min_ps(max, _mm_max_ps(min, self)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: `p` is writable for 4 floats (the contract); unaligned store.
        unsafe { _mm_storeu_ps(p, self) }
    }
}
