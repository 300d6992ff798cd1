//! `If` with a condition known at convert time: the taken branch's nodes replace the `If` node
//! in its graph, and the branch's outputs become the node's outputs (the node that computes a
//! branch output is renamed to write the `If` output's value; a branch output computed outside
//! the branch, or a constant, is read directly, through an `Identity` when the `If` output is a
//! graph or state output). Both bodies are emptied, so nothing reads from them any more and the
//! writer drops them. An `If` whose condition is only known when the model runs stays a node.
//!
//! Invariants: node order stays topological (the branch's nodes read values defined before the
//! `If` or inside the branch, and now stand where the `If` stood); value names stay unique
//! (values are model-wide, so a branch's values keep their names).

use mobiquant_core::graph::GraphId;
use mobiquant_core::{AttrValue, DType, Node};

use super::{is_exported, replace_uses};
use crate::ir::IrModel;

/// The body `node` (an `If`) takes when its condition is a constant of the model.
pub fn taken_branch(ir: &IrModel, node: &Node) -> Option<GraphId> {
    let cond = ir.constant((*node.inputs.first()?)?)?;
    if cond.dtype != DType::Bool || cond.bytes.len() != 1 {
        return None;
    }
    let name = if cond.bytes[0] != 0 {
        "then_branch"
    } else {
        "else_branch"
    };
    body(node, name)
}

fn body(node: &Node, name: &str) -> Option<GraphId> {
    match node.attribute(name) {
        Some(AttrValue::Graph(g)) => Some(*g),
        _ => None,
    }
}

/// Replaces the `If` at `graphs[g].nodes[i]` by the nodes of body `taken`.
pub fn inline(ir: &mut IrModel, g: usize, i: usize, taken: GraphId) {
    let node = ir.graphs[g].nodes.remove(i);
    let taken = taken as usize;
    let mut nodes = std::mem::take(&mut ir.graphs[taken].nodes);
    let body_outputs = std::mem::take(&mut ir.graphs[taken].outputs);
    for other in ["then_branch", "else_branch"].map(|name| body(&node, name)) {
        if let Some(other) = other.filter(|&o| o as usize != taken) {
            clear(ir, other);
        }
    }
    let mut renamed = Vec::new();
    let mut identities = Vec::new();
    for (k, (&b, &o)) in body_outputs.iter().zip(&node.outputs).enumerate() {
        let definer = nodes
            .iter_mut()
            .flat_map(|n| n.outputs.iter_mut())
            .find(|v| **v == b);
        if let Some(slot) = definer {
            *slot = o;
            renamed.push((b, o));
            continue;
        }
        // Read from outside the branch, a constant, or an output already renamed.
        let source = renamed
            .iter()
            .find(|&&(from, _)| from == b)
            .map_or(b, |&(_, to)| to);
        if is_exported(ir, o) {
            identities.push(Node {
                name: format!("{}.output{k}", node.name),
                op: "Identity".into(),
                inputs: vec![Some(source)],
                outputs: vec![o],
                attributes: vec![],
            });
        } else {
            replace_uses(ir, o, source);
        }
    }
    nodes.extend(identities);
    let graph = &mut ir.graphs[g].nodes;
    graph.splice(i..i, nodes);
    for (from, to) in renamed {
        replace_uses(ir, from, to);
    }
}

/// Empties body `g` and the bodies nested in it.
fn clear(ir: &mut IrModel, g: GraphId) {
    let nodes = std::mem::take(&mut ir.graphs[g as usize].nodes);
    ir.graphs[g as usize].outputs.clear();
    for a in nodes.iter().flat_map(|n| &n.attributes) {
        if let AttrValue::Graph(inner) = a.value {
            clear(ir, inner);
        }
    }
}
