//! MobiQuant converter: reads models from other formats on the way to MobiQuant's `.mq` format.
//!
//! - [`onnx`]: a self-contained ONNX reader (protobuf wire decoder, typed messages, tensor
//!   decoding with external data, opset policy).
//! - [`import`] turns an ONNX graph into the editable [`ir::IrModel`]; [`passes`] optimize it;
//!   [`convert`] runs the whole pipeline, refuses what the runtime cannot run
//!   ([`import::check_runtime_support`]) and hands back a `ModelBuilder` to write.
//! - [`npy`]: NumPy arrays in and out (inputs, outputs, calibration data).
//! - [`ConvertError`]: the one error type; every variant names the object (node, tensor, field)
//!   and the reason.
//!
//! Nothing in this crate panics on any input bytes: hostile files are refused with an error.

pub mod error;
pub mod import;
pub mod ir;
pub mod npy;
pub mod onnx;
pub mod passes;

pub use error::ConvertError;

/// Options of a conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    pub import: import::ImportOptions,
    /// Run the graph passes (on by default; off only to compare against the raw import).
    pub optimize: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            import: import::ImportOptions::default(),
            optimize: true,
        }
    }
}

/// What a conversion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertReport {
    pub import: import::ImportReport,
    pub passes: passes::PassReport,
}

/// ONNX in, a model ready to write out: import, graph passes, layout for the writer.
pub fn convert(
    model: &onnx::OnnxModel,
    options: &ConvertOptions,
) -> Result<(mobiquant_core::ModelBuilder, ConvertReport), ConvertError> {
    let (mut ir, import) = import::import(model, &options.import)?;
    let passes = if options.optimize {
        passes::optimize(&mut ir)
    } else {
        passes::PassReport::default()
    };
    import::check_runtime_support(&ir)?;
    let builder = ir.into_builder().map_err(|source| ConvertError::Model {
        context: "writing the converted model".into(),
        source,
    })?;
    Ok((builder, ConvertReport { import, passes }))
}
