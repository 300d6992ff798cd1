//! The AVX2 tier: s8 x s8 products by sign extension to i16 and VPMADDWD (VPMADDUBSW would
//! saturate).

#[allow(non_snake_case)]
mod f32_dwconv_16c__avx2;
#[allow(non_snake_case)]
mod f32_dwconv_8w__avx2;
#[allow(non_snake_case)]
pub(super) mod f32_gemm_6x16__avx2;
#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__avx2;

pub(super) use qs8_gemm_4x16c8__avx2::{
    A_PACKING, MR, PASS_PANELS, WEIGHT_ORDER, qs8_gemm_4x16c8__avx2,
};
#[allow(non_snake_case)]
pub(super) mod qs8_dwconv_16w__avx2;

pub(super) use qs8_dwconv_16w__avx2::qs8_dwconv_16w__avx2;
#[allow(non_snake_case)]
mod x8_lut__avx2;

pub(super) use x8_lut__avx2::x8_lut__avx2;
#[allow(non_snake_case)]
mod qs8_dwconv_16c__avx2;

pub(super) use qs8_dwconv_16c__avx2::qs8_dwconv_16c__avx2;
