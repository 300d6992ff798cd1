//! `f32_gemm_12x32__avx512f`: the `avx512vnni` tier's pair kernel, 12 rows × two 16-column
//! panels (17..=32 columns) with AVX-512F: per k step 2 B loads and 12 broadcasts feed 24 FMAs
//! into 24 zmm accumulators, so the FMA ports bound it where the 16-column tile is bound by the
//! load ports. The body (and register map) is
//! [`panels_tile`](super::f32_gemm_12x16__avx512f::panels_tile) at P = 2, so each element is the
//! same FMA chain as in `f32_gemm_12x16__avx512f`.

use crate::kernels::f32::tile::{F32Tile, f32_tile_kernel};

f32_tile_kernel!(
    /// Computes one pair tile (see [`F32Tile`]) with VFMADD231PS on zmm registers.
    f32_gemm_12x32__avx512f,
    mr: 12,
    rows: [1 2 3 4 5 6 7 8 9 10 11 12],
    panels: 2
);

/// The pair tile of `R` rows.
///
/// # Safety
/// `R == t.m`; otherwise as for [`F32GemmFn`](crate::kernels::f32::F32GemmFn) with `t.n` within
/// `17..=32` (the CPU has AVX-512F).
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize>(t: &F32Tile) {
    // SAFETY: the caller's contract, with `t.n` within `17..=32` (two panels).
    unsafe { super::f32_gemm_12x16__avx512f::panels_tile::<R, 2>(t) }
}
