//! `mobiquant convert`: ONNX in, `.mq` out.

use std::path::Path;

use mobiquant_convert::{ConvertError, import, onnx};

pub fn run(
    input: &Path,
    output: &Path,
    options: &import::ImportOptions,
) -> Result<(), ConvertError> {
    let model = onnx::load(input)?;
    let (builder, report) = import::import(&model, options)?;
    builder.write(output).map_err(|e| ConvertError::Model {
        context: format!("writing {}", output.display()),
        source: e,
    })?;
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    println!(
        "converted {} (ONNX opset {}) -> {}: {} nodes in {} graph(s), {} Constant nodes stored as tensors, {} tensors, {} bytes",
        input.display(),
        report.opset,
        output.display(),
        report.nodes,
        report.graphs,
        report.constants_folded,
        report.tensors,
        bytes
    );
    Ok(())
}
