//! Runtime tensors: [`Tensor`] owns its elements (inputs a caller builds, outputs a session
//! returns); [`TensorRef`] and [`TensorMut`] borrow them from anywhere (a caller's buffer, the
//! model's weights, a session's arena).
//!
//! Invariants: shapes are concrete (`usize` per dimension); `bytes.len()` always equals the
//! element count times the dtype's element size, checked by every constructor; elements are
//! plain little-endian values, booleans one byte each (0 or 1).

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::tensor::DType;

/// The dtypes the runtime computes with.
pub(crate) fn elem_size(dtype: DType) -> Option<usize> {
    match dtype {
        DType::F32 | DType::I32 => Some(4),
        DType::I64 => Some(8),
        DType::Bool | DType::U8 | DType::I8 => Some(1),
        DType::F16 => Some(2),
        DType::I4 => None,
    }
}

/// Number of elements of `shape`, `None` on overflow.
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Bytes taken by a dense tensor of `dtype` and `shape`, `None` on overflow or for packed dtypes.
pub(crate) fn byte_len(dtype: DType, shape: &[usize]) -> Option<usize> {
    numel(shape)?.checked_mul(elem_size(dtype)?)
}

/// Fails unless `len` bytes are exactly a dense `dtype` tensor of `shape`.
fn check_len(dtype: DType, shape: &[usize], len: usize) -> Result<()> {
    if byte_len(dtype, shape) != Some(len) {
        return Err(Error::invalid_argument(format!(
            "{len} bytes given for a {dtype} tensor of shape {shape:?}"
        )));
    }
    Ok(())
}

/// The elements of an owned tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    /// One byte per element, 0 or 1.
    Bool(Vec<u8>),
}

impl TensorData {
    fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::U8(_) => DType::U8,
            TensorData::I8(_) => DType::I8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::U8(v) | TensorData::Bool(v) => v.len(),
            TensorData::I8(v) => v.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            TensorData::F32(v) => bytemuck::cast_slice(v),
            TensorData::I64(v) => bytemuck::cast_slice(v),
            TensorData::I32(v) => bytemuck::cast_slice(v),
            TensorData::I8(v) => bytemuck::cast_slice(v),
            TensorData::U8(v) | TensorData::Bool(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            TensorData::F32(v) => bytemuck::cast_slice_mut(v),
            TensorData::I64(v) => bytemuck::cast_slice_mut(v),
            TensorData::I32(v) => bytemuck::cast_slice_mut(v),
            TensorData::I8(v) => bytemuck::cast_slice_mut(v),
            TensorData::U8(v) | TensorData::Bool(v) => v,
        }
    }

    /// Zeros of `dtype`, `None` for dtypes an owned tensor cannot hold.
    fn zeros(dtype: DType, n: usize) -> Option<TensorData> {
        Some(match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![0; n]),
            _ => return None,
        })
    }
}

/// An owned tensor with a concrete shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// A tensor of `shape` holding `data`; fails unless the element count matches the shape.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        if numel(&shape) != Some(data.len()) {
            return Err(Error::invalid_argument(format!(
                "{} elements given for shape {shape:?}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// An f32 tensor.
    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F32(data))
    }

    /// An i64 tensor.
    pub fn from_i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::I64(data))
    }

    /// A tensor of zeros; f32, i64, i32, u8, i8 and bool only.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor> {
        let n = numel(&shape)
            .ok_or_else(|| Error::invalid_argument(format!("shape {shape:?} overflows")))?;
        let data = TensorData::zeros(dtype, n).ok_or_else(|| {
            Error::invalid_argument(format!("owned tensors of dtype {dtype} are not supported"))
        })?;
        Ok(Tensor { shape, data })
    }

    /// A copy of a borrowed tensor; f32, i64, i32, u8, i8 and bool only.
    pub fn from_ref(t: TensorRef<'_>) -> Result<Tensor> {
        let mut out = Tensor::zeros(t.dtype, t.shape.to_vec())?;
        out.data.bytes_mut().copy_from_slice(t.bytes);
        Ok(out)
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The elements as f32, or an error naming the actual dtype.
    pub fn as_f32(&self) -> Result<&[f32]> {
        self.view().as_f32()
    }

    /// The elements as i64, or an error naming the actual dtype.
    pub fn as_i64(&self) -> Result<&[i64]> {
        self.view().as_i64()
    }

    /// A borrowed view.
    pub fn view(&self) -> TensorRef<'_> {
        TensorRef {
            dtype: self.dtype(),
            shape: &self.shape,
            bytes: self.data.bytes(),
        }
    }

    /// A mutable borrowed view.
    pub fn view_mut(&mut self) -> TensorMut<'_> {
        TensorMut {
            dtype: self.data.dtype(),
            shape: &self.shape,
            bytes: self.data.bytes_mut(),
        }
    }
}

/// A borrowed tensor: dtype, concrete shape, and its elements' bytes.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    dtype: DType,
    shape: &'a [usize],
    bytes: &'a [u8],
}

impl<'a> TensorRef<'a> {
    /// A view of `data` with `shape`; fails unless the lengths agree.
    pub fn from_f32(shape: &'a [usize], data: &'a [f32]) -> Result<TensorRef<'a>> {
        TensorRef::from_bytes(DType::F32, shape, bytemuck::cast_slice(data))
    }

    /// A view of `data` with `shape`; fails unless the lengths agree.
    pub fn from_i64(shape: &'a [usize], data: &'a [i64]) -> Result<TensorRef<'a>> {
        TensorRef::from_bytes(DType::I64, shape, bytemuck::cast_slice(data))
    }

    /// A view of raw little-endian element bytes; fails unless the length matches dtype and shape.
    pub fn from_bytes(dtype: DType, shape: &'a [usize], bytes: &'a [u8]) -> Result<TensorRef<'a>> {
        check_len(dtype, shape, bytes.len())?;
        Ok(TensorRef {
            dtype,
            shape,
            bytes,
        })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / elem_size(self.dtype).unwrap_or(1)
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn as_f32(&self) -> Result<&'a [f32]> {
        self.typed(DType::F32)
    }

    pub fn as_i64(&self) -> Result<&'a [i64]> {
        self.typed(DType::I64)
    }

    pub fn as_i32(&self) -> Result<&'a [i32]> {
        self.typed(DType::I32)
    }

    /// Booleans as bytes (0 or 1).
    pub fn as_bool(&self) -> Result<&'a [u8]> {
        self.typed(DType::Bool)
    }

    fn typed<T: Pod>(&self, want: DType) -> Result<&'a [T]> {
        if self.dtype != want {
            return Err(Error::invalid_argument(format!(
                "tensor has dtype {}, not {want}",
                self.dtype
            )));
        }
        bytemuck::try_cast_slice(self.bytes).map_err(|e| {
            Error::invalid_argument(format!("tensor data cannot be read as {want}: {e}"))
        })
    }
}

/// A mutable borrowed tensor, the destination an op writes.
#[derive(Debug)]
pub struct TensorMut<'a> {
    dtype: DType,
    shape: &'a [usize],
    bytes: &'a mut [u8],
}

impl<'a> TensorMut<'a> {
    /// A mutable view of raw element bytes; fails unless the length matches dtype and shape.
    pub(crate) fn from_bytes(
        dtype: DType,
        shape: &'a [usize],
        bytes: &'a mut [u8],
    ) -> Result<TensorMut<'a>> {
        check_len(dtype, shape, bytes.len())?;
        Ok(TensorMut {
            dtype,
            shape,
            bytes,
        })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        self.shape
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes
    }

    pub fn as_f32_mut(&mut self) -> Result<&mut [f32]> {
        self.typed_mut(DType::F32)
    }

    pub fn as_i64_mut(&mut self) -> Result<&mut [i64]> {
        self.typed_mut(DType::I64)
    }

    /// The f32 elements for the whole borrow (ops holding several outputs at once).
    pub fn into_f32_mut(self) -> Result<&'a mut [f32]> {
        if self.dtype != DType::F32 {
            return Err(Error::invalid_argument(format!(
                "tensor has dtype {}, not f32",
                self.dtype
            )));
        }
        bytemuck::try_cast_slice_mut(self.bytes).map_err(|e| {
            Error::invalid_argument(format!("tensor data cannot be written as f32: {e}"))
        })
    }

    /// The element bytes for the whole borrow.
    pub fn into_bytes_mut(self) -> &'a mut [u8] {
        self.bytes
    }

    fn typed_mut<T: Pod>(&mut self, want: DType) -> Result<&mut [T]> {
        if self.dtype != want {
            return Err(Error::invalid_argument(format!(
                "tensor has dtype {}, not {want}",
                self.dtype
            )));
        }
        bytemuck::try_cast_slice_mut(self.bytes).map_err(|e| {
            Error::invalid_argument(format!("tensor data cannot be written as {want}: {e}"))
        })
    }
}
