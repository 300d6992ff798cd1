//! The importer end to end: ONNX in, a `.mq` model that the core's loader accepts out.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use mobiquant_convert::onnx::{self, TensorData};
use mobiquant_convert::{ConvertError, import};
use mobiquant_core::{AttrValue, DType, Dim, Model, Node, Shape};

fn convert(path: &Path) -> Result<Model, ConvertError> {
    let (ir, _) = import::import(&onnx::load(path)?, &Default::default())?;
    let builder = ir.into_builder().unwrap();
    Ok(Model::from_bytes(&builder.finish().expect("the importer writes valid models")).unwrap())
}

fn node<'m>(model: &'m Model, name: &str) -> &'m Node {
    model
        .graphs()
        .iter()
        .flat_map(|g| &g.nodes)
        .find(|n| n.name == name)
        .unwrap()
}

fn input_name(model: &Model, n: &Node, i: usize) -> String {
    model.value(n.inputs[i].unwrap()).unwrap().name.clone()
}

#[test]
fn opset12_attributes_constants_dtypes_and_bodies() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/opset12.onnx");
    let m = convert(&path).unwrap();
    let props: BTreeMap<_, _> = m.info().properties.iter().cloned().collect();
    assert_eq!(props["source.opset"], "12");

    // Attributes that opset 13 turned into inputs are inputs now.
    let unsq = node(&m, "unsq");
    assert!(unsq.attribute("axes").is_none());
    assert_eq!(input_name(&m, unsq, 1), "unsq.axes");
    assert_eq!(
        m.tensor_by_name("unsq.axes").unwrap().as_i64().unwrap(),
        &[0]
    );
    let rsum = node(&m, "rsum");
    assert_eq!(
        m.tensor_by_name("rsum.axes").unwrap().as_i64().unwrap(),
        &[2]
    );
    assert_eq!(rsum.attribute("keepdims"), Some(&AttrValue::Int(0)));

    // Constant nodes are stored tensors, not nodes.
    assert!(
        m.graphs()
            .iter()
            .flat_map(|g| &g.nodes)
            .all(|n| n.op != "Constant")
    );
    assert_eq!(m.tensor_by_name("two").unwrap().as_f32().unwrap(), &[2.0]);
    assert_eq!(
        m.tensor_by_name("two").unwrap().info.dims,
        Vec::<u64>::new()
    );
    assert_eq!(m.tensor_by_name("cond").unwrap().bytes(), &[1]);
    // Constants nothing reads ("axes", an initializer "unused_i8") are not written.
    assert!(m.tensor_by_name("axes").is_none() && m.tensor_by_name("unused_i8").is_none());

    // Dtypes that the file does not declare are inferred.
    let dtype = |name: &str| m.values().iter().find(|v| v.name == name).unwrap().dtype;
    assert_eq!(dtype("shape"), DType::I64);
    assert_eq!(dtype("shape_f"), DType::F32);
    assert_eq!(dtype("mask"), DType::Bool);
    assert_eq!(dtype("branch"), DType::F32);
    assert_eq!(dtype("dropout:unused1"), DType::F32);
    let x = m.inputs().next().unwrap();
    assert_eq!(
        x.shape,
        Some(Shape(vec![Dim::Symbol("batch".into()), Dim::Fixed(3)]))
    );

    // The If keeps its bodies, which read the outer value "s".
    let branch = node(&m, "if");
    let body_name = |attr: &str| match branch.attribute(attr) {
        Some(AttrValue::Graph(g)) => m.graphs()[*g as usize].name.clone(),
        other => panic!("{attr} is {other:?}"),
    };
    assert_eq!(
        (body_name("then_branch"), body_name("else_branch")),
        ("then".into(), "else".into())
    );
    assert_eq!(input_name(&m, node(&m, "then_relu"), 0), "s");
    assert_eq!(m.graphs().len(), 3);
}

#[test]
fn mobilenet_v2_weights_arrive_unchanged() {
    let Some(path) = common::mobilenet_onnx() else {
        return;
    };
    let source = onnx::load(&path).unwrap();
    let m = convert(&path).unwrap();
    assert_eq!(
        m.main_graph().nodes.len(),
        170 - 70,
        "the 70 Constant nodes become tensors"
    );
    let input = m.inputs().next().unwrap();
    assert_eq!(input.shape.as_ref().unwrap().to_string(), "[n,3,224,224]");
    let mut checked = 0;
    for t in source.initializers() {
        let t = t.unwrap();
        let TensorData::F32(values) = &t.data else {
            panic!("{} is not float", t.name)
        };
        let stored = m.tensor_by_name(&t.name).unwrap();
        assert_eq!(
            stored.info.dims,
            t.dims.iter().map(|&d| d as u64).collect::<Vec<_>>()
        );
        assert_eq!(stored.as_f32().unwrap(), &values[..], "{}", t.name);
        checked += 1;
    }
    assert_eq!(checked, 106);
}

#[test]
fn unsupported_domains_are_refused_by_node_and_op() {
    // Every node-suite model either imports into a model the core loads, or is refused for a
    // reason that names the node and op (or the opset / data type): never a structural error.
    let Some(root) = common::node_suite_dir() else {
        return;
    };
    let (mut imported, mut refused) = (0, BTreeMap::<String, usize>::new());
    for case in common::sorted_entries(&root) {
        let path = case.join("model.onnx");
        if !path.is_file() {
            continue;
        }
        match convert(&path) {
            Ok(_) => imported += 1,
            Err(
                e @ (ConvertError::UnsupportedOp { .. }
                | ConvertError::UnsupportedOpset { .. }
                | ConvertError::UnsupportedDataType { .. }
                | ConvertError::UnsupportedType { .. }
                | ConvertError::DefaultOpset { .. }),
            ) => {
                let kind = format!("{e:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string();
                *refused.entry(kind).or_default() += 1;
            }
            Err(e) => panic!("{}: {e}", case.display()),
        }
    }
    eprintln!("node suite: {imported} imported, refused: {refused:?}");
    assert!(imported > 500, "only {imported} node-suite models imported");
}

#[test]
fn state_pairs_are_declared_by_name() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/opset12.onnx");
    let model = onnx::load(&path).unwrap();
    let options = |i: &str, o: &str| import::ImportOptions {
        states: vec![(i.into(), o.into())],
    };
    let (ir, _) = import::import(&model, &options("x", "shape_f")).unwrap();
    let m = Model::from_bytes(&ir.into_builder().unwrap().finish().unwrap()).unwrap();
    let pair = m.states()[0];
    assert_eq!(
        (
            m.value(pair.input).unwrap().name.as_str(),
            m.value(pair.output).unwrap().name.as_str()
        ),
        ("x", "shape_f")
    );
    let err = import::import(&model, &options("shape_f", "x"))
        .err()
        .unwrap();
    assert!(matches!(err, ConvertError::InvalidOption { .. }), "{err}");
    assert!(
        err.to_string().contains("\"shape_f\" is not an input"),
        "{err}"
    );
}

/// A valid ONNX model whose op runs only on dtypes the runtime lacks (Relu on int8, opset 14) is refused
/// by `convert`, naming the node, op and dtype, with the runtime's own reason
/// (`mobiquant_core::op_support`); importing alone accepts it.
#[test]
fn ops_the_runtime_cannot_run_are_refused_at_convert_time() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/relu_i8.onnx");
    assert!(convert(&path).is_ok(), "import alone represents it");
    let model = onnx::load(&path).unwrap();
    match mobiquant_convert::convert(&model, &Default::default()) {
        Err(ConvertError::UnsupportedOp { node, op, reason }) => {
            assert_eq!((node.as_str(), op.as_str()), ("relu_bytes", "Relu"));
            assert!(reason.contains("i8"), "{reason}");
            let runtime = mobiquant_core::op_support("Relu", &[Some(DType::I8)], &[DType::I8]);
            assert_eq!(runtime, mobiquant_core::Support::Unsupported(reason));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("Relu on int8 was accepted"),
    }
}

/// Opset-11 Softmax, LogSoftmax and Hardmax work on the input flattened to 2-D at `axis`: the
/// importer rewrites them (Flatten, the op over the last axis, Reshape back), so the results
/// match that meaning for any axis, with a symbolic batch.
#[test]
fn opset11_softmax_family_flattens_at_axis() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/softmax11.onnx");
    let (builder, _) =
        mobiquant_convert::convert(&onnx::load(&path).unwrap(), &Default::default()).unwrap();
    let model = std::sync::Arc::new(Model::from_bytes(&builder.finish().unwrap()).unwrap());
    let mut session =
        mobiquant_core::Session::new(model, mobiquant_core::SessionOptions::default()).unwrap();
    let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0).collect();
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let input = mobiquant_core::TensorRef::from_bytes(DType::F32, &[2, 3, 4], &bytes).unwrap();
    let out = session.run(&[("x", input)]).unwrap();
    let got = |i: usize| out[i].view().as_f32().unwrap().to_vec();
    // Rows of `len` elements: softmax, log-softmax, hardmax (first maximum wins).
    let rows = |len: usize, f: &dyn Fn(&[f32]) -> Vec<f32>| -> Vec<f32> {
        x.chunks(len).flat_map(f).collect()
    };
    let softmax = |r: &[f32]| {
        let m = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let s: f32 = r.iter().map(|v| (v - m).exp()).sum();
        r.iter().map(|v| (v - m).exp() / s).collect::<Vec<_>>()
    };
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
    assert!(close(&got(0), &rows(12, &softmax)), "Softmax axis 1");
    let log = |r: &[f32]| softmax(r).iter().map(|v| v.ln()).collect::<Vec<_>>();
    assert!(close(&got(1), &rows(12, &log)), "LogSoftmax default axis 1");
    let hard = |r: &[f32]| {
        let m = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let first = r.iter().position(|&v| v == m).unwrap();
        (0..r.len())
            .map(|i| f32::from(u8::from(i == first)))
            .collect::<Vec<_>>()
    };
    assert_eq!(got(2), rows(4, &hard), "Hardmax axis -1");
    assert_eq!(out[0].view().shape(), &[2, 3, 4]);
}

/// An op used at an opset before it exists is refused at import, naming node, op and opset.
#[test]
fn ops_newer_than_the_model_opset_are_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import/gelu19.onnx");
    match convert(&path) {
        Err(ConvertError::UnsupportedOp { node, op, reason }) => {
            assert_eq!((node.as_str(), op.as_str()), ("gelu", "Gelu"));
            assert!(
                reason.contains("opset 19") && reason.contains("opset 20"),
                "{reason}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("Gelu at opset 19 was accepted"),
    }
}
