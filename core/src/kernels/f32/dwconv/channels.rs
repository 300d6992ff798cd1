//! f32 depthwise convolution of a block of [`BLOCK`] channels at once, vectorized across the
//! channels: the path for small planes, whose rows are too short for the row kernels' vectors.
//!
//! A block's input planes are transposed into channel-minor scratch: padded pixel `(r, c)` holds
//! the block's [`BLOCK`] channels at `(r · pitch + c) · BLOCK` (zeros in the padding, and in the
//! lanes of channels past a short last block), so tap `(dy, dx)` of output `(oy, ox)` is one
//! vector load at `((oy · sh + dy) · pitch + ox · sw + dx) · BLOCK` whatever the stride, dilation
//! and padding (no edge cases). Each output pixel is then `clamp(bias + Σ_t w[t] · x[t])` with
//! one weight vector per tap (the block's channels, packed by [`DwChannels::pack_block`]), taps
//! in order, several pixels in flight; the channel-minor result is transposed back into the
//! block's NCHW output planes. Both transposes go by squares of `L` channels × `L` pixels in the
//! tier's registers ([`F32Transpose`], `L` its lanes; the last square of a plane overlaps the one
//! before it), planes of fewer than `L` pixels one float at a time.
//!
//! Invariants: per output the taps are added in the order of [`super::plane`]'s kernels (bias
//! first, `acc + w · x`, rounded twice on the reference tier and once on the fused tiers), so a
//! tier's channel-block result equals its row kernels' bit for bit; the padding and unused lanes
//! of the scratch are written by every block (its content before does not matter).

use super::DwAxis;
use super::plane::{F32Vec, Scalar};
use crate::kernels::Kernels;

/// Channels per block on every tier (16 lanes of AVX-512, two AVX2 vectors, four NEON ones): one
/// packed weight layout serves every tier.
pub const BLOCK: usize = 16;

/// The geometry of the channel-block path for one depthwise window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DwChannels {
    in_h: usize,
    in_w: usize,
    /// Where the input's pixel `(0, 0)` sits in the padded plane (pixels).
    first: usize,
    /// Pixels per padded row.
    pitch: usize,
    /// Pixels of the padded plane.
    padded: usize,
    out_h: usize,
    out_w: usize,
    /// Pixels between the windows of two neighbouring outputs in a row / a column.
    step: (usize, usize),
    /// Per tap, row-major, its pixel offset from its output's window start.
    taps: Vec<usize>,
}

impl DwChannels {
    /// The window `h` × `w` (the padding after the input is whatever the output size needs).
    /// `None` when a size is 0 or overflows, or the output needs more inputs than the padded
    /// input holds.
    pub fn new(h: DwAxis, w: DwAxis) -> Option<DwChannels> {
        // Padded extent of an axis: the last window's reach, or the input and its front padding.
        let extent = |a: &DwAxis| {
            let reach = a.kernel.checked_sub(1)?.checked_mul(a.dilation)?;
            let last = a.stride.checked_mul(a.output.checked_sub(1)?)?;
            let end = last.checked_add(reach)?.checked_add(1)?;
            (a.input > 0 && a.stride > 0).then_some(end.max(a.pad_begin.checked_add(a.input)?))
        };
        let (rows, pitch) = (extent(&h)?, extent(&w)?);
        let padded = rows.checked_mul(pitch)?;
        padded.checked_mul(BLOCK)?;
        let taps = (0..h.kernel)
            .flat_map(|ky| (0..w.kernel).map(move |kx| (ky, kx)))
            .map(|(ky, kx)| ky * h.dilation * pitch + kx * w.dilation)
            .collect();
        Some(DwChannels {
            in_h: h.input,
            in_w: w.input,
            first: h.pad_begin * pitch + w.pad_begin,
            pitch,
            padded,
            out_h: h.output,
            out_w: w.output,
            step: (h.stride * pitch, w.stride),
            taps,
        })
    }

    /// Whether this path beats the row kernels on this window: output rows narrower than the
    /// widest row vector (16) and planes of at most 14 × 14 outputs, where the row kernels run
    /// mostly partial or overlapping vectors (measured crossover: `docs/performance.md`).
    pub fn wins(&self) -> bool {
        self.out_w < 16 && self.out_h * self.out_w <= 196
    }

    /// Weights per channel (kernel taps).
    pub fn taps(&self) -> usize {
        self.taps.len()
    }

    /// Inputs per plane.
    pub fn input_len(&self) -> usize {
        self.in_h * self.in_w
    }

    /// Outputs per plane.
    pub fn output_len(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Floats of one block's packed weights: the bias vector, then one vector per tap.
    pub fn packed_block_len(&self) -> usize {
        (self.taps.len() + 1) * BLOCK
    }

    /// The scratch one [`DwChannels::block`] caller needs: the channel-minor padded input, then
    /// the channel-minor output.
    pub fn scratch_len(&self) -> usize {
        (self.padded + self.output_len()) * BLOCK
    }

    /// Packs the weights (`[channels, taps]`, row-major) and bias (`None`: zeros) of the block of
    /// channels starting at `first` into `dst` ([`DwChannels::packed_block_len`] long): the
    /// bias vector, then per tap the block's weights; lanes past the last channel are zeros.
    /// Returns `false` (writing nothing) when a slice is too short or the block is empty.
    pub fn pack_block(
        &self,
        weights: &[f32],
        bias: Option<&[f32]>,
        first: usize,
        dst: &mut [f32],
    ) -> bool {
        let taps = self.taps.len();
        let channels = (weights.len() / taps.max(1)).min(bias.map_or(usize::MAX, <[f32]>::len));
        if first >= channels || dst.len() != self.packed_block_len() {
            return false;
        }
        let n = (channels - first).min(BLOCK);
        dst.fill(0.0);
        let (bias_row, rows) = dst.split_at_mut(BLOCK);
        if let Some(b) = bias {
            bias_row[..n].copy_from_slice(&b[first..first + n]);
        }
        for (c, w) in weights[first * taps..(first + n) * taps]
            .chunks_exact(taps)
            .enumerate()
        {
            for (row, &w) in rows.chunks_exact_mut(BLOCK).zip(w) {
                row[c] = w;
            }
        }
        true
    }

    /// One block of 1 to [`BLOCK`] channels: `x` holds its input planes one after the other,
    /// `out` its output planes, `packed` its weights ([`DwChannels::pack_block`]), clamp as ONNX
    /// `Clip`. Returns `false` (writing nothing) when a slice has the wrong length.
    #[allow(clippy::too_many_arguments)]
    pub fn block(
        &self,
        kernels: &Kernels,
        x: &[f32],
        packed: &[f32],
        (min, max): (f32, f32),
        out: &mut [f32],
        scratch: &mut [f32],
    ) -> bool {
        let b = DwBlock {
            geometry: self,
            x,
            packed,
            min,
            max,
        };
        if b.channels().is_none()
            || out.len() != x.len() / self.input_len() * self.output_len()
            || scratch.len() < self.scratch_len()
        {
            return false;
        }
        // SAFETY: the table's tier is supported by this CPU (`Kernels` invariant); the kernel
        // checks its slices itself.
        unsafe { (kernels.f32_dwconv_channels)(&b, out, scratch) };
        true
    }
}

/// One block's arguments for a channel-block kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DwBlock<'a> {
    pub geometry: &'a DwChannels,
    /// The block's input planes, one after the other.
    pub x: &'a [f32],
    /// The block's packed weights ([`DwChannels::pack_block`]).
    pub packed: &'a [f32],
    /// Clamp bounds (ONNX `Clip`: NaN passes through; crossed bounds give `max`).
    pub min: f32,
    pub max: f32,
}

impl DwBlock<'_> {
    /// The block's channel count, when `x` is 1 to [`BLOCK`] whole planes and `packed` one
    /// block's weights.
    fn channels(&self) -> Option<usize> {
        let g = self.geometry;
        let n = self.x.len().checked_div(g.input_len())?;
        ((1..=BLOCK).contains(&n)
            && self.x.len() == n * g.input_len()
            && self.packed.len() == g.packed_block_len())
        .then_some(n)
    }
}

/// A channel-block kernel (`f32_dwconv_16c__<tier>`); see [`dwconv_channels`].
///
/// # Safety
/// The CPU has the kernel's tier (the arguments are checked like [`dwconv_channels`]'s).
pub(crate) type F32DwChannelsFn = unsafe fn(b: &DwBlock<'_>, out: &mut [f32], scratch: &mut [f32]);

/// A tier's vector that can transpose a square of `LANES` × `LANES` floats in registers.
///
/// # Safety
/// As [`F32Vec`]: only called inside functions compiled with the tier's features.
pub(crate) unsafe trait F32Transpose: F32Vec {
    /// Loads vector `i` from `from[i]` and stores vector `j` at `to[j]`, lane `i` of the latter
    /// being lane `j` of the former (`from` and `to` hold `LANES` pointers).
    ///
    /// # Safety
    /// Each `from[i]` is readable and each `to[j]` writable for `LANES` floats, no store
    /// overlapping a load; the CPU has the tier.
    unsafe fn transpose(from: &[*const f32], to: &[*mut f32]);
}

// SAFETY: plain Rust, no CPU requirement.
unsafe impl<const FUSED: bool> F32Transpose for Scalar<FUSED> {
    #[inline(always)]
    unsafe fn transpose(from: &[*const f32], to: &[*mut f32]) {
        // SAFETY: one float at `from[0]` and `to[0]` (the contract, `LANES` = 1).
        unsafe { to[0].write(from[0].read()) }
    }
}

/// Computes block `b` into `out` (its output planes one after the other), with `VECS` vectors `V`
/// per pixel (`VECS · V::LANES = BLOCK`) and `P` pixels in flight. Does nothing (never panics)
/// when a slice has the wrong length (see [`DwChannels::block`]).
///
/// # Safety
/// The CPU has `V`'s tier.
#[inline(always)]
pub(crate) unsafe fn dwconv_channels<V: F32Transpose, const VECS: usize, const P: usize>(
    b: &DwBlock<'_>,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let g = b.geometry;
    let Some(n) = b.channels() else { return };
    let pixels = g.output_len();
    if VECS * V::LANES != BLOCK || out.len() != n * pixels || scratch.len() < g.scratch_len() {
        return;
    }
    let (src, rest) = scratch.split_at_mut(g.padded * BLOCK);
    let dst = &mut rest[..pixels * BLOCK];
    zero_padding(g, src);
    // SAFETY: `x` is `n` planes, `src` the padded plane, whose extent covers every tap of every
    // output (`DwChannels::new`), `dst` one vector per output pixel, `out` `n` output planes
    // (checked above); `VECS · V::LANES = BLOCK` (checked above); the CPU has `V`'s tier (the
    // caller's contract).
    unsafe {
        if g.input_len() >= V::LANES {
            transpose_in::<V, VECS>(g, b.x, n, src);
        } else {
            transpose_in::<Scalar<false>, BLOCK>(g, b.x, n, src);
        }
        if pixels >= P {
            pixels_of::<V, VECS, P>(b, src, dst);
        } else {
            pixels_of::<V, VECS, 1>(b, src, dst);
        }
        if pixels >= V::LANES {
            transpose_out::<V, VECS>(dst, n, out);
        } else {
            transpose_out::<Scalar<false>, BLOCK>(dst, n, out);
        }
    }
}

/// Zeros the padding of the padded plane `src` (every pixel the input does not cover).
#[inline(always)]
fn zero_padding(g: &DwChannels, src: &mut [f32]) {
    let mut at = 0;
    for iy in 0..g.in_h {
        let row = g.first + iy * g.pitch;
        // The padding between the previous row's last input and this row's first.
        src[at * BLOCK..row * BLOCK].fill(0.0);
        at = row + g.in_w;
    }
    src[at * BLOCK..g.padded * BLOCK].fill(0.0);
}

/// The starts of the squares of `W::LANES` pixels covering `0..pixels` (`pixels >= LANES`): every
/// `LANES`-th, then one ending at the last pixel.
#[inline(always)]
fn squares<W: F32Vec>(pixels: usize) -> impl Iterator<Item = usize> {
    let lanes = W::LANES;
    (0..pixels.div_ceil(lanes)).map(move |k| (k * lanes).min(pixels - lanes))
}

/// Writes the `n` planes of `x` channel-minor into the input pixels of the padded plane `src`
/// (every pixel's [`BLOCK`] lanes, zeros past channel `n`), by squares of `W::LANES`.
///
/// # Safety
/// `x` is `n` (1 to [`BLOCK`]) planes of at least `W::LANES` pixels, `src` the padded plane;
/// `VECS · W::LANES = BLOCK`; the CPU has `W`'s tier.
#[inline(always)]
unsafe fn transpose_in<W: F32Transpose, const VECS: usize>(
    g: &DwChannels,
    x: &[f32],
    n: usize,
    src: &mut [f32],
) {
    let (lanes, plane) = (W::LANES, g.input_len());
    let zeros = [0.0f32; BLOCK];
    let mut from = [zeros.as_ptr(); BLOCK];
    let mut to = [src.as_mut_ptr(); BLOCK];
    for start in squares::<W>(plane) {
        let (mut iy, mut ix) = (start / g.in_w, start % g.in_w);
        let mut pixel = [0; BLOCK];
        for p in &mut pixel[..lanes] {
            *p = (g.first + iy * g.pitch + ix) * BLOCK;
            ix += 1;
            if ix == g.in_w {
                (iy, ix) = (iy + 1, 0);
            }
        }
        for v in 0..VECS {
            for i in 0..lanes {
                let c = v * lanes + i;
                // Channels past `n` read zeros.
                from[i] = x.as_ptr().wrapping_add(c * plane + start);
                if c >= n {
                    from[i] = zeros.as_ptr();
                }
                to[i] = src.as_mut_ptr().wrapping_add(pixel[i] + v * lanes);
            }
            // SAFETY: channel `c < n` reads pixels `start .. start + lanes <= plane` of its plane
            // in `x`, the others `lanes <= BLOCK` zeros; each store is lanes `v · lanes ..
            // (v + 1) · lanes <= BLOCK` of an input pixel of `src` (`first + iy · pitch + ix` with
            // `iy < in_h`, `ix < in_w`: inside the padded plane); the CPU has the tier.
            unsafe { W::transpose(&from[..lanes], &to[..lanes]) };
        }
    }
}

/// Writes the `n` channels of the channel-minor pixels `dst` into their output planes in `out`,
/// by squares of `W::LANES` (lanes past channel `n` are dropped).
///
/// # Safety
/// `dst` is at least `W::LANES` pixels of [`BLOCK`] lanes, `out` `n` (1 to [`BLOCK`]) planes of
/// as many; `VECS · W::LANES = BLOCK`; the CPU has `W`'s tier.
#[inline(always)]
unsafe fn transpose_out<W: F32Transpose, const VECS: usize>(
    dst: &[f32],
    n: usize,
    out: &mut [f32],
) {
    let (lanes, pixels) = (W::LANES, dst.len() / BLOCK);
    let mut dropped = [0.0f32; BLOCK];
    let mut from = [dst.as_ptr(); BLOCK];
    let mut to = [dropped.as_mut_ptr(); BLOCK];
    for start in squares::<W>(pixels) {
        for v in 0..VECS.min(n.div_ceil(lanes)) {
            for i in 0..lanes {
                let c = v * lanes + i;
                from[i] = dst.as_ptr().wrapping_add((start + i) * BLOCK + v * lanes);
                to[i] = if c < n {
                    out.as_mut_ptr().wrapping_add(c * pixels + start)
                } else {
                    dropped.as_mut_ptr()
                };
            }
            // SAFETY: each load is lanes `v · lanes .. (v + 1) · lanes <= BLOCK` of pixel
            // `start + i < pixels` of `dst`; each store pixels `start .. start + lanes <= pixels`
            // of plane `c < n` of `out`, or `lanes <= BLOCK` floats of `dropped`; the CPU has the
            // tier.
            unsafe { W::transpose(&from[..lanes], &to[..lanes]) };
        }
    }
}

/// Every output pixel of the block into `dst` (channel-minor), `P` at a time (`pixels >= P`; the
/// last group overlaps the one before it, writing the same values).
///
/// # Safety
/// `src` is the block's padded plane (`g.padded · BLOCK` floats), `dst` `output_len · BLOCK`;
/// `VECS · V::LANES = BLOCK`; the CPU has `V`'s tier.
#[inline(always)]
unsafe fn pixels_of<V: F32Vec, const VECS: usize, const P: usize>(
    b: &DwBlock<'_>,
    src: &[f32],
    dst: &mut [f32],
) {
    let g = b.geometry;
    let pixels = g.output_len();
    let lanes = V::LANES;
    let (src, weights) = (src.as_ptr(), b.packed.as_ptr());
    // SAFETY (all vector operations): the CPU has `V`'s tier; every load is a vector of a pixel
    // inside the padded plane (a tap of an output) or of a packed weight row, every store one of
    // an output pixel (the caller's contract).
    unsafe {
        let (min, max) = (V::splat(b.min), V::splat(b.max));
        // Output `(oy, ox)` of the next group's first pixel, stepped along (no division but for
        // the last group, which overlaps the one before it).
        let (mut next, mut oy, mut ox) = (0, 0, 0);
        while next < pixels {
            let first = next.min(pixels - P);
            if first != next {
                (oy, ox) = (first / g.out_w, first % g.out_w);
            }
            let at: [usize; P] = std::array::from_fn(|_| {
                let at = (oy * g.step.0 + ox * g.step.1) * BLOCK;
                ox += 1;
                if ox == g.out_w {
                    (oy, ox) = (oy + 1, 0);
                }
                at
            });
            let mut acc: [[V; VECS]; P] =
                [std::array::from_fn(|v| V::load(weights.add(v * lanes))); P];
            for (t, &tap) in g.taps.iter().enumerate() {
                let row = weights.add((t + 1) * BLOCK);
                let w: [V; VECS] = std::array::from_fn(|v| V::load(row.add(v * lanes)));
                for (a, &at) in acc.iter_mut().zip(&at) {
                    let x = src.add(at + tap * BLOCK);
                    for (v, a) in a.iter_mut().enumerate() {
                        *a = V::madd(*a, w[v], V::load(x.add(v * lanes)));
                    }
                }
            }
            for (p, a) in acc.iter().enumerate() {
                let out = dst.as_mut_ptr().add((first + p) * BLOCK);
                for (v, a) in a.iter().enumerate() {
                    a.clamp(min, max).store(out.add(v * lanes));
                }
            }
            next = first + P;
        }
    }
}

/// Defines a tier's channel-block kernel `$name`: [`dwconv_channels`] compiled with `$features`
/// (none for the reference tier), `$vecs` vectors `$v` per pixel, `$pixels` pixels in flight.
macro_rules! dwconv_channels_kernel {
    ($name:ident, [$($features:literal)?], $v:ty, vecs: $vecs:literal, pixels: $pixels:literal) => {
        /// [`dwconv_channels`](crate::kernels::f32::dwconv::channels::dwconv_channels) compiled
        /// for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        $(#[target_feature(enable = $features)])?
        pub(crate) unsafe fn $name(
            b: &$crate::kernels::f32::dwconv::channels::DwBlock<'_>,
            out: &mut [f32],
            scratch: &mut [f32],
        ) {
            // SAFETY: this function is compiled with the vector's features and the CPU has them
            // (the contract).
            unsafe {
                $crate::kernels::f32::dwconv::channels::dwconv_channels::<$v, $vecs, $pixels>(
                    b, out, scratch,
                )
            }
        }
    };
}
pub(crate) use dwconv_channels_kernel;
