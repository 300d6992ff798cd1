//! Values known from shapes alone: ConstantOfShape (its `value` attribute, default f32 0,
//! repeated over a shape given as an input known at plan time), Size (the element count of
//! its input, i64) and Range (start, limit and delta scalars known at plan time; f32, i64, i32).
//! All are always known at plan time.
//!
//! Invariant: the filled tensor's element count is checked against overflow and against
//! `plan::FOLD_LIMIT` before allocating (larger fills are unsupported).

use super::elems::{Num, dispatch, view};
use super::{BuildError, NodeContext, checked_numel};
use crate::exec::{Tensor, TensorRef};
use crate::graph::AttrValue;
use crate::tensor::DType;

/// The value of a Size node.
pub(crate) fn size(cx: &NodeContext<'_>) -> Result<Tensor, BuildError> {
    let n = checked_numel(&cx.input(0)?.shape)?;
    let n = i64::try_from(n).map_err(|_| "size overflows i64")?;
    Ok(Tensor::from_i64(vec![], vec![n]).map_err(|e| e.to_string())?)
}

/// The value of a ConstantOfShape node.
pub(crate) fn constant_of_shape(cx: &NodeContext<'_>) -> Result<Tensor, BuildError> {
    let dims = cx
        .known_ints(0)
        .map_err(|e| BuildError::Unsupported(format!("shape: {e}")))?
        .ok_or("the shape input is required")?;
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<_, _>>()?;
    let n = checked_numel(&shape)?;
    if n > crate::plan::FOLD_LIMIT {
        return Err(BuildError::Unsupported(format!(
            "a filled shape {shape:?} larger than the plan-time limit of {} elements",
            crate::plan::FOLD_LIMIT
        )));
    }
    let value = match cx.attr_value("value") {
        None => Tensor::from_f32(vec![1], vec![0.0]).map_err(|e| e.to_string())?,
        Some(AttrValue::Tensor(id)) => (cx.tensor_attr)(*id)?,
        Some(other) => return Err(format!("value must be a tensor, got {other:?}").into()),
    };
    let one = value.view();
    let elem = one.bytes();
    if one.len() != 1 || elem.is_empty() {
        return Err(format!("value must hold one element, got {:?}", one.shape()).into());
    }
    if !matches!(
        one.dtype(),
        DType::F32 | DType::I64 | DType::I32 | DType::Bool
    ) {
        return Err(BuildError::Unsupported(format!(
            "value of dtype {}",
            one.dtype()
        )));
    }
    let bytes = checked_numel(&[n, elem.len()])?;
    let mut data = Vec::with_capacity(bytes);
    for _ in 0..n {
        data.extend_from_slice(elem);
    }
    let filled = TensorRef::from_bytes(one.dtype(), &shape, &data).map_err(|e| e.to_string())?;
    Ok(Tensor::from_ref(filled).map_err(|e| e.to_string())?)
}

/// The value of a Range node: `max(ceil((limit - start) / delta), 0)` elements, from `start`
/// adding `delta` each time in the element type (as onnxruntime and the ONNX function body do).
pub(crate) fn range(cx: &NodeContext<'_>) -> Result<Tensor, BuildError> {
    let dtype = cx.input(0)?.dtype;
    dispatch!(
        dtype,
        range_of(cx),
        Err(BuildError::Unsupported(format!("Range on {dtype}")))
    )
}

fn range_of<T: Num>(cx: &NodeContext<'_>) -> Result<Tensor, BuildError> {
    let scalar = |i: usize, what: &str| -> Result<T, BuildError> {
        let f = cx.input(i)?;
        let t = f.value.as_ref().ok_or_else(|| {
            BuildError::Unsupported(format!("{what} computed at run time (it sets a shape)"))
        })?;
        let v = t.view();
        if v.dtype() != cx.input(0)?.dtype || v.len() != 1 {
            return Err(format!(
                "{what} must be one {}, got {} {:?}",
                cx.input(0)?.dtype,
                v.dtype(),
                v.shape()
            )
            .into());
        }
        Ok(view::<T>(&v)?[0])
    };
    let (start, limit, delta) = (
        scalar(0, "start")?,
        scalar(1, "limit")?,
        scalar(2, "delta")?,
    );
    let (s, l, d) = (start.to_f64(), limit.to_f64(), delta.to_f64());
    if d == 0.0 || !(s.is_finite() && l.is_finite() && d.is_finite()) {
        return Err(format!("Range({s}, {l}, {d}) has no finite length").into());
    }
    let n = ((l - s) / d).ceil().max(0.0);
    if n > crate::plan::FOLD_LIMIT as f64 {
        return Err(BuildError::Unsupported(format!(
            "a range of {n} elements, larger than the plan-time limit of {}",
            crate::plan::FOLD_LIMIT
        )));
    }
    let n = n as usize;
    let mut values = Vec::with_capacity(n);
    let mut v = start;
    for _ in 0..n {
        values.push(v);
        v = if T::FLOAT {
            T::from_f64(v.to_f64() + delta.to_f64())
        } else {
            T::from_i64(v.to_i64().wrapping_add(delta.to_i64()))
        };
    }
    let shape = [n];
    let t = TensorRef::from_bytes(cx.input(0)?.dtype, &shape, bytemuck::cast_slice(&values))
        .map_err(|e| e.to_string())?;
    Ok(Tensor::from_ref(t).map_err(|e| e.to_string())?)
}
