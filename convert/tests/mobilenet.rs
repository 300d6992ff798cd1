//! Reads the real MobileNetV2 (torchvision weights, exported by PyTorch at opset 17) and checks
//! it against what the `onnx` Python package (1.23) reports for the same file: counts, op types,
//! attributes, declared shapes, initializer shapes and values.

mod common;

use mobiquant_convert::onnx::{
    self, AttributeValue, DataType, Dim, Node, OnnxModel, Tensor, TensorData, TypeProto,
};

fn model() -> Option<OnnxModel> {
    Some(onnx::load(common::mobilenet_onnx()?).expect("MobileNetV2 loads"))
}

#[test]
fn header_and_graph_structure() {
    let Some(m) = model() else { return };
    assert_eq!(m.ir_version, 8);
    assert_eq!(m.opset_version(), 17);
    assert_eq!(m.producer_name, "pytorch");
    assert_eq!(m.graph.nodes.len(), 170);
    assert_eq!(m.graph.initializers.len(), 106);
    // All in the default domain: `OpId` displays as the bare op type.
    let ops: Vec<(String, usize)> = onnx::op_histogram(&m.graph)
        .into_iter()
        .map(|(id, n)| (id.to_string(), n))
        .collect();
    let expected = [
        ("Add", 10),
        ("Clip", 35),
        ("Constant", 70),
        ("Conv", 52),
        ("Flatten", 1),
        ("Gemm", 1),
        ("GlobalAveragePool", 1),
    ];
    assert_eq!(ops, expected.map(|(op, n)| (op.to_owned(), n)));
    onnx::check_topological_order(&m.graph).expect("exported graphs are sorted");
    let depthwise = m
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Conv")
        .filter(|n| {
            n.attributes
                .iter()
                .any(|a| a.name == "group" && a.value != AttributeValue::Int(1))
        })
        .count();
    assert_eq!(depthwise, 17);
}

#[test]
fn inputs_outputs_keep_symbolic_batch() {
    let Some(m) = model() else { return };
    let shape = |ty: &Option<TypeProto>| match ty {
        Some(TypeProto::Tensor(t)) => (t.elem_type, t.shape.clone()),
        other => panic!("not a tensor type: {other:?}"),
    };
    assert_eq!(m.graph.inputs.len(), 1);
    assert_eq!(m.graph.inputs[0].name, "input");
    let n = || Dim::Param("n".into());
    assert_eq!(
        shape(&m.graph.inputs[0].ty),
        (
            DataType::Float,
            Some(vec![n(), Dim::Value(3), Dim::Value(224), Dim::Value(224)])
        )
    );
    assert_eq!(m.graph.outputs[0].name, "logits");
    assert_eq!(
        shape(&m.graph.outputs[0].ty),
        (DataType::Float, Some(vec![n(), Dim::Value(1000)]))
    );
}

fn attributes(node: &Node) -> Vec<(&str, &AttributeValue)> {
    node.attributes
        .iter()
        .map(|a| (a.name.as_str(), &a.value))
        .collect()
}

#[test]
fn first_conv_and_gemm_attributes() {
    let Some(m) = model() else { return };
    let conv = &m.graph.nodes[0];
    assert_eq!(conv.name, "/features/features.0/features.0.0/Conv");
    assert_eq!(conv.inputs, ["input", "onnx::Conv_538", "onnx::Conv_539"]);
    assert_eq!(
        attributes(conv),
        [
            ("dilations", &AttributeValue::Ints(vec![1, 1])),
            ("group", &AttributeValue::Int(1)),
            ("kernel_shape", &AttributeValue::Ints(vec![3, 3])),
            ("pads", &AttributeValue::Ints(vec![1, 1, 1, 1])),
            ("strides", &AttributeValue::Ints(vec![2, 2])),
        ]
    );
    let gemm = m.graph.nodes.last().expect("nodes");
    assert_eq!(
        (gemm.op_type.as_str(), gemm.outputs.as_slice()),
        ("Gemm", ["logits".to_owned()].as_slice())
    );
    assert_eq!(
        attributes(gemm),
        [
            ("alpha", &AttributeValue::Float(1.0)),
            ("beta", &AttributeValue::Float(1.0)),
            ("transB", &AttributeValue::Int(1)),
        ]
    );
}

#[test]
fn constant_nodes_hold_clip_bounds() {
    let Some(m) = model() else { return };
    let mut zeros = 0;
    let mut sixes = 0;
    for n in m.graph.nodes.iter().filter(|n| n.op_type == "Constant") {
        let [attr] = n.attributes.as_slice() else {
            panic!("{}: one attribute", n.name)
        };
        let AttributeValue::Tensor(t) = &attr.value else {
            panic!("{}: tensor value", n.name)
        };
        let t = m.decode_tensor(t).expect("constant decodes");
        assert!(t.dims.is_empty());
        match t.data {
            TensorData::F32(v) if v == [0.0] => zeros += 1,
            TensorData::F32(v) if v == [6.0] => sixes += 1,
            other => panic!("{}: unexpected value {other:?}", n.name),
        }
    }
    assert_eq!((zeros, sixes), (35, 35));
}

/// The values widened to f64: the Python reference printed each f32 as the f64 it equals,
/// so comparing in f64 is exact.
fn widened(t: &Tensor) -> Vec<f64> {
    match &t.data {
        TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        other => panic!("{}: not f32: {other:?}", t.name),
    }
}

#[test]
fn initializers_match_onnx_python() {
    let Some(m) = model() else { return };
    let tensors: Vec<_> = m
        .initializers()
        .collect::<Result<_, _>>()
        .expect("all initializers decode");
    let total: usize = tensors.iter().map(|t| t.data.len()).sum();
    assert_eq!(total, 3_487_816);
    assert!(tensors.iter().all(|t| t.source_type == DataType::Float));
    let find = |name: &str| tensors.iter().find(|t| t.name == name).expect(name);

    let fc = find("classifier.1.weight");
    assert_eq!(fc.dims, [1000, 1280]);
    let w = widened(fc);
    assert_eq!(
        w[..3],
        [
            -0.031177138909697533,
            0.08958731591701508,
            -0.07481194287538528
        ]
    );
    assert_eq!(w.last(), Some(&-0.02534809149801731));
    let sum: f64 = w.iter().sum();
    assert!((sum - 0.12846647834186342).abs() < 1e-9, "{sum}");

    let conv0 = find("onnx::Conv_538");
    assert_eq!(conv0.dims, [32, 3, 3, 3]);
    let w = widened(conv0);
    assert_eq!(
        w[..3],
        [
            0.0018972903490066528,
            -0.0006218079943209887,
            0.002132959198206663
        ]
    );
    let sum: f64 = w.iter().sum();
    assert!((sum - -0.9755849953935467).abs() < 1e-9, "{sum}");
    let max = w.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert_eq!(max, 0.36266663670539856);

    let last = find("onnx::Conv_692");
    assert_eq!(last.dims, [1280]);
    let b = widened(last);
    assert_eq!(
        b[..3],
        [
            -0.15468448400497437,
            -0.13345476984977722,
            -0.06044391915202141
        ]
    );
    assert_eq!(b.last(), Some(&-0.16030342876911163));
}
