//! `AttributeProto`: a named node attribute and its typed value.
//!
//! Invariants: the value is the one field that the declared `type` selects. Scalars (`f`, `i`,
//! `s`) that are absent take their protobuf default, because proto3 writers omit zeros; a
//! declared tensor, graph, sparse tensor or type that is absent is an error. Files without a
//! `type` (early IR versions) get it inferred from the single value field present.

use super::graph::Graph;
use super::tensor_proto::{SparseTensorProto, TensorProto};
use super::types::TypeProto;
use super::wire::{Context, DecodeError, Field, ProtoError, Reader};

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttributeValue,
}

/// The value of an attribute, by ONNX attribute type.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Float(f32),
    Int(i64),
    /// `STRING`: bytes, usually UTF-8.
    String(Vec<u8>),
    Tensor(Box<TensorProto>),
    /// `GRAPH`: a subgraph, such as the branches of `If`.
    Graph(Box<Graph>),
    SparseTensor(Box<SparseTensorProto>),
    Type(TypeProto),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<TensorProto>),
    Graphs(Vec<Graph>),
    SparseTensors(Vec<SparseTensorProto>),
    Types(Vec<TypeProto>),
}

/// Every value field, as read, before `type` picks one.
#[derive(Default)]
struct Fields {
    f: Option<f32>,
    i: Option<i64>,
    s: Option<Vec<u8>>,
    t: Option<TensorProto>,
    g: Option<Graph>,
    sparse_tensor: Option<SparseTensorProto>,
    tp: Option<TypeProto>,
    floats: Vec<f32>,
    ints: Vec<i64>,
    strings: Vec<Vec<u8>>,
    tensors: Vec<TensorProto>,
    graphs: Vec<Graph>,
    sparse_tensors: Vec<SparseTensorProto>,
    type_protos: Vec<TypeProto>,
}

impl Fields {
    /// The attribute type implied by the fields present, for files that omit `type`.
    fn inferred_type(&self) -> Option<i64> {
        let present = [
            (self.f.is_some(), 1),
            (self.i.is_some(), 2),
            (self.s.is_some(), 3),
            (self.t.is_some(), 4),
            (self.g.is_some(), 5),
            (!self.floats.is_empty(), 6),
            (!self.ints.is_empty(), 7),
            (!self.strings.is_empty(), 8),
            (!self.tensors.is_empty(), 9),
            (!self.graphs.is_empty(), 10),
            (self.sparse_tensor.is_some(), 11),
            (!self.sparse_tensors.is_empty(), 12),
            (self.tp.is_some(), 13),
            (!self.type_protos.is_empty(), 14),
        ];
        let mut found = present.iter().filter(|(is, _)| *is).map(|(_, code)| *code);
        match (found.next(), found.next()) {
            (Some(code), None) => Some(code),
            _ => None,
        }
    }

    fn into_value(self, declared: i64) -> Result<AttributeValue, ProtoError> {
        let missing = || ProtoError::AttributeType {
            declared,
            reason: "its value field is missing",
        };
        Ok(match declared {
            1 => AttributeValue::Float(self.f.unwrap_or(0.0)),
            2 => AttributeValue::Int(self.i.unwrap_or(0)),
            3 => AttributeValue::String(self.s.unwrap_or_default()),
            4 => AttributeValue::Tensor(Box::new(self.t.ok_or_else(missing)?)),
            5 => AttributeValue::Graph(Box::new(self.g.ok_or_else(missing)?)),
            6 => AttributeValue::Floats(self.floats),
            7 => AttributeValue::Ints(self.ints),
            8 => AttributeValue::Strings(self.strings),
            9 => AttributeValue::Tensors(self.tensors),
            10 => AttributeValue::Graphs(self.graphs),
            11 => AttributeValue::SparseTensor(Box::new(self.sparse_tensor.ok_or_else(missing)?)),
            12 => AttributeValue::SparseTensors(self.sparse_tensors),
            13 => AttributeValue::Type(self.tp.ok_or_else(missing)?),
            14 => AttributeValue::Types(self.type_protos),
            _ => {
                return Err(ProtoError::AttributeType {
                    declared,
                    reason: "unknown attribute type",
                });
            }
        })
    }
}

impl Attribute {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut name = String::new();
        let mut declared: Option<(i64, Field<'_>)> = None;
        let mut v = Fields::default();
        let start = r.clone();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => name = f.string().ctx("name")?,
                2 => v.f = Some(f.f32().ctx("f")?),
                3 => v.i = Some(f.i64().ctx("i")?),
                4 => v.s = Some(f.bytes().ctx("s")?.to_vec()),
                5 => v.t = Some(f.decode_message("t", TensorProto::decode)?),
                6 => v.g = Some(f.decode_message("g", Graph::decode)?),
                7 => f.push_f32(&mut v.floats).ctx("floats")?,
                8 => f.push_i64(&mut v.ints).ctx("ints")?,
                9 => v.strings.push(f.bytes().ctx("strings")?.to_vec()),
                10 => f.push_message(&mut v.tensors, "tensors", Some(8), TensorProto::decode)?,
                11 => f.push_message(&mut v.graphs, "graphs", Some(2), Graph::decode)?,
                14 => v.tp = Some(f.decode_message("tp", TypeProto::decode)?),
                15 => f.push_message(&mut v.type_protos, "type_protos", None, TypeProto::decode)?,
                20 => declared = Some((i64::from(f.i32().ctx("type")?), f)),
                22 => {
                    v.sparse_tensor =
                        Some(f.decode_message("sparse_tensor", SparseTensorProto::decode)?)
                }
                23 => f.push_message(
                    &mut v.sparse_tensors,
                    "sparse_tensors",
                    None,
                    SparseTensorProto::decode,
                )?,
                _ => {}
            }
        }
        let value = match declared {
            Some((code, field)) if code != 0 => {
                v.into_value(code).map_err(|e| field.error(e)).ctx("type")?
            }
            _ => {
                let code = v.inferred_type().ok_or_else(|| {
                    start.error_here(ProtoError::AttributeType {
                        declared: 0,
                        reason: "no type, and not exactly one value field to infer it from",
                    })
                })?;
                v.into_value(code).map_err(|e| start.error_here(e))?
            }
        };
        Ok(Attribute { name, value })
    }
}
