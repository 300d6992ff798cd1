//! MobiQuant converter: reads models from other formats on the way to MobiQuant's `.mq` format.
//!
//! - [`onnx`]: a self-contained ONNX reader (protobuf wire decoder, typed messages, tensor
//!   decoding with external data, opset policy).
//! - [`import`] turns an ONNX graph into the editable [`ir::IrModel`]; [`passes`] optimize it;
//!   [`convert`] runs the whole pipeline, refuses what the runtime cannot run
//!   ([`import::check_runtime_support`]) and hands back a `ModelBuilder` to write.
//! - [`prepack`]: the constant Conv weights stored packed for the f32 kernels of the target tiers.
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
pub mod prepack;

pub use error::ConvertError;

/// Options of a conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    pub import: import::ImportOptions,
    /// Run the graph passes (on by default; off only to compare against the raw import).
    pub optimize: bool,
    /// Tiers whose f32 Conv weight packing is stored in the file ([`prepack`]; one packing per
    /// distinct tile height; `neon`'s (MR 6) serves every arm64 tier and x86 AVX2 / AVX-VNNI).
    /// Default: none (every tier packs at plan time), because the row-major weights are kept
    /// beside each packing, so every packing adds the Conv weights' size to the file again.
    pub pack_for: Vec<mobiquant_core::kernels::Tier>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            import: import::ImportOptions::default(),
            optimize: true,
            pack_for: Vec::new(),
        }
    }
}

/// What a conversion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertReport {
    pub import: import::ImportReport,
    pub passes: passes::PassReport,
    pub prepack: prepack::PackReport,
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
    let (layouts, prepack) = prepack::prepack(&mut ir, &options.pack_for)?;
    let builder = ir
        .into_builder_with(&layouts)
        .map_err(|source| ConvertError::Model {
            context: "writing the converted model".into(),
            source,
        })?;
    Ok((
        builder,
        ConvertReport {
            import,
            passes,
            prepack,
        },
    ))
}
