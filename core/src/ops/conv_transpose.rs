//! ConvTranspose, 1-D and 2-D, f32: group, strides, dilations, pads, output_padding,
//! output_shape (then pads are derived: SAME_UPPER puts the smaller half first, otherwise the
//! larger, halves rounded down as ONNX's reference; an output_shape larger than the natural
//! output makes the total negative, which extends the output with zeros), optional bias.
//! auto_pad SAME_UPPER / SAME_LOWER without output_shape target `output = input · stride`.
//! 3-D is unsupported.
//!
//! Invariant: every output element is `bias + Σ x[ic, i] · w[ic, oc, k]` over the input positions
//! `i` and taps `k` with `i · stride + k · dilation − pad_begin` equal to its position, added in
//! the order input channel, tap, position; planes are split across threads by output channel.

use super::parallel::for_each_chunk;
use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, checked_numel,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

/// One spatial axis: input and output lengths, kernel, stride, dilation, padding before
/// (negative: zeros added before the natural output).
#[derive(Clone, Copy, Debug)]
struct Axis {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad: isize,
}

impl Axis {
    /// Calls `f(i, o)` for every input position `i` that tap `k` sends to output position `o`.
    #[inline]
    fn for_each(&self, k: usize, mut f: impl FnMut(usize, usize)) {
        for i in 0..self.input {
            let o = (i * self.stride + k * self.dilation) as isize - self.pad;
            if o >= 0 && (o as usize) < self.output {
                f(i, o as usize);
            }
        }
    }
}

#[derive(Debug)]
struct ConvTranspose {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    /// Height then width (a 1-D op has height 1).
    h: Axis,
    w: Axis,
    has_bias: bool,
}

impl Op for ConvTranspose {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let wt = inputs.f32(1)?;
        let bias = if self.has_bias {
            Some(inputs.f32(2)?)
        } else {
            None
        };
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let (h, w) = (self.h, self.w);
        let (in_plane, out_plane) = (h.input * w.input, h.output * w.output);
        let (cin_g, cout_g) = (
            self.in_channels / self.groups,
            self.out_channels / self.groups,
        );
        let taps = h.kernel * w.kernel;
        let needed_x = self.batch * self.in_channels * in_plane;
        let needed_w = self.in_channels * cout_g * taps;
        if x.len() < needed_x
            || wt.len() < needed_w
            || bias.is_some_and(|b| b.len() < self.out_channels)
        {
            return Err("inputs shorter than planned".into());
        }
        for_each_chunk(cx.pool, y, out_plane.max(1), |plane, out| {
            let (n, oc) = (plane / self.out_channels, plane % self.out_channels);
            let (g, ocg) = (oc / cout_g, oc % cout_g);
            out.fill(bias.map_or(0.0, |b| b[oc]));
            for icg in 0..cin_g {
                let ic = g * cin_g + icg;
                let xs = &x[(n * self.in_channels + ic) * in_plane..][..in_plane];
                let ws = &wt[(ic * cout_g + ocg) * taps..][..taps];
                for kh in 0..h.kernel {
                    for kw in 0..w.kernel {
                        let wv = ws[kh * w.kernel + kw];
                        h.for_each(kh, |ih, oh| {
                            let row = &xs[ih * w.input..][..w.input];
                            let orow = &mut out[oh * w.output..][..w.output];
                            w.for_each(kw, |iw, ow| orow[ow] += row[iw] * wv);
                        });
                    }
                }
            }
        });
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let wf = cx.input(1)?;
    if x.dtype != DType::F32 || wf.dtype != DType::F32 {
        return Err(BuildError::Unsupported(format!(
            "ConvTranspose on {}",
            x.dtype
        )));
    }
    let spatial = x.shape.len().saturating_sub(2);
    if !(1..=2).contains(&spatial) || wf.shape.len() != x.shape.len() {
        return Err(BuildError::Unsupported(format!(
            "X {:?} and W {:?} (1-D and 2-D only)",
            x.shape, wf.shape
        )));
    }
    let groups = usize::try_from(cx.int("group", 1)?).unwrap_or(0);
    let (batch, cin) = (x.shape[0], x.shape[1]);
    if groups == 0 || cin % groups != 0 || wf.shape[0] != cin {
        return Err(BuildError::Invalid(format!(
            "X {:?}, W {:?} and group {groups} do not fit",
            x.shape, wf.shape
        )));
    }
    let cout = wf.shape[1]
        .checked_mul(groups)
        .ok_or("output channels overflow")?;
    let list = |name: &str, default: usize| -> Result<Vec<usize>, BuildError> {
        match cx.ints(name)? {
            None => Ok(vec![default; spatial]),
            Some(v) if v.len() == spatial => v
                .iter()
                .map(|&d| {
                    usize::try_from(d).map_err(|_| BuildError::Invalid(format!("{name} {v:?}")))
                })
                .collect(),
            Some(v) => Err(BuildError::Invalid(format!(
                "{name} {v:?} for {spatial} spatial axes"
            ))),
        }
    };
    let kernel: Vec<usize> = wf.shape[2..].to_vec();
    if let Some(k) = cx.ints("kernel_shape")? {
        if k.iter().map(|&d| d as usize).ne(kernel.iter().copied()) {
            return Err(BuildError::Invalid(format!(
                "kernel_shape {k:?} vs W {:?}",
                wf.shape
            )));
        }
    }
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    let out_pad = list("output_padding", 0)?;
    let pads = match cx.ints("pads")? {
        None => vec![0; 2 * spatial],
        Some(p) if p.len() == 2 * spatial && p.iter().all(|&v| v >= 0) => {
            p.iter().map(|&v| v as usize).collect()
        }
        Some(p) => return Err(BuildError::Invalid(format!("pads {p:?}"))),
    };
    let output_shape = match cx.ints("output_shape")? {
        None => None,
        Some(s) => {
            let s = &s[s.len().saturating_sub(spatial)..];
            if s.len() != spatial || s.iter().any(|&v| v < 0) {
                return Err(BuildError::Invalid(format!("output_shape {s:?}")));
            }
            Some(s.iter().map(|&v| v as usize).collect::<Vec<_>>())
        }
    };
    let auto_pad = cx.string("auto_pad")?.unwrap_or("NOTSET");
    let mut axes = Vec::with_capacity(spatial);
    for d in 0..spatial {
        let (s, dil, k, input) = (strides[d], dilations[d], kernel[d], x.shape[2 + d]);
        if s == 0 || dil == 0 || k == 0 || input == 0 {
            return Err(BuildError::Invalid(
                "zero stride, dilation, kernel or input size".into(),
            ));
        }
        let span = (k - 1)
            .checked_mul(dil)
            .and_then(|v| v.checked_add(1))
            .ok_or("kernel span overflows")?;
        // Size before any padding is removed.
        let full = (input - 1)
            .checked_mul(s)
            .and_then(|v| v.checked_add(out_pad[d]))
            .and_then(|v| v.checked_add(span))
            .ok_or("output size overflows")?;
        let target = match (output_shape.as_ref(), auto_pad) {
            (Some(o), _) => Some(o[d]),
            (None, "SAME_UPPER" | "SAME_LOWER") => Some(input.checked_mul(s).ok_or("overflow")?),
            (None, "NOTSET" | "VALID") => None,
            (None, other) => return Err(BuildError::Unsupported(format!("auto_pad {other}"))),
        };
        let (pad, output) = match target {
            Some(t) => {
                let (full_i, t_i) = (isize::try_from(full), isize::try_from(t));
                let total = match (full_i, t_i) {
                    (Ok(f), Ok(t)) if t > 0 => f - t,
                    _ => return Err(format!("output size {t} (natural size {full})").into()),
                };
                // As the ONNX spec: SAME_UPPER puts the smaller half first, otherwise the larger.
                // A negative total (output_shape beyond the natural size) pads with zeros.
                let small = total.div_euclid(2);
                let begin = if auto_pad == "SAME_UPPER" {
                    small
                } else {
                    total - small
                };
                (begin, t)
            }
            None if auto_pad == "VALID" => (0, full),
            None => (
                isize::try_from(pads[d]).map_err(|_| format!("pads {pads:?}"))?,
                full.checked_sub(pads[d] + pads[d + spatial])
                    .filter(|&v| v > 0)
                    .ok_or_else(|| format!("pads {pads:?} remove the whole output"))?,
            ),
        };
        axes.push(Axis {
            input,
            output,
            kernel: k,
            stride: s,
            dilation: dil,
            pad,
        });
    }
    let one = Axis {
        input: 1,
        output: 1,
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad: 0,
    };
    let (h, w) = if spatial == 2 {
        (axes[0], axes[1])
    } else {
        (one, axes[0])
    };
    let has_bias = match cx.opt_input(2) {
        None => false,
        Some(b) if b.dtype == DType::F32 && b.shape == [cout] => true,
        Some(b) => {
            return Err(BuildError::Invalid(format!(
                "bias {} {:?}, expected [{cout}]",
                b.dtype, b.shape
            )));
        }
    };
    let mut out = vec![batch, cout];
    out.extend(axes.iter().map(|a| a.output));
    checked_numel(&out)?;
    Ok(Built {
        op: Box::new(ConvTranspose {
            batch,
            in_channels: cin,
            out_channels: cout,
            groups,
            h,
            w,
            has_bias,
        }),
        output: Fact::new(DType::F32, out),
    })
}
