//! `qs8_dwconv_16w__neon`: the int8 depthwise plane kernel, 16 outputs per chunk, SXTL/UXTL +
//! SMLAL by scalar.
//!
//! Register map: `a[0..4]` = the 16 outputs' i32 sums (4 lanes each); per tap, the 16 input bytes
//! it reaches are widened to two i16x8 and multiplied by the tap (SMLAL/SMLAL2 by element). The
//! stride-1 tap `kx` reads 16 bytes at offset `kx`; at stride 2, LD2 at the even offset `kx & !1`
//! deinterleaves 32 bytes into the even (`x[2j + kx]`, even kx) and odd (odd kx) inputs.

use std::arch::aarch64::*;

use crate::kernels::qs8::dwconv::plane::{Chunk, dwconv_plane_kernel};

/// Outputs per chunk.
const V: usize = 16;

dwconv_plane_kernel!(
    /// Computes one depthwise channel plane with NEON.
    qs8_dwconv_16w__neon,
    features: ["neon"],
    v: V,
    chunk
);

/// `a += t * x` for the 16 bytes `x` (u8 when `U`, else i8).
#[target_feature(enable = "neon")]
#[inline]
fn mac<const U: bool>(a: &mut [int32x4_t; 4], x: uint8x16_t, t: i8) {
    let (lo, hi) = if U {
        (
            vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(x))),
            vreinterpretq_s16_u16(vmovl_high_u8(x)),
        )
    } else {
        let s = vreinterpretq_s8_u8(x);
        (vmovl_s8(vget_low_s8(s)), vmovl_high_s8(s))
    };
    let t = i16::from(t);
    a[0] = vmlal_n_s16(a[0], vget_low_s16(lo), t);
    a[1] = vmlal_high_n_s16(a[1], lo, t);
    a[2] = vmlal_n_s16(a[2], vget_low_s16(hi), t);
    a[3] = vmlal_high_n_s16(a[3], hi, t);
}

/// `acc[j] = sum_r sum_kx taps[r][kx] * x_r[S j + kx]` for `j < 16`.
///
/// # Safety
/// The first `c.n` row pointers are readable for `span(16, K, S)` bytes; the CPU has NEON.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn chunk<const K: usize, const S: usize, const U: bool>(c: &Chunk, acc: &mut [i32; V]) {
    let mut a = [vdupq_n_s32(0); 4];
    // SAFETY: stride 1 loads 16 bytes at offsets <= K - 1, ending at K + 14 < span = K + 15;
    // stride 2 loads 32 bytes at even offsets <= K - 1, ending at K + 30 < span = K + 31.
    unsafe {
        for (&p, w) in c.rows.iter().zip(c.taps).take(c.n) {
            if S == 1 {
                for (kx, &t) in w.iter().enumerate().take(K) {
                    mac::<U>(&mut a, vld1q_u8(p.add(kx)), t);
                }
            } else {
                for base in (0..K).step_by(2) {
                    let x = vld2q_u8(p.add(base));
                    mac::<U>(&mut a, x.0, w[base]);
                    if base + 1 < K {
                        mac::<U>(&mut a, x.1, w[base + 1]);
                    }
                }
            }
        }
        for (i, v) in a.iter().enumerate() {
            vst1q_s32(acc.as_mut_ptr().add(4 * i), *v);
        }
    }
}
