//! Graph passes that run between import and writing: each rewrites the [`IrModel`] into an
//! equivalent one that runs faster, and counts what it did.
//!
//! First, one walk ([`shapes`]) infers every value's shape with the runtime's own rules
//! ([`runtime`], [`probe`]), folds constant nodes ([`fold`], sized by [`settle`]) and inlines
//! `If`s whose condition is constant ([`branch`]); then Identity/Dropout removal, BatchNormalization folding,
//! recognition of written-out hard-swish ([`hard_swish`]), layer normalization
//! ([`layer_norm`]) and GELU ([`gelu`]), sharing [`pattern`]; folding of constant scales and
//! shifts into the Conv/Gemm/MatMul before or the Conv after them ([`affine`], sharing
//! [`channels`] with the BatchNormalization fold), activation fusion and dead-node removal.
//! Recognition runs after shape inference and folding (its constants and ranks are known then)
//! and before affine folding, because a fold could otherwise take the closing `/ 6` of a
//! hard-swish or the `* gamma` / `+ beta` of a layer normalization into a neighbouring Conv and
//! hide the pattern.
//!
//! Invariants every pass keeps: the model computes the same outputs (up to float rounding of
//! folded constants); node order stays topological; graph outputs and state outputs keep their
//! values (a pass never removes the node that defines a graph output without redirecting it);
//! a pass only rewrites what it has proven safe (constant parameters, single consumers).

mod activation;
mod affine;
mod batch_norm;
mod branch;
mod channels;
mod dead;
mod fold;
mod gelu;
mod hard_swish;
mod identity;
mod layer_norm;
mod pattern;
mod probe;
mod runtime;
mod settle;
mod shapes;

use mobiquant_core::Node;
use mobiquant_core::graph::ValueId;

use crate::ir::IrModel;

/// What the passes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Nodes replaced by the constants the runtime computed for them.
    pub nodes_folded: usize,
    /// Nodes computable at convert time left in place because their outputs are large.
    pub folds_too_large: usize,
    /// `If` nodes replaced by the branch their constant condition takes.
    pub ifs_inlined: usize,
    /// Node outputs whose inferred shape is fully fixed / has symbolic dimensions / could not
    /// be inferred (kept as the source declared it).
    pub shapes_static: usize,
    pub shapes_symbolic: usize,
    pub shapes_unknown: usize,
    /// Why the runtime could not plan the first node it could not plan while inferring shapes.
    pub first_shape_failure: Option<String>,
    pub batch_norms_folded: usize,
    pub batch_norms_decomposed: usize,
    /// Written-out `x * Clip(x + 3, 0, 6) / 6` replaced by one `HardSwish`.
    pub hard_swishes_recognized: usize,
    /// Written-out mean/variance normalization (with its scale and shift) replaced by one
    /// `LayerNormalization`.
    pub layer_norms_recognized: usize,
    /// Written-out `x * 0.5 * (1 + Erf(x / √2))` or its tanh approximation replaced by one
    /// `Gelu`.
    pub gelus_recognized: usize,
    /// Mul/Add/Sub/Div by a per-channel constant folded into the Conv, Gemm or MatMul that
    /// computes their input.
    pub affines_folded: usize,
    /// Mul/Add/Sub/Div by a per-channel constant folded into the Conv that reads their output.
    pub affines_folded_forward: usize,
    pub activations_fused: usize,
    pub identities_removed: usize,
    pub dead_nodes_removed: usize,
    /// Nodes left, all graphs together.
    pub nodes: usize,
}

/// Runs every pass, in an order where each one exposes work for the next.
pub fn optimize(ir: &mut IrModel) -> PassReport {
    let mut report = shapes::infer_and_fold(ir);
    report.identities_removed = identity::remove_identities(ir);
    (report.batch_norms_folded, report.batch_norms_decomposed) = batch_norm::fold_batch_norms(ir);
    report.hard_swishes_recognized = hard_swish::fuse_hard_swish(ir);
    report.layer_norms_recognized = layer_norm::fuse_layer_norms(ir);
    report.gelus_recognized = gelu::fuse_gelus(ir);
    (report.affines_folded, report.affines_folded_forward) = affine::fold_affines(ir);
    report.activations_fused = activation::fuse_activations(ir);
    report.dead_nodes_removed = dead::remove_dead_nodes(ir);
    report.nodes = ir.graphs.iter().map(|g| g.nodes.len()).sum();
    report
}

/// Where each value is defined by a node: (graph, node index).
fn producers(ir: &IrModel) -> Vec<Option<(usize, usize)>> {
    let mut out = vec![None; ir.values.len()];
    for (g, graph) in ir.graphs.iter().enumerate() {
        for (i, n) in graph.nodes.iter().enumerate() {
            for &v in &n.outputs {
                out[v as usize] = Some((g, i));
            }
        }
    }
    out
}

/// Makes every reader of `from` (node inputs, graph outputs, state outputs) read `to` instead.
fn replace_uses(ir: &mut IrModel, from: ValueId, to: ValueId) {
    for g in &mut ir.graphs {
        for v in g
            .nodes
            .iter_mut()
            .flat_map(|n| n.inputs.iter_mut().flatten())
            .chain(g.outputs.iter_mut())
        {
            if *v == from {
                *v = to;
            }
        }
    }
    for (_, output) in &mut ir.states {
        if *output == from {
            *output = to;
        }
    }
}

/// Whether `v` is an output of any graph or a state output (its defining node must stay).
fn is_exported(ir: &IrModel, v: ValueId) -> bool {
    ir.graphs.iter().any(|g| g.outputs.contains(&v)) || ir.states.iter().any(|&(_, o)| o == v)
}

/// A float attribute of a node, or `default`.
fn float_attr(n: &Node, name: &str, default: f32) -> f32 {
    match n.attribute(name) {
        Some(mobiquant_core::AttrValue::Float(f)) => *f,
        _ => default,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_affine;
#[cfg(test)]
mod tests_fold;
#[cfg(test)]
mod tests_patterns;
