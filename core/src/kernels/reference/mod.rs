//! The reference tier: plain Rust kernels, the fallback on every CPU and the oracle of the tests.
//! They read the same packed layouts as the SIMD tiers and favour obviousness over speed.

#[allow(non_snake_case)]
mod f32_gemm_4x16__reference;
#[allow(non_snake_case)]
mod qs8_dwconv_16c__reference;
#[allow(non_snake_case)]
mod qs8_dwconv_16w__reference;
#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__reference;

use super::dispatch::kernel_table;
use super::f32::dwconv::channels::dwconv_channels_kernel;
use super::f32::dwconv::plane::{Scalar, dwconv_plane_kernel};
use super::f32::gemv::f32_gemv_kernel;
use super::vmath::vmath_kernels;
use super::wo::WoShape;
use super::{Kernels, Tier};

kernel_table!(
    KERNELS,
    Tier::Reference,
    qs8_gemm_4x16c8__reference::qs8_gemm_4x16c8__reference,
    qs8_quantize_row__reference,
    qs8_row_params__reference,
    unsigned_a: false,
    f32: [f32_gemm_4x16__reference]::f32_gemm_4x16__reference,
    f32_gemv: f32_gemv_4p__reference,
    f32_dwconv_plane: f32_dwconv_plane__reference,
    f32_dwconv_channels: f32_dwconv_16c__reference,
    wo: [wo_gemv_1x16c4__reference, wo_dequant_16c4__reference],
    qs8_dwconv: [qs8_dwconv_16w__reference]::qs8_dwconv_16w__reference,
    qs8_dwconv_channels: [qs8_dwconv_16c__reference]::qs8_dwconv_16c__reference,
    x8_lut: [] x8_lut__reference,
    vmath: F32_VMATH_REFERENCE
);

vmath_kernels!(F32_VMATH_REFERENCE);
f32_gemv_kernel!(f32_gemv_4p__reference, [], fused: false, group: 4);

/// The reference tier's table lookup: a plain loop.
///
/// # Safety
/// As `LutFn` (no CPU requirement).
#[allow(non_snake_case)]
unsafe fn x8_lut__reference(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: the caller's contract is the scalar loop's.
    unsafe { super::qs8::lut::lookup_scalar(table, src, dst, len) }
}

dwconv_plane_kernel!(
    f32_dwconv_plane__reference,
    [],
    Scalar<false>,
    Scalar<false>,
    Scalar<false>,
    group: 4
);
dwconv_channels_kernel!(f32_dwconv_16c__reference, [], Scalar<false>, vecs: 16, pixels: 1);

/// The reference tier's row quantizer: the shared scalar code, without extra CPU features.
///
/// # Safety
/// None beyond the signature (unsafe only to share the kernel-table type).
#[allow(non_snake_case)]
unsafe fn qs8_quantize_row__reference(row: &[f32], params: (f32, i32), xor: u8, dst: &mut [u8]) {
    super::qs8::dynamic::quantize_row(row, params, xor, dst)
}

/// The reference tier's weight-only GEMV: the shared body, separate multiply and add.
///
/// # Safety
/// None beyond the signature (unsafe only to share the kernel-table type).
#[allow(non_snake_case)]
unsafe fn wo_gemv_1x16c4__reference(shape: &WoShape, panels: &[u8], x: &[f32], y: &mut [f32]) {
    super::wo::body::gemv::<false>(shape, panels, x, y)
}

/// The reference tier's weight-only panel dequantizer: the shared body.
///
/// # Safety
/// None beyond the signature (unsafe only to share the kernel-table type).
#[allow(non_snake_case)]
unsafe fn wo_dequant_16c4__reference(shape: &WoShape, panel: &[u8], out: &mut [f32]) {
    super::wo::body::dequant(shape, panel, out)
}

/// The reference tier's kernel table.
pub(super) fn kernels() -> &'static Kernels {
    &KERNELS
}

/// The reference tier's row range analysis: the shared scalar code, without extra CPU features.
///
/// # Safety
/// None beyond the signature (unsafe only to share the kernel-table type).
#[allow(non_snake_case)]
unsafe fn qs8_row_params__reference(row: &[f32]) -> crate::Result<(f32, i32)> {
    super::qs8::dynamic::row_params(row)
}
