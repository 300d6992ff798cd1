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
        "converted {} (ONNX opset {}) -> {} ({bytes} bytes)\n  import: {} nodes in {} graph(s), {} Constant nodes stored as tensors\n  shapes: {} node outputs static, {} symbolic, {} unknown (kept as declared){}\n  passes: {} nodes folded to constants ({} left as nodes: outputs too large), {} If inlined, {} BatchNormalization folded into Conv, {} decomposed, {} written-out hard-swish, {} LayerNorm and {} GELU recognized, {} constant Mul/Add/Sub/Div folded into the Conv/Gemm/MatMul before and {} into the Conv after, {} activations fused, {} Identity/Dropout and {} dead nodes removed\n  nodes: {} -> {}\n  packed: {} weight packings stored for Conv, Gemm and MatMul ({} bytes)",
        input.display(),
        i.opset,
        output.display(),
        i.nodes,
        i.graphs,
        i.constants_folded,
        p.shapes_static,
        p.shapes_symbolic,
        p.shapes_unknown,
        p.first_shape_failure
            .as_ref()
            .map_or(String::new(), |e| format!(
                "; first not planned at probe sizes: {e}"
            )),
        p.nodes_folded,
        p.folds_too_large,
        p.ifs_inlined,
        p.batch_norms_folded,
        p.batch_norms_decomposed,
        p.hard_swishes_recognized,
        p.layer_norms_recognized,
        p.gelus_recognized,
        p.affines_folded,
        p.affines_folded_forward,
        p.activations_fused,
        p.identities_removed,
        p.dead_nodes_removed,
        i.nodes,
        if options.optimize { p.nodes } else { i.nodes },
        report.prepack.tensors,
        report.prepack.bytes,
    );
    Ok(())
}
