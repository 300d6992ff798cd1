//! Pow on mixed or integer dtypes (f32 ^ f32 is the binary op's): base f32, i64 or i32, exponent
//! any of f32, i64, i32, u8, i8, with broadcasting. Computed in f64 and converted to the base's
//! type as onnxruntime does (`static_cast<T>(std::pow(base, exponent))`: integers truncate).
//!
//! Invariant: the output has the base's dtype and the broadcast shape.

use super::broadcast::Broadcast;
use super::elems::{Num, dispatch, view, view_mut};
use super::{Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::{TensorMut, TensorRef};
use crate::tensor::DType;

#[derive(Debug)]
struct Pow {
    geometry: Broadcast<2>,
}

fn pow_into<B: Num>(
    op: &Pow,
    base: &TensorRef<'_>,
    exp: &TensorRef<'_>,
    out: &mut TensorMut<'_>,
) -> OpResult<()> {
    fn with_exp<E: Num, B: Num>(op: &Pow, x: &[B], y: &mut [B], e: &TensorRef<'_>) -> OpResult<()> {
        let e = view::<E>(e)?;
        op.geometry.run(y, |[i, j]| {
            Some(B::from_f64(x.get(i)?.to_f64().powf(e.get(j)?.to_f64())))
        })
    }
    let (x, y) = (view::<B>(base)?, view_mut::<B>(out)?);
    match exp.dtype() {
        DType::F32 => with_exp::<f32, B>(op, x, y, exp),
        DType::I64 => with_exp::<i64, B>(op, x, y, exp),
        DType::I32 => with_exp::<i32, B>(op, x, y, exp),
        DType::U8 => with_exp::<u8, B>(op, x, y, exp),
        DType::I8 => with_exp::<i8, B>(op, x, y, exp),
        d => Err(format!("exponent dtype {d}")),
    }
}

impl Op for Pow {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (a, b) = (inputs.req(0)?, inputs.req(1)?);
        let d = a.dtype();
        dispatch!(
            d,
            pow_into(self, &a, &b, &mut output),
            Err(format!("base dtype {d}"))
        )
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> OpResult<Built> {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let geometry = Broadcast::new([&a.shape, &b.shape])?;
    let shape = geometry.shape().to_vec();
    Ok(Built {
        op: Box::new(Pow { geometry }),
        output: Fact::new(a.dtype, shape),
    })
}
