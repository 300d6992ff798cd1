//! Reading an ONNX file into an [`OnnxModel`], with the converter's acceptance policy.
//!
//! Invariants of every [`OnnxModel`]: the bytes decoded without error, there is a graph, the
//! default ONNX domain is imported exactly once with a version in [`MIN_OPSET`]..=[`MAX_OPSET`].
//! A file is size-checked before it is read, so a huge file is refused without reading it.

use std::path::{Path, PathBuf};

use super::graph::Graph;
use super::model::{ModelProto, OpsetId};
use super::tensor::{Tensor, decode_tensor};
use super::tensor_proto::TensorProto;
use super::wire::{DecodeError, Reader};
use crate::ConvertError;

/// Oldest default-domain opset the converter accepts.
pub const MIN_OPSET: i64 = 11;
/// Newest default-domain opset the converter accepts: the newest one whose operator versions
/// the importer's table covers (`import::NEWEST_OPSET`); which versions of each op it takes is
/// decided per node at import.
pub const MAX_OPSET: i64 = crate::import::NEWEST_OPSET;
/// Largest model file: protobuf's limit for one message (weights beyond it go to external data).
pub const MAX_MODEL_BYTES: u64 = i32::MAX as u64;

/// An ONNX model accepted by the converter.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    pub ir_version: i64,
    pub opset_import: Vec<OpsetId>,
    pub producer_name: String,
    pub producer_version: String,
    pub metadata_props: Vec<(String, String)>,
    pub graph: Graph,
    opset: i64,
    dir: Option<PathBuf>,
}

impl OnnxModel {
    /// The version of the default ONNX operator set (domain `""` or `ai.onnx`).
    pub fn opset_version(&self) -> i64 {
        self.opset
    }

    /// The directory that external data locations are relative to (`None` for [`from_bytes`]).
    pub fn external_data_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Decodes one of this model's tensors (an initializer or an attribute value).
    pub fn decode_tensor(&self, proto: &TensorProto) -> Result<Tensor, ConvertError> {
        decode_tensor(proto, self.external_data_dir())
    }

    /// Decodes every initializer of the main graph, in file order.
    pub fn initializers(&self) -> impl Iterator<Item = Result<Tensor, ConvertError>> + '_ {
        self.graph
            .initializers
            .iter()
            .map(|t| self.decode_tensor(t))
    }
}

/// Reads and accepts the ONNX model at `path`; external data is looked up beside it.
pub fn load(path: impl AsRef<Path>) -> Result<OnnxModel, ConvertError> {
    let path = path.as_ref();
    let io = |source| ConvertError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_MODEL_BYTES {
        return Err(ConvertError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_MODEL_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let mut model = from_bytes(&bytes)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    model.dir = Some(dir.unwrap_or(Path::new(".")).to_owned());
    Ok(model)
}

/// Decodes and accepts an ONNX model held in memory. It has no directory, so tensors with
/// external data cannot be decoded from it.
pub fn from_bytes(bytes: &[u8]) -> Result<OnnxModel, ConvertError> {
    let proto = decode_model(bytes)?;
    let opset = default_opset(&proto.opset_import)?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(ConvertError::UnsupportedOpset {
            version: opset,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    let graph = proto.graph.ok_or(ConvertError::MissingGraph)?;
    Ok(OnnxModel {
        ir_version: proto.ir_version,
        opset_import: proto.opset_import,
        producer_name: proto.producer_name,
        producer_version: proto.producer_version,
        metadata_props: proto.metadata_props,
        graph,
        opset,
        dir: None,
    })
}

/// Decodes a `ModelProto` without applying any acceptance policy.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto, ConvertError> {
    ModelProto::decode(Reader::new(bytes)).map_err(|e| malformed("ModelProto", e))
}

/// Decodes a serialized `TensorProto` (such as the `*.pb` files of the ONNX test suite).
pub fn decode_tensor_proto(bytes: &[u8]) -> Result<TensorProto, ConvertError> {
    TensorProto::decode(Reader::new(bytes)).map_err(|e| malformed("TensorProto", e))
}

fn malformed(root: &str, e: DecodeError) -> ConvertError {
    let path = e.path();
    ConvertError::Malformed {
        field: if path.is_empty() {
            root.to_owned()
        } else {
            format!("{root}.{path}")
        },
        offset: e.offset as u64,
        reason: e.kind,
    }
}

fn default_opset(imports: &[OpsetId]) -> Result<i64, ConvertError> {
    let mut default = imports
        .iter()
        .filter(|id| id.domain.is_empty() || id.domain == "ai.onnx");
    match (default.next(), default.next()) {
        (Some(id), None) => Ok(id.version),
        (None, _) => Err(ConvertError::DefaultOpset {
            reason: "has no entry",
        }),
        (Some(_), Some(_)) => Err(ConvertError::DefaultOpset {
            reason: "has more than one entry",
        }),
    }
}
