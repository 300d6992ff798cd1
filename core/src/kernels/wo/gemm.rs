//! The safe weight-only GEMM/GEMV entry point: `C = clamp(A · W + bias, min, max)` with f32
//! activations `A` (`m × k`), packed int8/int4 weights `W` (`k × n`, [`WoPacked`]), f32 output.
//!
//! - `m = 1` (GEMV, memory bound): the tier's GEMV kernel streams the packed weights once and
//!   dequantizes them in registers.
//! - `m > 1`: A is packed once for the f32 tile kernels ([`PackedA`]); each panel (16 columns) is
//!   dequantized by the tier's kernel into a per-thread scratch in the f32 GEMM's packed-B
//!   format, then the f32 GEMM's tile loop (`run_tiles`, with the tier's tile kernel from the
//!   same [`Kernels`] table) multiplies every row tile with it. Panels are dequantized in groups
//!   of about 128 KiB, each meeting every row tile.
//!
//! Invariants: every argument is validated before a kernel runs; `threads = 1` runs on the calling
//! thread with no pool; threads split the panels (each dequantized once), so each output element
//! is computed by one kernel call and the result does not depend on the thread count.

use std::cell::RefCell;

use super::pack::{NR, WoPacked};
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::kernels::f32::PackedA;
use crate::kernels::f32::gemm::{TileBlock, run_tiles};

/// f32 scratch (dequantized panels) a thread uses per pass over its row tiles.
const PANEL_GROUP_BYTES: usize = 128 * 1024;

thread_local! {
    /// Dequantized panels, or the zero-padded activation row of a GEMV.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// What follows the product: a per-column bias and ONNX `Clip` bounds (NaN passes through;
/// infinite bounds disable the clamp).
#[derive(Clone, Copy, Debug)]
pub struct WoEpilogue<'a> {
    /// One bias per output column (`n` values), or `None`.
    pub bias: Option<&'a [f32]>,
    pub min: f32,
    pub max: f32,
}

impl WoEpilogue<'_> {
    /// No bias, no clamp.
    pub const NONE: WoEpilogue<'static> = WoEpilogue {
        bias: None,
        min: f32::NEG_INFINITY,
        max: f32::INFINITY,
    };
}

/// ONNX `Clip`: `v < min → min`, `v > max → max`, NaN passes.
fn clip(v: f32, min: f32, max: f32) -> f32 {
    if v < min {
        min
    } else if v > max {
        max
    } else {
        v
    }
}

/// The validated operands, shared read-only between threads.
struct Job<'a> {
    kernels: &'a Kernels,
    m: usize,
    a: &'a [f32],
    /// A packed for the f32 tile kernels (`m > 1` only).
    a_packed: Option<PackedA<'static>>,
    w: WoPacked<'a>,
    epilogue: WoEpilogue<'a>,
    c: OutPtr,
}

/// C's base pointer, shared by tasks that write disjoint columns.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint column ranges of C (each panel belongs to one task), and the borrow
// of C outlives the scope that joins them.
unsafe impl Send for OutPtr {}
// SAFETY: as above; the pointer itself is only read.
unsafe impl Sync for OutPtr {}

/// `c = clamp(a · w + bias, min, max)` with the tier of `kernels`, on `threads` threads (1 = the
/// calling thread only; more = tasks on the current rayon pool).
///
/// - `a`: `m` rows of `k = w.shape().k` values, row `i` at `a[i * a_stride..]` (`a_stride >= k`);
/// - `c`: `m × n` row-major, contiguous, overwritten.
///
/// Fails without writing (never panics) on a short buffer, a bad stride, a bias of the wrong
/// length, NaN or crossed clamp bounds, or zero threads.
#[allow(clippy::too_many_arguments)]
pub fn wo_gemm(
    kernels: &Kernels,
    m: usize,
    a: &[f32],
    a_stride: usize,
    w: &WoPacked,
    c: &mut [f32],
    epilogue: WoEpilogue<'_>,
    threads: usize,
) -> Result<()> {
    let s = w.shape();
    let (n, k) = (s.n, s.k);
    let bad = |what: String| {
        Err(Error::invalid_argument(format!(
            "weight-only gemm {m}x{k}x{n}: {what}"
        )))
    };
    if threads == 0 {
        return bad("thread count must be at least 1".into());
    }
    let a_need = if m == 0 {
        Some(0)
    } else {
        (m - 1).checked_mul(a_stride).and_then(|x| x.checked_add(k))
    };
    if a_stride < k || a_need.is_none_or(|need| need > a.len()) {
        return bad(format!(
            "{} activations with row stride {a_stride}",
            a.len()
        ));
    }
    if m.checked_mul(n) != Some(c.len()) {
        return bad(format!("output holds {} values", c.len()));
    }
    if let Some(b) = epilogue.bias.filter(|b| b.len() != n) {
        return bad(format!("{} biases", b.len()));
    }
    if epilogue.min.is_nan() || epilogue.max.is_nan() || epilogue.min > epilogue.max {
        return bad(format!("clamp bounds [{}, {}]", epilogue.min, epilogue.max));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let a_packed = match m {
        1 => None,
        _ => Some(PackedA::new(kernels, a, (a_stride, 1), m, k)?),
    };
    let job = Job {
        kernels,
        m,
        a,
        a_packed,
        w: *w,
        epilogue,
        c: OutPtr(c.as_mut_ptr()),
    };
    let panels = s.panels();
    let tasks = threads.min(panels);
    if tasks == 1 {
        job.run(0..panels);
    } else {
        let split = |i: usize| panels * i / tasks..panels * (i + 1) / tasks;
        rayon::scope(|scope| {
            for t in 0..tasks {
                let job = &job;
                scope.spawn(move |_| job.run(split(t)));
            }
        });
    }
    Ok(())
}

impl Job<'_> {
    /// Computes the columns of panels `panels` for all rows.
    fn run(&self, panels: std::ops::Range<usize>) {
        SCRATCH.with_borrow_mut(|scratch| {
            if self.m == 1 {
                self.gemv(panels, scratch);
            } else {
                self.gemm(panels, scratch);
            }
        });
    }

    /// The columns of `panels` of row `i`, as a slice of C.
    ///
    /// # Safety
    /// `i < m`, `panels` is within the panels of W, the calling task owns these columns of C
    /// (no other task writes them), and no other slice of them is alive while this one is.
    #[allow(clippy::mut_from_ref)]
    unsafe fn c_cols(&self, i: usize, panels: &std::ops::Range<usize>) -> &mut [f32] {
        let n = self.w.shape().n;
        let (first, last) = (panels.start * NR, (panels.end * NR).min(n));
        // SAFETY: `i < m` and `first <= last <= n`, so the elements are inside C (`m × n`,
        // validated by `wo_gemm`); the caller vouches that no one else accesses them meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.c.0.add(i * n + first), last - first) }
    }

    /// Applies the bias and clamp to row `i`'s columns of `panels`.
    ///
    /// # Safety
    /// As for [`Job::c_cols`].
    unsafe fn finish_row(&self, i: usize, panels: &std::ops::Range<usize>) {
        let e = self.epilogue;
        let first = panels.start * NR;
        // SAFETY: the caller's contract is `c_cols`'.
        let row = unsafe { self.c_cols(i, panels) };
        match e.bias {
            Some(b) => {
                for (v, &b) in row.iter_mut().zip(&b[first..]) {
                    *v = clip(*v + b, e.min, e.max);
                }
            }
            None => row.iter_mut().for_each(|v| *v = clip(*v, e.min, e.max)),
        }
    }

    /// GEMV: the tier's kernel over the panels, reading the activation row in place when K is a
    /// multiple of the block, else from a zero-padded copy.
    fn gemv(&self, panels: std::ops::Range<usize>, scratch: &mut Vec<f32>) {
        let s = self.w.shape();
        let x = &self.a[..s.k];
        let x = if s.kp() == s.k {
            x
        } else {
            scratch.clear();
            scratch.extend_from_slice(x);
            scratch.resize(s.kp(), 0.0);
            &scratch[..]
        };
        // SAFETY: row 0 < m, and `run`'s task owns the columns of `panels`; `y` is the only
        // slice of them until it dies at the end of this block. The table's tier is supported
        // by this CPU (the kernel checks its slices).
        unsafe {
            let y = self.c_cols(0, &panels);
            (self.kernels.wo_gemv)(&s, self.w.panels(panels.clone()), x, y);
        }
        // SAFETY: as above; `y` is dead.
        unsafe { self.finish_row(0, &panels) };
    }

    /// GEMM: dequantize groups of panels, then run every row tile over each group.
    fn gemm(&self, panels: std::ops::Range<usize>, scratch: &mut Vec<f32>) {
        let Some(a) = &self.a_packed else {
            return;
        };
        let s = self.w.shape();
        let (n, k, kp) = (s.n, s.k, s.kp());
        let panel_floats = NR * kp;
        let group = (PANEL_GROUP_BYTES / 4 / panel_floats.max(1)).max(1);
        let panel_len = s.panel_len().unwrap_or(0);
        let e = self.epilogue;
        // With a bias, the tile stores the plain sum and `finish_row` adds the bias, then clamps.
        let (min, max) = match e.bias {
            Some(_) => (f32::NEG_INFINITY, f32::INFINITY),
            None => (e.min, e.max),
        };
        for g0 in panels.clone().step_by(group) {
            let g = g0..panels.end.min(g0 + group);
            scratch.resize(panel_floats * g.len(), 0.0);
            let bytes = self.w.panels(g.clone());
            for (panel, out) in bytes
                .chunks_exact(panel_len.max(1))
                .zip(scratch.chunks_exact_mut(panel_floats.max(1)))
            {
                // SAFETY: the table's tier is supported by this CPU (the kernel checks its slices).
                unsafe { (self.kernels.wo_dequant)(&s, panel, out) };
            }
            let block = TileBlock {
                a: a.data(),
                rows: 0..self.m,
                k,
                b: scratch.as_ptr(),
                panel_stride: panel_floats,
                b_rs: NR,
                tail: std::ptr::null(),
                c: self.c.0.wrapping_add(g.start * NR),
                c_rs: n,
                cols: (g.end * NR).min(n) - g.start * NR,
                bias: None,
                min,
                max,
            };
            // SAFETY: A: packed for this tier's MR, all m rows.
            // B: the scratch holds the group's panels, `16 kp >= 16 k` dequantized values each,
            // `panel_floats` apart. C: the block's elements `r * n + 16 g.start + j` (r < m, j <
            // cols) are inside the `m × n` C and in this task's columns, which no one else
            // accesses. No bias. The table's tier is supported by this CPU.
            unsafe { run_tiles(self.kernels, &block) };
            if e.bias.is_some() {
                for r in 0..self.m {
                    // SAFETY: r < m; `run`'s task owns the columns of `g`, and the tile
                    // kernels, which wrote them through raw pointers, have returned.
                    unsafe { self.finish_row(r, &g) };
                }
            }
        }
    }
}
