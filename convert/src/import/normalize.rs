//! Opset normalization: MobiQuant operators have one meaning, that of the newest ONNX opset.
//! Operators whose parameters moved from an attribute to an input in a later opset are rewritten
//! here: the attribute becomes a constant input at the position the newer opset gives it.
//!
//! Invariant: after [`attribute_to_input_moves`] has been applied, a node never carries an
//! attribute that its newest-opset form takes as an input.

/// An attribute that became an input: (op, attribute, input position, opset that moved it).
const MOVED: &[(&str, &str, usize, i64)] = &[
    ("Squeeze", "axes", 1, 13),
    ("Unsqueeze", "axes", 1, 13),
    ("Split", "split", 1, 13),
    ("ReduceSum", "axes", 1, 13),
    ("ReduceMean", "axes", 1, 18),
    ("ReduceMax", "axes", 1, 18),
    ("ReduceMin", "axes", 1, 18),
    ("ReduceProd", "axes", 1, 18),
    ("ReduceL1", "axes", 1, 18),
    ("ReduceL2", "axes", 1, 18),
    ("ReduceLogSum", "axes", 1, 18),
    ("ReduceLogSumExp", "axes", 1, 18),
    ("ReduceSumSquare", "axes", 1, 18),
];

/// The (attribute, input position) pairs of `op` that a model of `opset` stores as attributes
/// but MobiQuant takes as inputs.
pub fn attribute_to_input_moves(
    op: &str,
    opset: i64,
) -> impl Iterator<Item = (&'static str, usize)> + '_ {
    MOVED
        .iter()
        .filter(move |(o, _, _, since)| *o == op && opset < *since)
        .map(|&(_, attr, position, _)| (attr, position))
}
