//! The safe f32 GEMM entry points: validate every argument, pack A unless it comes packed
//! ([`F32Lhs`]), then cut C into tiles of the tier's MR rows × 16 columns and call the tier's
//! tile kernel on each, or its pair kernel on each two adjacent panels (32 columns) when it has
//! one: groups of panels then hold an even number, so only a last odd panel is alone (a product
//! of one row with a contiguous A takes the GEMV kernel, [`f32_gemv`], the same bits with
//! several independent chains). B comes packed ([`f32_gemm`]), produced block by block
//! ([`f32_gemm_blocked`]) or row-major, read in place ([`f32_gemm_rows`]: the kernels take a
//! panel row stride; only a last panel of fewer than 16 columns is packed, so no kernel reads
//! past B).
//!
//! Blocking: the depth is cut into k blocks of at most [`KC`] (equal but the last, a function of k
//! only); the packed panels are visited in groups of about 128 KiB of one k block (L2-resident)
//! and, for each group and k block, every row tile of the thread runs over all its panels (the
//! tile's k block of A stays in L1). A later k block continues the sums an earlier one stored, bit
//! for bit one unblocked FMA chain; only the last adds the bias and clamps.
//! Threads: `threads = 1` (no pool) and products under `MIN_PARALLEL_MACS` run on the calling
//! thread; with a pool, C is split into blocks of whole row tiles (each thread streams B once),
//! or, when there are fewer than two row tiles per thread, into groups of panels (all rows each).
//! Each C element is computed by the same sequence of kernel calls whatever the split, so the
//! result does not depend on the thread count.
//!
//! [`f32_gemm_blocked`] is the same product with B produced block by block (an im2col): its
//! column blocks, filling included, are claimed one by one by tasks started in one hand-off, each
//! task filling its own scratch block (fewer blocks than threads are first narrowed to one per
//! thread); with one task (no pool, a small product, or one too narrow to narrow) the blocks run
//! in order and each block's product is split as [`f32_gemm`] splits it.
//! The per-element kernel calls are those of [`f32_gemm`].

use rayon::prelude::*;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::gemv::f32_gemv;
use super::pack::{NR, PackedA, pack_a_into, pack_b_into, packed_a_len, packed_b_len};
use super::tile::{F32Tile, KC};
use crate::error::{Error, Result};
use crate::kernels::Kernels;

/// Bytes of packed B a thread visits per pass over its row tiles.
const PANEL_GROUP_BYTES: usize = 128 * 1024;

/// Multiply-adds below which a product runs on the calling thread even with a pool: handing
/// work to the pool costs microseconds, more than such a product takes.
const MIN_PARALLEL_MACS: usize = 256 * 1024;

thread_local! {
    /// A left operand packed by [`f32_gemm`] (reused across calls on this thread; it keeps the
    /// size of the largest strided A this thread multiplied). Packing runs on the calling thread,
    /// before the work is split.
    static PACKED_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The packed last panel of fewer than 16 columns of a B that [`f32_gemm_rows`] reads in
    /// place (reused likewise).
    static PACKED_TAIL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The per-thread buffers of this module, in the order [`buffer_capacities`] and
/// [`reserve_buffers`] use.
const BUFFERS: [&std::thread::LocalKey<RefCell<Vec<f32>>>; 2] = [&PACKED_A, &PACKED_TAIL];

/// Elements each of this thread's buffers (packed A, packed B tail) holds without allocating.
pub(crate) fn buffer_capacities() -> [usize; 2] {
    BUFFERS.map(|key| key.with(|cell| cell.try_borrow().map_or(0, |buf| buf.capacity())))
}

/// Grows this thread's buffers to hold `lens` elements each, so that using up to that many
/// later allocates nothing (a session evens its workers out with it after planning).
pub(crate) fn reserve_buffers(lens: [usize; 2]) {
    for (key, len) in BUFFERS.into_iter().zip(lens) {
        key.with(|cell| {
            if let Ok(mut buf) = cell.try_borrow_mut() {
                let more = len.saturating_sub(buf.len());
                buf.reserve_exact(more);
            }
        });
    }
}

/// The left operand of [`f32_gemm`].
#[derive(Clone, Copy, Debug)]
pub enum F32Lhs<'a> {
    /// `A` read through strides: element `(i, p)` at `data[i * strides.0 + p * strides.1]`,
    /// packed by [`f32_gemm`] on each call.
    Strided {
        data: &'a [f32],
        strides: (usize, usize),
    },
    /// `A` packed beforehand for this tier (constant weights, packed once at build time).
    Packed(&'a PackedA<'a>),
}

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
    /// A packed in tiles of the tier's MR rows ([`PackedA`]'s layout).
    a: &'a [f32],
    b: PanelsB<'a>,
    /// Elements between the starts of two rows of C.
    c_rs: usize,
    epilogue: F32Epilogue<'a>,
}

/// `c = clamp(a · b + bias)` with the tier of `kernels`, then `post(row, c_row)` on every row.
///
/// - `a`: `m × k` ([`F32Lhs`]);
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
    a: F32Lhs<'_>,
    b_packed: &[f32],
    c: (&mut [f32], usize),
    epilogue: F32Epilogue<'_>,
    post: Option<PostFn<'_>>,
) -> Result<()> {
    let b_len = packed_b_len(k, n).ok_or_else(overflow)?;
    if b_packed.len() < b_len {
        return Err(Error::invalid_argument(format!(
            "f32 gemm {m}x{k}x{n}: packed b holds {} elements of {b_len}",
            b_packed.len()
        )));
    }
    if let Some((x, y)) = single_row((m, n, k), a, &mut *c.0) {
        // One row: the GEMV kernel, the same bits as the tile kernels' row.
        f32_gemv(kernels, pool, x, b_packed, y, epilogue)?;
        if let Some(post) = post {
            post(0, y);
        }
        return Ok(());
    }
    let b = PanelsB::packed(b_packed, k);
    product(kernels, pool, (m, n, k), a, b, c, epilogue, post)
}

/// A one-row product's contiguous `x` (`k` values) and `y` (`n` values), when it is one (a
/// too-short slice is left to the full product's checks).
fn single_row<'a, 'c>(
    (m, n, k): (usize, usize, usize),
    a: F32Lhs<'a>,
    c: &'c mut [f32],
) -> Option<(&'a [f32], &'c mut [f32])> {
    match a {
        F32Lhs::Strided { data, strides } if m == 1 && (strides.1 == 1 || k <= 1) => {
            Some((data.get(..k)?, c.get_mut(..n)?))
        }
        _ => None,
    }
}

/// [`f32_gemm`] with B (`k × n`) read in place, not packed: element `(p, j)` at
/// `b[p * row_stride + j]` (`row_stride >= n`), e.g. a pointwise Conv's NCHW input. The tile
/// kernels read its whole 16-column panels where they are; only the last `n % 16` columns are
/// packed (into a buffer of the calling thread). Bit for bit the result of [`f32_gemm`] on the
/// packed B. Fails (never panics) when a buffer is too short for the sizes or a size overflows.
#[allow(clippy::too_many_arguments)]
pub fn f32_gemm_rows(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, n, k): (usize, usize, usize),
    a: F32Lhs<'_>,
    (b, b_rs): (&[f32], usize),
    c: (&mut [f32], usize),
    epilogue: F32Epilogue<'_>,
    post: Option<PostFn<'_>>,
) -> Result<()> {
    let b_ok = match (k, n) {
        (0, _) | (_, 0) => true,
        _ => (k - 1)
            .checked_mul(b_rs)
            .and_then(|x| x.checked_add(n))
            .is_some_and(|last| last <= b.len()),
    };
    if b_rs < n || !b_ok {
        return Err(Error::invalid_argument(format!(
            "f32 gemm {m}x{k}x{n}: b of {} elements with row stride {b_rs} is too short",
            b.len()
        )));
    }
    let full = n / NR * NR;
    let tail_len = packed_b_len(k, n - full).ok_or_else(overflow)?;
    with_buffer(&PACKED_TAIL, tail_len, |tail| {
        if n > full && k > 0 {
            pack_b_into(&b[full..], b_rs, 1, k, n - full, tail)?;
        }
        let b = PanelsB {
            data: b,
            panel_stride: NR,
            row_stride: b_rs,
            tail,
        };
        product(kernels, pool, (m, n, k), a, b, c, epilogue, post)
    })
}

/// The size error of the entry points.
fn overflow() -> Error {
    Error::invalid_argument("f32 gemm: size overflows")
}

/// Runs `f` on `len` elements of this thread's `cell` (grown as needed), or of a fresh buffer
/// when the thread is already using it (a rayon worker that stole a nested call).
fn with_buffer<R>(
    cell: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut fresh = Vec::new();
    cell.with(|cell| {
        let mut held = cell.try_borrow_mut();
        let buf = match held.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut fresh,
        };
        buf.resize(len, 0.0);
        f(&mut buf[..len])
    })
}

/// The rest of [`f32_gemm`] and [`f32_gemm_rows`] once B is checked: checks C, the bias and A,
/// packs A unless it comes packed, and runs the product.
#[allow(clippy::too_many_arguments)]
fn product(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, n, k): (usize, usize, usize),
    a: F32Lhs<'_>,
    b: PanelsB<'_>,
    (c, c_rs): (&mut [f32], usize),
    epilogue: F32Epilogue<'_>,
    post: Option<PostFn<'_>>,
) -> Result<()> {
    let c_len = c_len(m, n, c_rs).ok_or_else(overflow)?;
    let bias_ok = epilogue.bias.is_none_or(|b| b.len() >= m);
    if c.len() < c_len || c_rs < n || !bias_ok {
        return Err(Error::invalid_argument(format!(
            "f32 gemm {m}x{k}x{n}: buffers too short (c {} with row stride {c_rs}, bias {:?})",
            c.len(),
            epilogue.bias.map(<[f32]>::len)
        )));
    }
    let mr = kernels.f32_mr;
    match a {
        F32Lhs::Packed(p) if p.dims() != (m, k, mr) => Err(Error::invalid_argument(format!(
            "f32 gemm {m}x{k}x{n}: A packed as {:?} (m, k, MR), want ({m}, {k}, {mr})",
            p.dims()
        ))),
        F32Lhs::Packed(p) => run(
            kernels,
            pool,
            (m, n, k),
            p.data(),
            b,
            (c, c_rs),
            epilogue,
            post,
        ),
        F32Lhs::Strided { data, strides } => {
            let len = packed_a_len(m, k, mr).ok_or_else(overflow)?;
            with_buffer(&PACKED_A, len, |buf| {
                pack_a_into(data, strides, m, k, mr, buf)?;
                run(kernels, pool, (m, n, k), buf, b, (c, c_rs), epilogue, post)
            })
        }
    }
}

/// Where the tile kernels read B (`k × n`): whole panels of 16 columns, panel `j` at
/// `data[j * panel_stride..]` with its rows `row_stride` apart (packed: `16 k` and 16; in place:
/// 16 and B's row stride), except, when `tail` is not empty, the last panel of fewer than 16
/// columns, which is packed in `tail` (`16 k` elements).
#[derive(Clone, Copy)]
struct PanelsB<'a> {
    data: &'a [f32],
    panel_stride: usize,
    row_stride: usize,
    tail: &'a [f32],
}

impl<'a> PanelsB<'a> {
    /// A B packed by [`pack_b`](super::pack_b) with depth `k`.
    fn packed(data: &'a [f32], k: usize) -> Self {
        PanelsB {
            data,
            panel_stride: NR * k,
            row_stride: NR,
            tail: &[],
        }
    }
}

/// Elements of C (`m × n`, rows `c_rs` apart) from its first to its last, or `None` on overflow.
fn c_len(m: usize, n: usize, c_rs: usize) -> Option<usize> {
    match m {
        0 => Some(0),
        _ => (m - 1).checked_mul(c_rs)?.checked_add(n),
    }
}

/// [`f32_gemm`] once its arguments are validated and A is packed: splits the work between
/// threads.
#[allow(clippy::too_many_arguments)]
fn run(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    b: PanelsB<'_>,
    (c, c_rs): (&mut [f32], usize),
    epilogue: F32Epilogue<'_>,
    post: Option<PostFn<'_>>,
) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    let c_len = (m - 1) * c_rs + n;
    let ops = Operands {
        k,
        a,
        b,
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
            let group = panels
                .div_ceil(threads * 2)
                .next_multiple_of(pair_width(kernels));
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

/// Produces the packed B of one column block: `(first column, columns, destination)`, the
/// destination holding exactly [`packed_b_len`]`(k, columns)` elements, in the layout
/// [`pack_b`](super::pack_b) writes: the lanes of a last partial panel past `columns` zero too
/// (the tiles multiply them though they never store their sums, and stale scratch there may hold
/// subnormals, which slow the multiply-adds many times over).
pub type FillB<'a> = &'a (dyn Fn(usize, usize, &mut [f32]) -> Result<()> + Sync);

/// `c = clamp(a · B + bias)`, then `post(row, segment)` on every row segment of every block, where
/// B (`k × n`) is never whole: it is produced `block_cols` columns at a time by `fill_b` (an
/// im2col, a copy of a slice of the input) into a task's part of `scratch`, then multiplied while
/// it is in cache. With a pool, tasks claim blocks one by one, each filling and multiplying its
/// own: one hand-off per call, and the filling is parallel too; with fewer blocks than threads,
/// the blocks are narrowed (whole panels) to one per thread. Without a pool, for a small
/// product, or for one too narrow to narrow, one task does every block in order, splitting each
/// block's product between the threads as [`f32_gemm`] does.
///
/// `a` is packed for these sizes; `block_cols` is a positive multiple of [`NR`]; `scratch` holds
/// at least one block's packed B (tasks = `scratch.len()` / that, at most). `post` sees segments
/// of rows, so it must work element by element. Each C element gets the same kernel calls as in
/// [`f32_gemm`] whatever the split. Fails (never panics) on wrong sizes or a failing `fill_b`.
#[allow(clippy::too_many_arguments)]
pub fn f32_gemm_blocked(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, n, k): (usize, usize, usize),
    a: &PackedA,
    (c, c_rs): (&mut [f32], usize),
    epilogue: F32Epilogue<'_>,
    (block_cols, scratch): (usize, &mut [f32]),
    fill_b: FillB<'_>,
    post: Option<PostFn<'_>>,
) -> Result<()> {
    let c_len = c_len(m, n, c_rs).ok_or_else(overflow)?;
    let per_task = packed_b_len(k, block_cols).ok_or_else(overflow)?;
    let mr = kernels.f32_mr;
    if a.dims() != (m, k, mr)
        || c.len() < c_len
        || c_rs < n
        || block_cols == 0
        || !block_cols.is_multiple_of(NR)
        || scratch.len() < per_task
        || epilogue.bias.is_some_and(|b| b.len() < m)
    {
        return Err(Error::invalid_argument(format!(
            "f32 blocked gemm {m}x{k}x{n}: A packed as {:?}, c {} (row stride {c_rs}), blocks of \
             {block_cols} columns, scratch {} of {per_task}",
            a.dims(),
            c.len(),
            scratch.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let pool = pool.filter(|_| m.saturating_mul(n).saturating_mul(k) >= MIN_PARALLEL_MACS);
    let threads = pool.map_or(1, |p| p.current_num_threads());
    // Fewer blocks than threads: narrower blocks (whole panels, two at least), so that every
    // thread fills and multiplies columns of its own. Splitting one block's rows instead has the
    // other threads read the B that one core just wrote, and loses to one thread on small Convs.
    let block_cols = if threads > 1 && n.div_ceil(block_cols) < threads && n >= threads * 2 * NR {
        n.div_ceil(threads).next_multiple_of(NR).min(block_cols)
    } else {
        block_cols
    };
    let per_task = packed_b_len(k, block_cols).ok_or_else(overflow)?;
    let blocks = n.div_ceil(block_cols);
    let tasks = threads.min(blocks).min(scratch.len() / per_task).max(1);
    // Tasks claim blocks one at a time: a thread that is descheduled (or a slower core) holds
    // up one block, not a fixed share.
    let next = AtomicUsize::new(0);
    let base = SharedC(c.as_mut_ptr());
    let task = |buf: &mut [f32]| -> Result<()> {
        loop {
            let block = next.fetch_add(1, Ordering::Relaxed);
            if block >= blocks {
                break;
            }
            let first = block * block_cols;
            let cols = block_cols.min(n - first);
            let len = packed_b_len(k, cols).ok_or_else(overflow)?;
            let b = &mut buf[..len];
            fill_b(first, cols, b)?;
            if tasks == 1 {
                // SAFETY: with one task this is the only access to C during the call (`c` is
                // borrowed mutably for all of it and not used while the task runs), and the
                // slice from column `first` of row 0 to the end of C lies inside `c`, which holds
                // `c_len` elements (checked above; `first < n <= c_len`).
                let c = unsafe { std::slice::from_raw_parts_mut(base.at(first), c_len - first) };
                // Fewer blocks than threads (or no pool): the block's product is split between
                // the threads, if any, as `f32_gemm` splits it.
                run(
                    kernels,
                    pool,
                    (m, cols, k),
                    a.data(),
                    PanelsB::packed(b, k),
                    (c, c_rs),
                    epilogue,
                    post,
                )?;
                continue;
            }
            let ops = Operands {
                k,
                a: a.data(),
                b: PanelsB::packed(b, k),
                c_rs,
                epilogue,
            };
            // SAFETY: the block is a product of its own with `n = cols`: `ops.b` holds its
            // `ceil(cols / 16) * 16 * k` packed elements, A holds the packed tiles of all m rows
            // (checked above), and rows `0..m` with columns `first..first + cols` of C lie inside
            // `c`, which holds `(m - 1) c_rs + n` elements (checked above; `first + cols <= n`).
            // Blocks are disjoint column ranges, each computed by one task, and `c` is borrowed
            // mutably for this whole call, so nothing else touches those elements.
            unsafe { run_block_raw(kernels, &ops, 0, 0, base.at(first), m, cols) };
            if let Some(post) = post {
                for row in 0..m {
                    // SAFETY: as above, the segment `first..first + cols` of row `row < m` lies
                    // inside `c` and belongs to this block alone; no other reference to it lives
                    // while `post` runs.
                    let segment = unsafe {
                        std::slice::from_raw_parts_mut(base.at(row * c_rs + first), cols)
                    };
                    post(row, segment);
                }
            }
        }
        Ok(())
    };
    match pool {
        Some(pool) if tasks > 1 => pool.install(|| {
            scratch[..tasks * per_task]
                .par_chunks_mut(per_task)
                .try_for_each(task)
        }),
        _ => task(&mut scratch[..per_task]),
    }
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

// SAFETY: the pointer is only dereferenced through `run_block_raw` and the row segments of
// `f32_gemm_blocked`, whose callers give each task a disjoint set of elements.
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
    let (k, c_rs, b) = (ops.k, ops.c_rs, ops.b);
    let step = pair_width(kernels);
    let group = (PANEL_GROUP_BYTES / 4 / (NR * k_block(k)).max(1) / step * step).max(step);
    for g in (0..cols.div_ceil(NR)).step_by(group) {
        let block = TileBlock {
            a: ops.a,
            rows: first_row..first_row + rows,
            k,
            b: b.data
                .as_ptr()
                .wrapping_add((first_panel + g) * b.panel_stride),
            panel_stride: b.panel_stride,
            b_rs: b.row_stride,
            tail: match b.tail {
                [] => std::ptr::null(),
                tail => tail.as_ptr(),
            },
            c: c.wrapping_add(g * NR),
            c_rs,
            cols: (group * NR).min(cols - g * NR),
            bias: ops.epilogue.bias,
            min: ops.epilogue.min,
            max: ops.epilogue.max,
        };
        // SAFETY: rows `first_row..first_row + rows` are below m, `first_row` is a multiple of
        // MR (threads split whole row tiles), and A holds the packed tiles of all m rows
        // (`f32_gemm` checked or packed it); `f32_gemm` checked the bias covers m rows. B: the
        // group's panels `first_panel + g ..` lie below `ceil(n / 16)` (`16 (first_panel + g) +
        // block.cols <= 16 first_panel + cols <= n`); the entry point checked that `b.data`
        // holds every whole panel (`k` rows of 16 `row_stride` apart, panels `panel_stride`
        // apart: packed, all `ceil(n / 16)` of them) and that a partial last panel, which only
        // the group ending at column n has, is in `b.tail` when that is not empty. C: the
        // group's columns `16 g .. 16 g + block.cols` of the block lie within its `cols`, which
        // the caller vouches for, with row stride `c_rs`.
        unsafe { run_tiles(kernels, &block) };
    }
}

/// Panels per call of the tier's widest tile kernel (2 with a pair kernel): groups of panels
/// given to one pass or one thread are multiples of it, so that only a product's last panel
/// goes to the 16-column kernel alone.
fn pair_width(kernels: &Kernels) -> usize {
    match kernels.f32_gemm_pair {
        Some(_) => 2,
        None => 1,
    }
}

/// The depth of each k block of a product of depth `k`: at most [`KC`], blocks of equal size
/// but the last. A function of `k` only, so the blocking never depends on the thread count.
pub(crate) fn k_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC).max(1))
}

/// A block of C computed from rows of a packed A and consecutive packed panels of B (the
/// arguments of [`run_tiles`]).
pub(crate) struct TileBlock<'a> {
    /// A packed in tiles of the tier's MR rows ([`PackedA`]'s layout), and the rows of it (and
    /// of C's block) to compute; `rows.start` is a multiple of MR.
    pub a: &'a [f32],
    pub rows: std::ops::Range<usize>,
    /// Depth of the product.
    pub k: usize,
    /// The first panel, the elements between two panels' starts and between two rows of a
    /// panel (16 when packed, B's row stride when read in place).
    pub b: *const f32,
    pub panel_stride: usize,
    pub b_rs: usize,
    /// When not null, the block's last panel if it has fewer than 16 columns, packed (`16 k`
    /// elements), read instead of the one at `b` (which B read in place does not hold whole).
    pub tail: *const f32,
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
/// row tile, runs the tile's k block of packed A over every panel (two at a time with the
/// tier's pair kernel, the last odd one alone); later k blocks accumulate onto
/// the sums stored by earlier ones (bit for bit one unblocked chain), and only the last adds the
/// bias and clamps.
///
/// # Safety
/// `t.a` holds the packed tiles of every row of `t.rows` (`rows.end.div_ceil(MR) * MR * k`
/// elements at least); the bias, when present, covers `t.rows`; panel `j < ceil(cols / 16)` has
/// its `k` rows of 16 readable at `t.b + j * panel_stride + p * b_rs` (`p < k`), except a last
/// panel of fewer than 16 columns when `t.tail` is not null: `t.tail` holds it packed (`16 k`
/// elements) then; `t.c` is valid for reads and writes
/// of `c + i * c_rs + j` (`i < rows.len()`, `j < cols`), which nothing else accesses during the
/// call.
pub(crate) unsafe fn run_tiles(kernels: &Kernels, t: &TileBlock<'_>) {
    let mr = kernels.f32_mr;
    debug_assert!(t.rows.start.is_multiple_of(mr));
    debug_assert!(t.a.len() >= t.rows.end.div_ceil(mr) * mr * t.k);
    let kc = k_block(t.k);
    let blocks = t.k.div_ceil(kc.max(1)).max(1);
    let panels = t.cols.div_ceil(NR);
    for kb in 0..blocks {
        let k0 = kb * kc;
        let depth = kc.min(t.k - k0);
        let last = kb + 1 == blocks;
        // Panel j's rows `k0..` and their row stride: in place, or the packed tail when it is
        // the partial last panel.
        let panel = |j: usize| match t.tail.is_null() || (j + 1) * NR <= t.cols {
            true => (t.b.wrapping_add(j * t.panel_stride + t.b_rs * k0), t.b_rs),
            false => (t.tail.wrapping_add(NR * k0), NR),
        };
        let (min, max) = match last {
            true => (t.min, t.max),
            false => (f32::NEG_INFINITY, f32::INFINITY),
        };
        for row in t.rows.clone().step_by(mr) {
            let bias = match t.bias {
                Some(b) if last => b.as_ptr().wrapping_add(row),
                _ => std::ptr::null(),
            };
            let mut j = 0;
            while j < panels {
                // Two panels at a time when the tier has a pair kernel and two are left.
                let pair = kernels.f32_gemm_pair.filter(|_| j + 1 < panels);
                let (b, b_rs) = panel(j);
                let (b2, b2_rs) = match pair {
                    Some(_) => panel(j + 1),
                    None => (std::ptr::null(), 0),
                };
                let width = if pair.is_some() { 2 } else { 1 };
                let tile = F32Tile {
                    m: mr.min(t.rows.end - row),
                    n: (width * NR).min(t.cols - j * NR),
                    k: depth,
                    // wrapping_add: with k = 0 the kernel reads no A, and A may be empty.
                    a: t.a.as_ptr().wrapping_add(row * t.k + k0 * mr),
                    b,
                    b_rs,
                    b2,
                    b2_rs,
                    c: t.c.wrapping_add((row - t.rows.start) * t.c_rs + j * NR),
                    c_rs: t.c_rs,
                    accumulate: kb > 0,
                    bias,
                    min,
                    max,
                };
                // SAFETY: `tile.m` is within 1..=MR by construction, and `tile.n` within 1..=16
                // for the 16-column kernel, 17..=32 for the pair kernel (panel j + 1 exists, so
                // more than 16 columns are left). A: row tile `row / MR` starts at `row * k`
                // (`row` is a multiple of MR), its k block at `MR k0` from there, `MR depth`
                // values, inside `t.a` (caller). B: rows `k0 .. k0 + depth <= k` of panel j (and
                // j + 1 for a pair; in place or, partial, the packed tail), each panel's rows its
                // own row stride apart, 16 readable values each (caller). C: the tile's elements
                // are inside the block the caller vouches for; with `accumulate`, an earlier k
                // block wrote them. Bias: covers `row .. row + m` (caller). The table's tier is
                // supported by this CPU, and a pair kernel shares its tile kernel's MR.
                unsafe { pair.unwrap_or(kernels.f32_gemm)(&tile) };
                j += width;
            }
        }
    }
}
