//! Constant folding: a node whose outputs are the same whatever the model's inputs is replaced
//! by constants holding what the runtime computes for it ([`super::runtime`]: planned, or run
//! when the planner does not compute it at plan time).
//!
//! A node is folded when every input is a constant of the model, or, for ops that read only
//! their inputs' shapes (`Shape`, `Size`, which the planner answers without contents), a value
//! whose shape is static: the same in every probe run, with no contents known. So the shape
//! subgraphs exported from PyTorch (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`) fold
//! away once the shapes they read are static, and stay nodes (planned per input shape) when a
//! symbolic dimension flows into them.
//!
//! Folding happens in two steps: during the walk a foldable node's outputs become constants at
//! once (so the nodes after it see constants) while the node stays in place; once the walk is
//! done, [`super::settle`] removes the folded nodes or, where folding would make the file
//! grow, turns their outputs back into computed values. A node the runtime cannot plan or run
//! stays a node, for the runtime to report when the model is planned. No fold writes more
//! than [`MAX_FOLDED_ELEMENTS`] elements.

use mobiquant_core::quant::TensorId;
use mobiquant_core::{Node, Shape, Tensor};

use super::runtime::{self, Feed, Known};
use crate::ir::IrModel;

/// The most elements one fold may write.
pub const MAX_FOLDED_ELEMENTS: usize = 1 << 20;

/// What to do with a node.
#[derive(Debug)]
pub enum Decision {
    /// Replace it by these constants (one per output): [`commit`] does.
    Fold(Vec<Tensor>),
    /// Foldable, but its outputs are more than [`MAX_FOLDED_ELEMENTS`].
    TooLarge,
    NotConstant,
}

/// How the inputs of a node relate to the model's inputs.
pub struct Inputs<'a> {
    /// One per node input; `None` for an omitted one.
    pub feeds: Vec<Option<Feed<'a>>>,
    /// Every present input is a model constant.
    pub all_constant: bool,
    /// Every present input is a constant, or a value of static shape whose contents are not
    /// known (so whatever the planner computes from it depends on its shape only).
    pub shapes_only: bool,
}

/// Decides whether `node` folds, given its inputs and what the planner made of it (`planned`,
/// the same in every run when `inputs.shapes_only`), and computes the constants if it does.
pub fn decide(
    ir: &IrModel,
    node: &Node,
    inputs: &Inputs<'_>,
    planned: Option<&[Known]>,
) -> Decision {
    let Some(planned) = planned.filter(|_| inputs.shapes_only) else {
        return Decision::NotConstant;
    };
    let from_plan = planned.iter().all(|k| k.value.is_some());
    if !from_plan && !inputs.all_constant {
        return Decision::NotConstant;
    }
    let out_elements = planned
        .iter()
        .map(|k| k.shape.iter().product::<usize>())
        .fold(0usize, usize::saturating_add);
    if out_elements > MAX_FOLDED_ELEMENTS {
        return Decision::TooLarge;
    }
    let values: Vec<Tensor> = if from_plan {
        planned.iter().filter_map(|k| k.value.clone()).collect()
    } else {
        match runtime::run_node(ir, node, &inputs.feeds) {
            Ok(v) => v,
            Err(_) => return Decision::NotConstant,
        }
    };
    let dtypes_match = values.len() == node.outputs.len()
        && values
            .iter()
            .zip(&node.outputs)
            .all(|(t, &v)| t.dtype() == ir.values[v as usize].dtype);
    if !dtypes_match {
        return Decision::NotConstant;
    }
    Decision::Fold(values)
}

/// Makes the outputs of `node` the constants `values` (from [`decide`]), sharing a stored
/// tensor where one holds the same; [`super::settle`] later removes the node or undoes this.
pub fn commit(ir: &mut IrModel, node: &Node, values: &[Tensor]) {
    for (t, &v) in values.iter().zip(&node.outputs) {
        let shape = Shape::fixed(&t.shape().iter().map(|&d| d as u64).collect::<Vec<_>>());
        let id = stored(ir, t).unwrap_or_else(|| {
            let name = ir.unique_tensor_name(&ir.values[v as usize].name);
            ir.add_tensor(runtime::to_ir_tensor(name, t))
        });
        let info = &mut ir.values[v as usize];
        info.initializer = Some(id);
        info.shape = Some(shape);
    }
}

/// A tensor of the model holding exactly `t`, which a folded value can share.
fn stored(ir: &IrModel, t: &Tensor) -> Option<TensorId> {
    let bytes = t.view().bytes();
    let dims: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    ir.tensors
        .iter()
        .position(|s| s.dtype == t.dtype() && s.dims == dims && s.bytes == bytes)
        .map(|i| i as TensorId)
}
