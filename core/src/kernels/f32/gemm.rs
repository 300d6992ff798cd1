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
use super::tile::F32Tile;
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
    let (k, c_rs, mr) = (ops.k, ops.c_rs, kernels.f32_mr);
    if rows == 0 || cols == 0 {
        return;
    }
    let panel_len = NR * k;
    let group = (PANEL_GROUP_BYTES / 4 / panel_len.max(1)).max(1);
    let panels = cols.div_ceil(NR);
    let bias = ops.epilogue.bias;
    for g in (0..panels).step_by(group) {
        for i in (0..rows).step_by(mr) {
            let row = first_row + i;
            let tile_rows = mr.min(rows - i);
            for j in g..panels.min(g + group) {
                let tile = F32Tile {
                    m: tile_rows,
                    n: NR.min(cols - j * NR),
                    k,
                    // wrapping_add: with k = 0 the kernel reads no A, and A may be empty.
                    a: ops.a.as_ptr().wrapping_add(row * ops.a_rs),
                    a_rs: ops.a_rs,
                    a_cs: ops.a_cs,
                    b: ops.b.as_ptr().wrapping_add((first_panel + j) * panel_len),
                    c: c.wrapping_add(i * c_rs + j * NR),
                    c_rs,
                    bias: bias.map_or(std::ptr::null(), |b| b.as_ptr().wrapping_add(row)),
                    min: ops.epilogue.min,
                    max: ops.epilogue.max,
                };
                // SAFETY: `tile.m` is within 1..=MR and `tile.n` within 1..=16 by construction.
                // A: rows `row..row + m` are below `first_row + rows <= m_total` and `f32_gemm`
                // checked that `(m_total - 1) * a_rs + (k - 1) * a_cs` is inside `ops.a`. B: panel
                // `first_panel + j` lies below `ceil(n / 16)`, and `f32_gemm` checked that
                // `ops.b` holds all `ceil(n / 16) * 16 * k` packed elements. C: the tile's last
                // element `(i + m - 1) * c_rs + j * 16 + tile.n - 1 <= (rows - 1) * c_rs + cols - 1` is
                // inside the block the caller vouches for, which no one else accesses. Bias: `f32_gemm`
                // checked it holds `m_total` elements. The table's tier is supported by this CPU.
                unsafe { (kernels.f32_gemm)(&tile) };
            }
        }
    }
}
