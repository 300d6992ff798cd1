//! MobiQuant converter: reads models from other formats on the way to MobiQuant's `.mq` format.
//!
//! - [`onnx`]: a self-contained ONNX reader (protobuf wire decoder, typed messages, tensor
//!   decoding with external data, opset policy).
//! - [`ConvertError`]: the one error type; every variant names the object (node, tensor, field)
//!   and the reason.
//!
//! Nothing in this crate panics on any input bytes: hostile files are refused with an error.

pub mod error;
pub mod import;
pub mod npy;
pub mod onnx;

pub use error::ConvertError;
