//! Sliding-window geometry shared by Conv and the pools: kernel, strides, dilations, explicit
//! pads or `auto_pad`, ceil mode, and the output size they imply.
//!
//! Invariant: 1-D windows are normalized to 2-D with a leading trivial axis (size 1, kernel 1),
//! so the compute loops have one shape; every `Axis` has `kernel, stride, dilation ≥ 1`, and its
//! `output` is the ONNX output size (at least 1 window fits).

use super::{NodeContext, OpResult};

/// One spatial axis of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Axis {
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_begin: usize,
    pub pad_end: usize,
    pub output: usize,
}

impl Axis {
    const TRIVIAL: Axis = Axis {
        input: 1,
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
        output: 1,
    };

    /// The output positions whose tap `t` falls inside the input (not in the padding): a
    /// contiguous range, since the input coordinate grows with the output position.
    pub fn valid_outputs(&self, t: usize) -> std::ops::Range<usize> {
        let offset = t * self.dilation;
        let first = self.pad_begin.saturating_sub(offset).div_ceil(self.stride);
        let end = match (self.input + self.pad_begin).checked_sub(offset + 1) {
            Some(last_numerator) => (last_numerator / self.stride + 1).min(self.output),
            None => 0,
        };
        first.min(end)..end
    }

    /// Input coordinate of kernel tap `t` for output position `o`, `None` when it falls in the
    /// padding.
    #[inline]
    pub fn source(&self, o: usize, t: usize) -> Option<usize> {
        (o * self.stride + t * self.dilation)
            .checked_sub(self.pad_begin)
            .filter(|&i| i < self.input)
    }
}

/// A 2-D window: `h` is trivial for 1-D ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub h: Axis,
    pub w: Axis,
}

impl Window {
    /// Output positions per plane.
    pub fn output_len(&self) -> usize {
        self.h.output * self.w.output
    }

    /// Input positions per plane.
    pub fn input_len(&self) -> usize {
        self.h.input * self.w.input
    }

    /// Kernel taps per plane.
    pub fn kernel_len(&self) -> usize {
        self.h.kernel * self.w.kernel
    }

    /// Output spatial dims in the op's own rank (1 or 2).
    pub fn output_dims(&self, spatial_rank: usize) -> Vec<usize> {
        if spatial_rank == 1 {
            vec![self.w.output]
        } else {
            vec![self.h.output, self.w.output]
        }
    }
}

fn positive(values: Option<&[i64]>, name: &str, rank: usize) -> OpResult<Vec<usize>> {
    match values {
        None => Ok(vec![1; rank]),
        Some(v) if v.len() == rank && v.iter().all(|&x| x >= 1) => {
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        Some(v) => Err(format!("'{name}' must be {rank} values ≥ 1, got {v:?}")),
    }
}

/// Reads strides, dilations, pads and auto_pad of `cx` for a window of `kernel` over `input`
/// (both of the op's spatial rank, 1 or 2).
pub(crate) fn window(
    cx: &NodeContext<'_>,
    input: &[usize],
    kernel: &[usize],
    ceil_mode: bool,
) -> OpResult<Window> {
    let rank = input.len();
    if !(1..=2).contains(&rank) || kernel.len() != rank {
        return Err(format!(
            "only 1-D and 2-D windows are supported, got input {input:?} and kernel {kernel:?}"
        ));
    }
    if kernel.contains(&0) {
        return Err(format!("kernel {kernel:?} has a zero dimension"));
    }
    let strides = positive(cx.ints("strides")?, "strides", rank)?;
    let dilations = positive(cx.ints("dilations")?, "dilations", rank)?;
    let auto_pad = cx.string("auto_pad")?.unwrap_or("NOTSET");
    let pads: Vec<usize> = match cx.ints("pads")? {
        None => vec![0; 2 * rank],
        Some(p) if p.len() == 2 * rank && p.iter().all(|&x| (0..=1 << 20).contains(&x)) => {
            p.iter().map(|&x| x as usize).collect()
        }
        Some(p) => Err(format!(
            "'pads' must be {} values in 0..=2^20, got {p:?}",
            2 * rank
        ))?,
    };
    let mut axes = Vec::with_capacity(rank);
    for d in 0..rank {
        let (i, k, s, dl) = (input[d], kernel[d], strides[d], dilations[d]);
        let span = (k - 1)
            .checked_mul(dl)
            .and_then(|x| x.checked_add(1))
            .ok_or("kernel span overflows")?;
        let (pad_begin, pad_end, output) = match auto_pad {
            "NOTSET" | "VALID" => {
                let (pb, pe) = if auto_pad == "VALID" {
                    (0, 0)
                } else {
                    (pads[d], pads[d + rank])
                };
                let padded = i + pb + pe;
                if padded < span {
                    return Err(format!(
                        "axis {d}: window span {span} exceeds padded input {padded}"
                    ));
                }
                let mut out = if ceil_mode {
                    (padded - span).div_ceil(s) + 1
                } else {
                    (padded - span) / s + 1
                };
                // A last window starting in the end padding is dropped (ceil mode).
                if ceil_mode && (out - 1) * s >= i + pb {
                    out -= 1;
                }
                (pb, pe, out)
            }
            "SAME_UPPER" | "SAME_LOWER" => {
                let out = i.div_ceil(s);
                let total = ((out.max(1) - 1) * s + span).saturating_sub(i);
                let small = total / 2;
                if auto_pad == "SAME_UPPER" {
                    (small, total - small, out)
                } else {
                    (total - small, small, out)
                }
            }
            other => return Err(format!("unknown auto_pad '{other}'")),
        };
        if output == 0 {
            return Err(format!("axis {d}: empty output"));
        }
        axes.push(Axis {
            input: i,
            kernel: k,
            stride: s,
            dilation: dl,
            pad_begin,
            pad_end,
            output,
        });
    }
    match axes.as_slice() {
        [w] => Ok(Window {
            h: Axis::TRIVIAL,
            w: *w,
        }),
        [h, w] => Ok(Window { h: *h, w: *w }),
        _ => Err(format!("spatial rank {rank} is not supported")),
    }
}
