//! The model as a typed graph: values, nodes with attributes, and (sub)graphs.
//!
//! Values live in one model-wide table and are referred to by [`ValueId`]; a value is a graph
//! input, a constant (backed by a stored tensor) or the output of exactly one node. Graph 0 is the
//! main graph; other graphs are bodies of control-flow nodes (`If`), referenced by attributes, and
//! may read values of the graphs that enclose them.
//!
//! Invariants after validation (see `format::validate`): every reference is in range; each value
//! has at most one producer; nodes are in topological order, so every input a node reads is a
//! graph input, a constant, or produced by an earlier node of the same or an enclosing graph;
//! a graph is referenced by at most one attribute, only from a graph with a lower index (so the
//! nesting is a tree); declared state pairs join a main-graph input and a main-graph output.

use crate::quant::TensorId;
use crate::tensor::{DType, Shape};

/// Index of a value in a model's value table.
pub type ValueId = u32;
/// Index of a graph in a model's graph list (0 is the main graph).
pub type GraphId = u32;

/// A value flowing through the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub dtype: DType,
    /// `None` when even the rank is unknown (shape inference fills it at plan time).
    pub shape: Option<Shape>,
    /// The stored tensor holding this value, for constants (weights, biases, shape constants).
    pub initializer: Option<TensorId>,
}

/// One operation.
///
/// `op` names a MobiQuant operator (ONNX names for ONNX-equivalent semantics, `mq.`-prefixed names
/// for fused or quantized operators); its semantics do not depend on any ONNX opset: the
/// converter normalizes them.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: String,
    /// Inputs in operator order; `None` marks an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
    pub attributes: Vec<Attribute>,
}

impl Node {
    /// The attribute of this name, if present.
    pub fn attribute(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }
}

/// A named attribute of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
}

/// An attribute value. The discriminant order is the tag stored in files (see `docs/format.md`).
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Int(i64),
    Float(f32),
    String(String),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Strings(Vec<String>),
    Tensor(TensorId),
    Graph(GraphId),
}

/// A graph: its inputs, outputs and nodes in topological order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    pub nodes: Vec<Node>,
}

/// A recurrent state carried between runs: what the model writes to `output` is fed back to
/// `input` on the next run of a streaming session (LSTM/GRU states of speech models).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatePair {
    pub input: ValueId,
    pub output: ValueId,
}
