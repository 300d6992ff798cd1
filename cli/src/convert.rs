//! `mobiquant convert`: ONNX in, `.mq` out.

use std::path::Path;

use mobiquant_convert::{ConvertError, ConvertOptions, onnx};

pub fn run(input: &Path, output: &Path, options: &ConvertOptions) -> Result<(), ConvertError> {
    let model = onnx::load(input)?;
    let (builder, report) = mobiquant_convert::convert(&model, options)?;
    builder.write(output).map_err(|e| ConvertError::Model {
        context: format!("writing {}", output.display()),
        source: e,
    })?;
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    let (i, p) = (&report.import, &report.passes);
    println!(
        "converted {} (ONNX opset {}) -> {} ({bytes} bytes)\n  import: {} nodes in {} graph(s), {} Constant nodes stored as tensors\n  passes: {} BatchNormalization folded into Conv, {} decomposed, {} activations fused, {} Identity/Dropout and {} dead nodes removed",
        input.display(),
        i.opset,
        output.display(),
        i.nodes,
        i.graphs,
        i.constants_folded,
        p.batch_norms_folded,
        p.batch_norms_decomposed,
        p.activations_fused,
        p.identities_removed,
        p.dead_nodes_removed,
    );
    Ok(())
}
