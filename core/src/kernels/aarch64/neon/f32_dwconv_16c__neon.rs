//! `f32_dwconv_16c__neon`'s transpose: 4 × 4 floats in q registers (TRN1/TRN2 on 32-bit, then on
//! 64-bit lanes), moving 4 of a block's channels of 4 pixels into channel-minor order and back.
//! The kernel body is `kernels::f32::dwconv::channels`.

use std::arch::aarch64::*;

use crate::kernels::f32::dwconv::channels::F32Transpose;

// SAFETY: used only inside functions compiled with neon (`dwconv_channels_kernel!`).
unsafe impl F32Transpose for float32x4_t {
    #[inline(always)]
    unsafe fn transpose(from: &[*const f32], to: &[*mut f32]) {
        // SAFETY: the CPU has NEON; `from[i]` is readable and `to[j]` writable for 4 floats (the
        // contract); LD1/ST1 need no alignment.
        unsafe {
            let r: [float32x4_t; 4] = std::array::from_fn(|i| vld1q_f32(from[i]));
            // Columns 0 and 2 (t0, t2) or 1 and 3 (t1, t3) of two rows, interleaved.
            let wide = |v: float32x4_t| vreinterpretq_f64_f32(v);
            let (t0, t1) = (wide(vtrn1q_f32(r[0], r[1])), wide(vtrn2q_f32(r[0], r[1])));
            let (t2, t3) = (wide(vtrn1q_f32(r[2], r[3])), wide(vtrn2q_f32(r[2], r[3])));
            vst1q_f32(to[0], vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
            vst1q_f32(to[1], vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
            vst1q_f32(to[2], vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
            vst1q_f32(to[3], vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
        }
    }
}
