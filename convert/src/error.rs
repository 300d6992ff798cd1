//! The converter's one error type.
//!
//! Each variant names what it is about (file, field path, tensor, node) and why, so that the
//! message alone tells a user what to fix. Protobuf-level problems keep their typed reason
//! ([`ProtoError`]) and their byte offset.

use std::path::PathBuf;

use crate::onnx::{DataType, ProtoError};

/// Everything that can go wrong while reading or converting a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A file (model or external data) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The model file is larger than protobuf allows for one message.
    #[error(
        "{path} is {size} bytes; an ONNX protobuf file may hold at most {max} bytes (larger weights belong in external data files)"
    )]
    TooLarge { path: PathBuf, size: u64, max: u64 },

    /// The bytes are not a valid protobuf encoding of the expected ONNX message.
    #[error("malformed ONNX protobuf in {field} at byte {offset}: {reason}")]
    Malformed {
        /// Field path from the outermost message, for example `graph.node[3] "conv1".attribute[0] "pads".ints`.
        field: String,
        offset: u64,
        reason: ProtoError,
    },

    /// The model has no `graph`.
    #[error("the model has no graph")]
    MissingGraph,

    /// The model does not import the default ONNX operator set, or imports it twice.
    #[error("the model's opset_import {reason} for the default ONNX domain")]
    DefaultOpset { reason: &'static str },

    /// The default-domain operator set is outside what the converter supports.
    #[error(
        "ONNX opset {version} is not supported (supported: {min} to {max}); re-export the model with an opset in that range"
    )]
    UnsupportedOpset { version: i64, min: i64, max: i64 },

    /// A tensor's dims, data fields or data length are inconsistent.
    #[error("tensor {tensor:?}: {reason}")]
    InvalidTensor { tensor: String, reason: String },

    /// A tensor's element type has no decoder here.
    #[error("tensor {tensor:?}: data type {data_type} is not supported")]
    UnsupportedDataType { tensor: String, data_type: DataType },

    /// The graph breaks an ONNX structural rule (order, single assignment, undefined output).
    #[error("{graph}: {location}: {reason}")]
    InvalidGraph {
        /// The graph, with the nodes and attributes that lead to a subgraph.
        graph: String,
        /// The node or graph output concerned.
        location: String,
        reason: String,
    },

    /// A tensor's external data reference is invalid, unsafe or unreadable.
    #[error("tensor {tensor:?}: external data {location:?}: {reason}")]
    ExternalData {
        tensor: String,
        location: String,
        reason: String,
    },

    /// A value's type is valid ONNX but not something MobiQuant runs.
    #[error("{value}: {reason}")]
    UnsupportedType { value: String, reason: String },

    /// A conversion option does not fit the model.
    #[error("option {option}: {reason}")]
    InvalidOption { option: String, reason: String },

    /// A node uses an operator, domain or attribute the converter cannot represent.
    #[error("node {node:?} ({op}): {reason}")]
    UnsupportedOp {
        node: String,
        op: String,
        reason: String,
    },

    /// The MobiQuant model being written was rejected by the core's writer.
    #[error("{context}: {source}")]
    Model {
        context: String,
        #[source]
        source: mobiquant_core::Error,
    },
}
