//! Decoding a [`TensorProto`] into an owned, typed [`Tensor`].
//!
//! Invariants of every returned tensor: `dims` are non-negative and their product (1 for a
//! scalar) is exactly `data.len()`; the data came from exactly one source (`raw_data`, the one
//! typed field the element type allows, or external data), never a mix. Narrow integer types
//! read from `int32_data` must fit their type, booleans must be 0 or 1. FLOAT16 and DOUBLE are
//! widened/narrowed to `f32` (`source_type` keeps the stored type). Sizes are computed with
//! checked arithmetic and compared with the bytes present before anything is allocated.

use std::path::Path;

use half::f16;

use super::data_type::DataType;
use super::external;
use super::tensor_proto::{DataLocation, TensorProto};
use crate::ConvertError;

/// A decoded tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<usize>,
    /// The element type stored in the file (FLOAT16 and DOUBLE arrive here as `f32` data).
    pub source_type: DataType,
    pub data: TensorData,
}

/// Tensor elements in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The name used for a tensor in error messages.
pub(crate) fn label(proto: &TensorProto) -> String {
    if proto.name.is_empty() {
        "<unnamed>".to_owned()
    } else {
        proto.name.clone()
    }
}

/// Bytes per element in `raw_data`, for the element types decoded here.
fn element_width(ty: DataType) -> Option<usize> {
    Some(match ty {
        DataType::Int8 | DataType::Uint8 | DataType::Bool => 1,
        DataType::Int16 | DataType::Float16 => 2,
        DataType::Float | DataType::Int32 => 4,
        DataType::Int64 | DataType::Double => 8,
        _ => return None,
    })
}

/// Decodes `proto`; external data files are looked up relative to `external_dir`.
pub fn decode_tensor(
    proto: &TensorProto,
    external_dir: Option<&Path>,
) -> Result<Tensor, ConvertError> {
    let invalid = |reason: String| ConvertError::InvalidTensor {
        tensor: label(proto),
        reason,
    };
    let ty = proto.data_type;
    let width = element_width(ty).ok_or_else(|| ConvertError::UnsupportedDataType {
        tensor: label(proto),
        data_type: ty,
    })?;
    let dims = proto
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| invalid(format!("dimension {d} is negative or too large")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(format!("the element count of dims {dims:?} overflows")))?;
    let byte_len = count
        .checked_mul(width)
        .ok_or_else(|| invalid(format!("the byte size of dims {dims:?} overflows")))?;
    if proto.segment.is_some() {
        return Err(invalid("segmented tensors are not supported".to_owned()));
    }
    let typed = typed_field_lengths(proto);
    let data = match (proto.data_location, &proto.raw_data) {
        (DataLocation::External, raw) => {
            if raw.is_some() || typed.iter().any(|(_, n)| *n > 0) {
                return Err(invalid(
                    "external data and inline data are both present".to_owned(),
                ));
            }
            from_raw(ty, &external::read(proto, external_dir, byte_len)?)
        }
        (DataLocation::Default, Some(raw)) => {
            if let Some((field, _)) = typed.iter().find(|(_, n)| *n > 0) {
                return Err(invalid(format!("both raw_data and {field} are present")));
            }
            if raw.len() != byte_len {
                return Err(invalid(format!(
                    "raw_data holds {} bytes, dims {dims:?} of {ty} need {byte_len}",
                    raw.len()
                )));
            }
            from_raw(ty, raw)
        }
        (DataLocation::Default, None) => from_typed(proto, count, &typed),
    }
    .map_err(invalid)?;
    Ok(Tensor {
        name: proto.name.clone(),
        dims,
        source_type: ty,
        data,
    })
}

fn typed_field_lengths(p: &TensorProto) -> [(&'static str, usize); 6] {
    [
        ("float_data", p.float_data.len()),
        ("int32_data", p.int32_data.len()),
        ("string_data", p.string_data.len()),
        ("int64_data", p.int64_data.len()),
        ("double_data", p.double_data.len()),
        ("uint64_data", p.uint64_data.len()),
    ]
}

/// Little-endian fixed-width elements; `bytes.len()` is a multiple of `N` (checked by callers).
fn le<const N: usize, T>(bytes: &[u8], convert: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .filter_map(|chunk| chunk.try_into().ok())
        .map(convert)
        .collect()
}

fn bool_of(value: i64) -> Result<bool, String> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("boolean value {other} is neither 0 nor 1")),
    }
}

fn from_raw(ty: DataType, b: &[u8]) -> Result<TensorData, String> {
    Ok(match ty {
        DataType::Float => TensorData::F32(le(b, f32::from_le_bytes)),
        DataType::Float16 => TensorData::F32(le(b, |x| f16::from_le_bytes(x).to_f32())),
        DataType::Double => TensorData::F32(le(b, |x| f64::from_le_bytes(x) as f32)),
        DataType::Int8 => TensorData::I8(le(b, i8::from_le_bytes)),
        DataType::Uint8 => TensorData::U8(b.to_vec()),
        DataType::Int16 => TensorData::I16(le(b, i16::from_le_bytes)),
        DataType::Int32 => TensorData::I32(le(b, i32::from_le_bytes)),
        DataType::Int64 => TensorData::I64(le(b, i64::from_le_bytes)),
        DataType::Bool => TensorData::Bool(
            b.iter()
                .map(|&x| bool_of(x.into()))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("no raw decoder for {other}")),
    })
}

/// `int32_data` values narrowed to `T`, each checked.
fn narrow<T: TryFrom<i32>>(values: &[i32], ty: DataType) -> Result<Vec<T>, String> {
    values
        .iter()
        .map(|&v| {
            T::try_from(v).map_err(|_| format!("int32_data value {v} is out of range for {ty}"))
        })
        .collect()
}

/// FLOAT16 bits from `int32_data`: the low 16 bits, written unsigned or sign-extended.
fn f16_of(value: i32) -> Result<f32, String> {
    if (-32768..=65535).contains(&value) {
        Ok(f16::from_bits((value & 0xffff) as u16).to_f32())
    } else {
        Err(format!(
            "int32_data value {value} is not a 16-bit FLOAT16 pattern"
        ))
    }
}

fn from_typed(
    p: &TensorProto,
    count: usize,
    lengths: &[(&'static str, usize)],
) -> Result<TensorData, String> {
    let ty = p.data_type;
    let field = match ty {
        DataType::Float => "float_data",
        DataType::Double => "double_data",
        DataType::Int64 => "int64_data",
        _ => "int32_data",
    };
    if let Some((other, _)) = lengths.iter().find(|(name, n)| *n > 0 && *name != field) {
        return Err(format!("{other} is not a valid field for {ty}"));
    }
    let present = lengths
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(0, |(_, n)| *n);
    if present != count {
        return Err(format!("{field} holds {present} values, dims need {count}"));
    }
    let ints = &p.int32_data;
    Ok(match ty {
        DataType::Float => TensorData::F32(p.float_data.clone()),
        DataType::Double => TensorData::F32(p.double_data.iter().map(|&x| x as f32).collect()),
        DataType::Int64 => TensorData::I64(p.int64_data.clone()),
        DataType::Int32 => TensorData::I32(ints.clone()),
        DataType::Int16 => TensorData::I16(narrow(ints, ty)?),
        DataType::Int8 => TensorData::I8(narrow(ints, ty)?),
        DataType::Uint8 => TensorData::U8(narrow(ints, ty)?),
        DataType::Bool => TensorData::Bool(
            ints.iter()
                .map(|&v| bool_of(v.into()))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Float16 => {
            TensorData::F32(ints.iter().map(|&v| f16_of(v)).collect::<Result<_, _>>()?)
        }
        other => return Err(format!("no typed-field decoder for {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(ty: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: "t".into(),
            data_type: ty,
            dims: dims.to_vec(),
            ..TensorProto::default()
        }
    }

    fn raw(ty: DataType, dims: &[i64], bytes: &[u8]) -> Result<TensorData, ConvertError> {
        let p = TensorProto {
            raw_data: Some(bytes.to_vec()),
            ..proto(ty, dims)
        };
        decode_tensor(&p, None).map(|t| t.data)
    }

    fn int32(ty: DataType, values: &[i32]) -> Result<TensorData, ConvertError> {
        let p = TensorProto {
            int32_data: values.to_vec(),
            ..proto(ty, &[values.len() as i64])
        };
        decode_tensor(&p, None).map(|t| t.data)
    }

    fn reason(r: Result<TensorData, ConvertError>) -> String {
        match r {
            Err(ConvertError::InvalidTensor { tensor, reason }) if tensor == "t" => reason,
            other => panic!("expected an invalid-tensor error, got {other:?}"),
        }
    }

    #[test]
    fn raw_data_of_every_supported_type() {
        let f32s: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            raw(DataType::Float, &[2], &f32s).unwrap(),
            TensorData::F32(vec![1.5, -2.0])
        );
        let halves: Vec<u8> = [0x3c00u16, 0xc000]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            raw(DataType::Float16, &[2], &halves).unwrap(),
            TensorData::F32(vec![1.0, -2.0])
        );
        let doubles: Vec<u8> = [0.25f64].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            raw(DataType::Double, &[1, 1], &doubles).unwrap(),
            TensorData::F32(vec![0.25])
        );
        assert_eq!(
            raw(DataType::Int8, &[2], &[0xff, 7]).unwrap(),
            TensorData::I8(vec![-1, 7])
        );
        assert_eq!(
            raw(DataType::Uint8, &[2], &[0xff, 7]).unwrap(),
            TensorData::U8(vec![255, 7])
        );
        assert_eq!(
            raw(DataType::Int16, &[1], &[0xfe, 0xff]).unwrap(),
            TensorData::I16(vec![-2])
        );
        assert_eq!(
            raw(DataType::Int32, &[1], &[1, 0, 0, 0x80]).unwrap(),
            TensorData::I32(vec![i32::MIN + 1])
        );
        let i64s: Vec<u8> = (-3i64).to_le_bytes().to_vec();
        assert_eq!(
            raw(DataType::Int64, &[], &i64s).unwrap(),
            TensorData::I64(vec![-3])
        );
        assert_eq!(
            raw(DataType::Bool, &[2], &[1, 0]).unwrap(),
            TensorData::Bool(vec![true, false])
        );
        assert_eq!(
            raw(DataType::Float, &[0, 5], &[]).unwrap(),
            TensorData::F32(vec![])
        );
    }

    #[test]
    fn typed_fields_of_every_supported_type() {
        let floats = TensorProto {
            float_data: vec![1.0, 2.0],
            ..proto(DataType::Float, &[2])
        };
        assert_eq!(
            decode_tensor(&floats, None).unwrap().data,
            TensorData::F32(vec![1.0, 2.0])
        );
        let doubles = TensorProto {
            double_data: vec![0.5],
            ..proto(DataType::Double, &[])
        };
        let d = decode_tensor(&doubles, None).unwrap();
        assert_eq!(
            (d.source_type, d.data),
            (DataType::Double, TensorData::F32(vec![0.5]))
        );
        let longs = TensorProto {
            int64_data: vec![i64::MIN],
            ..proto(DataType::Int64, &[1])
        };
        assert_eq!(
            decode_tensor(&longs, None).unwrap().data,
            TensorData::I64(vec![i64::MIN])
        );
        assert_eq!(
            int32(DataType::Int32, &[-7]).unwrap(),
            TensorData::I32(vec![-7])
        );
        assert_eq!(
            int32(DataType::Int16, &[-300]).unwrap(),
            TensorData::I16(vec![-300])
        );
        assert_eq!(
            int32(DataType::Int8, &[-128, 127]).unwrap(),
            TensorData::I8(vec![-128, 127])
        );
        assert_eq!(
            int32(DataType::Uint8, &[255]).unwrap(),
            TensorData::U8(vec![255])
        );
        assert_eq!(
            int32(DataType::Bool, &[0, 1]).unwrap(),
            TensorData::Bool(vec![false, true])
        );
        // FLOAT16 bits, unsigned or sign-extended.
        assert_eq!(
            int32(DataType::Float16, &[0x3c00, 0xc000, -16384]).unwrap(),
            TensorData::F32(vec![1.0, -2.0, -2.0])
        );
    }

    #[test]
    fn values_outside_their_type_are_refused() {
        assert!(reason(int32(DataType::Int8, &[128])).contains("out of range for INT8"));
        assert!(reason(int32(DataType::Uint8, &[-1])).contains("out of range for UINT8"));
        assert!(reason(int32(DataType::Int16, &[40000])).contains("out of range for INT16"));
        assert!(reason(int32(DataType::Bool, &[2])).contains("neither 0 nor 1"));
        assert!(reason(int32(DataType::Float16, &[70000])).contains("FLOAT16"));
        assert!(reason(raw(DataType::Bool, &[1], &[3])).contains("neither 0 nor 1"));
    }

    #[test]
    fn inconsistent_sizes_and_sources_are_refused() {
        assert!(reason(raw(DataType::Float, &[2], &[0; 7])).contains("raw_data holds 7 bytes"));
        assert!(reason(raw(DataType::Float, &[-1], &[])).contains("negative"));
        let huge = i64::MAX;
        assert!(reason(raw(DataType::Int64, &[huge, huge], &[])).contains("overflows"));
        assert!(reason(raw(DataType::Int64, &[huge], &[])).contains("overflows"));
        assert!(
            reason(int32(DataType::Float, &[1]))
                .contains("int32_data is not a valid field for FLOAT")
        );
        let short = TensorProto {
            float_data: vec![1.0],
            ..proto(DataType::Float, &[2])
        };
        assert!(
            reason(decode_tensor(&short, None).map(|t| t.data))
                .contains("float_data holds 1 values")
        );
        let both = TensorProto {
            raw_data: Some(vec![0; 4]),
            float_data: vec![1.0],
            ..proto(DataType::Float, &[1])
        };
        assert!(
            reason(decode_tensor(&both, None).map(|t| t.data))
                .contains("both raw_data and float_data")
        );
        let segmented = TensorProto {
            segment: Some((0, 1)),
            ..proto(DataType::Float, &[0])
        };
        assert!(reason(decode_tensor(&segmented, None).map(|t| t.data)).contains("segmented"));
    }

    #[test]
    fn unsupported_types_are_named() {
        let err = raw(DataType::Bfloat16, &[1], &[0, 0]).unwrap_err();
        assert!(matches!(
            err,
            ConvertError::UnsupportedDataType {
                data_type: DataType::Bfloat16,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "tensor \"t\": data type BFLOAT16 is not supported"
        );
    }
}
