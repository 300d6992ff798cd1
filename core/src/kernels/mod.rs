//! Compute kernels: a scalar reference for every kernel and SIMD tiers chosen at run time.
