//! BatchNormalization in inference: `y = (x - mean) / sqrt(var + eps) * scale + bias`.
//!
//! After a Conv whose output it alone reads, with constant weights, it folds into the Conv's
//! weights and bias (`w' = w * s`, `b' = (b - mean) * s + bias`, `s = scale / sqrt(var + eps)`,
//! per output channel, through [`super::channels::fold_into_outputs`]). Elsewhere, when the input's rank is known, it becomes `x * s + t` with
//! per-channel constants shaped to broadcast over the channel axis (axis 1).

use mobiquant_core::{AttrValue, DType, Node, ValueInfo};

use super::channels::fold_into_outputs;
use super::{float_attr, producers};
use crate::ir::{IrModel, IrTensor};

/// Returns (folded into a Conv, decomposed into Mul + Add).
pub fn fold_batch_norms(ir: &mut IrModel) -> (usize, usize) {
    let (mut folded, mut decomposed) = (0, 0);
    for g in 0..ir.graphs.len() {
        let mut i = 0;
        while i < ir.graphs[g].nodes.len() {
            let n = ir.graphs[g].nodes[i].clone();
            let Some((s, t)) = inference_params(ir, &n) else {
                i += 1;
                continue;
            };
            if fold_into_conv(ir, g, &n, &s, &t) {
                ir.graphs[g].nodes.remove(i);
                folded += 1;
            } else if decompose(ir, g, i, &n, &s, &t) {
                decomposed += 1;
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    (folded, decomposed)
}

/// Per-channel `s` and `t` with `y = x * s + t`, when every parameter is a constant f32 vector.
fn inference_params(ir: &IrModel, n: &Node) -> Option<(Vec<f32>, Vec<f32>)> {
    if n.op != "BatchNormalization" || n.inputs.len() != 5 || n.outputs.len() != 1 {
        return None;
    }
    if matches!(n.attribute("training_mode"), Some(AttrValue::Int(1))) {
        return None;
    }
    let param = |k: usize| ir.constant((*n.inputs.get(k)?)?)?.f32s();
    let (scale, bias, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let c = scale.len();
    if [bias.len(), mean.len(), var.len()] != [c, c, c] {
        return None;
    }
    let eps = float_attr(n, "epsilon", 1e-5);
    let s: Vec<f32> = (0..c).map(|k| scale[k] / (var[k] + eps).sqrt()).collect();
    let t = (0..c).map(|k| bias[k] - mean[k] * s[k]).collect();
    Some((s, t))
}

/// Folds into the Conv that computes the BN's input, when only the BN reads it.
fn fold_into_conv(ir: &mut IrModel, g: usize, bn: &Node, s: &[f32], t: &[f32]) -> bool {
    let x = bn.inputs[0].expect("checked by inference_params");
    let Some((pg, pi)) = producers(ir)[x as usize] else {
        return false;
    };
    if pg != g
        || ir.graphs[pg].nodes[pi].op != "Conv"
        || ir.use_counts()[x as usize] != 1
        || !fold_into_outputs(ir, pg, pi, s, t, "bn")
    {
        return false;
    }
    ir.graphs[pg].nodes[pi].outputs[0] = bn.outputs[0];
    true
}

/// Replaces the BN at `graphs[g].nodes[i]` by `Mul(x, s)` then `Add(_, t)`.
fn decompose(ir: &mut IrModel, g: usize, i: usize, bn: &Node, s: &[f32], t: &[f32]) -> bool {
    let x = bn.inputs[0].expect("checked by inference_params");
    let Some(rank) = ir.values[x as usize]
        .shape
        .as_ref()
        .map(|s| s.rank())
        .filter(|&r| r >= 2)
    else {
        return false;
    };
    let mut dims = vec![s.len() as u64];
    dims.resize(rank - 1, 1);
    let s_value = ir.add_constant(IrTensor::from_f32s(
        format!("{}.scale", bn.name),
        dims.clone(),
        s,
    ));
    let t_value = ir.add_constant(IrTensor::from_f32s(format!("{}.shift", bn.name), dims, t));
    let scaled = ir.add_value(ValueInfo {
        name: format!("{}.scaled", bn.name),
        dtype: DType::F32,
        shape: ir.values[x as usize].shape.clone(),
        initializer: None,
    });
    let node = |name: String, op: &str, inputs: Vec<Option<u32>>, output| Node {
        name,
        op: op.into(),
        inputs,
        outputs: vec![output],
        attributes: vec![],
    };
    let nodes = &mut ir.graphs[g].nodes;
    nodes[i] = node(
        format!("{}.mul", bn.name),
        "Mul",
        vec![Some(x), Some(s_value)],
        scaled,
    );
    nodes.insert(
        i + 1,
        node(
            format!("{}.add", bn.name),
            "Add",
            vec![Some(scaled), Some(t_value)],
            bn.outputs[0],
        ),
    );
    true
}
