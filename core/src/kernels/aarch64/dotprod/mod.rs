//! The dot-product tier: SDOT (through `asm!`, as `vdotq_s32` is unstable) on column pairs.

#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__dotprod;

pub(super) use qs8_gemm_4x16c8__dotprod::{
    A_PACKING, MR, PASS_PANELS, WEIGHT_ORDER, qs8_gemm_4x16c8__dotprod,
};
