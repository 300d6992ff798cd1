//! Conv, 1-D and 2-D, with groups, strides, dilations, pads / auto_pad, bias and a fused
//! activation. Three paths, chosen at build time:
//! - depthwise (one input channel per group, more than one group): one plane at a time through
//!   `kernels::f32::dwconv::DwConv` (a zero-padded, stride-phase-split copy in scratch, one per
//!   task, then the tier's plane kernel with bias and a `Clip` fused); planes are split across
//!   tasks; small planes (`DwChannels::wins`) go by blocks of 16 channels instead
//!   (`kernels::f32::dwconv::DwChannels`, weights packed at build time when constant), blocks
//!   split across tasks;
//! - pointwise (1×1 kernel, stride 1, no padding): one GEMM per group whose B is the input
//!   group itself (`C/group × H·W`, row-major), read in place by the tile kernels
//!   (`super::gemm::matmul_rows`; only its last `H·W mod 16` columns are packed): packing it
//!   cost as much as the product when the output channels are few (MobileNetV2's projections);
//! - general: im2col written straight into the GEMM's packed-B layout in scratch, then one GEMM
//!   per group (`super::gemm::matmul`); windows whose taps are shifts of the input plane or
//!   frames of an input row are filled by `super::im2col` (`FastIm2col`), others row by row here.
//!
//! The im2col path goes by blocks of output columns (`BLOCK_BYTES` of packed B, an L2's worth):
//! a block is packed (or im2col'ed), then multiplied into its columns of the output while it is
//! still in cache. With constant (build-time packed) weights the blocks are shared out between
//! the pool's threads in one hand-off (`kernels::f32::f32_gemm_blocked`), the scratch holding one
//! block per task (up to `MAX_SCRATCH_TASKS`); otherwise the scratch holds one block and each
//! block's product is split between the threads.
//!
//! In the GEMMs, the weights (`[OC, C/group · taps]`, row-major) are the left operand, packed for
//! the tier's tiles: when they are a constant, read in place from a packing the converter stored
//! (extra constant inputs 3.. of the node in `Layout::PackedF32A`, one per tile height; the one
//! whose parameters equal the running tier's is used, the others are never touched), else packed
//! once at build time; per run when they are not a constant. The activations are the right
//! operand (packed per run by im2col, read in place by the pointwise path): NCHW output rows are
//! then rows of C. The bias and a `Clip` activation run in the kernel's epilogue.
//!
//! Invariant: all three compute, per output element, `bias + Σ w·x` over the same taps (a tap in
//! the padding adds `w · 0`); work is split across threads only by output channel (depthwise) or
//! by the GEMM's whole tiles, so results do not depend on thread count.

use super::gemm::{
    Dims, Finish, Matrix, matmul, matmul_blocked, matmul_rows, pack_constant_lhs, plan_kernels,
};
use super::im2col::FastIm2col;
use super::parallel::{MAX_SCRATCH_TASKS, for_each_task, task_count};
use super::window::{Axis, Window, window};
use super::{
    Activation, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, checked_numel,
};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::f32::dwconv::channels::BLOCK;
use crate::kernels::f32::dwconv::{DwAxis, DwChannels, DwConv};
use crate::kernels::f32::{F32Lhs, NR, PackedA, packed_a_layout};
use crate::tensor::DType;

/// The first input of a Conv node that may hold a stored packing of its weights.
const FIRST_PACKED_INPUT: usize = 3;

/// Where the GEMM paths find their packed weights.
#[derive(Debug)]
enum PackedWeights {
    /// W is not a constant: the GEMM packs it on each run.
    PerRun,
    /// Packed for `kernels` at build time, one per group.
    Built(Vec<PackedA<'static>>),
    /// Stored in the model as input `.0` (`Layout::PackedF32A` for `kernels`, dims
    /// `[groups, tiles, depth, MR]`), read in place.
    Stored(usize),
}

/// Bytes of packed B per column block of the GEMM paths (within a core's L2 with A and C).
const BLOCK_BYTES: usize = 512 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Depthwise,
    Pointwise,
    Im2col,
}

/// An axis of the window, as the depthwise kernels take it.
fn dw_axis(a: &Axis) -> DwAxis {
    DwAxis {
        input: a.input,
        kernel: a.kernel,
        stride: a.stride,
        dilation: a.dilation,
        pad_begin: a.pad_begin,
        output: a.output,
    }
}

/// The depthwise path's plane window (input layout, tap offsets, row or flat run).
fn depthwise_window(window: &Window) -> Option<DwConv> {
    DwConv::new(dw_axis(&window.h), dw_axis(&window.w))
}

/// The depthwise path's channel-block plan, when it wins on this window.
#[derive(Debug)]
struct DwBlocks {
    geometry: DwChannels,
    /// Every block's packed weights and bias, one block after the other, when both are
    /// constants; otherwise each block is packed per run into the task's scratch.
    packed: Option<Vec<f32>>,
}

/// The channel-block plan of a depthwise Conv of `channels` channels (one output per input
/// channel), `None` when the window is better served plane by plane.
fn depthwise_blocks(
    cx: &NodeContext<'_>,
    window: &Window,
    channels: usize,
    has_bias: bool,
) -> OpResult<Option<DwBlocks>> {
    let Some(geometry) =
        DwChannels::new(dw_axis(&window.h), dw_axis(&window.w)).filter(DwChannels::wins)
    else {
        return Ok(None);
    };
    let weights = cx.constant(1).map(|w| w.as_f32()).transpose();
    let bias = match has_bias {
        true => cx.constant(2).map(|b| b.as_f32().map(Some)).transpose(),
        false => Ok(Some(None)),
    };
    let packed = match (
        weights.map_err(|e| e.to_string())?,
        bias.map_err(|e| e.to_string())?,
    ) {
        (Some(w), Some(b)) => {
            let len = geometry.packed_block_len();
            let mut packed = vec![0.0; channels.div_ceil(BLOCK) * len];
            let w = w
                .get(..channels * geometry.taps())
                .ok_or("weights too short")?;
            for (i, block) in packed.chunks_exact_mut(len).enumerate() {
                if !geometry.pack_block(w, b, i * BLOCK, block) {
                    return Err("depthwise weights do not match the channels".into());
                }
            }
            Some(packed)
        }
        _ => None,
    };
    Ok(Some(DwBlocks { geometry, packed }))
}

#[derive(Debug)]
struct Conv {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    window: Window,
    has_bias: bool,
    activation: Activation,
    path: Path,
    /// The plane window of the depthwise path.
    dw: Option<DwConv>,
    /// The depthwise path by channel blocks, which replaces the plane window when present.
    dw_blocks: Option<DwBlocks>,
    /// The im2col path's fast fill, when its window has one.
    fast_im2col: Option<FastIm2col>,
    /// The f32 GEMM tier, chosen at build time.
    kernels: &'static Kernels,
    /// The GEMM paths' packed weights.
    packed_w: PackedWeights,
}

impl Conv {
    fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }

    fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Rows of the im2col matrix (= GEMM depth): input channels per group × kernel taps.
    fn depth(&self) -> usize {
        self.in_per_group() * self.window.kernel_len()
    }

    fn depthwise(
        &self,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let Some(dw) = &self.dw else {
            return Err("depthwise layout missing".into());
        };
        let (plane_in, taps) = (self.window.input_len(), self.window.kernel_len());
        let out_len = self.window.output_len();
        let multiplier = self.out_per_group();
        let planes = self.batch * self.out_channels;
        if x.len() < self.batch * self.in_channels * plane_in
            || w.len() < self.out_channels * taps
            || bias.is_some_and(|b| b.len() < self.out_channels)
            || y.len() != planes * out_len
        {
            return Err(format!(
                "depthwise Conv: input {}, weights {}, bias {:?}, output {} do not match \
                 {} planes of {plane_in} -> {out_len} with {taps} taps",
                x.len(),
                w.len(),
                bias.map(<[f32]>::len),
                y.len(),
                planes
            ));
        }
        let clamp = self
            .activation
            .as_clamp()
            .unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let pass = self
            .activation
            .as_clamp()
            .is_none()
            .then_some(self.activation);
        if let Some(blocks) = &self.dw_blocks {
            return self.depthwise_blocks(blocks, x, w, bias, y, clamp, pass, cx);
        }
        let tasks = task_count(cx.pool, planes, y.len() * taps, MAX_SCRATCH_TASKS);
        let per_task = dw.scratch_len();
        let scratch = cx
            .scratch
            .get_mut(..tasks * per_task)
            .ok_or("scratch too small")?;
        // Lengths are checked above; should a task still find a slice out of bounds, it stops
        // and flags it, and the op fails instead of returning a partly written output.
        let failed = AtomicBool::new(false);
        for_each_task(
            cx.pool,
            tasks,
            y,
            out_len,
            scratch,
            per_task,
            |first, out, scratch| {
                scratch.fill(0.0);
                for (i, out) in out.chunks_exact_mut(out_len).enumerate() {
                    let plane = first + i;
                    let (n, oc) = (plane / self.out_channels, plane % self.out_channels);
                    let base = (n * self.in_channels + oc / multiplier) * plane_in;
                    let (Some(xp), Some(weights)) = (
                        x.get(base..base + plane_in),
                        w.get(oc * taps..(oc + 1) * taps),
                    ) else {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    };
                    let bias = bias.and_then(|b| b.get(oc)).copied().unwrap_or(0.0);
                    if !dw.plane(self.kernels, xp, weights, bias, clamp, out, scratch) {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                    if let Some(act) = pass {
                        act.apply_slice(self.kernels, out);
                    }
                }
            },
        );
        if failed.into_inner() {
            return Err("depthwise plane out of bounds".into());
        }
        Ok(())
    }

    /// The depthwise path by blocks of [`BLOCK`] channels (one output channel per input channel;
    /// lengths checked by [`Conv::depthwise`]), the blocks of each image split across tasks.
    #[allow(clippy::too_many_arguments)]
    fn depthwise_blocks(
        &self,
        blocks: &DwBlocks,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        clamp: (f32, f32),
        pass: Option<Activation>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let g = &blocks.geometry;
        let (plane_in, out_len, taps) = (g.input_len(), g.output_len(), g.taps());
        let channels = self.out_channels;
        let packed_len = g.packed_block_len();
        let per_task = packed_len + g.scratch_len();
        let (w, bias) = (&w[..channels * taps], bias.map(|b| &b[..channels]));
        let failed = AtomicBool::new(false);
        for (xn, yn) in x
            .chunks_exact(channels * plane_in)
            .zip(y.chunks_exact_mut(channels * out_len))
        {
            let units = channels.div_ceil(BLOCK);
            let tasks = task_count(cx.pool, units, yn.len() * taps, MAX_SCRATCH_TASKS);
            let scratch = cx
                .scratch
                .get_mut(..tasks * per_task)
                .ok_or("scratch too small")?;
            for_each_task(
                cx.pool,
                tasks,
                yn,
                BLOCK * out_len,
                scratch,
                per_task,
                |first, out, scratch| {
                    let (own, scratch) = scratch.split_at_mut(packed_len);
                    for (i, out) in out.chunks_mut(BLOCK * out_len).enumerate() {
                        let (block, c0) = (first + i, (first + i) * BLOCK);
                        let xb =
                            xn.get(c0 * plane_in..c0 * plane_in + out.len() / out_len * plane_in);
                        let packed = match &blocks.packed {
                            Some(p) => p.get(block * packed_len..(block + 1) * packed_len),
                            None => g.pack_block(w, bias, c0, own).then_some(&*own),
                        };
                        let done = match (xb, packed) {
                            (Some(xb), Some(packed)) => {
                                g.block(self.kernels, xb, packed, clamp, out, scratch)
                            }
                            _ => false,
                        };
                        if !done {
                            failed.store(true, Ordering::Relaxed);
                            return;
                        }
                        if let Some(act) = pass {
                            act.apply_slice(self.kernels, out);
                        }
                    }
                },
            );
        }
        if failed.into_inner() {
            return Err("depthwise channel block out of bounds".into());
        }
        Ok(())
    }

    /// Writes columns `block` (output positions `(oy, ox)` numbered row-major) of the im2col
    /// matrix of one group of one image, row `(c, ky, kx)`, in the packed-B layout of a
    /// `block.len()`-column matrix (16-column panels; see `kernels::f32::pack`), the lanes of a
    /// last partial panel past the block zeroed as that layout (and `FillB`) requires.
    fn im2col_packed(&self, x: &[f32], packed: &mut [f32], block: Range<usize>) {
        const ZEROS: [f32; NR] = [0.0; NR];
        let Window { h, w } = self.window;
        let (plane_in, depth) = (self.window.input_len(), self.depth());
        if block.is_empty() || w.output == 0 {
            return;
        }
        let used = block.len() % NR;
        if used != 0 {
            let last = block.len() / NR * NR * depth;
            if let Some(panel) = packed.get_mut(last..last + NR * depth) {
                for row in panel.chunks_exact_mut(NR) {
                    row[used..].fill(0.0);
                }
            }
        }
        for r in 0..depth {
            let c = r / self.window.kernel_len();
            let (ky, kx) = ((r / w.kernel) % h.kernel, r % w.kernel);
            let Some(plane) = x.get(c * plane_in..(c + 1) * plane_in) else {
                return;
            };
            // Writes consecutive values of row `r` from output position `col` on, panel by panel
            // (block column `col - block.start` is lane `% 16` of panel `/ 16`).
            let mut put = |col: usize, mut values: &[f32]| {
                let mut col = col - block.start;
                while !values.is_empty() {
                    let lane = col % NR;
                    let take = (NR - lane).min(values.len());
                    let at = (col / NR) * NR * depth + r * NR + lane;
                    let dst = packed.get_mut(at..at + take);
                    match (dst, <&[f32; NR]>::try_from(&values[..take])) {
                        // A whole panel row: a fixed-size copy the compiler inlines.
                        (Some(d), Ok(full)) => {
                            if let Ok(d) = <&mut [f32; NR]>::try_from(d) {
                                *d = *full;
                            }
                        }
                        (Some(d), Err(_)) => copy_short(d, &values[..take]),
                        (None, _) => {}
                    }
                    values = &values[take..];
                    col += take;
                }
            };
            let zeros = |put: &mut dyn FnMut(usize, &[f32]), from: usize, to: usize| {
                for start in (from..to).step_by(NR) {
                    put(start, &ZEROS[..NR.min(to - start)]);
                }
            };
            // Output columns whose tap lands inside the input row, and the input column of the
            // first one.
            let cols = w.valid_outputs(kx);
            let first_ix = (cols.start * w.stride + kx * w.dilation).saturating_sub(w.pad_begin);
            for oy in block.start / w.output..(block.end - 1) / w.output + 1 {
                let row0 = oy * w.output;
                // This output row's part of the block, and the part of it with input under it.
                let (lo, hi) = (
                    block.start.max(row0) - row0,
                    (block.end - row0).min(w.output),
                );
                let src = h
                    .source(oy, ky)
                    .and_then(|iy| plane.get(iy * w.input..(iy + 1) * w.input));
                let Some(s) = src else {
                    zeros(&mut put, row0 + lo, row0 + hi);
                    continue;
                };
                let vs = cols.start.clamp(lo, hi);
                let ve = cols.end.clamp(vs, hi);
                zeros(&mut put, row0 + lo, row0 + vs);
                let skip = first_ix + (vs - cols.start.min(vs)) * w.stride;
                if w.stride == 1 {
                    if let Some(v) = s.get(skip..skip + (ve - vs)) {
                        put(row0 + vs, v);
                    }
                } else {
                    let mut buf = [0.0; NR];
                    for done in (0..ve - vs).step_by(NR) {
                        let n = NR.min(ve - vs - done);
                        let at = skip + done * w.stride;
                        // Stride 2 over a whole panel row (the usual downsampling conv): a
                        // fixed-size gather the compiler turns into shuffles.
                        let pair = s.get(at..).and_then(|t| t.get(..2 * NR - 1));
                        match pair.map(<&[f32; 2 * NR - 1]>::try_from) {
                            Some(Ok(src)) if w.stride == 2 && n == NR => {
                                for (l, b) in buf.iter_mut().enumerate() {
                                    *b = src[2 * l];
                                }
                            }
                            _ => {
                                let from = s.iter().skip(at).step_by(w.stride);
                                for (b, &v) in buf[..n].iter_mut().zip(from) {
                                    *b = v;
                                }
                            }
                        }
                        put(row0 + vs + done, &buf[..n]);
                    }
                }
                zeros(&mut put, row0 + ve, row0 + hi);
            }
        }
    }

    /// Output columns per GEMM block of the GEMM paths: its packed B stays in L2. Whole pairs
    /// of panels, at least one (a tier's pair kernel then leaves no panel of a block alone but
    /// the output's last), unless one block holds the whole output.
    fn block_cols(&self) -> usize {
        const PAIR: usize = 2 * NR;
        let cols = BLOCK_BYTES / 4 / self.depth().max(1) / PAIR * PAIR;
        let whole = self.window.output_len().next_multiple_of(NR).max(NR);
        cols.max(PAIR).min(whole)
    }
}

/// `dst.copy_from_slice(src)` (`len` of both) for runs shorter than a panel row, as im2col
/// writes where an input row starts or ends inside a panel: fixed-size pieces of 8, 4, 2 and 1
/// that compile to a few moves instead of one `memcpy` call per run. Longer runs are copied
/// whole.
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let n = dst.len().min(src.len());
    if n >= 16 {
        dst[..n].copy_from_slice(&src[..n]);
        return;
    }
    let mut at = 0;
    copy_piece::<8>(&mut at, n, dst, src);
    copy_piece::<4>(&mut at, n, dst, src);
    copy_piece::<2>(&mut at, n, dst, src);
    copy_piece::<1>(&mut at, n, dst, src);
}

/// Copies `L` values at `at` when at least `L` of the first `n` are left, and moves `at` on.
#[inline(always)]
fn copy_piece<const L: usize>(at: &mut usize, n: usize, dst: &mut [f32], src: &[f32]) {
    if n - *at >= L {
        let range = *at..*at + L;
        dst[range.clone()].copy_from_slice(&src[range]);
        *at += L;
    }
}

impl Op for Conv {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let w = inputs.f32(1)?;
        let bias = if self.has_bias {
            Some(inputs.f32(2)?)
        } else {
            None
        };
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        if self.path == Path::Depthwise {
            return self.depthwise(x, w, bias, y, cx);
        }
        let (plane_in, out_len) = (self.window.input_len(), self.window.output_len());
        let (cin_g, cout_g, depth) = (self.in_per_group(), self.out_per_group(), self.depth());
        let block = self.block_cols();
        for n in 0..self.batch {
            for g in 0..self.groups {
                let x_at = (n * self.in_channels + g * cin_g) * plane_in;
                let xg = x
                    .get(x_at..x_at + cin_g * plane_in)
                    .ok_or("input too short")?;
                let y_at = (n * self.out_channels + g * cout_g) * out_len;
                let yg = y
                    .get_mut(y_at..y_at + cout_g * out_len)
                    .ok_or("output too short")?;
                let wg = w.get(g * cout_g * depth..).ok_or("weights too short")?;
                let row_bias = match bias {
                    Some(b) => Some(
                        b.get(g * cout_g..(g + 1) * cout_g)
                            .ok_or("bias too short")?,
                    ),
                    None => None,
                };
                let finish = Finish {
                    row_bias,
                    activation: self.activation,
                    post: None,
                };
                // Writes the packed B of columns `first..first + cols` (the im2col matrix).
                let fill = |first: usize, cols: usize, packed: &mut [f32]| -> Result<()> {
                    let block = first..first + cols;
                    match &self.fast_im2col {
                        Some(fast) => fast
                            .fill(xg, cin_g, packed, block)
                            .then_some(())
                            .ok_or_else(|| {
                                Error::invalid_argument("Conv: im2col block outside its buffers")
                            }),
                        None => {
                            self.im2col_packed(xg, packed, block);
                            Ok(())
                        }
                    }
                };
                let dims = Dims {
                    m: cout_g,
                    n: out_len,
                    k: depth,
                };
                let stored;
                let packed = match &self.packed_w {
                    PackedWeights::PerRun => None,
                    PackedWeights::Built(packed) => {
                        Some(packed.get(g).ok_or("packed weights missing")?)
                    }
                    PackedWeights::Stored(i) => {
                        let all = inputs.f32(*i)?;
                        let per_group = all.len() / self.groups;
                        let data = all
                            .get(g * per_group..(g + 1) * per_group)
                            .ok_or("stored packed weights too short")?;
                        stored = PackedA::from_packed(self.kernels, data, cout_g, depth)
                            .map_err(|e| e.to_string())?;
                        Some(&stored)
                    }
                };
                let a = match packed {
                    Some(packed) => F32Lhs::Packed(packed),
                    None => Matrix {
                        data: wg,
                        row_stride: depth,
                        col_stride: 1,
                    }
                    .lhs(),
                };
                if self.path == Path::Pointwise {
                    // The input group is B (`cin_g × out_len`, row-major): read in place.
                    let xm = Matrix {
                        data: xg,
                        row_stride: out_len,
                        col_stride: 1,
                    };
                    matmul_rows(self.kernels, cx.pool, dims, a, xm, (yg, out_len), finish)?;
                    continue;
                }
                if let Some(packed) = packed {
                    // Constant weights: the column blocks (filling included) are shared out
                    // between the pool's threads in one hand-off.
                    let scratch = &mut cx.scratch[..];
                    matmul_blocked(
                        self.kernels,
                        cx.pool,
                        dims,
                        packed,
                        (yg, out_len),
                        finish,
                        (block, scratch),
                        &fill,
                    )?;
                    continue;
                }
                // Column blocks: packed B of one block is written, then used while in cache.
                for start in (0..out_len).step_by(block) {
                    let cols = block.min(out_len - start);
                    let dims = Dims { n: cols, ..dims };
                    let packed = cx
                        .scratch
                        .get_mut(..dims.packed_rhs_len()?)
                        .ok_or("scratch too small")?;
                    fill(start, cols, packed).map_err(|e| e.to_string())?;
                    let c = (&mut yg[start..], out_len);
                    matmul(self.kernels, cx.pool, dims, a, packed, c, finish)?;
                }
            }
        }
        Ok(())
    }

    fn scratch_len(&self) -> usize {
        let dims = Dims {
            m: self.out_per_group(),
            n: self.block_cols(),
            k: self.depth(),
        };
        match self.path {
            Path::Depthwise => match (&self.dw_blocks, &self.dw) {
                (Some(b), _) => {
                    (b.geometry.packed_block_len() + b.geometry.scratch_len()) * MAX_SCRATCH_TASKS
                }
                (None, dw) => dw
                    .as_ref()
                    .map_or(0, |dw| dw.scratch_len() * MAX_SCRATCH_TASKS),
            },
            // The pointwise path reads its input in place.
            Path::Pointwise => 0,
            // `build` checked that the size does not overflow.
            // One block per task for the shared-out column blocks (constant weights).
            Path::Im2col => dims
                .packed_rhs_len()
                .unwrap_or(0)
                .saturating_mul(MAX_SCRATCH_TASKS),
        }
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    let w = cx.f32_input(1)?;
    let rank = x.shape.len();
    if !(3..=4).contains(&rank) || w.shape.len() != rank {
        return Err(format!(
            "X {:?} and W {:?} must both be 3-D (1-D conv) or 4-D (2-D conv)",
            x.shape, w.shape
        ));
    }
    let groups = cx.int("group", 1)?;
    let (batch, in_channels, out_channels) = (x.shape[0], x.shape[1], w.shape[0]);
    let groups = usize::try_from(groups)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or(format!("group {groups} must be ≥ 1"))?;
    if in_channels % groups != 0 || out_channels % groups != 0 || w.shape[1] * groups != in_channels
    {
        return Err(format!(
            "X {:?}, W {:?} and group {groups} disagree (W must be [OC, C/group, ...], OC and C divisible by group)",
            x.shape, w.shape
        ));
    }
    let kernel = &w.shape[2..];
    if let Some(ks) = cx.ints("kernel_shape")?
        && (ks.len() != kernel.len() || ks.iter().zip(kernel).any(|(&a, &b)| a != b as i64))
    {
        return Err(format!("kernel_shape {ks:?} differs from W {:?}", w.shape));
    }
    let has_bias = match cx.opt_input(2) {
        None => false,
        Some(b) if b.dtype == DType::F32 && b.shape == [out_channels] => true,
        Some(b) => {
            return Err(format!(
                "bias must be f32 [{out_channels}], got {} {:?}",
                b.dtype, b.shape
            ));
        }
    };
    let window = window(cx, &x.shape[2..], kernel, false)?;
    // A single-channel convolution (groups = channels = 1) is a GEMM over its output channels,
    // not a depthwise one: speech front ends (an STFT as a Conv with hundreds of filters) would
    // otherwise run the direct loop once per filter.
    let path = if w.shape[1] == 1 && groups == in_channels && groups > 1 {
        Path::Depthwise
    } else if window.kernel_len() == 1
        && [window.h, window.w]
            .iter()
            .all(|a| a.stride == 1 && a.pad_begin == 0 && a.pad_end == 0)
    {
        Path::Pointwise
    } else {
        Path::Im2col
    };
    let mut out = vec![batch, out_channels];
    out.extend(window.output_dims(rank - 2));
    checked_numel(&out)?;
    let op = Conv {
        batch,
        in_channels,
        out_channels,
        groups,
        window,
        has_bias,
        activation: Activation::fused(cx)?,
        path,
        dw: match path {
            Path::Depthwise => Some(depthwise_window(&window).ok_or("depthwise layout overflows")?),
            _ => None,
        },
        dw_blocks: match path {
            Path::Depthwise if out_channels == in_channels => {
                depthwise_blocks(cx, &window, out_channels, has_bias)?
            }
            _ => None,
        },
        fast_im2col: match path {
            Path::Im2col => FastIm2col::new(&window),
            _ => None,
        },
        kernels: plan_kernels()?,
        packed_w: PackedWeights::PerRun,
    };
    checked_numel(&[op.depth(), window.output_len().div_ceil(NR), NR])?;
    let packed_w = match (cx.constant(1), path) {
        (Some(_), Path::Pointwise | Path::Im2col) if let Some(i) = stored_packing(cx, &op)? => {
            PackedWeights::Stored(i)
        }
        (Some(w), Path::Pointwise | Path::Im2col) => {
            let w = w.as_f32().map_err(|e| e.to_string())?;
            let (cout_g, depth) = (op.out_per_group(), op.depth());
            let dims = Dims {
                m: cout_g,
                n: 1,
                k: depth,
            };
            let packed = (0..groups)
                .map(|g| {
                    let a = Matrix {
                        data: w.get(g * cout_g * depth..).ok_or("weights too short")?,
                        row_stride: depth,
                        col_stride: 1,
                    };
                    pack_constant_lhs(op.kernels, dims, a)
                })
                .collect::<OpResult<Vec<_>>>()?;
            PackedWeights::Built(packed)
        }
        _ => PackedWeights::PerRun,
    };
    let op = Conv { packed_w, ..op };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(DType::F32, out),
    })
}

/// The input holding a stored packing of `op`'s weights for its tier (`Layout::PackedF32A` with
/// the tier's MR, KC and NR), if the node has one; packings for other tile heights are skipped.
/// A packing for this tier whose dims disagree with the weights is an error.
fn stored_packing(cx: &NodeContext<'_>, op: &Conv) -> OpResult<Option<usize>> {
    let mr = op.kernels.f32_mr;
    let want = packed_a_layout(mr);
    for i in FIRST_PACKED_INPUT..cx.inputs.len() {
        let (Some(t), Some(layout)) = (cx.constant(i), cx.constant_layout(i)) else {
            continue;
        };
        if Some(layout) != want {
            continue;
        }
        let dims = [op.groups, op.out_per_group().div_ceil(mr), op.depth(), mr];
        if t.shape() != dims {
            return Err(format!(
                "stored packed weights (input {i}) have dims {:?}, these weights pack into {dims:?}",
                t.shape()
            ));
        }
        return Ok(Some(i));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1-D Conv of 2 channels, kernel 3, padding 1 over 5 positions (im2col path).
    fn conv_1d() -> Conv {
        let axis = |input, kernel, pad| Axis {
            input,
            kernel,
            stride: 1,
            dilation: 1,
            pad_begin: pad,
            pad_end: pad,
            output: input,
        };
        Conv {
            batch: 1,
            in_channels: 2,
            out_channels: 1,
            groups: 1,
            window: Window {
                h: axis(1, 1, 0),
                w: axis(5, 3, 1),
            },
            has_bias: false,
            activation: Activation::Identity,
            path: Path::Im2col,
            dw: None,
            dw_blocks: None,
            fast_im2col: None,
            kernels: plan_kernels().unwrap(),
            packed_w: PackedWeights::PerRun,
        }
    }

    #[test]
    fn im2col_zeroes_the_lanes_past_a_partial_last_panel() {
        let conv = conv_1d();
        let x: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        // Scratch as an earlier op may leave it: subnormals everywhere.
        let mut packed = vec![f32::from_bits(1); NR * conv.depth()];
        conv.im2col_packed(&x, &mut packed, 0..5);
        for (r, row) in packed.chunks_exact(NR).enumerate() {
            let (c, kx) = (r / 3, r % 3);
            for (o, &v) in row[..5].iter().enumerate() {
                let ix = (o + kx).checked_sub(1).filter(|&i| i < 5);
                assert_eq!(v, ix.map_or(0.0, |i| x[c * 5 + i]), "row {r}, column {o}");
            }
            assert!(row[5..].iter().all(|&v| v == 0.0), "row {r}: {row:?}");
        }
    }
}
