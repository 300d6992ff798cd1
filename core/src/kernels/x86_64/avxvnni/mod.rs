//! The AVX-VNNI tier (VEX-encoded VPDPBUSD on ymm, without AVX-512: Alder Lake and later client
//! CPUs, Zen 5 and their emulator hosts).

#[allow(non_snake_case)]
mod qs8_gemm_4x16c8__avxvnni;

pub(super) use qs8_gemm_4x16c8__avxvnni::{
    A_PACKING, MR, PASS_PANELS, WEIGHT_ORDER, qs8_gemm_4x16c8__avxvnni,
};
