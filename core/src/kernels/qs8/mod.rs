//! Full-int8 GEMM: s8/u8 (or dynamically quantized f32) activations times s8 weights packed in the
//! `c8` layout, i32 accumulation, requantization fused in the epilogue; s8, u8 or f32 output.
//!
//! - [`pack`]: the weight layout and the pure packing function (run at convert time).
//! - [`repack`]: the tier-specific weight orders made at load time, and the prepared weights.
//! - [`gemm`]: the safe entry point, activation packing, threads.
//! - `tile`: the contract with the per-tier tile kernels, and the epilogue they all share.
//! - `dynamic`: per-row quantization of f32 activations.
//! - [`lut`]: int8 activations (sigmoid, tanh, hard-swish, GELU) by 256-entry table.
//! - [`dwconv`]: int8 depthwise convolution (NCHW, 3x3 and 5x5), its weight layout and tier kernels.

pub mod dwconv;
pub(crate) mod dynamic;
pub mod gemm;
pub mod lut;
pub mod pack;
pub mod repack;
pub(crate) mod tile;

#[cfg(test)]
mod tests;

pub(crate) use dynamic::{QuantizeRowFn, RowParamsFn};
pub use gemm::{QInput, QOutput, qs8_gemm};
pub use pack::{
    ActQuant, ColumnData, PackedMode, Qs8Mode, Qs8Packed, Qs8Weights, pack_qs8, packed_len,
};
pub use repack::Qs8Prepared;
pub(crate) use repack::WeightOrder;
pub(crate) use tile::{APacking, Qs8TileFn};
