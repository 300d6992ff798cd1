//! The safe f32 GEMM entry point: validates every argument, then cuts C into tiles of the tier's
//! MR rows × 16 columns and calls the tier's tile kernel on each.
//!
//! Blocking: the packed panels are visited in groups of about 128 KiB (L2-resident) and, for each
//! group, every row tile of the thread runs over all its panels (the tile's rows of A stay in L1).
//! Threads: `threads = 1` (no pool) and products under `MIN_PARALLEL_MACS` run on the calling
//! thread; with a pool, C is split into
//! blocks of whole row tiles (each thread streams B once), or, when there are fewer than two row
//! tiles per thread, into groups of panels (all rows each). Each C element is computed by one kernel call, so the result does not depend on the
//! thread count.

use rayon::prelude::*;

use super::pack::{NR, packed_b_len};
use super::tile::{F32Tile, KC, MAX_MR, pack_a_tile};
use crate::error::{Error, Result};
use crate::kernels::Kernels;

/// Bytes of packed B a thread visits per pass over its row tiles.
const PANEL_GROUP_BYTES: usize = 128 * 1024;

/// Multiply-adds below which a product runs on the calling thread even with a pool: handing
/// work to the pool costs microseconds, more than such a product takes.
const MIN_PARALLEL_MACS: usize = 256 * 1024;

/// What the kernel applies to each tile after the sum: `clamp(sum + bias[row], min, max)`, with
/// ONNX `Clip` semantics (NaN passes through). [`F32Epilogue::NONE`] adds nothing and clamps
/// nothing.
#[derive(Clone, Copy, Debug)]
pub struct F32Epilogue<'a> {
    /// One bias per row of C, or `None`.
    pub bias: Option<&'a [f32]>,
    pub min: f32,
    pub max: f32,
}

impl F32Epilogue<'_> {
    /// No bias, no clamp.
    pub const NONE: F32Epilogue<'static> = F32Epilogue {
        bias: None,
        min: f32::NEG_INFINITY,
        max: f32::INFINITY,
    };
}

/// A pass over one finished row of C: `(row index, row)`, e.g. an activation the kernel does not
/// fuse.
pub type PostFn<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// The read-only views of one product; pointers are formed only from these validated slices.
#[derive(Clone, Copy)]
struct Operands<'a> {
    k: usize,
    a: &'a [f32],
    a_rs: usize,
    a_cs: usize,
    b: &'a [f32],
    /// Elements between the starts of two rows of C.
    c_rs: usize,
    epilogue: F32Epilogue<'a>,
}

/// `c = clamp(a · b + bias)` with the tier of `kernels`, then `post(row, c_row)` on every row.
///
/// - `a`: `m × k`, element `(i, p)` at `a[i * a_strides.0 + p * a_strides.1]`;
/// - `b_packed`: B (`k × n`) packed by [`pack_b`](super::pack_b) (at least
///   [`packed_b_len`] elements);
/// - `c = (data, row_stride)`: `m × n`, row `i` at `data[i * row_stride..][..n]` (`row_stride >=
///   n`; C may be a block of columns of a wider matrix), overwritten; elements between rows are
///   left as they are.
///
/// Fails (never panics) when a buffer is too short for the sizes or a size overflows.
#[allow(clippy::too_many_arguments)]
pub fn f32_gemm(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    a_strides: (usize, usize),
    b_packed: &[f32],
    (c, c_rs): (&mut [f32], usize),
    epilogue: F32Epilogue<'_>,
    post: Option<PostFn<'_>>,
) -> Result<()> {
    let overflow = || Error::invalid_argument("f32 gemm: size overflows");
    let c_len = match m {
        0 => 0,
        _ => (m - 1)
            .checked_mul(c_rs)
            .and_then(|x| x.checked_add(n))
            .ok_or_else(overflow)?,
    };
    let b_len = packed_b_len(k, n).ok_or_else(overflow)?;
    let a_len = if m == 0 || k == 0 {
        0
    } else {
        (m - 1)
            .checked_mul(a_strides.0)
            .and_then(|x| x.checked_add((k - 1).checked_mul(a_strides.1)?))
            .and_then(|x| x.checked_add(1))
            .ok_or_else(overflow)?
    };
    let bias_ok = epilogue.bias.is_none_or(|b| b.len() >= m);
    if c.len() < c_len || c_rs < n || b_packed.len() < b_len || a.len() < a_len || !bias_ok {
        return Err(Error::invalid_argument(format!(
            "f32 gemm {m}x{k}x{n}: buffers too short (a {}, packed b {} of {b_len}, c {}, bias {:?})",
            a.len(),
            b_packed.len(),
            c.len(),
            epilogue.bias.map(<[f32]>::len)
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let ops = Operands {
        k,
        a,
        a_rs: a_strides.0,
        a_cs: a_strides.1,
        b: b_packed,
        c_rs,
        epilogue,
    };
    let mr = kernels.f32_mr;
    let pool = pool.filter(|_| m.saturating_mul(n).saturating_mul(k) >= MIN_PARALLEL_MACS);
    let threads = pool.map_or(1, |p| p.current_num_threads());
    let panels = n.div_ceil(NR);
    match pool {
        Some(pool) if threads > 1 && panels > 1 && m.div_ceil(mr) < 2 * threads => {
            // Too few row tiles to share out evenly (a batch-1 linear layer, a convolution with
            // few output channels): every task takes all rows of a group of panels.
            let group = panels.div_ceil(threads * 2);
            let base = SharedC(c.as_mut_ptr());
            pool.install(|| {
                (0..panels.div_ceil(group)).into_par_iter().for_each(|t| {
                    let first_panel = t * group;
                    let cols = (group * NR).min(n - first_panel * NR);
                    let at = base.at(first_panel * NR);
                    // SAFETY: `at` points to element (0, 16 first_panel) of C, which holds
                    // `(m - 1) c_rs + n` elements (checked above), so the `m × cols` block with
                    // row stride `c_rs` is inside it (`16 first_panel + cols <= n`). Tasks take disjoint panel
                    // ranges, so no two write the same element, and nothing else touches `c`
                    // while the pool runs (`c` is borrowed mutably for this whole call).
                    unsafe { run_block_raw(kernels, &ops, 0, first_panel, at, m, cols) };
                });
                if let Some(post) = post {
                    c[..c_len]
                        .par_chunks_mut(c_rs)
                        .enumerate()
                        .for_each(|(r, row)| post(r, &mut row[..n]));
                }
            });
        }
        Some(pool) if threads > 1 && m > mr => {
            let rows = m.div_ceil(threads).next_multiple_of(mr);
            pool.install(|| {
                c[..c_len]
                    .par_chunks_mut(rows * c_rs)
                    .enumerate()
                    .for_each(|(t, chunk)| {
                        let first = t * rows;
                        let chunk_rows = chunk.len().div_ceil(c_rs);
                        run_block(kernels, &ops, first, 0, chunk, chunk_rows, n);
                        if let Some(post) = post {
                            for (r, row) in chunk.chunks_mut(c_rs).enumerate() {
                                post(first + r, &mut row[..n]);
                            }
                        }
                    });
            });
        }
        _ => {
            run_block(kernels, &ops, 0, 0, c, m, n);
            if let Some(post) = post {
                for (r, row) in c[..c_len].chunks_mut(c_rs).enumerate() {
                    post(r, &mut row[..n]);
                }
            }
        }
    }
    Ok(())
}

/// C's base pointer, shared by tasks that write disjoint columns of it.
#[derive(Clone, Copy)]
struct SharedC(*mut f32);

impl SharedC {
    /// The pointer `offset` elements further (a method, so closures capture the whole `Send`
    /// wrapper rather than its raw-pointer field).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

// SAFETY: the pointer is only dereferenced through `run_block_raw`, whose callers give each task
// a disjoint set of elements.
unsafe impl Send for SharedC {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedC {}

/// Computes the `rows × cols` block of C whose top-left element is `(first_row, 16 *
/// first_panel)`, stored in `block` with row stride `ops.c_rs`.
///
/// Requires (checked by [`f32_gemm`] and the callers' chunking): `first_row + rows <= m`,
/// `16 * first_panel + cols <= n`; returns without work if `block` is too short.
fn run_block(
    kernels: &Kernels,
    ops: &Operands<'_>,
    first_row: usize,
    first_panel: usize,
    block: &mut [f32],
    rows: usize,
    cols: usize,
) {
    if rows == 0 || cols == 0 || block.len() < (rows - 1) * ops.c_rs + cols {
        return;
    }
    // SAFETY: `block` is an exclusive borrow holding the whole block (checked above).
    unsafe {
        run_block_raw(
            kernels,
            ops,
            first_row,
            first_panel,
            block.as_mut_ptr(),
            rows,
            cols,
        )
    };
}

/// [`run_block`] on a raw pointer to the block's top-left element.
///
/// # Safety
/// `first_row + rows <= m` and `16 * first_panel + cols <= n` for the sizes [`f32_gemm`]
/// validated with `ops`; `c` is valid for writes of elements `c + i * c_rs + j` (`i < rows`,
/// `j < cols`), and nothing else accesses those elements during the call.
unsafe fn run_block_raw(
    kernels: &Kernels,
    ops: &Operands<'_>,
    first_row: usize,
    first_panel: usize,
    c: *mut f32,
    rows: usize,
    cols: usize,
) {
    let (k, c_rs) = (ops.k, ops.c_rs);
    let panel_len = NR * k;
    let group = (PANEL_GROUP_BYTES / 4 / (NR * k_block(k)).max(1)).max(1);
    for g in (0..cols.div_ceil(NR)).step_by(group) {
        let block = TileBlock {
            a: (ops.a, ops.a_rs, ops.a_cs),
            rows: first_row..first_row + rows,
            k,
            b: ops.b.as_ptr().wrapping_add((first_panel + g) * panel_len),
            panel_stride: panel_len,
            c: c.wrapping_add(g * NR),
            c_rs,
            cols: (group * NR).min(cols - g * NR),
            bias: ops.epilogue.bias,
            min: ops.epilogue.min,
            max: ops.epilogue.max,
        };
        // SAFETY: rows `first_row..first_row + rows` are below m, so `f32_gemm`'s checks cover
        // them in A and in the bias. B: the group's panels `first_panel + g ..` lie below
        // `ceil(n / 16)` (`16 (first_panel + g) + block.cols <= 16 first_panel + cols <= n`),
        // and `f32_gemm` checked that `ops.b` holds all `ceil(n / 16) * 16 * k` packed elements,
        // `panel_len` apart. C: the group's columns `16 g .. 16 g + block.cols` of the block lie
        // within its `cols`, which the caller vouches for, with row stride `c_rs`.
        unsafe { run_tiles(kernels, &block) };
    }
}

/// The depth of each k block of a product of depth `k`: at most [`KC`], blocks of equal size
/// but the last. A function of `k` only, so the blocking never depends on the thread count.
pub(crate) fn k_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC).max(1))
}

/// A block of C computed from rows of a strided A and consecutive packed panels of B (the
/// arguments of [`run_tiles`]).
pub(crate) struct TileBlock<'a> {
    /// A (`(data, row stride, column stride)`) and the rows of it (and of C's block) to compute.
    pub a: (&'a [f32], usize, usize),
    pub rows: std::ops::Range<usize>,
    /// Depth of the product.
    pub k: usize,
    /// The first packed panel (`16 k` elements) and the elements between two panels' starts.
    pub b: *const f32,
    pub panel_stride: usize,
    /// Element `(rows.start, 0)` of the block in C, C's row stride, and the block's columns.
    pub c: *mut f32,
    pub c_rs: usize,
    pub cols: usize,
    /// Bias indexed by A's row (or `None`), and the clamp bounds.
    pub bias: Option<&'a [f32]>,
    pub min: f32,
    pub max: f32,
}

/// Computes a block of C with the tier's tile kernel: for each k block (see [`k_block`]) and each
/// row tile, packs the tile's A ([`pack_a_tile`]) into a stack buffer, then runs it over every
/// panel; later k blocks accumulate onto the sums stored by earlier ones (bit for bit one
/// unblocked chain), and only the last adds the bias and clamps.
///
/// # Safety
/// Every element `(r, p)` of A with `r` in `t.rows`, `p < t.k` is inside `t.a.0`; the bias, when
/// present, covers `t.rows`; panel `j < ceil(cols / 16)` is readable at `t.b + j * panel_stride`
/// for `16 k` elements; `t.c` is valid for reads and writes of `c + i * c_rs + j` (`i <
/// rows.len()`, `j < cols`), which nothing else accesses during the call.
pub(crate) unsafe fn run_tiles(kernels: &Kernels, t: &TileBlock<'_>) {
    let mr = kernels.f32_mr;
    debug_assert!(mr <= MAX_MR);
    let mut packed_a = [0.0f32; MAX_MR * KC];
    let kc = k_block(t.k);
    let blocks = t.k.div_ceil(kc.max(1)).max(1);
    for kb in 0..blocks {
        let k0 = kb * kc;
        let depth = kc.min(t.k - k0);
        let last = kb + 1 == blocks;
        for row in t.rows.clone().step_by(mr) {
            let tile_rows = mr.min(t.rows.end - row);
            if depth > 0 {
                pack_a_tile(t.a, row..row + tile_rows, k0..k0 + depth, mr, &mut packed_a);
            }
            let bias = match t.bias {
                Some(b) if last => b.as_ptr().wrapping_add(row),
                _ => std::ptr::null(),
            };
            let (min, max) = match last {
                true => (t.min, t.max),
                false => (f32::NEG_INFINITY, f32::INFINITY),
            };
            for j in 0..t.cols.div_ceil(NR) {
                let tile = F32Tile {
                    m: tile_rows,
                    n: NR.min(t.cols - j * NR),
                    k: depth,
                    a: packed_a.as_ptr(),
                    b: t.b.wrapping_add(j * t.panel_stride + NR * k0),
                    c: t.c.wrapping_add((row - t.rows.start) * t.c_rs + j * NR),
                    c_rs: t.c_rs,
                    accumulate: kb > 0,
                    bias,
                    min,
                    max,
                };
                // SAFETY: `tile.m` is within 1..=MR and `tile.n` within 1..=16 by construction.
                // A: `packed_a` holds the tile's `depth × mr` packed values (`mr <= MAX_MR`,
                // `depth <= KC`). B: rows `k0 .. k0 + depth <= k` of panel j, inside its `16 k`
                // readable elements. C: the tile's elements are inside the block the caller
                // vouches for; with `accumulate`, an earlier k block wrote them. Bias: covers
                // `row .. row + tile_rows` (caller). The table's tier is supported by this CPU.
                unsafe { (kernels.f32_gemm)(&tile) };
            }
        }
    }
}
