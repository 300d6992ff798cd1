//! `qs8_dwconv_16c__avx512vnni`: the int8 depthwise channel-block kernel, 16 channels per block
//! (one zmm of i32 lanes), one VPDPWSSD per tap.
//!
//! A scratch lane holds an s8 value sign-extended to i32: its low i16 is the value, its high i16
//! 0 or -1. The taps are masked to their low i16 (high i16 zero), so VPDPWSSD adds `x * w + hi *
//! 0` to each lane: one instruction, its load folded, per tap and 16 channels. Register map: `w`
//! the K * K tap vectors (kept in registers for K = 3), `a` the output position's accumulator.

use std::arch::x86_64::*;

use crate::kernels::qs8::dwconv::channels::{CB, DwChannelsJob, dwconv_channels_kernel};
use crate::kernels::qs8::dwconv::plane::MAX_K;

dwconv_channels_kernel!(
    /// Computes the raw sums of one depthwise channel block with AVX-512 VNNI.
    qs8_dwconv_16c__avx512vnni,
    features: ["avx512f,avx512vnni"],
    sums
);

/// `acc[oy * ow + ox][lane] = sum taps[ky K + kx][lane] * x[S oy + ky][S ox + kx][lane]`.
///
/// # Safety
/// The job is valid (`DwChannelsJob`), `acc.len() == oh * ow`; the CPU has AVX-512 F and VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
unsafe fn sums<const K: usize, const S: usize>(job: &DwChannelsJob, acc: &mut [[i32; CB]]) {
    debug_assert!(job.pitch > (job.ow - 1) * S + K - 1);
    debug_assert!(job.x.len() >= ((job.oh - 1) * S + K) * job.pitch);
    debug_assert_eq!(acc.len(), job.oh * job.ow);
    let low = _mm512_set1_epi32(0xffff);
    let mut w = [_mm512_setzero_si512(); MAX_K * MAX_K];
    for (w, t) in w.iter_mut().zip(job.taps).take(K * K) {
        // SAFETY: `t` is one [i32; 16] (64 bytes); unaligned load.
        *w = _mm512_and_si512(unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }, low);
    }
    let x = job.x.as_ptr();
    for oy in 0..job.oh {
        for ox in 0..job.ow {
            let base = (S * oy) * job.pitch + S * ox;
            let mut a = _mm512_setzero_si512();
            for ky in 0..K {
                for kx in 0..K {
                    // SAFETY: position base + ky pitch + kx <= ((oh - 1) S + K - 1) pitch +
                    // (ow - 1) S + K - 1 < ((oh - 1) S + K) pitch <= x.len() (a valid job);
                    // each position is 16 i32 (64 bytes); unaligned load.
                    let v = unsafe { _mm512_loadu_si512(x.add(base + ky * job.pitch + kx).cast()) };
                    a = _mm512_dpwssd_epi32(a, v, w[ky * K + kx]);
                }
            }
            // SAFETY: oy * ow + ox < oh * ow = acc.len(); 64 bytes; unaligned store.
            unsafe { _mm512_storeu_si512(acc.as_mut_ptr().add(oy * job.ow + ox).cast(), a) };
        }
    }
}
