//! Resize (opset 11+), f32: modes `nearest` (nearest_mode round_prefer_floor, round_prefer_ceil,
//! floor, ceil) and `linear` (N-linear over the resized axes); coordinate_transformation_mode
//! half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners and asymmetric; `scales`
//! or `sizes` inputs (known at plan time), with the opset-18 `axes` attribute. Unsupported:
//! cubic, tf_crop_and_resize, antialias, keep_aspect_ratio_policy other than stretch.
//!
//! Invariant: the source positions and weights of every output index along every axis are
//! computed at build time, clamped into the input, so `run` only gathers and blends.

use super::strided::strides;
use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel, normalize_axis,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

/// Where output index `o` of one axis reads: `lo` with weight 1 − `frac`, `hi` with `frac`
/// (element offsets, already multiplied by the axis stride).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tap {
    lo: usize,
    hi: usize,
    frac: f32,
}

#[derive(Debug)]
struct Resize {
    out_shape: Vec<usize>,
    /// Per axis, one tap per output index.
    taps: Vec<Vec<Tap>>,
    /// Elements of one input plane (the last two axes) when only those two are resized: then
    /// `run` goes plane by plane, row by row ([`Resize::planes`]).
    plane: Option<usize>,
    /// Every tap of the last axis reads one element (weight 1): nearest mode.
    nearest_cols: bool,
}

impl Resize {
    /// The output plane by plane when every axis but the last two is copied as is: per output
    /// element the same corners, weights and order as [`Resize::blend`] (the copied axes only
    /// contribute factors of 1), without its per-element walk over all axes. An output row whose
    /// row tap equals the previous row's is a copy of it (upsampling repeats rows); with
    /// `nearest_cols` a row is a plain gather.
    fn planes(&self, x: &[f32], y: &mut [f32], in_plane: usize) -> OpResult<()> {
        let [.., rows, cols] = &self.taps[..] else {
            return Err("plane resize needs two axes".into());
        };
        let out_plane = rows.len() * cols.len();
        for (xp, yp) in x.chunks_exact(in_plane).zip(y.chunks_exact_mut(out_plane)) {
            let mut previous: Option<(Tap, usize)> = None;
            for (r, ty) in rows.iter().enumerate() {
                let at = r * cols.len();
                if let Some((tp, from)) = previous
                    && tp == *ty
                {
                    yp.copy_within(from..from + cols.len(), at);
                    continue;
                }
                previous = Some((*ty, at));
                let yrow = &mut yp[at..at + cols.len()];
                if self.nearest_cols && ty.frac == 0.0 {
                    for (tx, v) in cols.iter().zip(yrow.iter_mut()) {
                        *v = *xp.get(ty.lo + tx.lo).ok_or(OUT)?;
                    }
                    continue;
                }
                for (tx, v) in cols.iter().zip(yrow.iter_mut()) {
                    let at = |a: usize, b: usize| xp.get(a + b).copied();
                    let mut sum = 0.0;
                    sum += (1.0 - ty.frac) * (1.0 - tx.frac) * at(ty.lo, tx.lo).ok_or(OUT)?;
                    if ty.frac != 0.0 {
                        sum += ty.frac * (1.0 - tx.frac) * at(ty.hi, tx.lo).ok_or(OUT)?;
                    }
                    if tx.frac != 0.0 {
                        sum += (1.0 - ty.frac) * tx.frac * at(ty.lo, tx.hi).ok_or(OUT)?;
                        if ty.frac != 0.0 {
                            sum += ty.frac * tx.frac * at(ty.hi, tx.hi).ok_or(OUT)?;
                        }
                    }
                    *v = sum;
                }
            }
        }
        Ok(())
    }

    /// Blends the input at the taps `t` (one per axis) over every corner whose weight is not 0.
    fn blend(&self, x: &[f32], t: &[Tap]) -> Option<f32> {
        let mut sum = 0.0;
        let corners = 1usize << t.len();
        'corner: for corner in 0..corners {
            let (mut at, mut weight) = (0usize, 1.0f32);
            for (d, tap) in t.iter().enumerate() {
                if corner >> d & 1 == 1 {
                    if tap.frac == 0.0 {
                        continue 'corner;
                    }
                    at += tap.hi;
                    weight *= tap.frac;
                } else {
                    at += tap.lo;
                    weight *= 1.0 - tap.frac;
                }
            }
            sum += weight * x.get(at)?;
        }
        Some(sum)
    }
}

impl Op for Resize {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        if let Some(in_plane) = self.plane {
            return self.planes(x, y, in_plane);
        }
        let rank = self.out_shape.len();
        let mut idx = [0usize; super::MAX_RANK];
        let mut t = [Tap {
            lo: 0,
            hi: 0,
            frac: 0.0,
        }; super::MAX_RANK];
        for (t, taps) in t.iter_mut().zip(&self.taps) {
            *t = *taps.first().ok_or("empty axis")?;
        }
        for v in y.iter_mut() {
            *v = self.blend(x, &t[..rank]).ok_or(OUT)?;
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < self.out_shape[d] {
                    t[d] = self.taps[d][idx[d]];
                    break;
                }
                idx[d] = 0;
                t[d] = self.taps[d][0];
            }
        }
        Ok(())
    }
}

const OUT: &str = "resize source out of bounds";

#[derive(Clone, Copy, PartialEq)]
enum Nearest {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// The input coordinate of output index `o` along an axis of `len_in` → `len_out` at `scale`.
fn source_coordinate(mode: &str, o: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
    let o = o as f32;
    match mode {
        "asymmetric" => o / scale,
        "align_corners" if len_out > 1 => o * (len_in as f32 - 1.0) / (len_out as f32 - 1.0),
        "align_corners" => 0.0,
        "pytorch_half_pixel" if len_out > 1 => (o + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => 0.0,
        "half_pixel_symmetric" => {
            let adjustment = len_out as f32 / (scale * len_in as f32);
            let offset = len_in as f32 / 2.0 * (1.0 - adjustment);
            offset + (o + 0.5) / scale - 0.5
        }
        _ => (o + 0.5) / scale - 0.5,
    }
}

fn nearest_index(x: f32, mode: Nearest, len: usize) -> usize {
    let i = match mode {
        Nearest::Floor => x.floor(),
        Nearest::Ceil => x.ceil(),
        Nearest::RoundPreferFloor if x.fract() == 0.5 => x.floor(),
        Nearest::RoundPreferCeil if x.fract() == 0.5 => x.ceil(),
        _ => x.round(),
    };
    (i.max(0.0) as usize).min(len - 1)
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    if x.dtype != DType::F32 {
        return Err(BuildError::Unsupported(format!("Resize on {}", x.dtype)));
    }
    let rank = x.shape.len();
    check_rank(&x.shape)?;
    let unsupported = |what: String| Err(BuildError::Unsupported(what));
    let linear = match cx.string("mode")?.unwrap_or("nearest") {
        "nearest" => false,
        "linear" => true,
        other => return unsupported(format!("mode '{other}'")),
    };
    let nearest = match cx.string("nearest_mode")?.unwrap_or("round_prefer_floor") {
        "round_prefer_floor" => Nearest::RoundPreferFloor,
        "round_prefer_ceil" => Nearest::RoundPreferCeil,
        "floor" => Nearest::Floor,
        "ceil" => Nearest::Ceil,
        other => return unsupported(format!("nearest_mode '{other}'")),
    };
    let coord = cx
        .string("coordinate_transformation_mode")?
        .unwrap_or("half_pixel");
    if !matches!(
        coord,
        "half_pixel"
            | "half_pixel_symmetric"
            | "pytorch_half_pixel"
            | "align_corners"
            | "asymmetric"
    ) {
        return unsupported(format!("coordinate_transformation_mode '{coord}'"));
    }
    if cx.int("antialias", 0)? != 0 {
        return unsupported("antialias".into());
    }
    if cx
        .string("keep_aspect_ratio_policy")?
        .is_some_and(|p| p != "stretch")
    {
        return unsupported("keep_aspect_ratio_policy".into());
    }
    let axes: Vec<usize> = match cx.ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| normalize_axis(a, rank))
            .collect::<OpResult<_>>()?,
        None => (0..rank).collect(),
    };
    // Scales (input 2, f32) or sizes (input 3, ints), for the listed axes.
    let scales_given = cx
        .opt_input(2)
        .filter(|f| f.shape.iter().product::<usize>() > 0);
    let mut scales = vec![1.0f32; rank];
    let mut out = x.shape.clone();
    if let Some(f) = scales_given {
        let v = f
            .value
            .as_ref()
            .ok_or_else(|| BuildError::Unsupported("scales computed at run time".into()))?;
        let v = v.as_f32().map_err(|e| e.to_string())?;
        if v.len() != axes.len() {
            return Err(BuildError::Invalid(format!(
                "{} scales for {} axes",
                v.len(),
                axes.len()
            )));
        }
        for (&a, &s) in axes.iter().zip(v) {
            if !(s > 0.0 && s.is_finite()) {
                return Err(BuildError::Invalid(format!("scale {s}")));
            }
            scales[a] = s;
            let n = (x.shape[a] as f64 * f64::from(s)).floor();
            if n >= usize::MAX as f64 {
                return Err(BuildError::Invalid(format!("scale {s} overflows")));
            }
            out[a] = n as usize;
        }
    } else {
        let sizes = cx
            .known_ints(3)
            .map_err(|e| BuildError::Unsupported(format!("sizes: {e}")))?
            .ok_or("Resize needs scales or sizes")?;
        if sizes.len() != axes.len() {
            return Err(BuildError::Invalid(format!(
                "{} sizes for {} axes",
                sizes.len(),
                axes.len()
            )));
        }
        for (&a, &n) in axes.iter().zip(&sizes) {
            out[a] = usize::try_from(n).map_err(|_| format!("size {n}"))?;
            scales[a] = out[a] as f32 / x.shape[a] as f32;
        }
    }
    checked_numel(&out)?;
    if x.shape.contains(&0) || out.contains(&0) {
        return Err(BuildError::Invalid(format!(
            "empty resize {:?} → {out:?}",
            x.shape
        )));
    }
    let st = strides(&x.shape);
    let mut taps = Vec::with_capacity(rank);
    for d in 0..rank {
        let (len_in, stride) = (x.shape[d], st[d].max(0) as usize);
        let axis_taps: Vec<Tap> = (0..out[d])
            .map(|o| {
                let c = source_coordinate(coord, o, scales[d], len_in, out[d]);
                if linear {
                    let c = c.clamp(0.0, (len_in - 1) as f32);
                    let lo = c.floor() as usize;
                    let hi = (lo + 1).min(len_in - 1);
                    let frac = if hi == lo { 0.0 } else { c - lo as f32 };
                    Tap {
                        lo: lo * stride,
                        hi: hi * stride,
                        frac,
                    }
                } else {
                    let i = nearest_index(c, nearest, len_in) * stride;
                    Tap {
                        lo: i,
                        hi: i,
                        frac: 0.0,
                    }
                }
            })
            .collect();
        taps.push(axis_taps);
    }
    // Only the last two axes resized: every other axis copies index o from o.
    let copied = |d: usize| {
        out[d] == x.shape[d]
            && taps[d]
                .iter()
                .enumerate()
                .all(|(o, t)| t.frac == 0.0 && t.lo == o * st[d].max(0) as usize)
    };
    let plane =
        (rank >= 2 && (0..rank - 2).all(copied)).then(|| x.shape[rank - 2..].iter().product());
    Ok(Built {
        op: Box::new(Resize {
            out_shape: out.clone(),
            nearest_cols: taps.last().is_some_and(|t| t.iter().all(|t| t.frac == 0.0)),
            taps,
            plane,
        }),
        output: Fact::new(DType::F32, out),
    })
}
