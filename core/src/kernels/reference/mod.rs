//! The reference tier: plain Rust kernels, the fallback on every CPU and the oracle of the tests.
//! They read the same packed layouts as the SIMD tiers and favour obviousness over speed.

#[allow(non_snake_case)]
mod f32_gemm_4x16__reference;
#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__reference;

use super::dispatch::kernel_table;
use super::{Kernels, Tier};

kernel_table!(
    KERNELS,
    Tier::Reference,
    qs8_gemm_4x16c8__reference::qs8_gemm_4x16c8__reference,
    qs8_quantize_row__reference,
    qs8_row_params__reference,
    unsigned_a: false,
    f32: [f32_gemm_4x16__reference]::f32_gemm_4x16__reference,
    f32_dwconv_plane: f32_dwconv_plane__reference
);

/// The reference tier's depthwise plane kernel: the shared code, without extra CPU features.
///
/// # Safety
/// None beyond the signature (unsafe only to share the kernel-table type).
#[allow(non_snake_case)]
unsafe fn f32_dwconv_plane__reference(
    p: &super::f32::dwconv::DwPlane<'_>,
    dst: &mut [f32],
    width: usize,
) {
    super::f32::dwconv::dwconv_plane(p, dst, width)
}

/// The reference tier's row quantizer: the shared scalar code, without extra CPU features.
///
/// # Safety
/// None beyond the signature (unsafe only to share the kernel-table type).
#[allow(non_snake_case)]
unsafe fn qs8_quantize_row__reference(row: &[f32], params: (f32, i32), xor: u8, dst: &mut [u8]) {
    super::qs8::dynamic::quantize_row(row, params, xor, dst)
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
