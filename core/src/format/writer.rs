//! Writing `.mq` files: [`ModelBuilder`] collects tensors, values and graphs, then lays them out.
//!
//! Invariant: the builder writes only files that its own reader accepts. `finish` encodes the
//! metadata, decodes it back and runs the reader's full validation before any byte is written, so
//! a converter bug surfaces as an error at conversion time, never as a file phones reject.

use std::io::Write;
use std::path::Path;

use super::header::{DATA_ALIGN, HEADER_LEN, Header, TENSOR_ALIGN, VERSION_MAJOR, VERSION_MINOR};
use super::metadata::{self, Metadata, ModelInfo};
use super::validate;
use crate::error::{Error, Result};
use crate::graph::{Graph, GraphId, StatePair, ValueId, ValueInfo};
use crate::quant::{Quantization, TensorId};
use crate::tensor::{DType, Layout, Shape, TensorInfo};

/// Builds a model file.
pub struct ModelBuilder {
    meta: Metadata,
    /// The data section as it grows: every tensor starts at a multiple of 64.
    data: Vec<u8>,
}

impl ModelBuilder {
    pub fn new(info: ModelInfo) -> ModelBuilder {
        ModelBuilder {
            meta: Metadata {
                info,
                tensors: Vec::new(),
                values: Vec::new(),
                graphs: Vec::new(),
                states: Vec::new(),
            },
            data: Vec::new(),
        }
    }

    /// Adds a stored tensor. `bytes` must be exactly what dtype, dims and layout imply.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        dims: &[u64],
        layout: Layout,
        quantization: Quantization,
        bytes: &[u8],
    ) -> Result<TensorId> {
        let name = name.into();
        let expected = layout.byte_len(dtype, dims);
        if expected != Some(bytes.len() as u64) {
            return Err(Error::invalid_argument(format!(
                "tensor '{name}': {} bytes given, {dtype} {dims:?} in the {} layout needs {expected:?}",
                bytes.len(),
                layout.name()
            )));
        }
        let id = TensorId::try_from(self.meta.tensors.len())
            .map_err(|_| Error::invalid_argument("too many tensors"))?;
        self.data
            .resize(self.data.len().next_multiple_of(TENSOR_ALIGN as usize), 0);
        let offset = self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        self.meta.tensors.push(TensorInfo {
            name,
            dtype,
            dims: dims.to_vec(),
            layout,
            quantization,
            offset,
            byte_len: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        });
        Ok(id)
    }

    /// Adds a value to the value table.
    pub fn add_value(&mut self, value: ValueInfo) -> ValueId {
        self.meta.values.push(value);
        (self.meta.values.len() - 1) as ValueId
    }

    /// Adds an unquantized row-major constant: a tensor and a value of the same name backed by it.
    pub fn add_constant(
        &mut self,
        name: impl Into<String>,
        dtype: DType,
        dims: &[u64],
        bytes: &[u8],
    ) -> Result<ValueId> {
        let name = name.into();
        let tensor = self.add_tensor(
            name.clone(),
            dtype,
            dims,
            Layout::RowMajor,
            Quantization::None,
            bytes,
        )?;
        Ok(self.add_value(ValueInfo {
            name,
            dtype,
            shape: Some(Shape::fixed(dims)),
            initializer: Some(tensor),
        }))
    }

    /// Adds a graph; the first one added is the main graph.
    pub fn add_graph(&mut self, graph: Graph) -> GraphId {
        self.meta.graphs.push(graph);
        (self.meta.graphs.len() - 1) as GraphId
    }

    /// Declares a recurrent state: `output` of one run feeds `input` of the next.
    pub fn add_state(&mut self, input: ValueId, output: ValueId) {
        self.meta.states.push(StatePair { input, output });
    }

    /// Validates the model and returns the file's bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out).map_err(|e| match e {
            WriteError::Model(e) => e,
            WriteError::Io(e) => Error::invalid_argument(format!("writing to memory failed: {e}")),
        })?;
        Ok(out)
    }

    /// Validates the model and writes it to `path`.
    pub fn write(self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        self.write_to(&mut w).map_err(|e| match e {
            WriteError::Model(e) => e,
            WriteError::Io(e) => io(e),
        })?;
        w.flush().map_err(io)
    }

    fn write_to(&self, w: &mut impl Write) -> Result<(), WriteError> {
        let meta_bytes = metadata::encode(&self.meta);
        // Round trip through the reader's decoder and validation: the writer never emits a file
        // the reader would reject.
        let decoded = metadata::decode(&meta_bytes, HEADER_LEN)?;
        validate::check_metadata(&decoded, self.data.len() as u64)?;
        validate::check_data(&decoded, &self.data, true)?;

        let metadata_end = HEADER_LEN + meta_bytes.len() as u64;
        let data_offset = metadata_end.next_multiple_of(DATA_ALIGN);
        let header = Header {
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            required_flags: 0,
            optional_flags: 0,
            metadata_offset: HEADER_LEN,
            metadata_len: meta_bytes.len() as u64,
            data_offset,
            data_len: self.data.len() as u64,
            metadata_crc32: crc32fast::hash(&meta_bytes),
        };
        w.write_all(&header.encode())?;
        w.write_all(&meta_bytes)?;
        w.write_all(&vec![0u8; (data_offset - metadata_end) as usize])?;
        w.write_all(&self.data)?;
        Ok(())
    }
}

enum WriteError {
    Model(Error),
    Io(std::io::Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Model(e)
    }
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        WriteError::Io(e)
    }
}
