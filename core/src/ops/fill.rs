//! Values known from shapes alone: ConstantOfShape (its `value` attribute, default f32 0,
//! repeated over a shape given as an input known at plan time) and Size (the element count of
//! its input, i64). Both are always known at plan time.
//!
//! Invariant: the filled tensor's element count is checked against overflow and against
//! `plan::FOLD_LIMIT` before allocating (larger fills are unsupported).

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
