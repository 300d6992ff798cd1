//! The AVX-512 VNNI tier: u8 x s8 dot products of 4 bytes with VPDPBUSD on zmm registers.

#[allow(non_snake_case)]
mod f32_dwconv_16c__avx512f;
#[allow(non_snake_case)]
mod f32_dwconv_16w__avx512f;
#[allow(non_snake_case)]
pub(super) mod f32_gemm_12x16__avx512f;
#[allow(non_snake_case)]
pub(super) mod f32_gemm_12x32__avx512f;
#[allow(non_snake_case)]
mod qs8_gemm_6x16c4__avx512vnni;

pub(super) use qs8_gemm_6x16c4__avx512vnni::{
    A_PACKING, MR, PASS_PANELS, WEIGHT_ORDER, qs8_gemm_6x16c4__avx512vnni,
};
#[allow(non_snake_case)]
mod wo_gemv_1x16c4__avx512f;

pub(super) use wo_gemv_1x16c4__avx512f::{wo_dequant_16c4__avx512f, wo_gemv_1x16c4__avx512f};
#[allow(non_snake_case)]
mod qs8_dwconv_32w__avx512vnni;

pub(super) use qs8_dwconv_32w__avx512vnni::qs8_dwconv_32w__avx512vnni;
#[allow(non_snake_case)]
mod x8_lut__avx512;

pub(super) use x8_lut__avx512::x8_lut__avx512;
#[cfg(test)]
pub(super) use x8_lut__avx512::{x8_lut__avx512bw, x8_lut__avx512vbmi};
#[allow(non_snake_case)]
mod qs8_dwconv_16c__avx512vnni;

pub(super) use qs8_dwconv_16c__avx512vnni::qs8_dwconv_16c__avx512vnni;
