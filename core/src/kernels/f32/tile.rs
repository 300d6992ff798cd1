//! The contract between the f32 GEMM driver and the per-tier tile kernels.
//!
//! A kernel computes one tile of at most `MR` rows and [`NR`](super::NR) columns:
//! `C[i, j] = clamp(bias[i] + Σ_p A[i, p] · Bpanel[p, j], min, max)` for `i < m`, `j < n`, summing
//! p in increasing order from 0, and writes exactly those `m × n` elements. The clamp is ONNX
//! `Clip`'s (`x < min → min`, `x > max → max`, NaN passes through); `±inf` bounds disable it.

/// One tile's arguments (raw pointers: the driver derives them from validated slices).
#[derive(Clone, Copy, Debug)]
pub struct F32Tile {
    /// Rows (1..=MR of the kernel) and columns (1..=16) to compute and store.
    pub m: usize,
    pub n: usize,
    /// Depth (may be 0: the tile is then `clamp(bias)`).
    pub k: usize,
    /// `A[i, p]` is at `a + i * a_rs + p * a_cs`.
    pub a: *const f32,
    pub a_rs: usize,
    pub a_cs: usize,
    /// The packed panel: `Bpanel[p, j]` is at `b + 16 * p + j`, `16 * k` elements.
    pub b: *const f32,
    /// `C[i, j]` is at `c + i * c_rs + j`.
    pub c: *mut f32,
    pub c_rs: usize,
    /// Per-row bias (`m` elements), or null for none.
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
}

/// A tile kernel.
///
/// # Safety
/// `t.m` is within `1..=MR` of the kernel and `t.n` within `1..=16`; the pointers of `t` are valid
/// for the reads and writes its fields describe; the CPU has the kernel's tier.
pub(crate) type F32GemmFn = unsafe fn(t: &F32Tile);

/// Defines `MR` and the public entry `$name(t: &F32Tile)` of a tier, which calls the tier's
/// `tile::<R>(t)` with `R = t.m` (so edge tiles do only the work of their rows) and returns
/// without touching memory when `t.m` is not one of `$rows` (`1..=MR`).
macro_rules! f32_tile_kernel {
    ($(#[$doc:meta])* $name:ident, mr: $mr:literal, rows: [$($r:literal)*]) => {
        /// Rows per tile.
        pub(crate) const MR: usize = $mr;

        $(#[$doc])*
        ///
        /// # Safety
        /// As for [`F32GemmFn`](crate::kernels::f32::F32GemmFn).
        #[allow(non_snake_case)]
        pub(crate) unsafe fn $name(t: &$crate::kernels::f32::tile::F32Tile) {
            debug_assert!((1..=$crate::kernels::f32::NR).contains(&t.n));
            match t.m {
                // SAFETY: `R = t.m` is within `1..=MR`, and the caller upholds the rest of the
                // contract, which is also `tile`'s.
                $($r => unsafe { tile::<$r>(t) },)*
                _ => debug_assert!(false, "tile of {} rows", t.m),
            }
        }
    };
}
pub(crate) use f32_tile_kernel;
