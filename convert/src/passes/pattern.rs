//! What the passes that recognize a written-out function share ([`super::hard_swish`],
//! [`super::layer_norm`], [`super::gelu`]): reading scalar constants, walking from a node back to
//! the nodes that define its inputs, and replacing a matched chain by one node.
//!
//! A pattern is matched backwards from its last node. Its intermediate values must be private to
//! it: defined in the same graph, read only by the pattern (usually once), and not exported; only
//! its input and its final output are seen by the rest of the model, so replacing the chain by
//! one node that computes the same function changes nothing else.
//!
//! Invariant of [`rewrite_all`]: the new node takes the place of the pattern's last node, whose
//! outputs it keeps, and the pattern's other nodes are removed; since every input of the new node
//! is a pattern input (defined before the pattern's first node) or a constant, the order stays
//! topological.

use mobiquant_core::graph::ValueId;
use mobiquant_core::{Attribute, DType, Node};

use super::{is_exported, producers};
use crate::ir::{IrModel, IrTensor};

/// The single f32 value of a constant input that has no more dims than `rank` (so broadcasting
/// it against a value of that rank never widens the result). `rank` is `None` when unknown: then
/// only a constant of rank 0 counts.
pub(super) fn scalar_within(ir: &IrModel, v: Option<ValueId>, rank: Option<usize>) -> Option<f32> {
    let t = ir.constant(v?)?;
    if t.dims.len() > rank.unwrap_or(0) {
        return None;
    }
    match t.f32s()?.as_slice() {
        [x] => Some(*x),
        _ => None,
    }
}

/// The single f32 value of a constant input.
pub(super) fn scalar(ir: &IrModel, v: Option<ValueId>) -> Option<f32> {
    scalar_within(ir, v, Some(usize::MAX))
}

/// Whether `x` is `c` within one f32 rounding (constants such as 1/6 or 1/√2 are written with
/// an exporter's own rounding).
pub(super) fn close_to(x: f32, c: f32) -> bool {
    (x - c).abs() <= f32::EPSILON * c.abs()
}

/// The known rank of value `v`.
pub(super) fn rank_of(ir: &IrModel, v: ValueId) -> Option<usize> {
    Some(ir.values[v as usize].shape.as_ref()?.rank())
}

/// Whether value `v` is f32.
pub(super) fn is_f32(ir: &IrModel, v: ValueId) -> bool {
    ir.values[v as usize].dtype == DType::F32
}

/// When `n` is the binary `op` with one operand (either one) a scalar constant close to `c`
/// that does not widen the other operand: the other operand.
pub(super) fn with_constant(ir: &IrModel, n: &Node, op: &str, c: f32) -> Option<ValueId> {
    if n.op != op || n.inputs.len() != 2 || n.outputs.len() != 1 {
        return None;
    }
    let (a, b) = (n.inputs[0], n.inputs[1]);
    let fits = |k: Option<ValueId>, other: Option<ValueId>| {
        let rank = other.and_then(|o| rank_of(ir, o));
        scalar_within(ir, k, rank).is_some_and(|x| close_to(x, c))
    };
    if fits(b, a) {
        a
    } else if fits(a, b) {
        b
    } else {
        None
    }
}

/// The two operands of binary node `n` when it is `op`: `(a, b)` and `(b, a)`, to try both
/// orders of a commutative op.
pub(super) fn operands(n: &Node, op: &str) -> Option<[(ValueId, ValueId); 2]> {
    match (n.op == op, n.inputs.as_slice(), n.outputs.len()) {
        (true, [Some(a), Some(b)], 1) => Some([(*a, *b), (*b, *a)]),
        _ => None,
    }
}

/// Who defines and reads the values of one graph, for matching patterns in it.
pub(super) struct Matcher<'a> {
    pub ir: &'a IrModel,
    g: usize,
    producers: Vec<Option<(usize, usize)>>,
    uses: Vec<usize>,
}

impl<'a> Matcher<'a> {
    pub fn new(ir: &'a IrModel, g: usize) -> Matcher<'a> {
        Matcher {
            ir,
            g,
            producers: producers(ir),
            uses: ir.use_counts(),
        }
    }

    /// Node `i` of the graph.
    pub fn node(&self, i: usize) -> &'a Node {
        &self.ir.graphs[self.g].nodes[i]
    }

    /// The node (index and node) that defines `v` when it is in this graph, `v` is read exactly
    /// `reads` times and is not exported.
    pub fn private(&self, v: ValueId, reads: usize) -> Option<(usize, &'a Node)> {
        let (pg, pi) = self.producers[v as usize]?;
        (pg == self.g && self.uses[v as usize] == reads && !is_exported(self.ir, v))
            .then(|| (pi, self.node(pi)))
    }

    /// [`Matcher::private`] for a value read once, by a node of op `op`.
    pub fn single(&self, v: ValueId, op: &str) -> Option<(usize, &'a Node)> {
        self.private(v, 1).filter(|(_, n)| n.op == op)
    }
}

/// An input of a replacement node: a value of the model, or a constant to create.
#[derive(Debug)]
pub(super) enum Operand {
    Value(ValueId),
    New(IrTensor),
}

/// The node that replaces a matched pattern.
#[derive(Debug)]
pub(super) struct Replacement {
    pub op: &'static str,
    pub inputs: Vec<Operand>,
    pub attributes: Vec<Attribute>,
    /// The pattern's nodes other than its last one.
    pub drop: Vec<usize>,
}

/// Tries `find` on every node of every graph (as the last node of a pattern) and replaces each
/// pattern it finds by one node; returns how many. Nodes are tried from the last one back, so a
/// pattern is found at its true end before a shorter pattern inside it (a LayerNorm with its
/// scale and shift before the bare normalization that ends at its `Div`).
pub(super) fn rewrite_all(
    ir: &mut IrModel,
    find: impl Fn(&Matcher<'_>, usize) -> Option<Replacement>,
) -> usize {
    let mut rewritten = 0;
    for g in 0..ir.graphs.len() {
        let mut end = ir.graphs[g].nodes.len();
        // Producers and uses only change when something is rewritten.
        while let Some((i, r)) = {
            let m = Matcher::new(ir, g);
            (0..end).rev().find_map(|i| find(&m, i).map(|r| (i, r)))
        } {
            let inputs = r
                .inputs
                .into_iter()
                .map(|o| match o {
                    Operand::Value(v) => Some(v),
                    Operand::New(mut t) => {
                        t.name = ir.unique_tensor_name(&t.name);
                        Some(ir.add_constant(t))
                    }
                })
                .collect();
            let last = &mut ir.graphs[g].nodes[i];
            last.op = r.op.into();
            last.inputs = inputs;
            last.attributes = r.attributes;
            let mut drop = r.drop;
            debug_assert!(
                drop.iter().all(|&d| d < i),
                "a pattern's nodes precede its end"
            );
            drop.sort_unstable_by(|a, b| b.cmp(a));
            drop.dedup();
            for &d in &drop {
                ir.graphs[g].nodes.remove(d);
            }
            // The removed nodes came before the rewritten one, which ends no pattern now.
            end = i - drop.len();
            rewritten += 1;
        }
    }
    rewritten
}
