//! ConvTranspose, 1-D and 2-D, f32: group, strides, dilations, pads, output_padding,
//! output_shape (then pads are derived: SAME_UPPER puts the smaller half first, otherwise the
//! larger, halves rounded down as ONNX's reference; an output_shape larger than the natural
//! output makes the total negative, which extends the output with zeros), optional bias.
//! auto_pad SAME_UPPER / SAME_LOWER without output_shape target `output = input · stride`.
//! 3-D is unsupported.
//!
//! Computed per image and group as one GEMM, columns `[cout_g · taps, in_plane] = Wᵀ · X` (Wᵀ the
//! left operand, packed at build time when W is a constant, else by the GEMM on each call; X
//! packed into scratch, the columns in scratch after it), then
//! col2im: each output plane starts from its bias and adds, tap by tap in (kh, kw) order, the tap's
//! column plane at the positions `i · stride + k · dilation − pad_begin` it lands on.
//!
//! Invariant: every output element is `bias + Σ_k (Σ_ic x[ic, i] · w[ic, oc, k])` over the input
//! positions `i` and taps `k` that reach it; the GEMM splits across threads by whole tiles and
//! col2im by output channel, so results do not depend on the thread count.

use super::gemm::{Dims, Finish, Matrix, matmul, pack_constant_lhs, pack_rhs, plan_kernels};
use super::parallel::for_each_chunk;
use super::{
    Activation, BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext,
    checked_numel,
};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::f32::{F32Lhs, PackedA};
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
    /// The input positions tap `k` sends inside the output, and the output position of the first
    /// (consecutive inputs land `stride` apart).
    fn span(&self, k: usize) -> (std::ops::Range<usize>, usize) {
        // o = i stride - lead must lie in 0..output, with lead = pad - k dilation (a negative
        // pad, from an output_shape beyond the natural size, shifts the output right).
        let stride = self.stride as isize;
        let lead = self.pad - (k * self.dilation) as isize;
        let first = if lead > 0 {
            (lead + stride - 1) / stride
        } else {
            0
        };
        let last = self.output as isize - 1 + lead;
        let end = if last < 0 {
            0
        } else {
            (last / stride + 1).min(self.input as isize)
        };
        let first = first.min(end);
        (
            first as usize..end as usize,
            (first * stride - lead).max(0) as usize,
        )
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
    /// The f32 GEMM tier, chosen at build time.
    kernels: &'static Kernels,
    /// Wᵀ of each group packed for `kernels` at build time when W is a constant (else the GEMM
    /// packs it on each call).
    packed_w: Option<Vec<PackedA<'static>>>,
}

impl ConvTranspose {
    /// The product of one group: `[cout_g · taps, in_plane] = Wᵀ · X`.
    fn dims(&self) -> Dims {
        Dims {
            m: self.out_channels / self.groups * self.h.kernel * self.w.kernel,
            n: self.h.input * self.w.input,
            k: self.in_channels / self.groups,
        }
    }

    /// Adds the columns `col` (`taps` rows of one input plane each, tap `(kh, kw)` row-major)
    /// of one output channel into its plane `out`, at the positions the taps send them to.
    fn col2im(&self, col: &[f32], out: &mut [f32]) {
        let (h, w) = (self.h, self.w);
        let in_plane = h.input * w.input;
        for kh in 0..h.kernel {
            let (rows, first_oh) = h.span(kh);
            for kw in 0..w.kernel {
                let (cols, first_ow) = w.span(kw);
                let Some(c) = col.get((kh * w.kernel + kw) * in_plane..) else {
                    return;
                };
                for (r, ih) in rows.clone().enumerate() {
                    let oh = first_oh + r * h.stride;
                    let (Some(orow), Some(crow)) = (
                        out.get_mut(oh * w.output + first_ow..(oh + 1) * w.output),
                        c.get(ih * w.input..(ih + 1) * w.input),
                    ) else {
                        continue;
                    };
                    let src = crow.get(cols.clone()).unwrap_or(&[]);
                    for (o, &v) in orow.iter_mut().step_by(w.stride).zip(src) {
                        *o += v;
                    }
                }
            }
        }
    }
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
        let dims = self.dims();
        let taps = h.kernel * w.kernel;
        let needed_x = self.batch * self.in_channels * in_plane;
        let needed_w = self.in_channels * cout_g * taps;
        if x.len() < needed_x
            || wt.len() < needed_w
            || bias.is_some_and(|b| b.len() < self.out_channels)
            || y.len() < self.batch * self.out_channels * out_plane
        {
            return Err("inputs shorter than planned".into());
        }
        let packed_len = dims.packed_rhs_len()?;
        let (packed, rest) = cx
            .scratch
            .split_at_mut_checked(packed_len)
            .ok_or("scratch too small")?;
        let col = rest.get_mut(..dims.m * dims.n).ok_or("scratch too small")?;
        for n in 0..self.batch {
            for g in 0..self.groups {
                let xg = &x[(n * self.in_channels + g * cin_g) * in_plane..][..cin_g * in_plane];
                let xm = Matrix {
                    data: xg,
                    row_stride: in_plane,
                    col_stride: 1,
                };
                pack_rhs(dims, xm, packed)?;
                let a = match &self.packed_w {
                    Some(packed) => F32Lhs::Packed(packed.get(g).ok_or("packed weights missing")?),
                    None => transposed_weights(wt, g, dims).lhs(),
                };
                let finish = Finish {
                    row_bias: None,
                    activation: Activation::Identity,
                    post: None,
                };
                matmul(
                    self.kernels,
                    cx.pool,
                    dims,
                    a,
                    packed,
                    (col, dims.n),
                    finish,
                )?;
                let col: &[f32] = col;
                let first = n * self.out_channels + g * cout_g;
                let yg = &mut y[first * out_plane..][..cout_g * out_plane];
                for_each_chunk(cx.pool, yg, out_plane.max(1), |ocg, out| {
                    out.fill(bias.map_or(0.0, |b| b[first % self.out_channels + ocg]));
                    self.col2im(&col[ocg * taps * in_plane..][..taps * in_plane], out);
                });
            }
        }
        Ok(())
    }

    fn scratch_len(&self) -> usize {
        let dims = self.dims();
        // `build` checked that the sizes do not overflow.
        dims.packed_rhs_len().unwrap_or(0) + dims.m * dims.n
    }
}

/// Group `g`'s left operand Wᵀ: row `(ocg, tap)`, column `icg`, at
/// `W[(g cin_g + icg) cout_g taps + row]` (`dims.k = cin_g`, `dims.m = cout_g taps`).
fn transposed_weights(w: &[f32], g: usize, dims: Dims) -> Matrix<'_> {
    Matrix {
        data: w.get(g * dims.k * dims.m..).unwrap_or(&[]),
        row_stride: 1,
        col_stride: dims.m,
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
    if let Some(k) = cx.ints("kernel_shape")?
        && k.iter().map(|&d| d as usize).ne(kernel.iter().copied())
    {
        return Err(BuildError::Invalid(format!(
            "kernel_shape {k:?} vs W {:?}",
            wf.shape
        )));
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
    // The product's packed input and its columns (see `ConvTranspose::dims`).
    let taps = h.kernel.checked_mul(w.kernel).ok_or("kernel overflows")?;
    checked_numel(&[cout / groups, taps, h.input, w.input])?;
    let op = ConvTranspose {
        batch,
        in_channels: cin,
        out_channels: cout,
        groups,
        h,
        w,
        has_bias,
        kernels: plan_kernels()?,
        packed_w: None,
    };
    let dims = op.dims();
    dims.packed_rhs_len()?;
    let packed_w = match cx.constant(1) {
        Some(w) => {
            let w = w.as_f32().map_err(|e| e.to_string())?;
            if w.len() < cin * dims.m {
                return Err(BuildError::Invalid(
                    "weights shorter than their shape".into(),
                ));
            }
            let packed = (0..groups)
                .map(|g| pack_constant_lhs(op.kernels, dims, transposed_weights(w, g, dims)))
                .collect::<OpResult<Vec<_>>>()?;
            Some(packed)
        }
        None => None,
    };
    let op = ConvTranspose { packed_w, ..op };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(DType::F32, out),
    })
}
