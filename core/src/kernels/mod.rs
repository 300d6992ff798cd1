//! Compute kernels: a scalar reference for every kernel and SIMD tiers chosen at run time.
//!
//! - [`dispatch`]: tiers, run-time CPU detection, `MOBIQUANT_TIER`, the per-tier kernel tables.
//! - [`f32`](mod@f32): the f32 GEMM family and its packed-B layout.
//! - [`qs8`]: the full-int8 GEMM/GEMV family and its packed weight layout.
//! - [`vmath`]: the f32 element-wise family (activations, binary arithmetic, softmax rows,
//!   window maxima), one plain-Rust body compiled per tier.
//! - [`wo`]: the weight-only (int8/int4 weights, f32 activations) GEMM/GEMV family and its layout.
//! - `reference`: the plain-Rust tier (fallback and test oracle).
//! - `x86_64/`, `aarch64/`: the SIMD tiers. Only these modules carry `cfg(target_arch)`; everything
//!   else (ops, drivers, epilogues) is architecture-neutral and reaches SIMD code through
//!   [`Kernels`] function pointers.
//!
//! Invariant: kernel functions are `unsafe fn`s whose `# Safety` contract the safe wrappers of this
//! module establish after validating their arguments; no safe function here panics on bad input.

pub mod dispatch;
pub mod f32;
pub mod qs8;
mod reference;
#[cfg(test)]
mod testing;
pub mod vmath;
pub mod wo;

#[cfg(target_arch = "aarch64")]
#[path = "aarch64/mod.rs"]
mod arch;
#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod arch;
#[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
mod arch {
    //! No SIMD tiers on this architecture: only the reference tier exists.
    pub(super) fn table(_: super::Tier) -> Option<&'static super::Kernels> {
        None
    }

    /// No lookup kernels beyond the reference's.
    #[cfg(test)]
    pub(super) fn lut_variants() -> Vec<(&'static str, super::qs8::lut::LutFn)> {
        Vec::new()
    }
}

pub use dispatch::{Kernels, TIER_ENV, Tier, forced_tier, kernels, kernels_for};
