//! Weight-only GEMM and GEMV: f32 activations times int8 (per-channel or groupwise) or int4
//! (groupwise, two codes per byte) weights with a per-group f32 scale and zero point, f32 output,
//! optional per-column bias and a fused clamp.
//!
//! - [`pack`]: the `c4` packed layout every tier reads, and its pure packing function (run at
//!   convert time; the `.mq` file stores the bytes as [`Layout::PackedWoC4`](crate::tensor::Layout)).
//! - [`gemm`]: the safe entry point ([`wo_gemm`]): validation, GEMV or dequantize-then-f32-tile,
//!   threads.
//! - `body`: the GEMV and dequantization kernels, compiled per tier (`wo_gemv_1x16c4__<tier>`,
//!   `wo_dequant_16c4__<tier>`).
//!
//! Invariants: one packed layout serves every tier; tiers differ from the reference only by fused
//! multiply-add rounding (and the GEMM path, which scales each weight before the product, from the
//! GEMV path, which scales each group's sum, by rounding order), within the tolerance stated in
//! `docs/kernels.md`.

pub(crate) mod body;
pub mod gemm;
pub mod pack;

#[cfg(test)]
mod tests;

pub(crate) use body::{WoDequantFn, WoGemvFn};
pub use gemm::{WoEpilogue, wo_gemm};
pub use pack::{WoBits, WoPacked, WoShape, WoWeights, pack_wo, packed_len};
