//! The int8 matrix-multiply tier: SMMLA (through `asm!`, as `vmmlaq_s32` is unstable), 2 rows x
//! 2 columns x 8 k per instruction, which is exactly one k-block of a column pair in `c8`.

#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__i8mm;

pub(super) use qs8_gemm_4x16c8__i8mm::{
    A_PACKING, MR, PASS_PANELS, WEIGHT_ORDER, qs8_gemm_4x16c8__i8mm,
};
