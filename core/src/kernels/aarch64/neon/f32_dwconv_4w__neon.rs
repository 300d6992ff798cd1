//! `f32_dwconv_plane__neon`'s vector: 4 lanes in a q register, fused multiply-add (FMLA), the
//! clamp as compares and bit selects (a NaN passes, crossed bounds give `max`). The plane body is
//! `kernels::f32::dwconv::plane`.

use std::arch::aarch64::*;

use crate::kernels::f32::dwconv::plane::F32Vec;

// SAFETY: used only inside functions compiled with neon (`dwconv_plane_kernel!`).
unsafe impl F32Vec for float32x4_t {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        // SAFETY: the CPU has NEON (the caller's contract).
        unsafe { vdupq_n_f32(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `p` is readable for 4 floats (the contract); LD1 needs no alignment.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, w: Self, x: Self) -> Self {
        // SAFETY: the CPU has NEON (the contract).
        unsafe { vfmaq_f32(acc, w, x) }
    }
    #[inline(always)]
    unsafe fn clamp(self, min: Self, max: Self) -> Self {
        // SAFETY: the CPU has NEON (the contract). `a < min` and `v > max` are false for NaN.
        unsafe {
            let v = vbslq_f32(vcltq_f32(self, min), min, self);
            vbslq_f32(vcgtq_f32(v, max), max, v)
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: `p` is writable for 4 floats (the contract); ST1 needs no alignment.
        unsafe { vst1q_f32(p, self) }
    }
}
