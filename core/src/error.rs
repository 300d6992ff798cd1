//! The one error type of the public boundary.
//!
//! Every variant names what went wrong and where (file offset, tensor, node, op, shape, dtype), so
//! that the message alone lets a user act on it. The FFI layer maps this enum one-to-one onto a
//! Kotlin exception and a Swift `Error`.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in MobiQuant, typed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model file could not be opened or mapped.
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a valid `.mq` model: corrupt, truncated or hostile.
    #[error("invalid model: {what}{}", location(.section, .offset))]
    InvalidModel {
        /// The section being read: "header", "metadata" or "data".
        section: &'static str,
        /// Byte offset in the file where decoding stopped; `None` for problems between objects
        /// (a dangling reference, a shape that does not match its byte length).
        offset: Option<u64>,
        /// What is wrong, with the names of the objects involved.
        what: String,
    },

    /// The model is well-formed but uses something this build does not support (newer format
    /// version, unknown required feature, unknown weight layout).
    #[error("unsupported model: {what}")]
    UnsupportedModel { what: String },

    /// A checksum stored in the file does not match the bytes.
    #[error("checksum mismatch in {what}: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        what: String,
        stored: u32,
        computed: u32,
    },

    /// A caller-supplied argument is wrong (shape, dtype, length, name).
    #[error("invalid argument: {what}")]
    InvalidArgument { what: String },

    /// A value passed to `Session::run` does not match the model: unknown or missing name, wrong
    /// dtype, rank or dimension, an empty tensor, or a non-finite value when the session rejects
    /// them.
    #[error("input '{name}': {what}")]
    InvalidInput { name: String, what: String },

    /// Planning failed at a node: its attributes, input dtypes or shapes do not fit the op.
    #[error("node '{node}' ({op}): {what}")]
    InvalidNode {
        node: String,
        op: String,
        what: String,
    },

    /// The model uses an op (or an op variant) that the runtime does not implement.
    #[error("node '{node}': op {op} is not supported: {what}")]
    UnsupportedOp {
        node: String,
        op: String,
        what: String,
    },

    /// A node failed while running, on data only known at run time (e.g. a gather index out of
    /// range).
    #[error("node '{node}' ({op}) failed at run time: {what}")]
    Execution {
        node: String,
        op: String,
        what: String,
    },
}

fn location(section: &str, offset: &Option<u64>) -> String {
    match offset {
        Some(offset) => format!(" (in the {section}, at byte {offset})"),
        None => format!(" (in the {section})"),
    }
}

impl Error {
    pub(crate) fn invalid_argument(what: impl Into<String>) -> Self {
        Error::InvalidArgument { what: what.into() }
    }
}
