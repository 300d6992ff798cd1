//! Removes `Identity` nodes, and `Dropout` nodes whose mask output is unused (inference is the
//! identity). Readers of the output read the input instead; when the output is a graph or state
//! output, the node that produces the input (if it alone is read by the identity) defines the
//! output directly.

use super::{is_exported, producers, replace_uses};
use crate::ir::IrModel;

pub fn remove_identities(ir: &mut IrModel) -> usize {
    let mut removed = 0;
    for g in 0..ir.graphs.len() {
        let mut i = 0;
        while i < ir.graphs[g].nodes.len() {
            if remove_one(ir, g, i) {
                removed += 1;
            } else {
                i += 1;
            }
        }
    }
    removed
}

fn remove_one(ir: &mut IrModel, g: usize, i: usize) -> bool {
    let n = &ir.graphs[g].nodes[i];
    let uses = ir.use_counts();
    let passes_through = match n.op.as_str() {
        "Identity" => n.outputs.len() == 1,
        "Dropout" => n.outputs.iter().skip(1).all(|&m| uses[m as usize] == 0),
        _ => false,
    };
    let (Some(Some(input)), Some(&output)) = (n.inputs.first(), n.outputs.first()) else {
        return false;
    };
    let input = *input;
    if !passes_through {
        return false;
    }
    if !is_exported(ir, output) {
        replace_uses(ir, output, input);
    } else {
        match producers(ir)[input as usize] {
            Some((pg, pi)) if pg == g && uses[input as usize] == 1 && !is_exported(ir, input) => {
                let producer = &mut ir.graphs[pg].nodes[pi];
                let k = producer
                    .outputs
                    .iter()
                    .position(|&v| v == input)
                    .expect("producer defines it");
                producer.outputs[k] = output;
            }
            _ => return false,
        }
    }
    ir.graphs[g].nodes.remove(i);
    true
}
