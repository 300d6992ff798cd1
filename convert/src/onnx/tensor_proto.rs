//! `TensorProto` and `SparseTensorProto` as stored: dims, element type and every data field,
//! undecoded. Turning one into typed values is [`super::tensor`]'s job.
//!
//! Invariants: each data field holds exactly what the file holds (no conversion, no length
//! check against `dims` yet); an unknown `data_location` code is an error, not a silent default.

use super::data_type::DataType;
use super::types::decode_string_entry;
use super::wire::{Context, DecodeError, ProtoError, Reader};

/// Where a tensor's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataLocation {
    /// In this message (`raw_data` or a typed field).
    #[default]
    Default,
    /// In a file named by `external_data`.
    External,
}

/// A tensor as encoded in the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorProto {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: DataType,
    /// `segment` (begin, end): chunked tensors, which this reader does not reassemble.
    pub segment: Option<(i64, i64)>,
    pub raw_data: Option<Vec<u8>>,
    pub float_data: Vec<f32>,
    pub int32_data: Vec<i32>,
    pub string_data: Vec<Vec<u8>>,
    pub int64_data: Vec<i64>,
    pub double_data: Vec<f64>,
    pub uint64_data: Vec<u64>,
    pub data_location: DataLocation,
    /// `(key, value)` pairs: `location`, `offset`, `length`, `checksum`.
    pub external_data: Vec<(String, String)>,
}

/// A sparse tensor: non-zero `values` at `indices` in a tensor of shape `dims`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseTensorProto {
    pub values: TensorProto,
    pub indices: TensorProto,
    pub dims: Vec<i64>,
}

impl TensorProto {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut t = TensorProto::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => f.push_i64(&mut t.dims).ctx("dims")?,
                2 => t.data_type = DataType::from_code(f.i32().ctx("data_type")?),
                3 => t.segment = Some(f.decode_message("segment", decode_segment)?),
                4 => f.push_f32(&mut t.float_data).ctx("float_data")?,
                5 => f.push_i32(&mut t.int32_data).ctx("int32_data")?,
                6 => t.string_data.push(f.bytes().ctx("string_data")?.to_vec()),
                7 => f.push_i64(&mut t.int64_data).ctx("int64_data")?,
                8 => t.name = f.string().ctx("name")?,
                9 => t.raw_data = Some(f.bytes().ctx("raw_data")?.to_vec()),
                10 => f.push_f64(&mut t.double_data).ctx("double_data")?,
                11 => f.push_u64(&mut t.uint64_data).ctx("uint64_data")?,
                13 => f.push_message(
                    &mut t.external_data,
                    "external_data",
                    Some(1),
                    decode_string_entry,
                )?,
                14 => {
                    t.data_location = match f.i32().ctx("data_location")? {
                        0 => DataLocation::Default,
                        1 => DataLocation::External,
                        other => {
                            return Err(f.error(ProtoError::OutOfRange {
                                value: other.into(),
                                target: "TensorProto.DataLocation",
                            }))
                            .ctx("data_location");
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(t)
    }
}

impl SparseTensorProto {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut t = SparseTensorProto::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => t.values = f.decode_message("values", TensorProto::decode)?,
                2 => t.indices = f.decode_message("indices", TensorProto::decode)?,
                3 => f.push_i64(&mut t.dims).ctx("dims")?,
                _ => {}
            }
        }
        Ok(t)
    }
}

fn decode_segment(mut r: Reader<'_>) -> Result<(i64, i64), DecodeError> {
    let (mut begin, mut end) = (0, 0);
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => begin = f.i64().ctx("begin")?,
            2 => end = f.i64().ctx("end")?,
            _ => {}
        }
    }
    Ok((begin, end))
}
