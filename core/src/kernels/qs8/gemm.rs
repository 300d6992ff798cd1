//! The safe full-int8 GEMM: validates its arguments once, quantizes or copies activations into
//! tile-sized scratch (the kernels' activation packing), splits the output into tiles across
//! threads and calls the selected tier's tile kernel.
//!
//! Invariants: no argument reaches a kernel unchecked (every pointer handed to a kernel covers the
//! memory the `Tile` contract promises); `threads == 1` runs on the calling thread with no pool;
//! the result does not depend on the thread count or the tier.

use crate::error::{Error, Result};
use crate::tensor::DType;

use super::dynamic;
use super::pack::{NR, PackedMode, Qs8Packed};
use super::repack::Qs8Prepared;
use super::tile::{APacking, MAX_MR, OutKind, RowQuant, Tile, interleave_row};
use crate::kernels::Kernels;

/// Activations of an int8 GEMM: `m` rows of `k` values, row `i` starting at `i * stride`.
#[derive(Clone, Copy, Debug)]
pub enum QInput<'a> {
    /// Statically quantized signed activations.
    S8 { data: &'a [i8], stride: usize },
    /// Statically quantized unsigned activations.
    U8 { data: &'a [u8], stride: usize },
    /// Float activations, quantized per row at run time (weights packed in `Dynamic` mode).
    F32 { data: &'a [f32], stride: usize },
}

/// Where an int8 GEMM writes: `m` rows of `n` values, row `i` starting at `i * stride`.
#[derive(Debug)]
pub enum QOutput<'a> {
    /// Requantized signed output, clamped to `[min, max]` (e.g. `[zero_point, 127]` for ReLU).
    S8 {
        data: &'a mut [i8],
        stride: usize,
        zero_point: i32,
        min: i8,
        max: i8,
    },
    /// Requantized unsigned output, clamped to `[min, max]`.
    U8 {
        data: &'a mut [u8],
        stride: usize,
        zero_point: i32,
        min: u8,
        max: u8,
    },
    /// Dequantized output, clamped to `[min, max]` (infinite bounds for none).
    F32 {
        data: &'a mut [f32],
        stride: usize,
        min: f32,
        max: f32,
    },
}

/// Checks that `len` elements hold `rows` rows of `cols` with `stride` between rows.
fn check_matrix(what: &str, len: usize, rows: usize, cols: usize, stride: usize) -> Result<()> {
    if rows == 0 {
        return Ok(());
    }
    let need = (rows - 1)
        .checked_mul(stride)
        .and_then(|x| x.checked_add(cols));
    if stride < cols || need.is_none_or(|need| need > len) {
        return Err(Error::invalid_argument(format!(
            "{what} of {len} elements cannot hold {rows} rows of {cols} with row stride {stride}"
        )));
    }
    Ok(())
}

/// The activations as bytes or floats, with their kind.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Bytes and the XOR that turns them into the s8 view (0 for s8, 0x80 for u8).
    Bytes(&'a [u8], u8),
    Floats(&'a [f32]),
}

/// Checks the output zero point (within the output dtype) and clamp bounds (ordered, not NaN).
pub(crate) fn check_out_kind(kind: OutKind) -> Result<()> {
    let ok = match kind {
        OutKind::S8 {
            zero_point,
            min,
            max,
        } => (-128..=127).contains(&zero_point) && min <= max,
        OutKind::U8 {
            zero_point,
            min,
            max,
        } => (0..=255).contains(&zero_point) && min <= max,
        // `<=` is false when either bound is NaN.
        OutKind::F32 { min, max } => min <= max,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "output {kind:?}: zero point outside the output type, or clamp bounds empty or NaN"
        )))
    }
}

/// Validates modes, shapes and quantization; returns the activation source, its stride and the
/// output kind, pointer and stride (in bytes).
fn validate<'a>(
    m: usize,
    input: QInput<'a>,
    w: &Qs8Packed,
    output: QOutput<'a>,
) -> Result<(Source<'a>, usize, OutKind, *mut u8, usize)> {
    let (k, n) = (w.k(), w.n());
    let (source, a_stride, a_dtype) = match input {
        QInput::S8 { data, stride } => {
            check_matrix("activations", data.len(), m, k, stride)?;
            // SAFETY: i8 and u8 have the same size and alignment; every bit pattern is valid.
            let bytes =
                unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), data.len()) };
            (Source::Bytes(bytes, 0), stride, DType::I8)
        }
        QInput::U8 { data, stride } => {
            check_matrix("activations", data.len(), m, k, stride)?;
            (Source::Bytes(data, 0x80), stride, DType::U8)
        }
        QInput::F32 { data, stride } => {
            check_matrix("activations", data.len(), m, k, stride)?;
            (Source::Floats(data), stride, DType::F32)
        }
    };
    let (out_kind, out_len, out_ptr, out_stride, out_dtype) = match output {
        QOutput::S8 {
            data,
            stride,
            zero_point,
            min,
            max,
        } => {
            let kind = OutKind::S8 {
                zero_point,
                min: min.into(),
                max: max.into(),
            };
            (
                kind,
                data.len(),
                data.as_mut_ptr().cast::<u8>(),
                stride,
                DType::I8,
            )
        }
        QOutput::U8 {
            data,
            stride,
            zero_point,
            min,
            max,
        } => {
            let kind = OutKind::U8 {
                zero_point,
                min: min.into(),
                max: max.into(),
            };
            (kind, data.len(), data.as_mut_ptr(), stride, DType::U8)
        }
        QOutput::F32 {
            data,
            stride,
            min,
            max,
        } => {
            let kind = OutKind::F32 { min, max };
            (
                kind,
                data.len(),
                data.as_mut_ptr().cast::<u8>(),
                stride,
                DType::F32,
            )
        }
    };
    check_matrix("output", out_len, m, n, out_stride)?;
    check_out_kind(out_kind)?;
    let out_stride = out_stride.checked_mul(out_kind.elem_len()).ok_or_else(|| {
        Error::invalid_argument(format!("output stride {out_stride} is too large"))
    })?;
    let ok = match w.mode() {
        PackedMode::Requantized { input } => a_dtype == input && out_dtype != DType::F32,
        PackedMode::Dequantized { input } => a_dtype == input && out_dtype == DType::F32,
        PackedMode::Dynamic => a_dtype == DType::F32 && out_dtype == DType::F32,
    };
    if !ok {
        return Err(Error::invalid_argument(format!(
            "weights packed for {:?} cannot take {a_dtype} activations to {out_dtype} output",
            w.mode()
        )));
    }
    Ok((source, a_stride, out_kind, out_ptr, out_stride))
}

/// Row tiles whose activations are packed together (bounds the scratch: 256 rows).
const TILE_BLOCK: usize = 64;
/// Weight bytes a group of panels may take so that it stays in L1 (48 KB on the development
/// machine, 32-64 KB on phones' big cores) next to one activation tile while it meets a block of
/// tiles. (40 KB rather than 32: two panels instead of one at K = 1024, 2-8 % faster there.)
const PANEL_GROUP_BYTES: usize = 40 * 1024;

thread_local! {
    /// Activation scratch of the chunks this thread runs (see [`Job::run_chunk`]).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Everything a chunk of work needs; shared read-only between threads.
struct Job<'a> {
    kernels: &'a Kernels,
    m: usize,
    k: usize,
    w: Qs8Packed<'a>,
    /// The weights in the tier's order, which the tiles read.
    prepared: &'a Qs8Prepared<'a>,
    source: Source<'a>,
    a_stride: usize,
    /// Per-row quantization of dynamically quantized activations (empty otherwise).
    rows_quant: Vec<(f32, i32)>,
    out_kind: OutKind,
    out: OutPtr,
    out_stride: usize,
}

/// The output pointer, shared by threads that write disjoint tiles.
#[derive(Clone, Copy)]
struct OutPtr(*mut u8);
// SAFETY: threads write disjoint tiles of the output (each tile belongs to exactly one chunk), and
// the borrow of the output outlives the scope that joins them.
unsafe impl Send for OutPtr {}
// SAFETY: as above; the pointer itself is only read.
unsafe impl Sync for OutPtr {}

/// Computes `output = requantize(input x weightsᵀ)` for `m` rows with the kernels of one tier,
/// on `threads` threads (1 = the calling thread only; more = that many tasks on the current rayon
/// pool). `prepared` must have been prepared for `kernels`' tier. Fails without writing when an
/// argument is inconsistent.
pub fn qs8_gemm(
    kernels: &Kernels,
    m: usize,
    input: QInput,
    prepared: &Qs8Prepared,
    output: QOutput,
    threads: usize,
) -> Result<()> {
    if threads == 0 {
        return Err(Error::invalid_argument("thread count must be at least 1"));
    }
    if prepared.order() != kernels.qs8_weight_order {
        return Err(Error::invalid_argument(format!(
            "weights prepared in the {:?} order for a tier that reads {:?}",
            prepared.order(),
            kernels.qs8_weight_order
        )));
    }
    let weights = prepared.packed();
    let (source, a_stride, out_kind, out_ptr, out_stride) = validate(m, input, weights, output)?;
    let rows_quant = match source {
        Source::Floats(data) => (0..m)
            .map(|i| {
                let row = &data[i * a_stride..i * a_stride + weights.k()];
                // SAFETY: the kernel table was handed out for a tier this CPU supports.
                unsafe { (kernels.qs8_row_params)(row) }
            })
            .collect::<Result<Vec<_>>>()?,
        Source::Bytes(..) => Vec::new(),
    };
    if m == 0 || weights.n() == 0 {
        return Ok(());
    }
    let job = Job {
        kernels,
        m,
        k: weights.k(),
        w: *weights,
        prepared,
        source,
        a_stride,
        rows_quant,
        out_kind,
        out: OutPtr(out_ptr),
        out_stride,
    };
    let (tiles, panels) = (m.div_ceil(kernels.qs8_mr), weights.panels());
    let row_chunks = threads.min(tiles);
    let col_chunks = (threads / row_chunks).clamp(1, panels);
    if row_chunks * col_chunks == 1 {
        job.run_chunk(0..tiles, 0..panels);
        return Ok(());
    }
    let split = |total: usize, parts: usize, i: usize| total * i / parts..total * (i + 1) / parts;
    rayon::scope(|s| {
        for rc in 0..row_chunks {
            for cc in 0..col_chunks {
                let job = &job;
                s.spawn(move |_| {
                    job.run_chunk(split(tiles, row_chunks, rc), split(panels, col_chunks, cc))
                });
            }
        }
    });
    Ok(())
}

impl Job<'_> {
    /// Runs the row tiles `tiles` against the panels `panels`, blocked for the caches: up to
    /// [`TILE_BLOCK`] row tiles are packed together, then each group of panels that fits in
    /// [`PANEL_GROUP_BYTES`] meets every tile of the block, so its weights stay in L1. When
    /// all the panels make one group, each tile meets them right after it is packed (a block
    /// of one tile), while its activations are still in L1.
    fn run_chunk(&self, tiles: std::ops::Range<usize>, panels: std::ops::Range<usize>) {
        if panels.is_empty() {
            return;
        }
        let (mr, kp) = (self.kernels.qs8_mr, self.w.kp());
        let tile_len = self.kernels.qs8_a_packing.tile_len(mr, kp);
        let block_tiles = if panels.len() <= self.panel_group() {
            1
        } else {
            TILE_BLOCK
        };
        let block_len = block_tiles.min(tiles.len());
        let need = block_len * tile_len + mr * kp;
        let mut quant = [[RowQuant::IDENTITY; MAX_MR]; TILE_BLOCK];
        let mut run = |buffer: &mut Vec<u8>| {
            if buffer.len() < need {
                buffer.resize(need, 0);
            }
            let (scratch, rows) = buffer[..need].split_at_mut(block_len * tile_len);
            let (tiles, panels) = (tiles.clone(), panels.clone());
            self.run_blocks(tiles, panels, block_tiles, scratch, rows, &mut quant);
        };
        // The per-thread buffer grows on demand and is kept, so that small GEMMs pay no
        // allocation or memset; a nested call on the same thread (none today) gets its own.
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => run(&mut buffer),
            Err(_) => run(&mut Vec::new()),
        });
    }

    /// Panels per group: as many as fit in [`PANEL_GROUP_BYTES`], at least the kernel's panels
    /// per pass (a smaller group would cut its passes short; at K = 1024 the AVX-512 VNNI
    /// tier's 4-panel passes from L2 are 8-10 % faster than 2-panel ones from L1).
    fn panel_group(&self) -> usize {
        (PANEL_GROUP_BYTES / self.w.panel_len()).max(self.kernels.qs8_pass_panels)
    }

    /// The body of [`Job::run_chunk`], with its scratch: `scratch` holds `block_tiles` (at most
    /// [`TILE_BLOCK`]) packed tiles (or fewer when there are fewer tiles), `rows` one row-major
    /// tile.
    fn run_blocks(
        &self,
        tiles: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        block_tiles: usize,
        scratch: &mut [u8],
        rows: &mut [u8],
        quant: &mut [[RowQuant; MAX_MR]; TILE_BLOCK],
    ) {
        let (mr, kp, packing) = (self.kernels.qs8_mr, self.w.kp(), self.kernels.qs8_a_packing);
        let tile_len = packing.tile_len(mr, kp);
        let group = self.panel_group();
        debug_assert!((1..=TILE_BLOCK).contains(&block_tiles));
        for block_start in tiles.clone().step_by(block_tiles) {
            let block = block_start..(block_start + block_tiles).min(tiles.end);
            for (i, tile) in block.clone().enumerate() {
                let a = &mut scratch[i * tile_len..(i + 1) * tile_len];
                let (row0, count) = (tile * mr, mr.min(self.m - tile * mr));
                quant[i] = match (packing, self.source) {
                    (APacking::Rows, _) => self.pack_a(row0, count, a),
                    (APacking::Interleaved, Source::Bytes(bytes, to_s8)) => {
                        self.interleave_bytes(bytes, to_s8, row0, count, rows, a)
                    }
                    _ => {
                        let quant = self.pack_a(row0, count, rows);
                        packing.arrange(mr, kp, rows, a);
                        quant
                    }
                };
            }
            for first in panels.clone().step_by(group) {
                let count = group.min(panels.end - first);
                for (i, tile) in block.clone().enumerate() {
                    let a = &scratch[i * tile_len..(i + 1) * tile_len];
                    self.run_tile(tile, a, quant[i], first, count);
                }
            }
        }
    }

    /// Calls the tier kernel for row tile `tile` (activations packed in `a`) and `count` panels
    /// from `first`.
    fn run_tile(
        &self,
        tile: usize,
        a: &[u8],
        rows_quant: [RowQuant; MAX_MR],
        first: usize,
        count: usize,
    ) {
        let mr = self.kernels.qs8_mr;
        let row0 = tile * mr;
        debug_assert!(
            row0 < self.m
                && first + count <= self.w.panels()
                && a.len() == self.kernels.qs8_a_packing.tile_len(mr, self.w.kp())
        );
        let tile = Tile {
            a: a.as_ptr(),
            rows: mr.min(self.m - row0),
            kp: self.w.kp(),
            panels: self.prepared.panel(first).as_ptr(),
            panel_count: count,
            panel_len: self.w.panel_len(),
            n: self.w.n() - first * NR,
            // SAFETY: row0 < m and first * 16 < n, so the offset stays inside the output slice
            // validated by check_matrix.
            out: unsafe {
                self.out
                    .0
                    .add(row0 * self.out_stride + first * NR * self.out_kind.elem_len())
            },
            out_stride: self.out_stride,
            out_kind: self.out_kind,
            rows_quant,
        };
        // SAFETY: the kernel table was handed out for a tier this CPU supports; `tile` meets the
        // Tile contract: `a` holds the tier's packed tile of mr rows (its MR); the panels are inside the validated packed
        // weights (`panel` bounds-checks the first, count stops at the last); the output rows
        // were validated for m rows of n elements at out_stride, and this chunk alone writes
        // these rows and columns.
        unsafe { (self.kernels.qs8_gemm)(&tile) }
    }

    /// The XOR that turns s8 activations into the tier's view (0x80 for u8-reading VNNI tiers).
    fn tier_xor(&self) -> u8 {
        if self.kernels.qs8_unsigned_a { 0x80 } else { 0 }
    }

    /// Packs byte activations rows `row0 .. row0 + rows` straight into an
    /// [`APacking::Interleaved`] tile `dst` (zero rows past `rows`), in the tier's signedness.
    /// `filler` is scratch of at least `k` bytes.
    fn interleave_bytes(
        &self,
        bytes: &[u8],
        to_s8: u8,
        row0: usize,
        rows: usize,
        filler: &mut [u8],
        dst: &mut [u8],
    ) -> [RowQuant; MAX_MR] {
        let xor = to_s8 ^ self.tier_xor();
        // Rows past `rows` read bytes equal to `xor`, which the XOR turns into zeros.
        filler[..self.k].fill(xor);
        let filler = &filler[..self.k];
        match self.kernels.qs8_mr {
            8 => self.interleave_tile::<8>(bytes, xor, row0, rows, filler, dst),
            6 => self.interleave_tile::<6>(bytes, xor, row0, rows, filler, dst),
            4 => self.interleave_tile::<4>(bytes, xor, row0, rows, filler, dst),
            mr => {
                for r in 0..mr {
                    let start = (row0 + r) * self.a_stride;
                    let src = if r < rows {
                        &bytes[start..start + self.k]
                    } else {
                        filler
                    };
                    interleave_row(mr, r, src, xor, dst);
                }
            }
        }
        [RowQuant::IDENTITY; MAX_MR]
    }

    /// [`Job::interleave_bytes`] for tiles of `M` rows: k-block by k-block, eight bytes of each
    /// row at a time, with the row loop unrolled.
    fn interleave_tile<const M: usize>(
        &self,
        bytes: &[u8],
        xor: u8,
        row0: usize,
        rows: usize,
        filler: &[u8],
        dst: &mut [u8],
    ) {
        let k = self.k;
        let src: [&[u8]; M] = std::array::from_fn(|r| {
            let start = (row0 + r) * self.a_stride;
            if r < rows {
                &bytes[start..start + k]
            } else {
                filler
            }
        });
        let wide = u64::from_ne_bytes([xor; 8]);
        let mut blocks = dst.chunks_exact_mut(8 * M);
        for (kb, block) in blocks.by_ref().take(k / 8).enumerate() {
            for (d, s) in block.chunks_exact_mut(8).zip(&src) {
                let v = u64::from_ne_bytes(s[8 * kb..8 * kb + 8].try_into().expect("8 bytes"));
                d.copy_from_slice(&(v ^ wide).to_ne_bytes());
            }
        }
        if let Some(block) = blocks.next() {
            // The partial last k-block (k is not a multiple of 8), zero padded.
            for (d, s) in block.chunks_exact_mut(8).zip(&src) {
                for (d, &s) in d.iter_mut().zip(&s[k / 8 * 8..]) {
                    *d = s ^ xor;
                }
                d[k % 8..].fill(0);
            }
        }
    }

    /// Copies (or quantizes) rows `row0 .. row0 + rows` into `scratch` (MR rows of `kp` bytes,
    /// row-major) in the tier's signedness, zero padded, with zero rows past `rows`; returns the
    /// rows' quantization for the epilogue.
    fn pack_a(&self, row0: usize, rows: usize, scratch: &mut [u8]) -> [RowQuant; MAX_MR] {
        let (k, kp) = (self.k, self.w.kp());
        let unsigned = self.tier_xor();
        let mut quant = [RowQuant::IDENTITY; MAX_MR];
        for r in 0..self.kernels.qs8_mr {
            let (dst, pad) = scratch[r * kp..(r + 1) * kp].split_at_mut(k);
            pad.fill(0);
            if r >= rows {
                dst.fill(0);
                continue;
            }
            let start = (row0 + r) * self.a_stride;
            match self.source {
                Source::Bytes(bytes, to_s8) => {
                    let xor = to_s8 ^ unsigned;
                    for (d, &s) in dst.iter_mut().zip(&bytes[start..start + k]) {
                        *d = s ^ xor;
                    }
                }
                Source::Floats(data) => {
                    let params = self.rows_quant[row0 + r];
                    // SAFETY: the kernel table was handed out for a tier this CPU supports.
                    unsafe {
                        (self.kernels.qs8_quantize_row)(
                            &data[start..start + k],
                            params,
                            unsigned,
                            dst,
                        )
                    };
                    quant[r] = dynamic::row_quant(params);
                }
            }
        }
        quant
    }
}
