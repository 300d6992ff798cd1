//! `qs8_dwconv_16c__avx2`: the int8 depthwise channel-block kernel, 16 channels per block (two ymm
//! of i32 lanes): the portable loops compiled for AVX2 (VPMULLD and VPADDD per tap).

use crate::kernels::qs8::dwconv::channels::{dwconv_channels_kernel, portable_sums};

dwconv_channels_kernel!(
    /// Computes the raw sums of one depthwise channel block with AVX2.
    qs8_dwconv_16c__avx2,
    features: ["avx2"],
    portable_sums
);
