//! `f32_dwconv_plane__avx512f`'s vector: 16 lanes in a zmm register, fused multiply-add
//! (VFMADD231PS), the clamp as VMAXPS / VMINPS with the bound first so a NaN passes; rows of 8 to
//! 15 outputs take the AVX2 ymm vector. The plane body is `kernels::f32::dwconv::plane`.

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
}
