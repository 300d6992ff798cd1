//! The last check before a model is written: every node's op and dtypes must be ones the
//! runtime implements, asked of the runtime itself ([`mobiquant_core::op_support`], the answer the
//! planner gets), so that a model is refused at convert time, naming the node, op and reason,
//! rather than failing when an app plans it.
//!
//! Invariant: runs on the final graph (after the passes), so that nodes the passes remove or
//! rewrite are judged in their final form.

use mobiquant_core::{Support, op_support};

use crate::ConvertError;
use crate::ir::IrModel;

/// Refuses the first node of `ir` (any graph) that the runtime cannot run.
pub fn check_runtime_support(ir: &IrModel) -> Result<(), ConvertError> {
    let dtype = |v: u32| ir.values.get(v as usize).map(|info| info.dtype);
    for node in ir.graphs.iter().flat_map(|g| &g.nodes) {
        let inputs: Vec<_> = node.inputs.iter().map(|i| i.and_then(dtype)).collect();
        let outputs: Vec<_> = node.outputs.iter().filter_map(|&o| dtype(o)).collect();
        if let Support::Unsupported(reason) = op_support(&node.op, &inputs, &outputs) {
            return Err(ConvertError::UnsupportedOp {
                node: node.name.clone(),
                op: node.op.clone(),
                reason,
            });
        }
    }
    Ok(())
}
