//! `qs8_dwconv_16c__reference`: the int8 depthwise channel-block kernel, 16 channels per block, as
//! plain loops.

use crate::kernels::qs8::dwconv::channels::{dwconv_channels_kernel, portable_sums};

dwconv_channels_kernel!(
    /// Computes the raw sums of one depthwise channel block with scalar code.
    qs8_dwconv_16c__reference,
    features: [],
    portable_sums
);
