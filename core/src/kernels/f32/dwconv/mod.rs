//! f32 depthwise convolution of one channel plane at a time (NCHW): any kernel size, strides,
//! dilations and padding, a bias and a fused clamp.
//!
//! - `layout`: the padded, phase-split copy of an input plane in which every tap of consecutive
//!   outputs reads consecutive inputs (no edge cases in the kernels).
//! - `plane`: the contract with the per-tier plane kernels (`f32_dwconv_plane__<tier>`) and their
//!   shared body (several chunks of outputs in flight, taps outermost).
//! - `channels`: the small-plane path ([`DwChannels`]): a block of 16 channels transposed into
//!   channel-minor scratch, every tap one multiply-add over the block's channels (per-tier
//!   kernels `f32_dwconv_16c__<tier>`); the caller chooses it per layer ([`DwChannels::wins`]).
//! - [`DwConv`]: the safe entry point for one plane: copies it into the layout, runs the tier's
//!   kernel, either row by row or, for narrow planes, as one flat run of positions whose rows are
//!   then moved into place.
//!
//! Accuracy: per output the taps are added in order, starting from the bias, as `acc + w · x`;
//! the reference tier rounds the product and the sum separately (bit for bit the naive loop), the
//! SIMD tiers use fused multiply-add. A tier's result therefore differs from the reference by at
//! most `(taps + 1) · ε · (|bias| + Σ |w · x|)` (ε = `f32::EPSILON`; the tests check this bound),
//! and does not depend on the plane's shape, the row/flat choice or the thread count.

pub mod channels;
pub(crate) mod layout;
pub(crate) mod plane;

use crate::kernels::Kernels;
use layout::DwLayout;
use plane::DwPlane;

pub use channels::DwChannels;
pub(crate) use channels::F32DwChannelsFn;
pub(crate) use plane::F32DwPlaneFn;

/// The lanes a flat run is planned for (the widest tier's chunk).
const PLAN_LANES: usize = 16;

/// A depthwise window over one plane: its input layout, tap offsets and the row/flat choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DwConv {
    layout: DwLayout,
    taps: Vec<usize>,
    out_h: usize,
    out_w: usize,
    /// Positions of the flat run when the plane is computed as one (narrow planes).
    flat: Option<usize>,
}

/// Per axis: input size, kernel size, stride, dilation, padding before the input, output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DwAxis {
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_begin: usize,
    pub output: usize,
}

impl DwConv {
    /// The window `h` × `w` (the padding after the input is whatever the output size needs).
    /// `None` when a size is 0 or overflows, or the output needs more inputs than the padded
    /// input holds.
    pub fn new(h: DwAxis, w: DwAxis) -> Option<DwConv> {
        let reach = |a: &DwAxis| {
            a.kernel
                .checked_sub(1)?
                .checked_mul(a.dilation)?
                .checked_add(1)
        };
        let layout = DwLayout::new(
            (h.input, w.input),
            (h.pad_begin, w.pad_begin),
            (h.stride, w.stride),
            (h.output, w.output),
            (reach(&h)?, reach(&w)?),
        )?;
        let taps: Vec<usize> = (0..h.kernel)
            .flat_map(|ky| (0..w.kernel).map(move |kx| (ky, kx)))
            .map(|(ky, kx)| layout.tap(ky * h.dilation, kx * w.dilation))
            .collect();
        // A flat run computes `pitch - out_w` dropped positions per row but fills whole chunks:
        // worth it when rows are narrower than a chunk or it saves a fifth of the chunks.
        let run = (h.output - 1) * layout.pitch() + w.output;
        let row_chunks = h.output * w.output.div_ceil(PLAN_LANES);
        let flat_chunks = run.div_ceil(PLAN_LANES);
        let flat = (h.output > 1
            && ((w.output < PLAN_LANES && run >= PLAN_LANES) || 5 * flat_chunks <= 4 * row_chunks))
            .then_some(run);
        Some(DwConv {
            layout,
            taps,
            out_h: h.output,
            out_w: w.output,
            flat,
        })
    }

    /// Weights per plane (kernel taps).
    pub fn taps(&self) -> usize {
        self.taps.len()
    }

    /// Inputs per plane.
    pub fn input_len(&self) -> usize {
        self.layout.input_len()
    }

    /// Outputs per plane.
    pub fn output_len(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The scratch one [`DwConv::plane`] caller needs: the padded plane, then the flat run.
    pub fn scratch_len(&self) -> usize {
        self.layout.len() + self.flat.unwrap_or(0)
    }

    /// One plane: `out[oy · out_w + ox] = clamp(bias + Σ w[ky, kx] · x[..])` over the kernel's
    /// taps (zeros in the padding), `weights` row-major `[kh, kw]`, clamp as ONNX `Clip`.
    /// `scratch` (at least [`DwConv::scratch_len`] long) must be zeros before the first call;
    /// later calls with the same window leave its padding as they need it (fill it once, then
    /// reuse it for every plane). Returns `false`
    /// (writing nothing) when a slice has the wrong length.
    #[allow(clippy::too_many_arguments)]
    pub fn plane(
        &self,
        kernels: &Kernels,
        x: &[f32],
        weights: &[f32],
        bias: f32,
        (min, max): (f32, f32),
        out: &mut [f32],
        scratch: &mut [f32],
    ) -> bool {
        if x.len() != self.input_len()
            || weights.len() != self.taps.len()
            || out.len() != self.output_len()
            || scratch.len() < self.scratch_len()
        {
            return false;
        }
        let (src, rest) = scratch.split_at_mut(self.layout.len());
        let p = DwPlane {
            input: Some((&self.layout, x)),
            src_row: self.layout.pitch(),
            taps: &self.taps,
            weights,
            bias,
            min,
            max,
        };
        let run = &mut rest[..self.flat.unwrap_or(0)];
        // SAFETY: the table's tier is supported by this CPU (`Kernels` invariant); the kernel
        // checks its slices itself.
        unsafe { (kernels.f32_dwconv_plane)(&p, src, run, out, self.out_w) };
        true
    }
}
