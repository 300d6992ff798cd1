//! f32 GEMM: `C = A · B` with A packed in row tiles of the tier's MR rows (once at build time for
//! constant weights, per call otherwise), B packed in 16-column panels (once at build time when
//! B is a constant, into scratch otherwise) or read in place when it is a row-major matrix
//! ([`f32_gemm_rows`]: a pointwise Conv's input), a per-row bias and a clamp fused in the
//! epilogue.
//!
//! - [`pack`]: the packed-B layout (`NR` = 16 on every tier), the packed-A layout ([`PackedA`],
//!   MR-row tiles, k-major) and their pure packing functions.
//! - [`gemm`]: the safe entry points ([`f32_gemm`], [`f32_gemm_rows`], [`f32_gemm_blocked`]):
//!   validation, tiling, cache blocking, threads.
//! - [`gemv`]: the product of one row ([`f32_gemv`]), several panels side by side.
//! - [`dwconv`]: depthwise convolution, one plane at a time ([`dwconv::DwConv`]), and its per-tier
//!   plane kernels (`f32_dwconv_plane__<tier>`), or a block of 16 channels at a time
//!   ([`dwconv::DwChannels`], `f32_dwconv_16c__<tier>`).
//! - `tile`: the contract with the per-tier tile kernels (`f32_gemm_<MR>x16__<tier>`, and the
//!   optional pair kernels over two panels, `f32_gemm_<MR>x32__<tier>`).
//!
//! Invariants: one packed-B layout serves every tier, the packed-A layout differs only by MR;
//! every element of C is accumulated in increasing k order by one chain of kernel calls (one per
//! k block, each continuing the stored sum), the same whatever the thread count, so results do
//! not depend on it; tiers differ from the reference only by fused multiply-add rounding.

pub mod dwconv;
pub mod gemm;
pub mod gemv;
pub mod pack;
pub(crate) mod tile;

#[cfg(test)]
mod tests;

pub(crate) use dwconv::{F32DwChannelsFn, F32DwPlaneFn};
pub use gemm::{F32Epilogue, F32Lhs, FillB, PostFn, f32_gemm, f32_gemm_blocked, f32_gemm_rows};
pub(crate) use gemv::F32GemvFn;
pub use gemv::f32_gemv;
pub use pack::{
    NR, PackedA, pack_a, pack_b, pack_b_into, packed_a_layout, packed_b_layout, packed_b_len,
    tier_mr,
};
pub(crate) use tile::F32GemmFn;

/// `a * b + c`, fused (one rounding) or not (two): the shared bodies compiled per tier use it
/// with `FUSED` set where the tier has fused multiply-add.
#[inline(always)]
pub(crate) fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}
