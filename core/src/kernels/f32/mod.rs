//! f32 GEMM: `C = A · B` with A read in place through strides, B packed in 16-column panels
//! (packed once at plan time when B is a constant, into scratch otherwise), a per-row bias and a
//! clamp fused in the epilogue.
//!
//! - [`pack`]: the packed-B layout (`NR` = 16 on every tier) and its pure packing functions.
//! - [`gemm`]: the safe entry point ([`f32_gemm`]): validation, tiling, cache blocking, threads.
//! - `dwconv`: the depthwise plane kernel (`f32_dwconv_plane__<tier>`) and its padded input layout.
//! - `tile`: the contract with the per-tier tile kernels (`f32_gemm_<MR>x16__<tier>`).
//!
//! Invariants: one packed layout serves every tier (only MR, the rows per tile, differs); every
//! element of C is accumulated by one kernel call in increasing k order, so results do not depend
//! on the thread count; tiers differ from the reference only by fused multiply-add rounding.

pub(crate) mod dwconv;
pub mod gemm;
pub mod pack;
pub(crate) mod tile;

#[cfg(test)]
mod tests;

pub(crate) use dwconv::F32DwPlaneFn;
pub use gemm::{F32Epilogue, PostFn, f32_gemm};
pub use pack::{NR, pack_b, pack_b_into, packed_b_len};
pub(crate) use tile::F32GemmFn;
