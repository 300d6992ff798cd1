//! The tile contract between the GEMM driver and the per-tier kernels, and the parts every tier
//! shares: the loop over panels and the fused requantization epilogue.
//!
//! A tier kernel only computes the `MR x NR` block of s8 x s8 dot products for one panel; this
//! module turns it into output. Both are `#[inline(always)]` and get compiled inside each tier's
//! `#[target_feature]` function, so the epilogue is vectorized with that tier's instructions while
//! staying the same IEEE operations in the same order: every tier is bit-exact by construction.
//!
//! Epilogue, per row `r` and column `j` (all i32 arithmetic wrapping, f32 arithmetic IEEE with
//! round-to-nearest-even, no fused multiply-add):
//! - `t = acc + bias[j] + rz[r] * colsum[j]`, `f = (t as f32) * (rs[r] * scale[j])`;
//! - f32 output: `clamp(f + fbias[j], min, max)`;
//! - s8/u8 output: `clamp(f, min - zp, max - zp)`, rounded to nearest-even, `+ zp`.

use super::pack::{BIAS_OFFSET, COLSUM_OFFSET, FBIAS_OFFSET, NR, PANEL_HEADER_LEN, SCALE_OFFSET};

/// Rows of the largest tile of any tier (each tier has its own `MR <= MAX_MR`).
pub(crate) const MAX_MR: usize = 8;

/// The accumulators of one tile: `MR` rows of `NR` columns.
pub(crate) type Acc<const MR: usize> = [[i32; NR]; MR];

/// How a tier wants its activation tile laid out (the driver's activation packing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum APacking {
    /// Row `r` at `r * kp`.
    Rows,
    /// k-block major with every 8-byte k-block written twice, so that SDOT's `[x0..7, x0..7]`
    /// operand is one 16-byte load and the rows of a k-block are consecutive: row `r` of k-block
    /// `kb` at `16 * (kb * mr + r)`.
    // Only the aarch64 SDOT tier asks for it; other builds never construct it.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    Doubled,
    /// k-block major: the 8 bytes of row `r` in k-block `kb` at `8 * (kb * mr + r)`, so one
    /// pointer walks the tile: a VPDPBUSD tile broadcasts row `r` from a constant offset, and
    /// rows `2p, 2p + 1` of a k-block are SMMLA's 2x8 operand (one 16-byte load; even MR).
    Interleaved,
}

impl APacking {
    /// Bytes of a packed tile of `mr` rows.
    pub(crate) fn tile_len(self, mr: usize, kp: usize) -> usize {
        match self {
            APacking::Rows | APacking::Interleaved => mr * kp,
            APacking::Doubled => 2 * mr * kp,
        }
    }

    /// Arranges `rows` (`mr` rows of `kp` bytes, row-major) into `dst` (`tile_len` bytes). (The
    /// driver packs `Rows` tiles in place and only calls this for the others.)
    pub(crate) fn arrange(self, mr: usize, kp: usize, rows: &[u8], dst: &mut [u8]) {
        debug_assert!(rows.len() == mr * kp && dst.len() == self.tile_len(mr, kp));
        if kp == 0 {
            return;
        }
        match self {
            APacking::Rows => dst.copy_from_slice(rows),
            APacking::Doubled => {
                for (r, row) in rows.chunks_exact(kp).enumerate() {
                    for (kb, block) in row.chunks_exact(8).enumerate() {
                        let at = 16 * (kb * mr + r);
                        dst[at..at + 8].copy_from_slice(block);
                        dst[at + 8..at + 16].copy_from_slice(block);
                    }
                }
            }
            APacking::Interleaved => {
                for (r, row) in rows.chunks_exact(kp).enumerate() {
                    interleave_row(mr, r, row, 0, dst);
                }
            }
        }
    }
}

/// Writes `src ^ xor` (one row of `k <= kp` bytes, zero padded to `kp`) as row `r` of an
/// [`APacking::Interleaved`] tile `dst` of `mr` rows: k-block `kb` at `8 * (kb * mr + r)`.
/// Eight bytes at a time, so the driver packs activations straight into this layout.
#[inline]
pub(crate) fn interleave_row(mr: usize, r: usize, src: &[u8], xor: u8, dst: &mut [u8]) {
    debug_assert!(r < mr && src.len() <= dst.len() / mr && dst.len().is_multiple_of(8 * mr));
    let wide = u64::from_ne_bytes([xor; 8]);
    let mut blocks = dst
        .chunks_exact_mut(8 * mr)
        .map(|b| &mut b[8 * r..8 * r + 8]);
    let chunks = src.chunks_exact(8);
    let tail = chunks.remainder();
    // `chunks` first: zip stops on it without taking another block.
    for (s, d) in chunks.zip(blocks.by_ref()) {
        let v = u64::from_ne_bytes(s.try_into().expect("8-byte chunk")) ^ wide;
        d.copy_from_slice(&v.to_ne_bytes());
    }
    // The partial k-block, then whole zero blocks up to kp (none when src.len() == kp).
    let mut last = [0u8; 8];
    for (d, &s) in last.iter_mut().zip(tail) {
        *d = s ^ xor;
    }
    for (i, d) in blocks.enumerate() {
        d.copy_from_slice(if i == 0 && !tail.is_empty() {
            &last
        } else {
            &[0; 8]
        });
    }
}

/// A tier's tile kernel (`qs8_gemm_4x16c8__<tier>`).
pub(crate) type Qs8TileFn = unsafe fn(&Tile);

/// Scale and negated zero point of one row of activations (1 and 0 unless quantized at run time).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RowQuant {
    pub scale: f32,
    pub neg_zero_point: i32,
}

impl RowQuant {
    pub(crate) const IDENTITY: RowQuant = RowQuant {
        scale: 1.0,
        neg_zero_point: 0,
    };
}

/// What the epilogue writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum OutKind {
    /// Signed bytes, with output zero point and clamp bounds (within i8).
    S8 { zero_point: i32, min: i32, max: i32 },
    /// Unsigned bytes, with output zero point and clamp bounds (within u8).
    U8 { zero_point: i32, min: i32, max: i32 },
    /// f32, clamped (bounds may be infinite, never NaN).
    F32 { min: f32, max: f32 },
}

impl OutKind {
    /// Signed bytes with zero point and clamp bounds.
    pub(crate) fn s8(zero_point: i32, min: i8, max: i8) -> OutKind {
        OutKind::S8 {
            zero_point,
            min: min.into(),
            max: max.into(),
        }
    }

    /// Unsigned bytes with zero point and clamp bounds.
    pub(crate) fn u8(zero_point: i32, min: u8, max: u8) -> OutKind {
        OutKind::U8 {
            zero_point,
            min: min.into(),
            max: max.into(),
        }
    }

    /// `(zero_point, min, max)` of a byte output, `None` for f32.
    pub(crate) fn byte_params(self) -> Option<(i32, i32, i32)> {
        match self {
            OutKind::S8 {
                zero_point,
                min,
                max,
            }
            | OutKind::U8 {
                zero_point,
                min,
                max,
            } => Some((zero_point, min, max)),
            OutKind::F32 { .. } => None,
        }
    }

    /// Bytes of one output element.
    pub(crate) fn elem_len(self) -> usize {
        match self {
            OutKind::S8 { .. } | OutKind::U8 { .. } => 1,
            OutKind::F32 { .. } => 4,
        }
    }
}

/// One call of a tier kernel: one tile of up to `MR` rows (the tier's, `Kernels::qs8_mr`)
/// against `panel_count` panels.
///
/// Validity (established by the driver, relied on by every kernel):
/// - `a` points to `A_PACKING.tile_len(MR, kp)` readable bytes: the tile's `MR` rows (rows
///   `rows..MR` zero) in the tier's [`APacking`] and signedness (u8 for VNNI, s8 otherwise);
///   `kp` is a multiple of 8; `1 <= rows <= MR`.
/// - `panels` points to `panel_count` panels of `panel_len` bytes in the `c8` layout.
/// - `out` points to the output element of row 0, column 0 of the first panel; row `r` starts
///   `r * out_stride` bytes further; for each row `< rows`, `min(n, 16 * panel_count)` elements
///   of `out_kind` are writable and not aliased.
pub(crate) struct Tile {
    pub a: *const u8,
    pub rows: usize,
    pub kp: usize,
    pub panels: *const u8,
    pub panel_count: usize,
    pub panel_len: usize,
    pub n: usize,
    pub out: *mut u8,
    pub out_stride: usize,
    pub out_kind: OutKind,
    pub rows_quant: [RowQuant; MAX_MR],
}

/// Defines a tier's tile kernel: `pub(crate) unsafe fn $name(tile: &Tile)` for tiles of `$mr`
/// rows (the tier's `MR`, also in its kernel table), compiled with `$features`, running [`run`]
/// with `$accumulate::<1>` for single-row tiles (GEMV) and `$accumulate::<$mr>` otherwise. `$accumulate::<R>(a, kp, panel, acc)` must write the dot
/// products of the first `R` rows into `acc`, and its own `# Safety` must be implied by a valid
/// tile plus the CPU features.
macro_rules! tile_kernel {
    ($(#[$doc:meta])* $name:ident, $features:literal, mr: $mr:ident, $accumulate:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `tile` satisfies the `Tile` contract (activations in this tier's signedness), and the
        /// CPU has the features this function is compiled for.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $name(tile: &$crate::kernels::qs8::tile::Tile) {
            let (a, kp, rows) = (tile.a, tile.kp, tile.rows);
            debug_assert!((1..=$mr).contains(&rows) && kp.is_multiple_of(8));
            // SAFETY: the tile is valid (this function's contract, with MR = $mr rows); the
            // closure hands the accumulator the tile's activations and one of its panels.
            unsafe {
                $crate::kernels::qs8::tile::run::<$mr>(tile, |panel, acc| {
                    if rows == 1 {
                        $accumulate::<1>(a, kp, panel, acc)
                    } else {
                        $accumulate::<$mr>(a, kp, panel, acc)
                    }
                })
            }
        }
    };
}
pub(crate) use tile_kernel;

/// Runs `accumulate(panel, acc)` for each panel of the tile (it must overwrite the rows of
/// `acc` for the tile's valid rows with their s8 dot products with the panel's columns; `acc`
/// holds the previous panel's values, zeros for the first), then the epilogue.
///
/// # Safety
/// `tile` satisfies the validity contract of [`Tile`] for tiles of `MR` rows, and `accumulate`
/// reads at most the tile's `a` and the panel it is given.
#[inline(always)]
pub(crate) unsafe fn run<const MR: usize>(
    tile: &Tile,
    mut accumulate: impl FnMut(*const u8, &mut Acc<MR>),
) {
    let dynamic = !is_static(tile);
    let mut acc = [[0i32; NR]; MR];
    for p in 0..tile.panel_count {
        // SAFETY: p < panel_count, so the panel lies within the panels the contract guarantees.
        let panel = unsafe { tile.panels.add(p * tile.panel_len) };
        accumulate(panel, &mut acc);
        // SAFETY: the panel header is the first PANEL_HEADER_LEN bytes of the panel.
        let cols = unsafe { Columns::read(panel) };
        let ncols = NR.min(tile.n - p * NR);
        // SAFETY: rows < rows of the tile and columns p*16 .. p*16 + ncols are writable per the
        // contract, from this panel's first output element.
        unsafe {
            let dst = tile.out.add(p * NR * tile.out_kind.elem_len());
            if dynamic {
                epilogue::<MR, true>(tile, &acc, &cols, dst, ncols);
            } else {
                epilogue::<MR, false>(tile, &acc, &cols, dst, ncols);
            }
        }
    }
}

/// Whether every row of the tile is statically quantized (the common case): those skip the
/// per-row zero-point product and scale, with `rz = 0` and `rs = 1` the general formula gives
/// the same bits.
#[inline(always)]
fn is_static(tile: &Tile) -> bool {
    tile.rows_quant[..tile.rows]
        .iter()
        .all(|&q| q == RowQuant::IDENTITY)
}

/// The epilogue's constants for a byte output: `quantize(f, zero_point, min, max)` is
/// `round_ties_even(clamp(f, lo, hi)) + zero_point`.
// Only the AVX-512 VNNI tier asks for it; other builds never construct it.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByteOut {
    pub zero_point: i32,
    pub lo: f32,
    pub hi: f32,
}

/// For a tile whose rows are all statically quantized and whose output is bytes, the
/// epilogue's constants: then each output is `quantize((acc + bias) as f32 * scale)`, which a
/// tier may compute in its own registers (same operations, same bits). `None` otherwise.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn static_byte_out(tile: &Tile) -> Option<ByteOut> {
    let (zero_point, min, max) = tile.out_kind.byte_params()?;
    is_static(tile).then(|| ByteOut {
        zero_point,
        lo: (min - zero_point) as f32,
        hi: (max - zero_point) as f32,
    })
}

/// The per-column arrays of a panel, copied out of its header.
struct Columns {
    bias: [i32; NR],
    colsum: [i32; NR],
    scale: [f32; NR],
    fbias: [f32; NR],
}

impl Columns {
    /// # Safety
    /// `panel` points to `PANEL_HEADER_LEN` readable bytes (any alignment).
    #[inline(always)]
    unsafe fn read(panel: *const u8) -> Columns {
        const { assert!(FBIAS_OFFSET + 4 * NR <= PANEL_HEADER_LEN) };
        // SAFETY: each array is 64 bytes inside the header; read_unaligned allows any alignment,
        // and every bit pattern is a valid i32 / f32.
        unsafe {
            Columns {
                bias: panel.add(BIAS_OFFSET).cast::<[i32; NR]>().read_unaligned(),
                colsum: panel
                    .add(COLSUM_OFFSET)
                    .cast::<[i32; NR]>()
                    .read_unaligned(),
                scale: panel.add(SCALE_OFFSET).cast::<[f32; NR]>().read_unaligned(),
                fbias: panel.add(FBIAS_OFFSET).cast::<[f32; NR]>().read_unaligned(),
            }
        }
    }
}

/// `x` clamped to `[lo, hi]` (neither is NaN); a NaN `x` gives `lo` (IEEE maxNum / minNum).
#[inline(always)]
pub(crate) fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    x.max(lo).min(hi)
}

/// Quantizes `f` (already scaled; NaN gives `min`) to an integer in `[min, max]` with zero point
/// `zp`. Requires `min <= max` and `|min - zp|, |max - zp| <= 510`.
#[inline(always)]
pub(crate) fn quantize(f: f32, zp: i32, min: i32, max: i32) -> i32 {
    debug_assert!(min <= max && (min - zp).abs() <= 510 && (max - zp).abs() <= 510);
    // Round to nearest, ties to even: one instruction on every SIMD tier (FRINTN, or FCVTNS
    // fused with the conversion; VROUNDPS / VRNDSCALEPS), exactly specified by IEEE 754.
    let r = clamp(f, (min - zp) as f32, (max - zp) as f32).round_ties_even();
    // SAFETY: `clamp` never returns NaN here and bounds `r` to [min - zp, max - zp], within
    // ±510, and a rounded value there is an integer: the conversion is exact. (A plain `as`
    // would add saturation checks that stop the epilogue from vectorizing.)
    unsafe { r.to_int_unchecked::<i32>() + zp }
}

/// Applies the epilogue to the tile's rows of accumulators of one panel and writes `ncols`
/// outputs a row. The output kind is matched once, outside the row loop, so that each row's
/// arithmetic is one straight block. `DYNAMIC = false` requires every row's quantization to be
/// [`RowQuant::IDENTITY`] and leaves out its (then neutral) terms.
///
/// # Safety
/// For each row `r < tile.rows`, `dst + r * tile.out_stride` points to `ncols` writable elements
/// of the output kind (any alignment).
#[inline(always)]
unsafe fn epilogue<const MR: usize, const DYNAMIC: bool>(
    tile: &Tile,
    acc: &Acc<MR>,
    cols: &Columns,
    dst: *mut u8,
    ncols: usize,
) {
    debug_assert!(ncols <= NR && tile.rows <= MR);
    let scaled = |r: usize| -> [f32; NR] {
        let rq = tile.rows_quant[r];
        debug_assert!(DYNAMIC || rq == RowQuant::IDENTITY);
        std::array::from_fn(|j| {
            let t = acc[r][j].wrapping_add(cols.bias[j]);
            if DYNAMIC {
                let t = t.wrapping_add(rq.neg_zero_point.wrapping_mul(cols.colsum[j]));
                t as f32 * (rq.scale * cols.scale[j])
            } else {
                t as f32 * cols.scale[j]
            }
        })
    };
    if let OutKind::F32 { min, max } = tile.out_kind {
        for r in 0..tile.rows {
            let f = scaled(r);
            let v: [f32; NR] = std::array::from_fn(|j| clamp(f[j] + cols.fbias[j], min, max));
            // SAFETY: row r holds ncols f32 (the caller's contract).
            unsafe { store(v, dst.add(r * tile.out_stride), ncols) }
        }
    } else if let Some((zero_point, min, max)) = tile.out_kind.byte_params() {
        for r in 0..tile.rows {
            let f = scaled(r);
            let v: [u8; NR] = std::array::from_fn(|j| quantize(f[j], zero_point, min, max) as u8);
            // SAFETY: row r holds ncols bytes (the caller's contract).
            unsafe { store(v, dst.add(r * tile.out_stride), ncols) }
        }
    }
}

/// Writes the first `ncols` elements of `v` to `dst`: one fixed-size store for a full row.
///
/// # Safety
/// `dst` points to `ncols <= NR` writable elements of `T` (any alignment).
#[inline(always)]
unsafe fn store<T: Copy>(v: [T; NR], dst: *mut u8, ncols: usize) {
    debug_assert!(ncols <= NR);
    // SAFETY: per the contract, dst holds ncols elements: all NR of them in the first branch;
    // both writes are unaligned.
    unsafe {
        if ncols == NR {
            dst.cast::<[T; NR]>().write_unaligned(v);
        } else {
            std::ptr::copy_nonoverlapping(v.as_ptr().cast::<u8>(), dst, ncols * size_of::<T>());
        }
    }
}

/// Reads row `r`'s 8 activation bytes of k-block `kb` as a little-endian u64.
///
/// # Safety
/// `a` and `kp` come from a valid [`Tile`] in [`APacking::Rows`], `r` < the tile's `MR` and
/// `kb < kp / 8`.
#[inline(always)]
pub(crate) unsafe fn a_block(a: *const u8, kp: usize, r: usize, kb: usize) -> u64 {
    debug_assert!(r < MAX_MR && kb * 8 < kp);
    // SAFETY: r * kp + kb * 8 + 8 <= MR * kp bytes, all readable per the Tile contract.
    unsafe { a.add(r * kp + kb * 8).cast::<u64>().read_unaligned() }
}

/// The panel's k-blocks start after its per-column data.
///
/// # Safety
/// `panel` points to a panel of a valid [`Tile`].
#[inline(always)]
pub(crate) unsafe fn panel_weights(panel: *const u8) -> *const u8 {
    // SAFETY: the k-blocks follow the PANEL_HEADER_LEN header inside the same panel.
    unsafe { panel.add(PANEL_HEADER_LEN) }
}
