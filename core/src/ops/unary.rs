//! Element-wise unary ops (Relu, Sigmoid, Exp, Gelu, ... and Clip), all f32; Neg and Abs also
//! on i64, i32 and i8 (wrapping: the negation of the minimum is itself, as in C), Clip on every
//! integer dtype; IsNaN and IsInf (f32 to bool).

use super::elems::{Num, dispatch, view, view_mut};
use super::gemm::plan_kernels;
use super::parallel::for_each_span;
use super::{Activation, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::vmath::f32_vunary_into;
use crate::tensor::DType;

/// An f32 function, through the vectorized kernel of the plan's tier when it has one.
#[derive(Debug)]
struct Unary {
    f: Activation,
    kernels: &'static Kernels,
}

impl Op for Unary {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let n = y.len().min(x.len());
        let (x, y) = (&x[..n], &mut y[..n]);
        let done = for_each_span(cx.pool, y, |at, ys| {
            let xs = &x[at..at + ys.len()];
            match self.f.vector() {
                Some(op) => f32_vunary_into(self.kernels, op, xs, ys).is_ok(),
                None => {
                    ys.copy_from_slice(xs);
                    self.f.apply_slice(self.kernels, ys);
                    true
                }
            }
        });
        if done {
            Ok(())
        } else {
            Err("operand lengths do not fit the output".into())
        }
    }
}

/// Neg or Abs of an integer tensor.
#[derive(Debug)]
struct IntUnary {
    abs: bool,
}

fn int_unary<T: Num>(abs: bool, inputs: &dyn Inputs, out: &mut TensorMut<'_>) -> OpResult<()> {
    let x = view::<T>(&inputs.req(0)?)?;
    for (y, &x) in view_mut::<T>(out)?.iter_mut().zip(x) {
        let v = x.to_i64();
        *y = T::from_i64(if abs && v >= 0 { v } else { v.wrapping_neg() });
    }
    Ok(())
}

impl Op for IntUnary {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let d = output.dtype();
        dispatch!(
            d,
            int_unary(self.abs, inputs, &mut output),
            Err(format!("dtype {d}"))
        )
    }
}

pub(crate) fn build(cx: &NodeContext<'_>, op: &str) -> OpResult<Built> {
    let x = cx.input(0)?;
    let output = Fact::new(x.dtype, x.shape.clone());
    if x.dtype != DType::F32 && matches!(op, "Neg" | "Abs") {
        // Which integer dtypes run is `ops::op_support`'s answer, checked before building.
        return Ok(Built {
            op: Box::new(IntUnary { abs: op == "Abs" }),
            output,
        });
    }
    cx.f32_input(0)?;
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
        "Gelu" => match cx.string("approximate")?.unwrap_or("none") {
            "none" => Activation::Gelu,
            "tanh" => Activation::GeluTanh,
            other => return Err(format!("approximate must be none or tanh, got '{other}'")),
        },
        "Reciprocal" => Activation::Reciprocal,
        "Floor" => Activation::Floor,
        "Ceil" => Activation::Ceil,
        "Round" => Activation::Round,
        "Sign" => Activation::Sign,
        "Sin" => Activation::Sin,
        "Cos" => Activation::Cos,
        "Tan" => Activation::Tan,
        "Asin" => Activation::Asin,
        "Acos" => Activation::Acos,
        "Atan" => Activation::Atan,
        "Sinh" => Activation::Sinh,
        "Cosh" => Activation::Cosh,
        "Asinh" => Activation::Asinh,
        "Acosh" => Activation::Acosh,
        "Atanh" => Activation::Atanh,
        "Softplus" => Activation::Softplus,
        "Softsign" => Activation::Softsign,
        "Elu" => Activation::Elu {
            alpha: cx.float("alpha", 1.0)?,
        },
        "Selu" => Activation::Selu {
            alpha: cx.float("alpha", 1.673_263_2)?,
            gamma: cx.float("gamma", 1.050_701)?,
        },
        "Celu" => Activation::Celu {
            alpha: cx.float("alpha", 1.0)?,
        },
        "ThresholdedRelu" => Activation::ThresholdedRelu {
            alpha: cx.float("alpha", 1.0)?,
        },
        "Mish" => Activation::Mish,
        "Swish" => Activation::Swish {
            alpha: cx.float("alpha", 1.0)?,
        },
        other => return Err(format!("{other} is not a unary op")),
    };
    Ok(Built {
        op: Box::new(Unary {
            f,
            kernels: plan_kernels()?,
        }),
        output,
    })
}

/// IsNaN and IsInf (`detect_positive`, `detect_negative`): f32 in, bool out.
#[derive(Debug)]
struct Classify {
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
}

impl Op for Classify {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        for (y, &v) in output.bytes_mut().iter_mut().zip(x) {
            let hit = (self.nan && v.is_nan())
                || (self.pos_inf && v == f32::INFINITY)
                || (self.neg_inf && v == f32::NEG_INFINITY);
            *y = u8::from(hit);
        }
        Ok(())
    }
}

pub(crate) fn build_classify(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    let op = if cx.node.op == "IsNaN" {
        Classify {
            nan: true,
            pos_inf: false,
            neg_inf: false,
        }
    } else {
        Classify {
            nan: false,
            pos_inf: cx.int("detect_positive", 1)? != 0,
            neg_inf: cx.int("detect_negative", 1)? != 0,
        }
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(DType::Bool, x.shape.clone()),
    })
}

/// Clip (opset 11+): bounds are optional scalar inputs 1 and 2, read at run time.
#[derive(Debug)]
struct Clip {
    kernels: &'static Kernels,
}

impl Op for Clip {
    fn run(
        &self,
        inputs: &dyn Inputs,
        output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let mut output = output;
        let d = output.dtype();
        if d != DType::F32 {
            return dispatch!(d, int_clip(inputs, &mut output), Err(format!("dtype {d}")));
        }
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
        Unary {
            f,
            kernels: self.kernels,
        }
        .run(inputs, output, cx)
    }
}

/// Clip of an integer tensor: min(max(x, lo), hi), compared in i64.
fn int_clip<T: Num>(inputs: &dyn Inputs, out: &mut TensorMut<'_>) -> OpResult<()> {
    let bound = |i: usize, default: i64| -> OpResult<i64> {
        match inputs.get(i) {
            None => Ok(default),
            Some(t) => view::<T>(&t)?
                .first()
                .map(|v| v.to_i64())
                .ok_or_else(|| format!("input {i} (a bound) is empty")),
        }
    };
    let (lo, hi) = (bound(1, i64::MIN)?, bound(2, i64::MAX)?);
    let x = view::<T>(&inputs.req(0)?)?;
    for (y, &v) in view_mut::<T>(out)?.iter_mut().zip(x) {
        let v = v.to_i64().max(lo);
        *y = T::from_i64(if v > hi { hi } else { v });
    }
    Ok(())
}

/// Clip on f32 or (see `ops::op_support`) integers; bounds are scalars of the input's dtype.
pub(crate) fn build_clip(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    for i in 1..3 {
        if let Some(b) = cx.opt_input(i)
            && (b.dtype != x.dtype || b.shape.iter().product::<usize>() != 1)
        {
            return Err(format!(
                "bound input {i} must be a {} scalar, got {} {:?}",
                x.dtype, b.dtype, b.shape
            ));
        }
    }
    Ok(Built {
        op: Box::new(Clip {
            kernels: plan_kernels()?,
        }),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}
