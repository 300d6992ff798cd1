//! Decodes the whole ONNX node test suite: every `model.onnx` and every tensor file
//! `test_data_set_*/{input,output}_*.pb` (a TensorProto wherever the model declares a tensor),
//! and every tensor inside the models (initializers, tensor attributes, subgraphs included).
//!
//! The suite is generated, not stored: `scripts/onnx-node-tests.sh` writes it to
//! `<workspace>/target/onnx-node-tests` (or set `ONNX_NODE_TESTS` to another folder); see
//! `common` for what happens when it is absent.
//!
//! What it proves: every model decodes; every model is either accepted or refused only for its
//! opset (or for not importing the default domain at all); every tensor of a supported element type decodes to exactly as many values as its
//! dims say; every other tensor is refused as an unsupported data type, nothing else; every
//! graph passes the topological-order check, and the operator histogram covers the suite.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use mobiquant_convert::ConvertError;
use mobiquant_convert::onnx::{
    self, AttributeValue, DataType, Graph, ModelProto, TensorProto, TypeProto, ValueInfo,
};

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    accepted: usize,
    /// Refusal reason -> number of models.
    refused: BTreeMap<String, usize>,
    tensors: usize,
    unsupported: BTreeMap<DataType, usize>,
    non_tensor_values: usize,
    /// Operator -> number of models using it.
    ops: BTreeMap<String, usize>,
}

/// The declared value for `input_3.pb` / `output_0.pb`.
fn declared<'a>(model: &'a ModelProto, file: &Path) -> Option<&'a ValueInfo> {
    let stem = file.file_stem()?.to_str()?;
    let (kind, index) = stem.split_once('_')?;
    let index: usize = index.parse().ok()?;
    let graph = model.graph.as_ref()?;
    match kind {
        "input" => graph.inputs.get(index),
        "output" => graph.outputs.get(index),
        _ => None,
    }
}

/// Counts `proto`'s outcome: decoded to as many values as its dims say, or refused only for
/// its element type.
fn check_tensor(proto: &TensorProto, what: &dyn std::fmt::Display, tally: &mut Tally) {
    tally.tensors += 1;
    match onnx::decode_tensor(proto, None) {
        Ok(t) => {
            let count: usize = t.dims.iter().product();
            assert_eq!(t.data.len(), count, "{what}");
        }
        Err(ConvertError::UnsupportedDataType { data_type, .. }) => {
            *tally.unsupported.entry(data_type).or_insert(0) += 1;
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Initializers and tensor-valued attributes, subgraphs included.
fn check_graph_tensors(graph: &Graph, case: &Path, tally: &mut Tally) {
    for t in &graph.initializers {
        check_tensor(t, &case.display(), tally);
    }
    for attr in graph.nodes.iter().flat_map(|n| &n.attributes) {
        match &attr.value {
            AttributeValue::Tensor(t) => check_tensor(t, &case.display(), tally),
            AttributeValue::Tensors(ts) => ts
                .iter()
                .for_each(|t| check_tensor(t, &case.display(), tally)),
            AttributeValue::Graph(g) => check_graph_tensors(g, case, tally),
            AttributeValue::Graphs(gs) => {
                gs.iter().for_each(|g| check_graph_tensors(g, case, tally))
            }
            _ => {}
        }
    }
}

fn check_tensor_file(path: &Path, model: &ModelProto, tally: &mut Tally) {
    let info =
        declared(model, path).unwrap_or_else(|| panic!("{}: no declared value", path.display()));
    if !matches!(info.ty, Some(TypeProto::Tensor(_))) {
        // Sequence, optional and map values are stored as other messages.
        tally.non_tensor_values += 1;
        return;
    }
    let bytes = fs::read(path).expect("read .pb");
    let proto =
        onnx::decode_tensor_proto(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    check_tensor(&proto, &path.display(), tally);
}

fn check_case(case: &Path, tally: &mut Tally) {
    let bytes = fs::read(case.join("model.onnx")).expect("read model.onnx");
    let model = onnx::decode_model(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
    tally.cases += 1;
    match onnx::from_bytes(&bytes) {
        Ok(_) => tally.accepted += 1,
        Err(e @ (ConvertError::UnsupportedOpset { .. } | ConvertError::DefaultOpset { .. })) => {
            *tally.refused.entry(e.to_string()).or_insert(0) += 1;
        }
        Err(e) => panic!("{}: {e}", case.display()),
    }
    if let Some(graph) = &model.graph {
        check_graph_tensors(graph, case, tally);
        onnx::check_topological_order(graph).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        for op in onnx::op_histogram(graph).into_keys() {
            *tally.ops.entry(op.to_string()).or_insert(0) += 1;
        }
    }
    for set in common::sorted_entries(case).iter().filter(|p| p.is_dir()) {
        for file in common::sorted_entries(set)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        {
            check_tensor_file(file, &model, tally);
        }
    }
}

#[test]
fn every_node_test_decodes() {
    let Some(root) = common::node_suite_dir() else {
        return;
    };
    let mut tally = Tally::default();
    for case in common::sorted_entries(&root)
        .iter()
        .filter(|p| p.join("model.onnx").is_file())
    {
        check_case(case, &mut tally);
    }
    eprintln!("{tally:#?}");
    assert!(
        tally.ops.len() > 150,
        "only {} distinct operators",
        tally.ops.len()
    );
    assert!(
        tally.cases > 1000,
        "only {} cases found in {}",
        tally.cases,
        root.display()
    );
    assert!(
        tally.tensors > tally.cases,
        "too few tensors: {}",
        tally.tensors
    );
}
