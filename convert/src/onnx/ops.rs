//! Which operators a model uses: the list a converter checks against what it supports, so that
//! it can refuse a model by naming every unsupported operator at once.
//!
//! Invariant: subgraphs (`If`, `Loop`, `Scan` bodies) are counted with their parents, and the
//! two spellings of the default domain (`""` and `"ai.onnx"`) count as one.

use std::collections::BTreeMap;
use std::fmt;

use super::graph::Graph;

/// An operator: domain and type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId {
    /// Empty for the default ONNX domain.
    pub domain: String,
    pub op_type: String,
}

impl fmt::Display for OpId {
    /// `Conv` for the default domain, `com.microsoft:FusedConv` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domain.is_empty() {
            f.write_str(&self.op_type)
        } else {
            write!(f, "{}:{}", self.domain, self.op_type)
        }
    }
}

/// How many nodes of each operator `graph` and its subgraphs hold.
pub fn op_histogram(graph: &Graph) -> BTreeMap<OpId, usize> {
    let mut counts = BTreeMap::new();
    count_into(graph, &mut counts);
    counts
}

fn count_into(graph: &Graph, counts: &mut BTreeMap<OpId, usize>) {
    for node in &graph.nodes {
        let domain = if node.is_default_domain() {
            String::new()
        } else {
            node.domain.clone()
        };
        let id = OpId {
            domain,
            op_type: node.op_type.clone(),
        };
        let count = counts.entry(id).or_insert(0);
        *count = count.saturating_add(1);
        for (_, sub) in node.subgraphs() {
            count_into(sub, counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{Attribute, AttributeValue, Node};

    fn node(domain: &str, op: &str) -> Node {
        Node {
            domain: domain.into(),
            op_type: op.into(),
            ..Node::default()
        }
    }

    #[test]
    fn counts_subgraphs_and_merges_default_domain_spellings() {
        let body = Graph {
            nodes: vec![node("", "Relu"), node("com.microsoft", "FusedConv")],
            ..Graph::default()
        };
        let mut lp = node("ai.onnx", "Loop");
        lp.attributes.push(Attribute {
            name: "body".into(),
            value: AttributeValue::Graphs(vec![body.clone(), body]),
        });
        let g = Graph {
            nodes: vec![node("", "Relu"), node("ai.onnx", "Relu"), lp],
            ..Graph::default()
        };
        let got: Vec<(String, usize)> = op_histogram(&g)
            .into_iter()
            .map(|(id, n)| (id.to_string(), n))
            .collect();
        let expected = [("Loop", 1), ("Relu", 4), ("com.microsoft:FusedConv", 2)];
        assert_eq!(got, expected.map(|(s, n)| (s.to_owned(), n)));
    }
}
