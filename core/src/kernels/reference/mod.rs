//! The reference tier: plain Rust kernels, the fallback on every CPU and the oracle of the tests.
//! They read the same packed layouts as the SIMD tiers and favour obviousness over speed.

#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__reference;

use super::dispatch::kernel_table;
use super::{Kernels, Tier};

kernel_table!(KERNELS, Tier::Reference, qs8_gemm_4x16c8__reference::qs8_gemm_4x16c8__reference, unsigned_a: false);

/// The reference tier's kernel table.
pub(super) fn kernels() -> &'static Kernels {
    &KERNELS
}
