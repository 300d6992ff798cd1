//! Element-wise unary ops (Relu, Sigmoid, Exp, ... and Clip), all f32.

use super::{Activation, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::TensorMut;

#[derive(Debug)]
struct Unary(Activation);

impl Op for Unary {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let n = y.len().min(x.len());
        // A copy, then the slice pass (whose Clip/Relu loops vectorize): cheaper than a
        // per-element match.
        y[..n].copy_from_slice(&x[..n]);
        self.0.apply_slice(&mut y[..n]);
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>, op: &str) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    let f = match op {
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu {
            alpha: cx.float("alpha", 0.01)?,
        },
        "Sigmoid" => Activation::Sigmoid,
        "HardSigmoid" => Activation::HardSigmoid {
            alpha: cx.float("alpha", 0.2)?,
            beta: cx.float("beta", 0.5)?,
        },
        "HardSwish" => Activation::HardSwish,
        "Tanh" => Activation::Tanh,
        "Exp" => Activation::Exp,
        "Log" => Activation::Log,
        "Sqrt" => Activation::Sqrt,
        "Abs" => Activation::Abs,
        "Neg" => Activation::Neg,
        "Erf" => Activation::Erf,
        other => return Err(format!("{other} is not a unary op")),
    };
    Ok(Built {
        op: Box::new(Unary(f)),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}

/// Clip (opset 11+): bounds are optional scalar inputs 1 and 2, read at run time.
#[derive(Debug)]
struct Clip;

impl Op for Clip {
    fn run(
        &self,
        inputs: &dyn Inputs,
        output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let bound = |i: usize, default: f32| -> OpResult<f32> {
            match inputs.get(i) {
                None => Ok(default),
                Some(t) => t
                    .as_f32()
                    .map_err(|e| e.to_string())?
                    .first()
                    .copied()
                    .ok_or_else(|| format!("input {i} (a bound) is empty")),
            }
        };
        let f = Activation::Clip {
            min: bound(1, f32::NEG_INFINITY)?,
            max: bound(2, f32::INFINITY)?,
        };
        Unary(f).run(inputs, output, cx)
    }
}

pub(crate) fn build_clip(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    for i in 1..3 {
        if let Some(b) = cx.opt_input(i) {
            if b.dtype != crate::tensor::DType::F32 || b.shape.iter().product::<usize>() != 1 {
                return Err(format!(
                    "bound input {i} must be an f32 scalar, got {} {:?}",
                    b.dtype, b.shape
                ));
            }
        }
    }
    Ok(Built {
        op: Box::new(Clip),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}
