//! f32 GEMM: `C = A · B` with A read in place through strides, B packed in 16-column panels
//! (packed once at plan time when B is a constant, into scratch otherwise), a per-row bias and a
//! clamp fused in the epilogue.
//!
//! - [`pack`]: the packed-B layout (`NR` = 16 on every tier) and its pure packing functions.
//! - [`gemm`]: the safe entry point ([`f32_gemm`]): validation, tiling, cache blocking, threads.
//! - [`dwconv`]: depthwise convolution, one plane at a time ([`dwconv::DwConv`]), and its per-tier
//!   plane kernels (`f32_dwconv_plane__<tier>`).
//! - `tile`: the contract with the per-tier tile kernels (`f32_gemm_<MR>x16__<tier>`).
//!
//! Invariants: one packed layout serves every tier (only MR, the rows per tile, differs); every
//! element of C is accumulated by one kernel call in increasing k order, so results do not depend
//! on the thread count; tiers differ from the reference only by fused multiply-add rounding.

pub mod dwconv;
pub mod gemm;
pub mod pack;
pub(crate) mod tile;

#[cfg(test)]
mod tests;

pub(crate) use dwconv::F32DwPlaneFn;
pub use gemm::{F32Epilogue, PostFn, f32_gemm};
pub use pack::{NR, pack_b, pack_b_into, packed_b_len};
pub(crate) use tile::F32GemmFn;

/// `a * b + c`, fused (one rounding) or not (two): the shared bodies compiled per tier use it
/// with `FUSED` set where the tier has fused multiply-add.
#[inline(always)]
pub(crate) fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}
