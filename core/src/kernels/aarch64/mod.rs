//! aarch64 SIMD tiers and their run-time detection. The only place (with `x86_64/`) that knows
//! the architecture.

/// Defines `fn $name(acc, x, w) -> acc`: one int8 multiply-accumulate instruction `$insn`
/// (`sdot`, `smmla`) on 128-bit registers, for the tiers whose intrinsics are not stable yet.
/// Compiled with `$features`, so the assembler accepts the instruction; `#[inline]` so that it
/// merges into kernels compiled with the same features.
macro_rules! int8_mla {
    ($(#[$doc:meta])* $name:ident, $insn:literal, $features:literal) => {
        $(#[$doc])*
        #[target_feature(enable = $features)]
        #[inline]
        fn $name(
            mut acc: std::arch::aarch64::int32x4_t,
            x: std::arch::aarch64::int8x16_t,
            w: std::arch::aarch64::int8x16_t,
        ) -> std::arch::aarch64::int32x4_t {
            // SAFETY: the instruction only reads and writes these three registers, and the
            // extension it belongs to is enabled on this function (callers prove the CPU has it).
            unsafe {
                std::arch::asm!(
                    concat!($insn, " {acc:v}.4s, {x:v}.16b, {w:v}.16b"),
                    acc = inout(vreg) acc,
                    x = in(vreg) x,
                    w = in(vreg) w,
                    options(pure, nomem, nostack, preserves_flags)
                );
            }
            acc
        }
    };
}
use int8_mla;

mod dotprod;
mod i8mm;
mod neon;

use super::dispatch::kernel_table;
use super::f32::dwconv::channels::dwconv_channels_kernel;
use super::f32::dwconv::plane::{Scalar, dwconv_plane_kernel};
use super::f32::gemv::f32_gemv_kernel;
use super::qs8::dynamic::quantize_row_kernel;
use super::vmath::vmath_kernels;
use super::wo::body::{wo_dequant_kernel, wo_gemv_kernel};
use super::{Kernels, Tier};

quantize_row_kernel!(qs8_quantize_row__neon, qs8_row_params__neon, "neon");
kernel_table!(
    NEON,
    Tier::Neon,
    neon::qs8_gemm_4x16c8__neon,
    qs8_quantize_row__neon,
    qs8_row_params__neon,
    unsigned_a: false,
    f32: [neon::f32_gemm_6x16__neon]::f32_gemm_6x16__neon,
    f32_gemv: f32_gemv_4p__neon,
    f32_dwconv_plane: f32_dwconv_plane__neon,
    f32_dwconv_channels: f32_dwconv_16c__neon,
    wo: [wo_gemv_1x16c4__neon, wo_dequant_16c4__neon],
    qs8_dwconv: [neon]::qs8_dwconv_16w__neon,
    qs8_dwconv_channels: [neon]::qs8_dwconv_16c__neon,
    x8_lut: [neon] x8_lut__neon,
    vmath: F32_VMATH_NEON
);
quantize_row_kernel!(
    qs8_quantize_row__dotprod,
    qs8_row_params__dotprod,
    "neon,dotprod"
);
kernel_table!(
    DOTPROD,
    Tier::Dotprod,
    dotprod::qs8_gemm_4x16c8__dotprod,
    qs8_quantize_row__dotprod,
    qs8_row_params__dotprod,
    unsigned_a: false,
    f32: [neon::f32_gemm_6x16__neon]::f32_gemm_6x16__neon,
    f32_gemv: f32_gemv_4p__neon,
    f32_dwconv_plane: f32_dwconv_plane__neon,
    f32_dwconv_channels: f32_dwconv_16c__neon,
    wo: [wo_gemv_1x16c4__neon, wo_dequant_16c4__neon],
    qs8_dwconv: [neon]::qs8_dwconv_16w__neon,
    qs8_dwconv_channels: [neon]::qs8_dwconv_16c__neon,
    x8_lut: [neon] x8_lut__neon,
    vmath: F32_VMATH_NEON
);
quantize_row_kernel!(qs8_quantize_row__i8mm, qs8_row_params__i8mm, "neon,i8mm");
kernel_table!(
    I8MM,
    Tier::I8mm,
    i8mm::qs8_gemm_4x16c8__i8mm,
    qs8_quantize_row__i8mm,
    qs8_row_params__i8mm,
    unsigned_a: false,
    f32: [neon::f32_gemm_6x16__neon]::f32_gemm_6x16__neon,
    f32_gemv: f32_gemv_4p__neon,
    f32_dwconv_plane: f32_dwconv_plane__neon,
    f32_dwconv_channels: f32_dwconv_16c__neon,
    wo: [wo_gemv_1x16c4__neon, wo_dequant_16c4__neon],
    qs8_dwconv: [neon]::qs8_dwconv_16w__neon,
    qs8_dwconv_channels: [neon]::qs8_dwconv_16c__neon,
    x8_lut: [neon] x8_lut__neon,
    vmath: F32_VMATH_NEON
);

dwconv_plane_kernel!(
    f32_dwconv_plane__neon,
    ["neon"],
    std::arch::aarch64::float32x4_t,
    Scalar<true>,
    Scalar<true>,
    group: 8
);
dwconv_channels_kernel!(
    f32_dwconv_16c__neon,
    ["neon"],
    std::arch::aarch64::float32x4_t,
    vecs: 4,
    pixels: 4
);
vmath_kernels!(F32_VMATH_NEON, "neon");
f32_gemv_kernel!(f32_gemv_4p__neon, ["neon"], fused: true, group: 4);
wo_gemv_kernel!(wo_gemv_1x16c4__neon, "neon", fused: true);
wo_dequant_kernel!(wo_dequant_16c4__neon, "neon");

/// The lookup kernels a tier table may not show: none on aarch64 (every tier uses NEON's).
#[cfg(test)]
pub(super) fn lut_variants() -> Vec<(&'static str, super::qs8::lut::LutFn)> {
    Vec::new()
}

/// The table of `tier` when this CPU has the features its kernels are compiled for.
pub(super) fn table(tier: Tier) -> Option<&'static Kernels> {
    let neon = std::arch::is_aarch64_feature_detected!("neon");
    match tier {
        Tier::Neon if neon => Some(&NEON),
        Tier::Dotprod if neon && std::arch::is_aarch64_feature_detected!("dotprod") => {
            Some(&DOTPROD)
        }
        Tier::I8mm if neon && std::arch::is_aarch64_feature_detected!("i8mm") => Some(&I8MM),
        _ => None,
    }
}
