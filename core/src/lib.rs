//! MobiQuant core: the engine behind the SDK, with no FFI and no I/O beyond the model file.
//!
//! Layers, each validating what it receives once so that the layers below can trust it:
//! - [`format`]: the `.mq` container: writer, zero-copy reader, validation (spec: `docs/format.md`).
//! - [`tensor`], [`quant`], [`graph`]: the typed model the container describes.
//! - [`plan`]: shape inference, op building and the activation memory plan, once per input shape.
//! - [`exec`]: sessions that run plans; runtime tensors.
//! - `ops` (internal): the float operators (ONNX semantics) that plans are made of.
//! - [`kernels`]: int8 and float compute kernels, a scalar reference and SIMD tiers chosen at run time.
//!
//! Every fallible public function returns [`Error`]; nothing in this crate panics on bad input.

#[cfg(not(target_endian = "little"))]
compile_error!(
    "MobiQuant reads little-endian model data in place and supports little-endian targets only"
);

pub mod error;
pub mod exec;
pub mod format;
pub mod graph;
pub mod kernels;
mod ops;
pub mod plan;
pub mod quant;
pub mod tensor;

pub use error::{Error, Result};
pub use exec::{
    Session, SessionOptions, SharedPlans, StepTime, Tensor, TensorData, TensorMut, TensorRef,
};
pub use format::{LoadOptions, Model, ModelBuilder, ModelInfo};
pub use graph::{AttrValue, Attribute, Graph, Node, StatePair, ValueInfo};
pub use ops::{Support, op_support};
pub use quant::{QuantMode, Quantization};
pub use tensor::{DType, Dim, Shape, TensorInfo, TensorView};
