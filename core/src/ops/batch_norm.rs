//! BatchNormalization in inference mode (f32, channels on axis 1, any rank ≥ 2): the converter
//! folds it into a preceding Conv where it can; this runs the ones left. Scale, bias, mean and
//! variance are read at run time, so they need not be constants. `training_mode` is unsupported.
//!
//! Invariant: each element becomes `(x − mean) / sqrt(var + epsilon) · scale + bias` of its
//! channel, computed as one multiply-add with per-channel factors.

use super::{BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Debug)]
struct BatchNorm {
    channels: usize,
    /// Elements per channel plane.
    plane: usize,
    epsilon: f32,
}

impl Op for BatchNorm {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let (scale, bias, mean, var) = (
            inputs.f32(1)?,
            inputs.f32(2)?,
            inputs.f32(3)?,
            inputs.f32(4)?,
        );
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let planes = y
            .chunks_mut(self.plane.max(1))
            .zip(x.chunks(self.plane.max(1)));
        for (p, (y, x)) in planes.enumerate() {
            let c = p % self.channels;
            let get = |v: &[f32]| v.get(c).copied().ok_or("parameter too short");
            let a = get(scale)? / (get(var)? + self.epsilon).sqrt();
            let b = get(bias)? - get(mean)? * a;
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * a + b;
            }
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    if x.dtype != DType::F32 {
        return Err(BuildError::Unsupported(format!(
            "BatchNormalization on {}",
            x.dtype
        )));
    }
    if cx.int("training_mode", 0)? != 0 {
        return Err(BuildError::Unsupported("training_mode".into()));
    }
    if x.shape.len() < 2 || x.shape[1] == 0 {
        return Err(BuildError::Invalid(format!(
            "X {:?} must be [N, C, ...] with C > 0",
            x.shape
        )));
    }
    let channels = x.shape[1];
    for i in 1..5 {
        let p = cx.input(i)?;
        if p.dtype != DType::F32 || p.shape != [channels] {
            return Err(BuildError::Invalid(format!(
                "input {i} is {} {:?}, expected f32 [{channels}]",
                p.dtype, p.shape
            )));
        }
    }
    Ok(Built {
        op: Box::new(BatchNorm {
            channels,
            plane: x.shape[2..].iter().product(),
            epsilon: cx.float("epsilon", 1e-5)?,
        }),
        output: Fact::new(DType::F32, x.shape.clone()),
    })
}
