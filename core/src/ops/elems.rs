//! Typed element access for ops that work on several dtypes: tensors' bytes viewed as slices of
//! their element type, and a numeric trait over the dtypes those ops compute with.
//!
//! Invariant: a view succeeds only when the byte length and alignment fit the element type, so
//! a mismatch is an error, never a panic.

use bytemuck::Pod;

use super::OpResult;
use crate::exec::{TensorMut, TensorRef};
use crate::tensor::DType;

/// The elements of `t` as `T` (the caller has matched `T` to `t`'s dtype).
pub(crate) fn view<'a, T: Pod>(t: &TensorRef<'a>) -> OpResult<&'a [T]> {
    bytemuck::try_cast_slice(t.bytes()).map_err(|e| format!("{} tensor data: {e}", t.dtype()))
}

/// The elements of `t` as mutable `T` (the caller has matched `T` to `t`'s dtype).
pub(crate) fn view_mut<'a, T: Pod>(t: &'a mut TensorMut<'_>) -> OpResult<&'a mut [T]> {
    let dtype = t.dtype();
    bytemuck::try_cast_slice_mut(t.bytes_mut()).map_err(|e| format!("{dtype} tensor data: {e}"))
}

/// An element type the multi-dtype ops compute with: conversions follow C casts as
/// onnxruntime does (float to integer truncates toward zero, saturating; integer to narrower
/// integer wraps; anything non-zero is `true`).
pub(crate) trait Num: Pod + PartialOrd + PartialEq {
    /// True for floating-point types.
    const FLOAT: bool;
    fn to_f64(self) -> f64;
    fn to_i64(self) -> i64;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const FLOAT: bool = false;
            fn to_f64(self) -> f64 { self as f64 }
            fn to_i64(self) -> i64 { self as i64 }
            fn from_f64(v: f64) -> Self { v as $t }
            fn from_i64(v: i64) -> Self { v as $t }
        }
    )*};
}
int_num!(i64, i32, u8, i8);

impl Num for f32 {
    const FLOAT: bool = true;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
}

/// Converts one element between [`Num`] types.
#[inline]
pub(crate) fn convert<S: Num, D: Num>(s: S) -> D {
    if S::FLOAT {
        D::from_f64(s.to_f64())
    } else {
        D::from_i64(s.to_i64())
    }
}

/// Calls the generic function `$f::<T>($args)` with `T` the element type of `$dtype` (booleans
/// as `u8`); evaluates `$other` for dtypes without one.
macro_rules! dispatch {
    ($dtype:expr, $f:ident($($args:expr),*), $other:expr) => {
        match $dtype {
            DType::F32 => $f::<f32>($($args),*),
            DType::I64 => $f::<i64>($($args),*),
            DType::I32 => $f::<i32>($($args),*),
            DType::U8 | DType::Bool => $f::<u8>($($args),*),
            DType::I8 => $f::<i8>($($args),*),
            _ => $other,
        }
    };
}
pub(crate) use dispatch;

/// True for the dtypes [`dispatch`] handles.
pub(crate) fn is_numeric(d: DType) -> bool {
    matches!(
        d,
        DType::F32 | DType::I64 | DType::I32 | DType::U8 | DType::Bool | DType::I8
    )
}
