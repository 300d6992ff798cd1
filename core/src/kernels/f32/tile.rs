//! The contract between the f32 GEMM driver and the per-tier tile kernels.
//!
//! A kernel computes one tile of at most `MR` rows and [`NR`](super::NR) columns over one block of
//! depth `k`: `C[i, j] = clamp(bias[i] + init[i, j] + Σ_p A[i, p] · Bpanel[p, j], min, max)` for
//! `i < m`, `j < n`, where `init` is C's current value when `accumulate` is set (a continued k
//! block) and 0 otherwise, fusing the multiply-adds onto `init` in increasing p order; it writes
//! exactly those `m × n` elements. A block continued from the sum stored by the previous one is
//! therefore the same computation as one unblocked call. The clamp is ONNX `Clip`'s
//! (`x < min → min`, `x > max → max`, NaN passes through); `±inf` bounds disable it.
//!
//! A is packed ([`PackedA`](super::PackedA)): `A[i, p]` at `a + p * MR + i`, so the kernel reads
//! one pointer at consecutive addresses (the rows `m..MR` of a tile are not read). B's panel is
//! 16 columns at a time, `b_rs` apart: a packed panel (`b_rs` = 16) or, in place, 16 columns of a
//! row-major B (a pointwise Conv's input), so its 16 values per step are always readable.
//!
//! A pair kernel (a tier's optional second entry, [`Kernels`](crate::kernels::Kernels)'s
//! `f32_gemm_pair`) computes `17..=32` columns over two panels: columns `0..16` from the panel at
//! `b` (`b_rs`), columns `16..n` from the one at `b2` (`b2_rs`), each element by the same chain of
//! fused multiply-adds as the tier's 16-column kernel, so a pair tile is bit for bit two tiles.
//! The 16-column kernels never read `b2`.

/// Depth of a k block at most: an MR × KC A tile (12 KiB at MR = 12) and a 16 × KC B panel
/// (16 KiB) stay in L1 while a tile runs.
pub(crate) const KC: usize = 256;

/// One tile's arguments (raw pointers: the driver derives them from validated slices).
#[derive(Clone, Copy, Debug)]
pub struct F32Tile {
    /// Rows (1..=MR of the kernel) and columns (1..=16; 17..=32 for a pair kernel) to compute
    /// and store.
    pub m: usize,
    pub n: usize,
    /// Depth of this block (may be 0: the tile is then `clamp(bias + init)`).
    pub k: usize,
    /// Packed A: `A[i, p]` is at `a + p * MR + i`.
    pub a: *const f32,
    /// The panel: `Bpanel[p, j]` is at `b + p * b_rs + j` (`j < 16`, all 16 readable).
    pub b: *const f32,
    /// Elements between two rows of the panel: 16 when it is packed, the row stride of B when
    /// the kernel reads B in place (a row-major `k × n` matrix with at least 16 columns left).
    pub b_rs: usize,
    /// A pair kernel's second panel (columns 16..n): `Bpanel2[p, j]` at `b2 + p * b2_rs + j`,
    /// all 16 readable. Null and 0 for a 16-column kernel, which ignores them.
    // Only pair kernels read them, and only x86-64 has one today.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub b2: *const f32,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub b2_rs: usize,
    /// `C[i, j]` is at `c + i * c_rs + j`.
    pub c: *mut f32,
    pub c_rs: usize,
    /// Start from C's values (read before written) instead of 0.
    pub accumulate: bool,
    /// Per-row bias (`m` elements), or null for none.
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
}

/// A tile kernel.
///
/// # Safety
/// `t.m` is within `1..=MR` of the kernel and `t.n` within `1..=16` (`17..=32` for a pair
/// kernel); the pointers of `t` are valid for the reads and writes its fields describe; the CPU
/// has the kernel's tier.
pub(crate) type F32GemmFn = unsafe fn(t: &F32Tile);

/// Defines `MR` and the public entry `$name(t: &F32Tile)` of a tier's kernel over `panels`
/// panels (1 when omitted; 2 for a pair kernel), which calls the tier's `tile::<R>(t)` with
/// `R = t.m` (so edge tiles do only the work of their rows) and returns without touching memory
/// when `t.m` is not one of `$rows` (`1..=MR`).
macro_rules! f32_tile_kernel {
    ($(#[$doc:meta])* $name:ident, mr: $mr:literal, rows: [$($r:literal)*]) => {
        $crate::kernels::f32::tile::f32_tile_kernel!(
            $(#[$doc])* $name, mr: $mr, rows: [$($r)*], panels: 1
        );
    };
    (
        $(#[$doc:meta])* $name:ident, mr: $mr:literal, rows: [$($r:literal)*], panels: $p:literal
    ) => {
        /// Rows per tile.
        pub(crate) const MR: usize = $mr;

        $(#[$doc])*
        ///
        /// # Safety
        /// As for [`F32GemmFn`](crate::kernels::f32::F32GemmFn).
        #[allow(non_snake_case)]
        pub(crate) unsafe fn $name(t: &$crate::kernels::f32::tile::F32Tile) {
            const NR: usize = $crate::kernels::f32::NR;
            debug_assert!(((($p - 1) * NR + 1)..=$p * NR).contains(&t.n));
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
