//! A loaded, validated model: the reader side of the format.
//!
//! Invariant: a [`Model`] exists only after the header, the metadata and the quantization
//! parameter values have passed validation (and, unless disabled, every tensor checksum), so
//! every accessor can index its tables and slice its data without further checks. Weights are
//! never copied: tensor views borrow the memory map (or the aligned buffer).

use std::fs::File;
use std::path::Path;

use super::header::{HEADER_LEN, Header};
use super::metadata::{self, Metadata, ModelInfo};
use super::storage::Storage;
use super::validate;
use crate::error::{Error, Result};
use crate::graph::{Graph, StatePair, ValueId, ValueInfo};
use crate::quant::TensorId;
use crate::tensor::{TensorInfo, TensorView};

/// How to load a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Verify each tensor's CRC-32. On by default; turn it off only for trusted files whose
    /// integrity is guaranteed otherwise (it reads every weight byte once at load). Structure,
    /// bounds and quantization parameters are always validated.
    pub verify_tensor_checksums: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            verify_tensor_checksums: true,
        }
    }
}

/// A validated `.mq` model. Immutable; share it between sessions with `Arc`.
pub struct Model {
    storage: Storage,
    header: Header,
    meta: Metadata,
}

impl Model {
    /// Memory-maps and validates the model at `path`.
    ///
    /// The file must not be truncated or modified while the model is loaded (models shipped in
    /// an app's assets or bundle are read-only). Weights stay in the page cache, shared with other
    /// processes, and are paged in as they are first used.
    pub fn open(path: impl AsRef<Path>) -> Result<Model> {
        Model::open_with(path, LoadOptions::default())
    }

    /// [`Model::open`] with options.
    pub fn open_with(path: impl AsRef<Path>, options: LoadOptions) -> Result<Model> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_LEN {
            return Err(Error::InvalidModel {
                section: "header",
                offset: Some(0),
                what: format!(
                    "file is {len} bytes long, shorter than the {HEADER_LEN}-byte header"
                ),
            });
        }
        Model::from_storage(Storage::map(&file).map_err(io)?, options)
    }

    /// Validates a model held in memory. The bytes are copied once into a 64-byte aligned
    /// buffer that the model owns (alignment of the caller's buffer cannot be relied on).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        Model::from_bytes_with(bytes, LoadOptions::default())
    }

    /// [`Model::from_bytes`] with options.
    pub fn from_bytes_with(bytes: &[u8], options: LoadOptions) -> Result<Model> {
        Model::from_storage(Storage::copy_from(bytes), options)
    }

    fn from_storage(storage: Storage, options: LoadOptions) -> Result<Model> {
        let bytes = storage.bytes();
        let header = Header::decode(bytes, bytes.len() as u64)?;
        // The header check guarantees these ranges lie within the file.
        let meta_bytes = &bytes[HEADER_LEN as usize..(HEADER_LEN + header.metadata_len) as usize];
        let computed = crc32fast::hash(meta_bytes);
        if computed != header.metadata_crc32 {
            return Err(Error::ChecksumMismatch {
                what: "metadata".into(),
                stored: header.metadata_crc32,
                computed,
            });
        }
        let meta = metadata::decode(meta_bytes, HEADER_LEN)?;
        validate::check_metadata(&meta, header.data_len)?;
        let data = &bytes[header.data_offset as usize..];
        validate::check_data(&meta, data, options.verify_tensor_checksums)?;
        log::debug!(
            "loaded model '{}': {} tensors, {} nodes, {} bytes ({})",
            meta.info.name,
            meta.tensors.len(),
            meta.graphs[0].nodes.len(),
            bytes.len(),
            if storage.is_mapped() {
                "mapped"
            } else {
                "in memory"
            }
        );
        Ok(Model {
            storage,
            header,
            meta,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn info(&self) -> &ModelInfo {
        &self.meta.info
    }

    /// The tensor table.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.meta.tensors
    }

    /// A tensor's metadata and bytes, borrowed from the model.
    pub fn tensor(&self, id: TensorId) -> Option<TensorView<'_>> {
        let info = self.meta.tensors.get(id as usize)?;
        let start = (self.header.data_offset + info.offset) as usize;
        let bytes = &self.storage.bytes()[start..start + info.byte_len as usize];
        Some(TensorView::new(info, bytes))
    }

    /// The tensor of this name.
    pub fn tensor_by_name(&self, name: &str) -> Option<TensorView<'_>> {
        let id = self.meta.tensors.iter().position(|t| t.name == name)?;
        self.tensor(id as TensorId)
    }

    /// The value table.
    pub fn values(&self) -> &[ValueInfo] {
        &self.meta.values
    }

    pub fn value(&self, id: ValueId) -> Option<&ValueInfo> {
        self.meta.values.get(id as usize)
    }

    /// All graphs; index 0 is the main graph, the others are control-flow bodies.
    pub fn graphs(&self) -> &[Graph] {
        &self.meta.graphs
    }

    pub fn main_graph(&self) -> &Graph {
        &self.meta.graphs[0]
    }

    /// Recurrent states carried between runs of a streaming session.
    pub fn states(&self) -> &[StatePair] {
        &self.meta.states
    }

    /// The main graph's inputs.
    pub fn inputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.main_graph()
            .inputs
            .iter()
            .map(|&v| &self.meta.values[v as usize])
    }

    /// The main graph's outputs.
    pub fn outputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.main_graph()
            .outputs
            .iter()
            .map(|&v| &self.meta.values[v as usize])
    }

    /// The whole file as the model holds it (memory map or owned buffer).
    pub fn file_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Whether the weights are memory-mapped from a file rather than held in an owned buffer.
    pub fn is_memory_mapped(&self) -> bool {
        self.storage.is_mapped()
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.meta.info.name)
            .field("tensors", &self.meta.tensors.len())
            .field("values", &self.meta.values.len())
            .field("graphs", &self.meta.graphs.len())
            .field("bytes", &self.storage.bytes().len())
            .finish()
    }
}
