//! `GraphProto` and `NodeProto`: the computation, as stored.
//!
//! Invariants: nodes, initializers and value declarations keep file order (ONNX requires nodes
//! to be topologically sorted; checking that is a graph pass, not the decoder's job); names are
//! kept verbatim, including the empty name that marks an omitted optional input.

use super::attribute::{Attribute, AttributeValue};
use super::tensor_proto::{SparseTensorProto, TensorProto};
use super::types::ValueInfo;
use super::wire::{Context, DecodeError, Reader};

/// A graph: the main graph of a model or a subgraph (for example an `If` branch).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<TensorProto>,
    pub sparse_initializers: Vec<SparseTensorProto>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub value_info: Vec<ValueInfo>,
}

/// One operator application.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    /// Operator set domain; empty (or `ai.onnx`) for the default ONNX domain.
    pub domain: String,
    /// Input value names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
}

impl Graph {
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut g = Graph::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => f.push_message(&mut g.nodes, "node", Some(3), Node::decode)?,
                2 => g.name = f.string().ctx("name")?,
                5 => f.push_message(
                    &mut g.initializers,
                    "initializer",
                    Some(8),
                    TensorProto::decode,
                )?,
                11 => f.push_message(&mut g.inputs, "input", Some(1), ValueInfo::decode)?,
                12 => f.push_message(&mut g.outputs, "output", Some(1), ValueInfo::decode)?,
                13 => {
                    f.push_message(&mut g.value_info, "value_info", Some(1), ValueInfo::decode)?
                }
                15 => f.push_message(
                    &mut g.sparse_initializers,
                    "sparse_initializer",
                    None,
                    SparseTensorProto::decode,
                )?,
                _ => {}
            }
        }
        Ok(g)
    }
}

impl Node {
    /// The subgraphs this node carries (`If` branches, `Loop`/`Scan` bodies), with the name of
    /// the attribute that holds each.
    pub fn subgraphs(&self) -> impl Iterator<Item = (&str, &Graph)> {
        self.attributes.iter().flat_map(|a| {
            let graphs: &[Graph] = match &a.value {
                AttributeValue::Graph(g) => std::slice::from_ref(g.as_ref()),
                AttributeValue::Graphs(gs) => gs,
                _ => &[],
            };
            graphs.iter().map(move |g| (a.name.as_str(), g))
        })
    }

    /// Whether the node's operator is in the default ONNX domain.
    pub fn is_default_domain(&self) -> bool {
        self.domain.is_empty() || self.domain == "ai.onnx"
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut n = Node::default();
        while let Some(f) = r.next_field()? {
            match f.number {
                1 => n.inputs.push(f.string().ctx("input")?),
                2 => n.outputs.push(f.string().ctx("output")?),
                3 => n.name = f.string().ctx("name")?,
                4 => n.op_type = f.string().ctx("op_type")?,
                5 => f.push_message(&mut n.attributes, "attribute", Some(1), Attribute::decode)?,
                7 => n.domain = f.string().ctx("domain")?,
                _ => {}
            }
        }
        Ok(n)
    }
}
