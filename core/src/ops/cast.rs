//! Cast between f32, i64, i32, u8, i8 and bool, with C conversion semantics as onnxruntime
//! (float to integer truncates toward zero, saturating, NaN gives 0; integers wrap; non-zero
//! is `true`). ONNX float16 and double targets mean f32 here, as the converter stores them.
//! Strings and other element types are unsupported (`BuildError::Unsupported`).

use super::elems::{Num, convert, dispatch, is_numeric, view, view_mut};
use super::{BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::TensorMut;
use crate::tensor::DType;

/// The dtype an ONNX `TensorProto.DataType` code is held in, if the runtime has one.
fn from_onnx_code(code: i64) -> Option<DType> {
    Some(match code {
        1 | 10 | 11 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        _ => return None,
    })
}

#[derive(Debug)]
struct Cast {
    from: DType,
    to: DType,
}

fn cast_from<S: Num>(x: &[S], to: DType, out: &mut TensorMut<'_>) -> OpResult<()> {
    if to == DType::Bool {
        let zero = S::from_i64(0);
        for (y, &v) in view_mut::<u8>(out)?.iter_mut().zip(x) {
            *y = u8::from(v != zero);
        }
        return Ok(());
    }
    fn fill<D: Num, S: Num>(x: &[S], out: &mut TensorMut<'_>) -> OpResult<()> {
        for (y, &v) in view_mut::<D>(out)?.iter_mut().zip(x) {
            *y = convert(v);
        }
        Ok(())
    }
    match to {
        DType::F32 => fill::<f32, S>(x, out),
        DType::I64 => fill::<i64, S>(x, out),
        DType::I32 => fill::<i32, S>(x, out),
        DType::U8 => fill::<u8, S>(x, out),
        DType::I8 => fill::<i8, S>(x, out),
        _ => Err(format!("cast to {to}")),
    }
}

fn cast_typed<S: Num>(
    x: &crate::exec::TensorRef<'_>,
    to: DType,
    out: &mut TensorMut<'_>,
) -> OpResult<()> {
    cast_from(view::<S>(x)?, to, out)
}

impl Op for Cast {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?;
        let to = self.to;
        dispatch!(
            self.from,
            cast_typed(&x, to, &mut output),
            Err(format!("cast from {}", self.from))
        )
    }
}

/// Cast (target from the `to` attribute) or CastLike (target: input 1's dtype).
pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let to = if cx.node.op == "CastLike" {
        cx.input(1)?.dtype
    } else {
        let code = cx.int("to", 0)?;
        from_onnx_code(code)
            .ok_or_else(|| BuildError::Unsupported(format!("cast to ONNX element type {code}")))?
    };
    if !is_numeric(x.dtype) {
        return Err(BuildError::Unsupported(format!("cast from {}", x.dtype)));
    }
    Ok(Built {
        op: Box::new(Cast { from: x.dtype, to }),
        output: Fact::new(to, x.shape.clone()),
    })
}
