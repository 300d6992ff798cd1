//! x86-64 SIMD tiers and their run-time detection. The only place (with `aarch64/`) that knows
//! the architecture.

mod avx2;
mod avx512vnni;
mod avxvnni;

use super::dispatch::kernel_table;
use super::f32::dwconv::dwconv_plane_kernel;
use super::qs8::dynamic::quantize_row_kernel;
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
    f32_dwconv_plane: f32_dwconv_plane__avx2
);
dwconv_plane_kernel!(f32_dwconv_plane__avx2, "avx2,fma");
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
    f32_dwconv_plane: f32_dwconv_plane__avx2
);
quantize_row_kernel!(
    qs8_quantize_row__avx512vnni,
    qs8_row_params__avx512vnni,
    "avx512f,avx512bw,avx512vnni"
);
kernel_table!(
    AVX512VNNI,
    Tier::Avx512Vnni,
    avx512vnni::qs8_gemm_8x16c8__avx512vnni,
    qs8_quantize_row__avx512vnni,
    qs8_row_params__avx512vnni,
    unsigned_a: true,
    f32: [avx512vnni::f32_gemm_12x16__avx512f]::f32_gemm_12x16__avx512f,
    f32_dwconv_plane: f32_dwconv_plane__avx512f
);
dwconv_plane_kernel!(f32_dwconv_plane__avx512f, "avx512f");

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
