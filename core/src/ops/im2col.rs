//! Fast im2col fills of Conv's GEMM path for two kinds of windows, where the general fill
//! (`Conv::im2col_packed`, which walks each output row and handles padding per row) costs more
//! than the product:
//! - [`ShiftedTaps`]: stride 1 on both axes and output rows as wide as input rows (the width
//!   padding sums to the kernel's span minus one: "same" 1×k and k×k, or k×1 with none). Output
//!   position `j = oy · W + ox` then reads, at tap `(ky, kx)`, input position `j + shift` of its
//!   channel plane with `shift = (ky · dh - pad_top) · W + kx · dw - pad_left`, whenever the tap
//!   lands inside the plane; a 16-column panel row of the im2col matrix is 16 consecutive input
//!   values with the lanes whose tap falls in the padding (above, below, or wrapped around a row
//!   end) masked to zero. openWakeWord's embedding (1×3 and 3×1 on planes 2 to 32 wide).
//! - [`Frames`]: a 1-D window (kernel height 1) with no padding and a width stride of 3 or more: each output
//!   position's taps of a channel are one frame of the input row (`ox · stride + kx · dilation`),
//!   all inside it, so the fill copies frame by frame into the lanes of a panel with no
//!   bounds per tap. openWakeWord's mel spectrogram (an STFT: 512 taps, stride 160).
//!
//! Invariant: both write exactly the packed-B layout of the block's im2col matrix (row
//! `c · taps + ky · KW + kx`, 16-column panels, lanes past the block zero), the same values as
//! the general fill, bit for bit: a kept value is the input's bits, a padding tap `+0.0`.

use std::ops::Range;

use super::window::Window;
use crate::kernels::f32::NR;

/// A window with a fast fill, and which.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FastIm2col {
    Shifted(ShiftedTaps),
    Frames(Frames),
}

impl FastIm2col {
    /// The fast fill of `window`, if it has one.
    pub(crate) fn new(window: &Window) -> Option<Self> {
        ShiftedTaps::new(window)
            .map(FastIm2col::Shifted)
            .or_else(|| Frames::new(window).map(FastIm2col::Frames))
    }

    /// Writes columns `block` (output positions) of the im2col matrix of `channels` input planes
    /// `x` in the packed-B layout of a `block.len()`-column matrix into `packed` (at least
    /// `ceil(block.len() / 16) · 16 · channels · taps` values). Returns `false`, with `packed`
    /// partly written, when `x` or `packed` is too short or `block` runs past the output.
    pub(crate) fn fill(
        &self,
        x: &[f32],
        channels: usize,
        packed: &mut [f32],
        block: Range<usize>,
    ) -> bool {
        match self {
            FastIm2col::Shifted(taps) => taps.fill(x, channels, packed, block),
            FastIm2col::Frames(frames) => frames.fill(x, channels, packed, block),
        }
    }
}

/// The geometry of a window whose taps are shifts of the flattened input plane.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShiftedTaps {
    window: Window,
}

impl ShiftedTaps {
    /// The shifted-tap form of `window`, when it has one (stride 1, output width = input width).
    pub(crate) fn new(window: &Window) -> Option<Self> {
        let (h, w) = (window.h, window.w);
        (h.stride == 1 && w.stride == 1 && w.output == w.input)
            .then_some(ShiftedTaps { window: *window })
    }

    /// [`FastIm2col::fill`] for this window.
    fn fill(&self, x: &[f32], channels: usize, packed: &mut [f32], block: Range<usize>) -> bool {
        let Window { h, w } = self.window;
        let (plane, taps) = (self.window.input_len(), self.window.kernel_len());
        let depth = channels * taps;
        if block.end > self.window.output_len() || x.len() < channels * plane {
            return false;
        }
        if depth == 0 {
            return true;
        }
        let width = w.input as isize;
        let mut panels = packed.chunks_exact_mut(NR * depth);
        for first in block.clone().step_by(NR) {
            let Some(panel) = panels.next() else {
                return false;
            };
            // Output row and column of each lane (lanes past the block are masked below).
            let (mut oy, mut ox) = ([0isize; NR], [0isize; NR]);
            for (l, (y, x)) in oy.iter_mut().zip(&mut ox).enumerate() {
                let j = (first + l) as isize;
                (*y, *x) = (j / width, j % width);
            }
            let lanes = NR.min(block.end - first);
            for t in 0..taps {
                let (ky, kx) = (t / w.kernel, t % w.kernel);
                let dy = (ky * h.dilation) as isize - h.pad_begin as isize;
                let dx = (kx * w.dilation) as isize - w.pad_begin as isize;
                let mut mask = [0u32; NR];
                for (l, m) in mask.iter_mut().enumerate().take(lanes) {
                    let inside = (0..h.input as isize).contains(&(oy[l] + dy))
                        && (0..width).contains(&(ox[l] + dx));
                    *m = if inside { u32::MAX } else { 0 };
                }
                let start = first as isize + dy * width + dx;
                let rows = panel.chunks_exact_mut(NR).skip(t).step_by(taps);
                for (c, row) in rows.enumerate().take(channels) {
                    let Ok(row) = <&mut [f32; NR]>::try_from(row) else {
                        return false;
                    };
                    let at = (c * plane) as isize + start;
                    let src = usize::try_from(at)
                        .ok()
                        .and_then(|at| x.get(at..))
                        .and_then(|s| <&[f32; NR]>::try_from(s.get(..NR)?).ok());
                    match src {
                        Some(src) => {
                            *row =
                                std::array::from_fn(|l| f32::from_bits(src[l].to_bits() & mask[l]));
                        }
                        // A run that starts before or ends after `x` (the first or last
                        // planes' padding): lane by lane, reading only the kept lanes.
                        None => {
                            for (l, d) in row.iter_mut().enumerate() {
                                let kept = mask[l] != 0;
                                *d = match kept.then(|| x.get((at + l as isize) as usize)) {
                                    Some(Some(&v)) => v,
                                    _ => 0.0,
                                };
                            }
                        }
                    }
                }
            }
        }
        true
    }
}

/// The geometry of a 1-D window without padding: the taps of an output position are a frame of
/// its input row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frames {
    window: Window,
}

impl Frames {
    /// The framed form of `window`, when it has one (kernel height 1 at stride 1, no padding)
    /// and the general fill is slower: at a width stride of 3 or more, where that one gathers
    /// each panel row through an iterator (at strides 1 and 2 it copies or shuffles whole panel
    /// rows, faster than this fill's one store per value).
    pub(crate) fn new(window: &Window) -> Option<Self> {
        let (h, w) = (window.h, window.w);
        let unpadded = [h, w].iter().all(|a| a.pad_begin == 0 && a.pad_end == 0);
        let framed = h.kernel == 1 && h.stride == 1 && w.stride >= 3 && unpadded;
        framed.then_some(Frames { window: *window })
    }

    /// [`FastIm2col::fill`] for this window.
    fn fill(&self, x: &[f32], channels: usize, packed: &mut [f32], block: Range<usize>) -> bool {
        let w = self.window.w;
        let plane = self.window.input_len();
        let depth = channels * w.kernel;
        // The last tap of the last output position of a row, inside the row (no padding).
        let span = (w.kernel - 1) * w.dilation + 1;
        if block.end > self.window.output_len() || x.len() < channels * plane || depth == 0 {
            return block.end <= self.window.output_len() && depth == 0;
        }
        let mut panels = packed.chunks_exact_mut(NR * depth);
        for first in block.clone().step_by(NR) {
            let Some(panel) = panels.next() else {
                return false;
            };
            let lanes = NR.min(block.end - first);
            if lanes < NR {
                for row in panel.chunks_exact_mut(NR) {
                    row[lanes..].fill(0.0);
                }
            }
            for l in 0..lanes {
                let (oy, ox) = ((first + l) / w.output, (first + l) % w.output);
                let start = oy * w.input + ox * w.stride;
                for c in 0..channels {
                    let Some(frame) = x.get(c * plane + start..).and_then(|f| f.get(..span)) else {
                        return false;
                    };
                    let rows = panel[c * w.kernel * NR..].chunks_exact_mut(NR);
                    match w.dilation {
                        // The common case as its own loop: no step between taps to compute.
                        1 => rows.zip(frame).for_each(|(row, &v)| row[l] = v),
                        d => rows
                            .zip(frame.iter().step_by(d))
                            .for_each(|(row, &v)| row[l] = v),
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::window::Axis;

    fn axis(input: usize, kernel: usize, dilation: usize, pads: (usize, usize)) -> Axis {
        strided_axis(input, kernel, 1, dilation, pads)
    }

    fn strided_axis(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        pads: (usize, usize),
    ) -> Axis {
        let span = (kernel - 1) * dilation + 1;
        Axis {
            input,
            kernel,
            stride,
            dilation,
            pad_begin: pads.0,
            pad_end: pads.1,
            output: (input + pads.0 + pads.1 - span) / stride + 1,
        }
    }

    /// The im2col matrix entry `(row, column)` from its definition: the input under tap
    /// `(ky, kx)` of output position `column`, or 0 in the padding.
    fn entry(window: &Window, x: &[f32], row: usize, column: usize) -> f32 {
        let Window { h, w } = *window;
        let taps = window.kernel_len();
        let (c, ky, kx) = (row / taps, row % taps / w.kernel, row % w.kernel);
        let (oy, ox) = (column / w.output, column % w.output);
        match (h.source(oy, ky), w.source(ox, kx)) {
            (Some(iy), Some(ix)) => x[c * window.input_len() + iy * w.input + ix],
            _ => 0.0,
        }
    }

    /// Fills `block` of `channels` planes and compares every packed lane with [`entry`], bit for
    /// bit (lanes past the block must be +0.0). Inputs hold NaN and infinities, which a masked
    /// lane must not let through; the scratch starts as garbage.
    fn check(window: &Window, channels: usize, block: Range<usize>) {
        let fast = FastIm2col::new(window).expect("a fast fill");
        let plane = window.input_len();
        let x: Vec<f32> = (0..channels * plane)
            .map(|i| match i % 7 {
                3 => f32::NAN,
                5 => f32::NEG_INFINITY,
                _ => i as f32 + 0.5,
            })
            .collect();
        let depth = channels * window.kernel_len();
        let mut packed = vec![f32::from_bits(0x7fc0_1234); block.len().div_ceil(NR) * NR * depth];
        assert!(fast.fill(&x, channels, &mut packed, block.clone()));
        for (i, &got) in packed.iter().enumerate() {
            let (panel, row, lane) = (i / (NR * depth), i / NR % depth, i % NR);
            let column = block.start + panel * NR + lane;
            let want = match column < block.end {
                true => entry(window, &x, row, column),
                false => 0.0,
            };
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{window:?}, {channels} channels, block {block:?}: row {row}, column {column}"
            );
        }
    }

    /// Every height, width, kernel, dilation and padding with output rows as wide as input rows
    /// (widths below, at and above a panel), two channels, whole outputs and blocks that start
    /// and end inside output rows.
    #[test]
    fn fill_matches_the_im2col_definition() {
        for (h_in, w_in) in [
            (1, 1),
            (1, 5),
            (3, 2),
            (4, 4),
            (5, 7),
            (2, 16),
            (3, 17),
            (6, 33),
        ] {
            for (kh, kw, dh, dw) in [(1, 3, 1, 1), (3, 1, 1, 1), (3, 3, 1, 1), (2, 3, 2, 2)] {
                for pt in 0..=2 {
                    for pb in 0..=1 {
                        for pl in 0..=(kw - 1) * dw {
                            let pads_w = (pl, (kw - 1) * dw - pl);
                            if h_in + pt + pb < (kh - 1) * dh + 1 {
                                continue;
                            }
                            let window = Window {
                                h: axis(h_in, kh, dh, (pt, pb)),
                                w: axis(w_in, kw, dw, pads_w),
                            };
                            let n = window.output_len();
                            check(&window, 2, 0..n);
                            check(&window, 2, n / 3..n - n / 4);
                        }
                    }
                }
            }
        }
    }

    /// Unpadded windows of one kernel row: widths, kernels, strides and dilations such that the
    /// frames overlap, abut or skip input, 1-D and over several rows, whole outputs and blocks
    /// starting and ending inside output rows.
    #[test]
    fn frames_fill_matches_the_im2col_definition() {
        for h_in in [1, 3] {
            for w_in in [1, 5, 16, 40] {
                for (kw, stride, dilation) in
                    [(1, 3, 1), (3, 3, 1), (4, 4, 1), (5, 3, 2), (9, 7, 1)]
                {
                    if w_in < (kw - 1) * dilation + 1 {
                        continue;
                    }
                    let window = Window {
                        h: axis(h_in, 1, 1, (0, 0)),
                        w: strided_axis(w_in, kw, stride, dilation, (0, 0)),
                    };
                    assert!(matches!(
                        FastIm2col::new(&window),
                        Some(FastIm2col::Frames(_))
                    ));
                    let n = window.output_len();
                    for channels in [1, 3] {
                        check(&window, channels, 0..n);
                        check(&window, channels, n / 3..n - n / 4);
                    }
                }
            }
        }
    }

    #[test]
    fn fast_fills_take_only_their_windows() {
        let same = Window {
            h: axis(4, 3, 1, (1, 1)),
            w: axis(6, 3, 1, (1, 1)),
        };
        assert!(ShiftedTaps::new(&same).is_some());
        let narrower = Window {
            w: axis(6, 3, 1, (0, 1)),
            ..same
        };
        assert!(ShiftedTaps::new(&narrower).is_none());
        let strided = Window {
            h: Axis {
                stride: 2,
                output: 2,
                ..same.h
            },
            ..same
        };
        assert!(ShiftedTaps::new(&strided).is_none());
        // Neither frames: a padded or two-row window takes the general fill.
        assert!(FastIm2col::new(&strided).is_none());
        let unpadded = Window {
            h: axis(4, 2, 1, (0, 0)),
            w: strided_axis(9, 3, 3, 1, (0, 0)),
        };
        assert!(FastIm2col::new(&unpadded).is_none());
        // One row at width stride 2: the general fill's shuffles are faster.
        let stride_two = Window {
            h: axis(1, 1, 1, (0, 0)),
            w: strided_axis(9, 3, 2, 1, (0, 0)),
        };
        assert!(FastIm2col::new(&stride_two).is_none());
    }

    #[test]
    fn short_buffers_and_blocks_past_the_output_are_refused() {
        let window = Window {
            h: axis(2, 1, 1, (0, 0)),
            w: axis(20, 3, 1, (1, 1)),
        };
        let taps = ShiftedTaps::new(&window).unwrap();
        let x = vec![1.0; 2 * 40];
        let mut packed = vec![0.0; 3 * NR * 6];
        assert!(taps.fill(&x, 2, &mut packed, 0..40));
        assert!(!taps.fill(&x, 2, &mut packed, 0..41));
        assert!(!taps.fill(&x[..79], 2, &mut packed, 0..40));
        assert!(!taps.fill(&x, 2, &mut packed[..2 * NR * 6], 0..40));
        let frames = Window {
            h: axis(2, 1, 1, (0, 0)),
            w: strided_axis(20, 3, 3, 1, (0, 0)),
        };
        let frames = FastIm2col::new(&frames).unwrap();
        let mut packed = vec![0.0; 2 * NR * 6];
        assert!(frames.fill(&x, 2, &mut packed, 0..12));
        assert!(!frames.fill(&x, 2, &mut packed, 0..13));
        assert!(!frames.fill(&x[..79], 2, &mut packed, 0..12));
        assert!(!frames.fill(&x, 2, &mut packed[..NR * 6 - 1], 0..12));
    }
}
