//! Int8 depthwise convolution (one input channel per output channel), NCHW: K x K kernels (3 or
//! 5), stride 1 or 2, dilation 1, any padding; s8 or u8 input with a zero point, s8 per-channel
//! taps, i32 bias, per-channel requantization to s8 or u8 with clamp (fused ReLU/ReLU6), bit-exact
//! with the int8 GEMM epilogue.
//!
//! - [`pack`]: the `dw` weight layout (taps, folded bias, scale per channel) and its pure packing.
//! - `plane`: the plane-job contract with the tier kernels, chunking, padding, requantization.
//! - `channels`: the channel-vectorized path of small planes (blocks of channels, one lane each),
//!   taken by stride-1 layers of at most `CHANNELS_MAX_PLANE` outputs per plane.
//! - [`qs8_dwconv`]: the safe entry point (validation, planes across threads).
//!
//! Layout choice: the runtime is NCHW (ONNX), so a channel's plane is contiguous and a kernel walks
//! it by output rows, vectorized along the output width (as the f32 depthwise path does). Per
//! output row, the K input rows under it are read where they lie in a copy of the channel plane
//! whose rows are padded with the zero point (left padding, and on the right up to the reach of the
//! last chunk), so every output goes through the vector kernel with no edge path; kernel rows in
//! the top or bottom padding are skipped and only correct the bias. Narrow planes (at most
//! `FLAT_MAX_OW` outputs wide) are copied into the flat layout instead (padded rows side by side,
//! padding rows included, see `plane`), so that one chunk covers several output rows. The padded
//! copy lives in a per-thread scratch buffer that is kept between calls (a warm call allocates
//! nothing).
//!
//! Invariants: no argument reaches a kernel unchecked; results do not depend on the thread count
//! or the tier.

pub(crate) mod channels;
pub mod pack;
pub(crate) mod plane;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::kernels::qs8::gemm::check_out_kind;
use crate::kernels::qs8::tile::OutKind;
use crate::tensor::DType;

use channels::{CHANNELS_MAX_PLANE, ChannelBlocks};
pub use pack::{Qs8DwPacked, dw_packed_len, pack_qs8_dw};
use plane::{DwPlaneJob, FLAT_MAX_OW, FlatLayout, MAX_K, MAX_V, copy_short, tap_pairs};

/// Shape, stride and padding of a depthwise convolution. Input `[batch, channels, height,
/// width]` (NCHW, contiguous); output `[batch, channels, out_height, out_width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwGeometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// 1 or 2, the same along both axes.
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
}

impl DwGeometry {
    /// `(out_height, out_width)` for a `k x k` kernel, or an error when the padded input is smaller
    /// than the kernel, the stride is not 1 or 2, or a size overflows.
    pub fn output_hw(&self, k: usize) -> Result<(usize, usize)> {
        if !matches!(self.stride, 1 | 2) {
            return Err(Error::invalid_argument(format!(
                "depthwise int8 convolution supports strides 1 and 2, not {}",
                self.stride
            )));
        }
        let out = |len: usize, a: usize, b: usize, what: &str| {
            let padded = len
                .checked_add(a)
                .and_then(|x| x.checked_add(b))
                .filter(|&p| p <= i32::MAX as usize);
            match padded {
                Some(p) if p >= k => Ok((p - k) / self.stride + 1),
                _ => Err(Error::invalid_argument(format!(
                    "depthwise {what}: {len} + padding {a} + {b} is smaller than the kernel {k} or too large"
                ))),
            }
        };
        Ok((
            out(self.height, self.pad_top, self.pad_bottom, "height")?,
            out(self.width, self.pad_left, self.pad_right, "width")?,
        ))
    }
}

/// The input of a depthwise convolution (its dtype must be the one the weights were packed for).
#[derive(Clone, Copy, Debug)]
pub enum DwInput<'a> {
    S8(&'a [i8]),
    U8(&'a [u8]),
}

/// The output: requantized bytes with zero point and clamp bounds (`[zero_point, max]` for ReLU).
#[derive(Debug)]
pub enum DwOutput<'a> {
    S8 {
        data: &'a mut [i8],
        zero_point: i32,
        min: i8,
        max: i8,
    },
    U8 {
        data: &'a mut [u8],
        zero_point: i32,
        min: u8,
        max: u8,
    },
}

/// How a layer is computed: plane by plane (vectorized along each plane's outputs) or in blocks of
/// channels (vectorized across channels, for small planes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DwPath {
    Planes,
    Channels,
}

impl DwPath {
    /// The faster path for output planes of `oh x ow` at `stride` (the measured crossover: at
    /// stride 2 the transposition of four inputs per output outweighs the gain).
    fn for_plane(oh: usize, ow: usize, stride: usize) -> DwPath {
        if stride == 1 && oh * ow <= CHANNELS_MAX_PLANE {
            DwPath::Channels
        } else {
            DwPath::Planes
        }
    }
}

/// Runs a depthwise convolution with `kernels`' depthwise kernels on `threads` threads (1 = the
/// calling thread only; more = that many tasks over channel planes or blocks on the current rayon
/// pool), the path chosen by the output plane size. Every argument is validated: a mismatch is an
/// [`Error::InvalidArgument`], never a panic.
pub fn qs8_dwconv(
    kernels: &Kernels,
    weights: &Qs8DwPacked,
    geometry: &DwGeometry,
    input: DwInput,
    output: DwOutput,
    threads: usize,
) -> Result<()> {
    qs8_dwconv_on(kernels, weights, geometry, input, output, threads, None)
}

/// [`qs8_dwconv`] on `path`, or the one chosen by plane size when `None`.
pub(crate) fn qs8_dwconv_on(
    kernels: &Kernels,
    weights: &Qs8DwPacked,
    geometry: &DwGeometry,
    input: DwInput,
    output: DwOutput,
    threads: usize,
    path: Option<DwPath>,
) -> Result<()> {
    let g = geometry;
    let k = weights.kernel_size();
    if threads == 0 {
        return Err(Error::invalid_argument("thread count must be at least 1"));
    }
    if g.channels != weights.channels() {
        return Err(Error::invalid_argument(format!(
            "depthwise input has {} channels, the weights {}",
            g.channels,
            weights.channels()
        )));
    }
    let (oh, ow) = g.output_hw(k)?;
    let planes = g.batch.checked_mul(g.channels);
    let in_len = planes.and_then(|p| p.checked_mul(g.height)?.checked_mul(g.width));
    let out_len = planes.and_then(|p| p.checked_mul(oh)?.checked_mul(ow));
    let (Some(planes), Some(in_len), Some(out_len)) = (planes, in_len, out_len) else {
        return Err(Error::invalid_argument("depthwise tensor sizes overflow"));
    };
    let (bytes, dtype): (&[u8], DType) = match input {
        DwInput::S8(d) => (bytemuck::cast_slice(d), DType::I8),
        DwInput::U8(d) => (d, DType::U8),
    };
    if dtype != weights.input_dtype() {
        return Err(Error::invalid_argument(format!(
            "depthwise input is {dtype}, the weights were packed for {}",
            weights.input_dtype()
        )));
    }
    let (out, kind) = match output {
        DwOutput::S8 {
            data,
            zero_point,
            min,
            max,
        } => (
            bytemuck::cast_slice_mut::<i8, u8>(data),
            OutKind::s8(zero_point, min, max),
        ),
        DwOutput::U8 {
            data,
            zero_point,
            min,
            max,
        } => (data, OutKind::u8(zero_point, min, max)),
    };
    check_out_kind(kind)?;
    if bytes.len() != in_len || out.len() != out_len {
        return Err(Error::invalid_argument(format!(
            "depthwise input has {} elements and output {}, shape {g:?} needs {in_len} and {out_len}",
            bytes.len(),
            out.len()
        )));
    }
    if planes == 0 || oh * ow == 0 {
        return Ok(());
    }
    let plane_out = oh * ow;
    if path.unwrap_or(DwPath::for_plane(oh, ow, g.stride)) == DwPath::Channels {
        let job = ChannelBlocks {
            kernels,
            weights,
            g,
            oh,
            ow,
            kind,
            input: bytes,
        };
        let blocks = g.batch * job.blocks_per_image();
        // Block `blocks` (one past the last) starts at plane batch * channels, the end.
        let first_plane = |b| job.block(b).2;
        split_units(blocks, threads, out, plane_out, first_plane, |b, part| {
            job.run(b, part)
        });
        return Ok(());
    }
    let job = Plane {
        kernels,
        weights,
        g,
        k,
        ow,
        flat: (ow <= FLAT_MAX_OW).then(|| FlatLayout::new(k, g.stride, oh, ow)),
        plane_out: oh * ow,
        kind,
        input: bytes,
    };
    split_units(
        planes,
        threads,
        out,
        plane_out,
        |p| p,
        |p, part| job.run(p, part),
    );
    Ok(())
}

/// Runs `run(first, part)` over `units` units of work (channel planes or blocks) in up to
/// `threads` tasks of consecutive units, `part` being the output of units `first..` up to the
/// next task's first unit; unit `u` starts at output plane `first_plane(u)` (of `plane_out` bytes),
/// for `u <= units`.
fn split_units(
    units: usize,
    threads: usize,
    out: &mut [u8],
    plane_out: usize,
    first_plane: impl Fn(usize) -> usize + Sync,
    run: impl Fn(usize, &mut [u8]) + Sync,
) {
    let chunks = threads.min(units);
    if chunks == 1 {
        run(0, out);
        return;
    }
    let per = units.div_ceil(chunks);
    rayon::scope(|s| {
        let mut rest = out;
        for first in (0..units).step_by(per) {
            let len = (first_plane((first + per).min(units)) - first_plane(first)) * plane_out;
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            let run = &run;
            s.spawn(move |_| run(first, part));
        }
    });
}

thread_local! {
    /// The zero-point-padded copy of the plane being computed (see [`Plane::run`]), kept between
    /// calls.
    static PADDED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Validated arguments, shared read-only by the threads.
struct Plane<'a> {
    kernels: &'a Kernels,
    weights: &'a Qs8DwPacked<'a>,
    g: &'a DwGeometry,
    k: usize,
    ow: usize,
    /// The layout of narrow planes (see `plane`), else padded rows of `row_len`.
    flat: Option<FlatLayout>,
    /// Bytes of one output plane.
    plane_out: usize,
    kind: OutKind,
    input: &'a [u8],
}

impl Plane<'_> {
    /// Computes the planes `first..` that `out` holds (whole output planes).
    fn run(&self, first: usize, out: &mut [u8]) {
        let (g, k, w) = (self.g, self.k, self.weights);
        let unsigned = w.input_dtype() == DType::U8;
        let fill = (w.zero_point_s8() as u8) ^ if unsigned { 0x80 } else { 0 };
        // Padded rows: `pad_left` zero points, the input row, zero points up to the reach of the
        // last chunk of the widest tier (see `DwPlaneJob`).
        let row_len = (g.pad_left + g.width).max(g.stride * (self.ow + MAX_V - 1) + k - 1);
        let len = self.flat.map_or(g.height * row_len, |f| f.len);
        PADDED.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                buf.resize(len, fill);
                self.run_padded(first, out, &mut buf, row_len);
            }
            // A nested call on this thread (none today) gets its own buffer.
            Err(_) => self.run_padded(first, out, &mut vec![fill; len], row_len),
        });
    }

    /// [`Plane::run`] with `padded` = `height` rows of `row_len` zero-point bytes.
    fn run_padded(&self, first: usize, out: &mut [u8], padded: &mut [u8], row_len: usize) {
        let (g, k, w) = (self.g, self.k, self.weights);
        let plane_in = g.height * g.width;
        let unsigned = w.input_dtype() == DType::U8;
        let zp = w.zero_point_s8();
        for (i, out_plane) in out.chunks_mut(self.plane_out).enumerate() {
            let plane = first + i;
            let ch = plane % g.channels;
            let x = &self.input[plane * plane_in..(plane + 1) * plane_in];
            if g.width == 0 {
                // Nothing but padding.
            } else if let Some(flat) = &self.flat {
                // Padded row pad_top + iy; rows past the last one read are left out.
                for (iy, src) in x.chunks_exact(g.width).enumerate() {
                    let r = g.pad_top + iy;
                    if r >= flat.rows {
                        break;
                    }
                    let at = flat.row(r) + g.pad_left;
                    copy_short(&mut padded[at..at + g.width], src);
                }
            } else {
                for (dst, src) in padded
                    .chunks_exact_mut(row_len)
                    .zip(x.chunks_exact(g.width))
                {
                    copy_short(&mut dst[g.pad_left..g.pad_left + g.width], src);
                }
            }
            let taps = w.taps(ch);
            let rows: [[i8; MAX_K]; MAX_K] = std::array::from_fn(|ky| {
                std::array::from_fn(|kx| {
                    if ky < k && kx < k {
                        taps[ky * k + kx]
                    } else {
                        0
                    }
                })
            });
            let job = DwPlaneJob {
                k,
                stride: g.stride,
                pad_top: g.pad_top,
                height: g.height,
                ow: self.ow,
                x: padded,
                row_len,
                flat: self.flat,
                taps: rows,
                pairs: std::array::from_fn(|ky| {
                    if ky < k {
                        tap_pairs(&rows[ky], k)
                    } else {
                        [0; 6]
                    }
                }),
                unsigned,
                zp,
                bias: w.bias(ch),
                scale: w.scale(ch),
                out: self.kind,
            };
            // SAFETY: the job is valid: k is 3 or 5 (checked by `Qs8DwPacked`), the stride 1 or 2
            // (`output_hw`), `padded` holds the flat layout for (k, stride, oh, ow) or height rows
            // of row_len bytes as `DwPlaneJob` wants,
            // `out_plane` whole rows of `ow > 0`, taps and pairs set; the out kind is S8/U8; the
            // table's tier is supported by this CPU (`Kernels`).
            unsafe { (self.kernels.qs8_dwconv)(&job, out_plane) };
        }
    }
}
