//! `qs8_dwconv_16c__neon`: the int8 depthwise channel-block kernel, 16 channels per block (four q
//! registers of i32 lanes): the portable loops compiled for NEON (MLA per tap and register).

use crate::kernels::qs8::dwconv::channels::{dwconv_channels_kernel, portable_sums};

dwconv_channels_kernel!(
    /// Computes the raw sums of one depthwise channel block with NEON.
    qs8_dwconv_16c__neon,
    features: ["neon"],
    portable_sums
);
