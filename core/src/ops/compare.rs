//! Comparisons (Equal, Less, LessOrEqual, Greater, GreaterOrEqual) on f32, i64, i32, u8, i8 and
//! bool; logic (And, Or, Xor on bool; Not); and Where. All broadcast as ONNX does and produce
//! bool (one byte, 0 or 1), except Where, which produces its value inputs' dtype.
//!
//! Invariant: comparisons follow IEEE (NaN compares unequal and unordered); inputs of a
//! comparison share one dtype; other dtypes are `BuildError::Unsupported`.

use super::broadcast::Broadcast;
use super::elems::{Num, dispatch, is_numeric, view, view_mut};
use super::{BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext};
use crate::exec::{TensorMut, TensorRef, elem_size};
use crate::tensor::DType;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
    Xor,
}

impl Kind {
    #[inline]
    fn eval<T: Num>(self, a: T, b: T) -> bool {
        let zero = T::from_i64(0);
        match self {
            Kind::Equal => a == b,
            Kind::Less => a < b,
            Kind::LessOrEqual => a <= b,
            Kind::Greater => a > b,
            Kind::GreaterOrEqual => a >= b,
            Kind::And => a != zero && b != zero,
            Kind::Or => a != zero || b != zero,
            Kind::Xor => (a != zero) != (b != zero),
        }
    }
}

#[derive(Debug)]
struct Compare {
    kind: Kind,
    dtype: DType,
    geometry: Broadcast<2>,
}

fn compare_typed<T: Num>(
    op: &Compare,
    a: &TensorRef<'_>,
    b: &TensorRef<'_>,
    out: &mut TensorMut<'_>,
) -> OpResult<()> {
    let (a, b) = (view::<T>(a)?, view::<T>(b)?);
    let kind = op.kind;
    op.geometry.run(view_mut::<u8>(out)?, |[i, j]| {
        Some(u8::from(kind.eval(*a.get(i)?, *b.get(j)?)))
    })
}

impl Op for Compare {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (a, b) = (inputs.req(0)?, inputs.req(1)?);
        dispatch!(
            self.dtype,
            compare_typed(self, &a, &b, &mut output),
            Err(format!("dtype {}", self.dtype))
        )
    }
}

pub(crate) fn build_compare(cx: &NodeContext<'_>, op: &str) -> Result<Built, BuildError> {
    let kind = match op {
        "Equal" => Kind::Equal,
        "Less" => Kind::Less,
        "LessOrEqual" => Kind::LessOrEqual,
        "Greater" => Kind::Greater,
        "GreaterOrEqual" => Kind::GreaterOrEqual,
        "And" => Kind::And,
        "Or" => Kind::Or,
        "Xor" => Kind::Xor,
        other => return Err(BuildError::Invalid(format!("{other} is not a comparison"))),
    };
    if cx.inputs.len() != 2 {
        return Err(BuildError::Invalid(format!(
            "{op} takes 2 inputs, got {}",
            cx.inputs.len()
        )));
    }
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let logic = matches!(kind, Kind::And | Kind::Or | Kind::Xor);
    let ok = a.dtype == b.dtype
        && if logic {
            a.dtype == DType::Bool
        } else {
            is_numeric(a.dtype)
        };
    if !ok {
        return Err(BuildError::Unsupported(format!(
            "{op} on {} and {}",
            a.dtype, b.dtype
        )));
    }
    let geometry = Broadcast::new([&a.shape, &b.shape])?;
    let shape = geometry.shape().to_vec();
    Ok(Built {
        op: Box::new(Compare {
            kind,
            dtype: a.dtype,
            geometry,
        }),
        output: Fact::new(DType::Bool, shape),
    })
}

#[derive(Debug)]
struct Not;

impl Op for Not {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = view::<u8>(&inputs.req(0)?)?;
        for (y, &v) in view_mut::<u8>(&mut output)?.iter_mut().zip(x) {
            *y = u8::from(v == 0);
        }
        Ok(())
    }
}

pub(crate) fn build_not(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    if x.dtype != DType::Bool {
        return Err(BuildError::Unsupported(format!("Not on {}", x.dtype)));
    }
    Ok(Built {
        op: Box::new(Not),
        output: Fact::new(DType::Bool, x.shape.clone()),
    })
}

/// Where(condition, X, Y) on values of any fixed-size dtype, copied as whole elements.
#[derive(Debug)]
struct Where {
    size: usize,
    geometry: Broadcast<3>,
}

fn select<E: bytemuck::Pod>(
    geometry: &Broadcast<3>,
    c: &[u8],
    x: &[u8],
    y: &[u8],
    out: &mut [u8],
) -> OpResult<()> {
    let x: &[E] = bytemuck::try_cast_slice(x).map_err(|e| e.to_string())?;
    let y: &[E] = bytemuck::try_cast_slice(y).map_err(|e| e.to_string())?;
    let out: &mut [E] = bytemuck::try_cast_slice_mut(out).map_err(|e| e.to_string())?;
    geometry.run(out, |[i, j, k]| {
        if *c.get(i)? != 0 {
            x.get(j).copied()
        } else {
            y.get(k).copied()
        }
    })
}

impl Op for Where {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let c = view::<u8>(&inputs.req(0)?)?;
        let (x, y) = (inputs.req(1)?.bytes(), inputs.req(2)?.bytes());
        let out = output.bytes_mut();
        match self.size {
            1 => select::<u8>(&self.geometry, c, x, y, out),
            2 => select::<u16>(&self.geometry, c, x, y, out),
            4 => select::<u32>(&self.geometry, c, x, y, out),
            8 => select::<u64>(&self.geometry, c, x, y, out),
            n => Err(format!("{n}-byte elements")),
        }
    }
}

pub(crate) fn build_where(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let (c, x, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let size = elem_size(x.dtype).filter(|_| c.dtype == DType::Bool && x.dtype == y.dtype);
    let Some(size) = size else {
        return Err(BuildError::Unsupported(format!(
            "Where on {}, {} and {}",
            c.dtype, x.dtype, y.dtype
        )));
    };
    let geometry = Broadcast::new([&c.shape, &x.shape, &y.shape])?;
    let shape = geometry.shape().to_vec();
    Ok(Built {
        op: Box::new(Where { size, geometry }),
        output: Fact::new(x.dtype, shape),
    })
}
