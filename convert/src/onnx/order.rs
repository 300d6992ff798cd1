//! Checks that a graph is topologically sorted and in single static assignment form, as ONNX
//! requires, before any pass relies on it.
//!
//! Rules, per graph and recursively for subgraphs: every non-empty node input is a graph input,
//! an initializer, an output of an earlier node, or a value visible from an enclosing graph
//! (defined before the node that holds the subgraph); every non-empty node output is new in its
//! graph and all enclosing ones; every graph output is defined. Empty names mark omitted
//! optional inputs and outputs. Recursion depth is bounded by the decoder's nesting limit.

use std::collections::HashSet;

use super::graph::{Graph, Node};
use crate::ConvertError;

/// The names visible in one graph, chained to the enclosing graphs' scopes.
struct Scope<'a> {
    names: HashSet<&'a str>,
    parent: Option<&'a Scope<'a>>,
}

impl<'a> Scope<'a> {
    fn contains(&self, name: &str) -> bool {
        self.names.contains(name) || self.parent.is_some_and(|p| p.contains(name))
    }
}

/// Checks `graph` (named `label` in errors) and its subgraphs.
pub fn check_topological_order(graph: &Graph) -> Result<(), ConvertError> {
    let label = if graph.name.is_empty() {
        "main graph"
    } else {
        &graph.name
    };
    check(graph, label, None)
}

fn node_label(node: &Node) -> String {
    format!("node {:?} ({})", node.name, node.op_type)
}

fn error(graph: &str, location: String, reason: String) -> ConvertError {
    ConvertError::InvalidGraph {
        graph: graph.to_owned(),
        location,
        reason,
    }
}

fn check(graph: &Graph, label: &str, parent: Option<&Scope<'_>>) -> Result<(), ConvertError> {
    let mut scope = Scope {
        names: HashSet::new(),
        parent,
    };
    let declared = graph.inputs.iter().map(|v| v.name.as_str());
    let initialized = graph.initializers.iter().map(|t| t.name.as_str());
    let sparse = graph
        .sparse_initializers
        .iter()
        .map(|s| s.values.name.as_str());
    scope
        .names
        .extend(declared.chain(initialized).chain(sparse));

    for node in &graph.nodes {
        if let Some(missing) = node
            .inputs
            .iter()
            .find(|i| !i.is_empty() && !scope.contains(i))
        {
            return Err(error(
                label,
                node_label(node),
                format!(
                    "input {missing:?} is not a graph input, an initializer, an output of an earlier node or a value of an enclosing graph"
                ),
            ));
        }
        for (attribute, sub) in node.subgraphs() {
            check(
                sub,
                &format!("{label} > {} attribute {attribute:?}", node_label(node)),
                Some(&scope),
            )?;
        }
        for output in node.outputs.iter().filter(|o| !o.is_empty()) {
            if scope.contains(output) {
                return Err(error(
                    label,
                    node_label(node),
                    format!("output {output:?} is already defined"),
                ));
            }
            scope.names.insert(output);
        }
    }
    match graph.outputs.iter().find(|o| !scope.contains(&o.name)) {
        Some(missing) => Err(error(
            label,
            format!("graph output {:?}", missing.name),
            "no node, input or initializer defines it".to_owned(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{Attribute, AttributeValue, TensorProto, ValueInfo};

    fn node(name: &str, inputs: &[&str], outputs: &[&str]) -> Node {
        Node {
            name: name.into(),
            op_type: "Op".into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            ..Node::default()
        }
    }

    fn value(name: &str) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            ty: None,
        }
    }

    fn graph(nodes: Vec<Node>, inputs: &[&str], outputs: &[&str]) -> Graph {
        Graph {
            name: "g".into(),
            nodes,
            inputs: inputs.iter().map(|n| value(n)).collect(),
            outputs: outputs.iter().map(|n| value(n)).collect(),
            initializers: vec![TensorProto {
                name: "w".into(),
                ..TensorProto::default()
            }],
            ..Graph::default()
        }
    }

    fn reason(r: Result<(), ConvertError>) -> (String, String) {
        match r {
            Err(ConvertError::InvalidGraph {
                graph,
                location,
                reason,
            }) => (graph, format!("{location}: {reason}")),
            other => panic!("expected a graph error, got {other:?}"),
        }
    }

    #[test]
    fn sorted_graphs_pass() {
        let g = graph(
            vec![
                node("a", &["x", "w", ""], &["y", ""]),
                node("b", &["y"], &["z"]),
            ],
            &["x"],
            &["z"],
        );
        check_topological_order(&g).unwrap();
    }

    #[test]
    fn use_before_definition_is_named() {
        let g = graph(
            vec![node("b", &["y"], &["z"]), node("a", &["x"], &["y"])],
            &["x"],
            &["z"],
        );
        let (graph, what) = reason(check_topological_order(&g));
        assert_eq!(graph, "g");
        assert!(
            what.starts_with(r#"node "b" (Op): input "y" is not"#),
            "{what}"
        );
    }

    #[test]
    fn redefinition_and_undefined_outputs_are_refused() {
        let twice = graph(
            vec![node("a", &["x"], &["y"]), node("b", &["x"], &["y"])],
            &["x"],
            &["y"],
        );
        assert!(
            reason(check_topological_order(&twice))
                .1
                .contains(r#"output "y" is already defined"#)
        );
        let shadow = graph(vec![node("a", &["x"], &["x"])], &["x"], &["x"]);
        assert!(
            reason(check_topological_order(&shadow))
                .1
                .contains("already defined")
        );
        let dangling = graph(vec![node("a", &["x"], &["y"])], &["x"], &["q"]);
        assert_eq!(
            reason(check_topological_order(&dangling)).1,
            r#"graph output "q": no node, input or initializer defines it"#
        );
    }

    fn with_branch(branch: Graph) -> Graph {
        let mut iff = node("if", &["c"], &["out"]);
        iff.op_type = "If".into();
        iff.attributes.push(Attribute {
            name: "then_branch".into(),
            value: AttributeValue::Graph(Box::new(branch)),
        });
        graph(vec![node("a", &["x"], &["c"]), iff], &["x"], &["out"])
    }

    #[test]
    fn subgraphs_see_enclosing_values_defined_before_them() {
        let branch = Graph {
            name: "then".into(),
            nodes: vec![node("inner", &["c", "w"], &["t"])],
            outputs: vec![value("t")],
            ..Graph::default()
        };
        check_topological_order(&with_branch(branch)).unwrap();

        let late = Graph {
            name: "then".into(),
            nodes: vec![node("inner", &["out"], &["t"])],
            outputs: vec![value("t")],
            ..Graph::default()
        };
        let (graph, what) = reason(check_topological_order(&with_branch(late)));
        assert_eq!(graph, r#"g > node "if" (If) attribute "then_branch""#);
        assert!(
            what.starts_with(r#"node "inner" (Op): input "out""#),
            "{what}"
        );

        let shadowing = Graph {
            nodes: vec![node("inner", &["c"], &["x"])],
            ..Graph::default()
        };
        assert!(
            reason(check_topological_order(&with_branch(shadowing)))
                .1
                .contains(r#"output "x" is already defined"#)
        );
    }
}
