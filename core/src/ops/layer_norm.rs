//! LayerNormalization (opset 17), f32: each slice over the axes from `axis` on is normalized to
//! zero mean and unit variance (`epsilon` added to the variance), then scaled by `Scale` and
//! shifted by the optional `B`. The optional outputs Mean and InvStdDev (shape of X with the
//! normalized axes set to 1) are planned as separate nodes (attribute `output_index`: 0 = Y,
//! 1 = Mean, 2 = InvStdDev), each computing the statistics again.
//!
//! `Scale` and `B` must hold either the normalized slice's element count (any leading 1s) or one
//! element; other broadcasts are unsupported. Statistics accumulate in f64 (`stash_type` 1,
//! float32, is what onnxruntime implements; the extra precision only brings results closer to
//! the exact value).

use super::parallel::for_each_chunk;
use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, checked_numel,
    normalize_axis,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Output {
    Y,
    Mean,
    InvStdDev,
}

#[derive(Debug)]
struct LayerNorm {
    /// Elements of one normalized slice.
    inner: usize,
    epsilon: f64,
    /// Whether Scale / B hold one element each (broadcast) rather than `inner`.
    scale_scalar: bool,
    bias_scalar: bool,
    output: Output,
}

impl Op for LayerNorm {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let scale = inputs.f32(1)?;
        let bias = match inputs.get(2) {
            Some(t) => Some(t.as_f32().map_err(|e| e.to_string())?),
            None => None,
        };
        let need = |scalar: bool| if scalar { 1 } else { self.inner };
        if scale.len() < need(self.scale_scalar)
            || bias.is_some_and(|b| b.len() < need(self.bias_scalar))
        {
            return Err("Scale or B is shorter than planned".into());
        }
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let inner = self.inner;
        let (chunk, out) = match self.output {
            Output::Y => (inner, self.output),
            _ => (1, self.output),
        };
        if x.len() != y.len() / chunk * inner {
            return Err("X does not match the planned shape".into());
        }
        for_each_chunk(cx.pool, y, chunk, |row, ys| {
            let xs = &x[row * inner..][..inner];
            let (mean, inv) = moments(xs, self.epsilon);
            match out {
                Output::Mean => ys[0] = mean as f32,
                Output::InvStdDev => ys[0] = inv as f32,
                Output::Y => {
                    for (j, (y, &v)) in ys.iter_mut().zip(xs).enumerate() {
                        let s = scale[if self.scale_scalar { 0 } else { j }];
                        let b = bias.map_or(0.0, |b| b[if self.bias_scalar { 0 } else { j }]);
                        *y = ((f64::from(v) - mean) * inv) as f32 * s + b;
                    }
                }
            }
        });
        Ok(())
    }
}

/// The mean of `xs` and `1 / √(variance + epsilon)` (population variance), in f64; shared by
/// every normalization op (LayerNormalization, GroupNormalization, InstanceNormalization).
pub(super) fn moments(xs: &[f32], epsilon: f64) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = xs
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, 1.0 / (var + epsilon).sqrt())
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.f32_input(0)?;
    let rank = x.shape.len();
    let axis = normalize_axis(cx.int("axis", -1)?, rank)?;
    let inner = checked_numel(&x.shape[axis..])?;
    if inner == 0 {
        return Err("the normalized axes are empty".into());
    }
    // One element, or exactly the normalized slice (leading 1s allowed).
    let fits = |i: usize| -> Result<Option<bool>, BuildError> {
        let Some(f) = cx.opt_input(i) else {
            return Ok(None);
        };
        if f.dtype != DType::F32 {
            return Err(format!("input {i} has dtype {}, expected f32", f.dtype).into());
        }
        let n = checked_numel(&f.shape)?;
        let tail = &x.shape[axis..];
        let lead = f.shape.len().saturating_sub(tail.len());
        if n == 1 {
            Ok(Some(true))
        } else if f.shape.len() >= tail.len()
            && f.shape[lead..] == *tail
            && f.shape[..lead].iter().all(|&d| d == 1)
        {
            Ok(Some(false))
        } else {
            Err(BuildError::Unsupported(format!(
                "input {i} {:?} broadcast to the normalized shape {tail:?}",
                f.shape
            )))
        }
    };
    let scale_scalar = fits(1)?.ok_or("Scale is required")?;
    let bias_scalar = fits(2)?.unwrap_or(false);
    let stats_shape: Vec<usize> = (0..rank)
        .map(|d| if d < axis { x.shape[d] } else { 1 })
        .collect();
    let (output, shape) = match cx.int("output_index", 0)? {
        0 => (Output::Y, x.shape.clone()),
        1 => (Output::Mean, stats_shape),
        2 => (Output::InvStdDev, stats_shape),
        k => return Err(format!("LayerNormalization has no output {k}").into()),
    };
    Ok(Built {
        op: Box::new(LayerNorm {
            inner,
            epsilon: f64::from(cx.float("epsilon", 1e-5)?),
            scale_scalar,
            bias_scalar,
            output,
        }),
        output: Fact::new(DType::F32, shape),
    })
}
