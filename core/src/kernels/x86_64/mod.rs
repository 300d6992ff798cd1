//! x86-64 SIMD tiers and their run-time detection. The only place (with `aarch64/`) that knows
//! the architecture.

mod avx2;
mod avx512vnni;
mod avxvnni;

use super::dispatch::kernel_table;
use super::f32::dwconv::channels::dwconv_channels_kernel;
use super::f32::dwconv::plane::{Scalar, dwconv_plane_kernel};
use super::f32::gemv::f32_gemv_kernel;
use super::qs8::dynamic::quantize_row_kernel;
use super::vmath::vmath_kernels;
use super::wo::body::{wo_dequant_kernel, wo_gemv_kernel};
use super::{Kernels, Tier};

quantize_row_kernel!(qs8_quantize_row__avx2, qs8_row_params__avx2, "avx2");
kernel_table!(
    AVX2,
    Tier::Avx2,
    avx2::qs8_gemm_4x16c8__avx2,
    qs8_quantize_row__avx2,
    qs8_row_params__avx2,
    unsigned_a: false,
    f32: [avx2::f32_gemm_6x16__avx2]::f32_gemm_6x16__avx2,
    f32_gemv: f32_gemv_4p__avx2,
    f32_dwconv_plane: f32_dwconv_plane__avx2,
    f32_dwconv_channels: f32_dwconv_16c__avx2,
    wo: [wo_gemv_1x16c4__avx2, wo_dequant_16c4__avx2],
    qs8_dwconv: [avx2]::qs8_dwconv_16w__avx2,
    qs8_dwconv_channels: [avx2]::qs8_dwconv_16c__avx2,
    x8_lut: [avx2] x8_lut__avx2,
    vmath: F32_VMATH_AVX2
);
dwconv_plane_kernel!(
    f32_dwconv_plane__avx2,
    ["avx2,fma"],
    std::arch::x86_64::__m256,
    std::arch::x86_64::__m128,
    Scalar<true>,
    group: 8
);
dwconv_channels_kernel!(
    f32_dwconv_16c__avx2,
    ["avx2,fma"],
    std::arch::x86_64::__m256,
    vecs: 2,
    pixels: 4
);
vmath_kernels!(F32_VMATH_AVX2, "avx2,fma");
f32_gemv_kernel!(f32_gemv_4p__avx2, ["avx2,fma"], fused: true, group: 4);
wo_gemv_kernel!(wo_gemv_1x16c4__avx2, "avx2,fma", fused: true);
wo_dequant_kernel!(wo_dequant_16c4__avx2, "avx2,fma");
quantize_row_kernel!(
    qs8_quantize_row__avxvnni,
    qs8_row_params__avxvnni,
    "avx2,avxvnni"
);
kernel_table!(
    AVXVNNI,
    Tier::AvxVnni,
    avxvnni::qs8_gemm_4x16c8__avxvnni,
    qs8_quantize_row__avxvnni,
    qs8_row_params__avxvnni,
    unsigned_a: true,
    f32: [avx2::f32_gemm_6x16__avx2]::f32_gemm_6x16__avx2,
    f32_gemv: f32_gemv_4p__avx2,
    f32_dwconv_plane: f32_dwconv_plane__avx2,
    f32_dwconv_channels: f32_dwconv_16c__avx2,
    wo: [wo_gemv_1x16c4__avx2, wo_dequant_16c4__avx2],
    qs8_dwconv: [avx2]::qs8_dwconv_16w__avx2,
    qs8_dwconv_channels: [avx2]::qs8_dwconv_16c__avx2,
    x8_lut: [avx2] x8_lut__avx2,
    vmath: F32_VMATH_AVX2
);
quantize_row_kernel!(
    qs8_quantize_row__avx512vnni,
    qs8_row_params__avx512vnni,
    "avx512f,avx512bw,avx512vnni"
);
kernel_table!(
    AVX512VNNI,
    Tier::Avx512Vnni,
    avx512vnni::qs8_gemm_6x16c4__avx512vnni,
    qs8_quantize_row__avx512vnni,
    qs8_row_params__avx512vnni,
    unsigned_a: true,
    f32: [avx512vnni::f32_gemm_12x16__avx512f]::f32_gemm_12x16__avx512f,
    f32_pair: [avx512vnni::f32_gemm_12x32__avx512f]::f32_gemm_12x32__avx512f,
    f32_gemv: f32_gemv_8p__avx512f,
    f32_dwconv_plane: f32_dwconv_plane__avx512f,
    f32_dwconv_channels: f32_dwconv_16c__avx512f,
    wo: [
        avx512vnni::wo_gemv_1x16c4__avx512f,
        avx512vnni::wo_dequant_16c4__avx512f
    ],
    qs8_dwconv: [avx512vnni]::qs8_dwconv_32w__avx512vnni,
    qs8_dwconv_channels: [avx512vnni]::qs8_dwconv_16c__avx512vnni,
    x8_lut: [avx512vnni] x8_lut__avx512,
    vmath: F32_VMATH_AVX512F
);
dwconv_plane_kernel!(
    f32_dwconv_plane__avx512f,
    ["avx512f,avx2,fma"],
    std::arch::x86_64::__m512,
    std::arch::x86_64::__m256,
    Scalar<true>,
    group: 8
);
dwconv_channels_kernel!(
    f32_dwconv_16c__avx512f,
    ["avx512f,avx2,fma"],
    std::arch::x86_64::__m512,
    vecs: 1,
    pixels: 8
);
vmath_kernels!(F32_VMATH_AVX512F, "avx512f");
f32_gemv_kernel!(f32_gemv_8p__avx512f, ["avx512f,avx2,fma"], fused: true, group: 8);

/// The lookup kernels a tier table may not show (the AVX-512 tier picks one at run time), with
/// their names, when this CPU has them: so that tests cover every one.
#[cfg(test)]
pub(super) fn lut_variants() -> Vec<(&'static str, super::qs8::lut::LutFn)> {
    let mut v: Vec<(&'static str, super::qs8::lut::LutFn)> = Vec::new();
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
        v.push(("x8_lut__avx512bw", avx512vnni::x8_lut__avx512bw));
        if is_x86_feature_detected!("avx512vbmi") {
            v.push(("x8_lut__avx512vbmi", avx512vnni::x8_lut__avx512vbmi));
        }
    }
    v
}

/// The table of `tier` when this CPU has the features its kernels are compiled for.
pub(super) fn table(tier: Tier) -> Option<&'static Kernels> {
    match tier {
        Tier::Avx2 if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") => {
            Some(&AVX2)
        }
        Tier::AvxVnni
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("avxvnni") =>
        {
            Some(&AVXVNNI)
        }
        Tier::Avx512Vnni
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni") =>
        {
            Some(&AVX512VNNI)
        }
        _ => None,
    }
}
