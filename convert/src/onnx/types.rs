//! `ValueInfoProto`, `TypeProto`, `TensorShapeProto` and `StringStringEntryProto`: the
//! declarations of graph values and the small key/value message ONNX uses for metadata.
//!
//! Invariants: symbolic dimensions stay symbolic ([`Dim::Param`]); a shape that is absent (rank
//! unknown) is `None`, distinct from a scalar's empty shape; nested types are boxed and their
//! depth is bounded by the wire reader.

use super::data_type::DataType;
use super::wire::{Context, DecodeError, Reader};

/// A declared graph value: a name and (usually) a type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueInfo {
    pub name: String,
    pub ty: Option<TypeProto>,
}

/// The type of a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum TypeProto {
    /// No type was given.
    #[default]
    Unset,
    Tensor(TensorType),
    SparseTensor(TensorType),
    Sequence(Box<TypeProto>),
    Map {
        key: DataType,
        value: Box<TypeProto>,
    },
    Optional(Box<TypeProto>),
    Opaque {
        domain: String,
        name: String,
    },
}

/// A (dense or sparse) tensor type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorType {
    pub elem_type: DataType,
    /// `None` when the rank is unknown; `Some(vec![])` for a scalar.
    pub shape: Option<Vec<Dim>>,
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Dim {
    /// Neither value nor name given.
    #[default]
    Unknown,
    Value(i64),
    /// A symbolic dimension such as `"batch"`.
    Param(String),
}

impl ValueInfo {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut v = ValueInfo::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => v.name = f.string().ctx("name")?,
                2 => v.ty = Some(f.decode_message("type", TypeProto::decode)?),
                _ => {}
            }
        }
        Ok(v)
    }
}

impl TypeProto {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut ty = TypeProto::Unset;
        while let Some(f) = r.next_field()? {
            ty = match f.number {
                1 => TypeProto::Tensor(f.decode_message("tensor_type", TensorType::decode)?),
                4 => TypeProto::Sequence(Box::new(
                    f.decode_message("sequence_type", decode_elem_type)?,
                )),
                5 => f.decode_message("map_type", decode_map)?,
                7 => f.decode_message("opaque_type", decode_opaque)?,
                8 => TypeProto::SparseTensor(
                    f.decode_message("sparse_tensor_type", TensorType::decode)?,
                ),
                9 => TypeProto::Optional(Box::new(
                    f.decode_message("optional_type", decode_elem_type)?,
                )),
                _ => continue,
            };
        }
        Ok(ty)
    }
}

/// `Sequence` and `Optional`: field 1 is the element type.
fn decode_elem_type(mut r: Reader<'_>) -> Result<TypeProto, DecodeError> {
    let mut elem = TypeProto::Unset;
    while let Some(f) = r.next_field()? {
        if f.number == 1 {
            elem = f.decode_message("elem_type", TypeProto::decode)?;
        }
    }
    Ok(elem)
}

fn decode_map(mut r: Reader<'_>) -> Result<TypeProto, DecodeError> {
    let mut key = DataType::Undefined;
    let mut value = TypeProto::Unset;
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => key = DataType::from_code(f.i32().ctx("key_type")?),
            2 => value = f.decode_message("value_type", TypeProto::decode)?,
            _ => {}
        }
    }
    Ok(TypeProto::Map {
        key,
        value: Box::new(value),
    })
}

fn decode_opaque(mut r: Reader<'_>) -> Result<TypeProto, DecodeError> {
    let (mut domain, mut name) = (String::new(), String::new());
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => domain = f.string().ctx("domain")?,
            2 => name = f.string().ctx("name")?,
            _ => {}
        }
    }
    Ok(TypeProto::Opaque { domain, name })
}

impl TensorType {
    fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut t = TensorType::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => t.elem_type = DataType::from_code(f.i32().ctx("elem_type")?),
                2 => t.shape = Some(f.decode_message("shape", decode_shape)?),
                _ => {}
            }
        }
        Ok(t)
    }
}

fn decode_shape(mut r: Reader<'_>) -> Result<Vec<Dim>, DecodeError> {
    let mut dims = Vec::new();
    while let Some(f) = r.next_field()? {
        if f.number == 1 {
            f.push_message(&mut dims, "dim", Some(2), decode_dim)?;
        }
    }
    Ok(dims)
}

fn decode_dim(mut r: Reader<'_>) -> Result<Dim, DecodeError> {
    let mut dim = Dim::Unknown;
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => dim = Dim::Value(f.i64().ctx("dim_value")?),
            2 => dim = Dim::Param(f.string().ctx("dim_param")?),
            _ => {}
        }
    }
    Ok(dim)
}

/// `StringStringEntryProto` as a `(key, value)` pair.
pub(crate) fn decode_string_entry(mut r: Reader<'_>) -> Result<(String, String), DecodeError> {
    let (mut key, mut value) = (String::new(), String::new());
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => key = f.string().ctx("key")?,
            2 => value = f.string().ctx("value")?,
            _ => {}
        }
    }
    Ok((key, value))
}
