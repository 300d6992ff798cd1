//! `ModelProto` and `OperatorSetIdProto`: the top-level message, decoded without any policy
//! (no opset or graph requirement; see [`super::load`] for that).
//!
//! Invariant: a successful decode means every byte was well-formed protobuf and every known field
//! had its declared type; unknown fields (training info, functions, newer additions) are skipped.

use super::graph::Graph;
use super::types::decode_string_entry;
use super::wire::{Context, DecodeError, Reader};

/// An operator set the model imports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpsetId {
    /// Empty or `ai.onnx` for the default ONNX domain.
    pub domain: String,
    pub version: i64,
}

/// A whole ONNX file, as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelProto {
    pub ir_version: i64,
    pub opset_import: Vec<OpsetId>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub graph: Option<Graph>,
    /// `(key, value)` pairs.
    pub metadata_props: Vec<(String, String)>,
}

impl ModelProto {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut m = ModelProto::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => m.ir_version = f.i64().ctx("ir_version")?,
                2 => m.producer_name = f.string().ctx("producer_name")?,
                3 => m.producer_version = f.string().ctx("producer_version")?,
                4 => m.domain = f.string().ctx("domain")?,
                5 => m.model_version = f.i64().ctx("model_version")?,
                7 => m.graph = Some(f.decode_message("graph", Graph::decode)?),
                8 => f.push_message(&mut m.opset_import, "opset_import", Some(1), decode_opset)?,
                14 => f.push_message(
                    &mut m.metadata_props,
                    "metadata_props",
                    Some(1),
                    decode_string_entry,
                )?,
                _ => {}
            }
        }
        Ok(m)
    }
}

fn decode_opset(mut r: Reader<'_>) -> Result<OpsetId, DecodeError> {
    let mut id = OpsetId::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => id.domain = f.string().ctx("domain")?,
            2 => id.version = f.i64().ctx("version")?,
            _ => {}
        }
    }
    Ok(id)
}
