//! The NEON baseline tier: SMULL/SMLAL of two k-blocks into i16 (exact because weights are within
//! [-127, 127]), SADALP into i32.

#[allow(non_snake_case)]
mod f32_dwconv_16c__neon;
#[allow(non_snake_case)]
mod f32_dwconv_4w__neon;
#[allow(non_snake_case)]
pub(in crate::kernels) mod f32_gemm_6x16__neon;
#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__neon;

pub(super) use qs8_gemm_4x16c8__neon::{
    A_PACKING, MR, PASS_PANELS, WEIGHT_ORDER, qs8_gemm_4x16c8__neon,
};
#[allow(non_snake_case)]
mod qs8_dwconv_16w__neon;

pub(super) use qs8_dwconv_16w__neon::qs8_dwconv_16w__neon;
#[allow(non_snake_case)]
mod x8_lut__neon;

pub(super) use x8_lut__neon::x8_lut__neon;
#[allow(non_snake_case)]
mod qs8_dwconv_16c__neon;

pub(super) use qs8_dwconv_16c__neon::qs8_dwconv_16c__neon;
