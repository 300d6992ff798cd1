//! The ONNX reader: from a `.onnx` file to typed messages and decoded tensors.
//!
//! Layers, each trusting only what the one below has checked:
//! - `wire`: protobuf wire format, bounds-checked, depth-limited, never panicking.
//! - `model`, `graph`, `attribute`, `tensor_proto`, `types`, `data_type`: typed ONNX messages
//!   (field numbers from the `onnx.proto` of the `onnx` 1.23 Python package); unknown fields are
//!   skipped, known fields with the wrong wire type are errors.
//! - `tensor` (with `external`): tensor data to typed values, including external data files.
//! - [`load`]/[`from_bytes`]: the converter's acceptance policy (a graph, default opset
//!   [`MIN_OPSET`]..=[`MAX_OPSET`]).
//! - [`op_histogram`], [`check_topological_order`]: graph facts a conversion checks first.

mod attribute;
mod data_type;
mod external;
mod graph;
mod load;
mod model;
mod ops;
mod order;
mod tensor;
mod tensor_proto;
mod types;
mod wire;

pub use attribute::{Attribute, AttributeValue};
pub use data_type::DataType;
pub use graph::{Graph, Node};
pub use load::{
    MAX_MODEL_BYTES, MAX_OPSET, MIN_OPSET, OnnxModel, decode_model, decode_tensor_proto,
    from_bytes, load,
};
pub use model::{ModelProto, OpsetId};
pub use ops::{OpId, op_histogram};
pub use order::check_topological_order;
pub use tensor::{Tensor, TensorData, decode_tensor};
pub use tensor_proto::{DataLocation, SparseTensorProto, TensorProto};
pub use types::{Dim, TensorType, TypeProto, ValueInfo};
pub use wire::{MAX_DEPTH, ProtoError};

#[cfg(test)]
mod test_encoder;
#[cfg(test)]
mod tests;
