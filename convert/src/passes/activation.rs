//! Fuses an activation into the Conv or Gemm whose output it alone reads, as the attributes the
//! runtime documents (docs/adding-an-op.md: `activation`, `activation_min`, `activation_max`,
//! `activation_alpha`, `activation_beta`).

use mobiquant_core::{AttrValue, Attribute, Node};

use super::{float_attr, producers};
use crate::ir::IrModel;

pub fn fuse_activations(ir: &mut IrModel) -> usize {
    let mut fused = 0;
    for g in 0..ir.graphs.len() {
        let mut i = 0;
        while i < ir.graphs[g].nodes.len() {
            let act = ir.graphs[g].nodes[i].clone();
            if try_fuse(ir, g, &act) {
                ir.graphs[g].nodes.remove(i);
                fused += 1;
            } else {
                i += 1;
            }
        }
    }
    fused
}

/// The fused-activation attributes equivalent to `n`, if it is a fusable activation.
fn attributes(ir: &IrModel, n: &Node) -> Option<Vec<Attribute>> {
    let attr = |name: &str, value: AttrValue| Attribute {
        name: name.into(),
        value,
    };
    let kind = |k: &str| attr("activation", AttrValue::String(k.into()));
    Some(match n.op.as_str() {
        "Relu" | "Sigmoid" | "Tanh" | "HardSwish" => vec![kind(&n.op)],
        "LeakyRelu" => vec![
            kind("LeakyRelu"),
            attr(
                "activation_alpha",
                AttrValue::Float(float_attr(n, "alpha", 0.01)),
            ),
        ],
        "HardSigmoid" => vec![
            kind("HardSigmoid"),
            attr(
                "activation_alpha",
                AttrValue::Float(float_attr(n, "alpha", 0.2)),
            ),
            attr(
                "activation_beta",
                AttrValue::Float(float_attr(n, "beta", 0.5)),
            ),
        ],
        "Clip" => {
            let bound = |k: usize| -> Option<Option<f32>> {
                match n.inputs.get(k).copied().flatten() {
                    None => Some(None),
                    Some(v) => match ir.constant(v)?.f32s()?.as_slice() {
                        [x] => Some(Some(*x)),
                        _ => None,
                    },
                }
            };
            let mut attrs = vec![kind("Clip")];
            if let Some(min) = bound(1)? {
                attrs.push(attr("activation_min", AttrValue::Float(min)));
            }
            if let Some(max) = bound(2)? {
                attrs.push(attr("activation_max", AttrValue::Float(max)));
            }
            attrs
        }
        _ => return None,
    })
}

fn try_fuse(ir: &mut IrModel, g: usize, act: &Node) -> bool {
    let (Some(Some(x)), [y]) = (act.inputs.first(), act.outputs.as_slice()) else {
        return false;
    };
    let Some(attrs) = attributes(ir, act) else {
        return false;
    };
    let Some((pg, pi)) = producers(ir)[*x as usize] else {
        return false;
    };
    let producer = &ir.graphs[pg].nodes[pi];
    if pg != g
        || !matches!(producer.op.as_str(), "Conv" | "Gemm")
        || producer.attribute("activation").is_some()
        || producer.outputs.len() != 1
        || ir.use_counts()[*x as usize] != 1
    {
        return false;
    }
    let producer = &mut ir.graphs[pg].nodes[pi];
    producer.attributes.extend(attrs);
    producer.outputs[0] = *y;
    true
}
