//! `x8_lut__neon`: 256-entry table lookup, 16 bytes per step: TBL on the first 64 entries (four q
//! registers), then TBX on the next three quarters at the index minus 64, 128, 192 (an index past
//! 63, including the wrapped-around ones, leaves the lane as it is).

use std::arch::aarch64::*;

use crate::kernels::qs8::lut::lookup_scalar;

/// `dst[i] = table[src[i]]` for `i < len` (see `LutFn`).
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes, equal or not overlapping; the CPU has
/// NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn x8_lut__neon(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize) {
    let mut i = 0;
    // SAFETY: the four table loads read 256 bytes; each step reads then writes bytes
    // i .. i + 16 <= len; the tail goes through the scalar loop.
    unsafe {
        let t: [uint8x16x4_t; 4] = std::array::from_fn(|q| vld1q_u8_x4(table.as_ptr().add(64 * q)));
        let step = vdupq_n_u8(64);
        while i + 16 <= len {
            let x = vld1q_u8(src.add(i));
            let mut y = vqtbl4q_u8(t[0], x);
            let mut idx = x;
            for q in &t[1..] {
                idx = vsubq_u8(idx, step);
                y = vqtbx4q_u8(y, *q, idx);
            }
            vst1q_u8(dst.add(i), y);
            i += 16;
        }
        lookup_scalar(table, src.add(i), dst.add(i), len - i);
    }
}
