//! Tests across the message decoders and the acceptance policy, built on `test_encoder`.
//! The proptests check the crate-wide promise: no input bytes make the reader panic.

use proptest::prelude::*;

use super::test_encoder::{Enc, sample_model};
use super::*;
use crate::ConvertError;

#[test]
fn sample_model_decodes_every_field() {
    let m = from_bytes(&sample_model()).unwrap();
    assert_eq!(m.ir_version, 8);
    assert_eq!(m.opset_version(), 17);
    assert_eq!(m.producer_name, "mobiquant-test");
    assert_eq!(
        m.metadata_props,
        [("author".to_owned(), "tests".to_owned())]
    );
    assert_eq!(
        m.opset_import[1],
        OpsetId {
            domain: "com.microsoft".into(),
            version: 1
        }
    );
    let g = &m.graph;
    assert_eq!(g.name, "sample");
    let conv = &g.nodes[0];
    assert_eq!(
        (
            conv.name.as_str(),
            conv.op_type.as_str(),
            conv.domain.as_str()
        ),
        ("conv1", "Conv", "")
    );
    assert_eq!(conv.inputs, ["x", "w", ""]);
    assert_eq!(conv.outputs, ["y"]);
    let values: Vec<_> = conv
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.value.clone()))
        .collect();
    assert_eq!(
        values,
        [
            ("pads", AttributeValue::Ints(vec![0, 1, 0, 1])),
            ("alpha", AttributeValue::Float(0.5)),
            ("auto_pad", AttributeValue::String(b"NOTSET".to_vec())),
        ]
    );
    let iff = &g.nodes[1];
    let AttributeValue::Graph(then) = &iff.attributes[0].value else {
        panic!("then_branch is not a graph: {:?}", iff.attributes[0]);
    };
    assert_eq!(
        (then.name.as_str(), then.nodes[0].op_type.as_str()),
        ("then", "Identity")
    );
    let AttributeValue::Tensor(cond) = &iff.attributes[2].value else {
        panic!("value is not a tensor");
    };
    let cond = m.decode_tensor(cond).unwrap();
    assert_eq!(
        (cond.dims.len(), cond.data),
        (0, TensorData::Bool(vec![true]))
    );

    let inits: Vec<Tensor> = m.initializers().collect::<Result<_, _>>().unwrap();
    assert_eq!(inits[0].dims, [2, 3]);
    assert_eq!(
        inits[0].data,
        TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(
        (inits[1].name.as_str(), &inits[1].data),
        ("b", &TensorData::I64(vec![-1, 5]))
    );

    let Some(TypeProto::Tensor(x)) = &g.inputs[0].ty else {
        panic!("x has no tensor type");
    };
    assert_eq!(x.elem_type, DataType::Float);
    assert_eq!(
        x.shape,
        Some(vec![
            Dim::Param("batch".into()),
            Dim::Value(3),
            Dim::Unknown
        ])
    );
    assert_eq!(
        (g.outputs[0].name.as_str(), &g.outputs[0].ty),
        ("out", &None)
    );
    assert_eq!(g.value_info[0].name, "y");
}

fn model_with(graph: Enc, opsets: &[(&str, i64)]) -> Vec<u8> {
    let base = Enc::new().int(1, 8).msg(7, graph);
    opsets
        .iter()
        .fold(base, |m, (domain, v)| {
            m.msg(8, Enc::new().string(1, domain).int(2, *v))
        })
        .0
}

fn node(op: &str, name: &str, attribute: Enc) -> Enc {
    Enc::new().string(3, name).string(4, op).msg(5, attribute)
}

#[test]
fn opset_policy() {
    for v in [MIN_OPSET, 21, MAX_OPSET] {
        let ok = from_bytes(&model_with(Enc::new(), &[("ai.onnx", v)])).unwrap();
        assert_eq!(ok.opset_version(), v);
    }
    for v in [10, MAX_OPSET + 1] {
        let err = from_bytes(&model_with(Enc::new(), &[("", v)])).unwrap_err();
        assert!(
            matches!(err, ConvertError::UnsupportedOpset { version, min: MIN_OPSET, max: MAX_OPSET } if version == v)
        );
        assert!(decode_model(&model_with(Enc::new(), &[("", v)])).is_ok());
    }
    let none = from_bytes(&model_with(Enc::new(), &[("com.microsoft", 1)])).unwrap_err();
    assert!(matches!(
        none,
        ConvertError::DefaultOpset {
            reason: "has no entry"
        }
    ));
    let twice = from_bytes(&model_with(Enc::new(), &[("", 13), ("ai.onnx", 13)])).unwrap_err();
    assert!(matches!(twice, ConvertError::DefaultOpset { .. }));
    let no_graph = Enc::new().msg(8, Enc::new().int(2, 13)).0;
    assert!(matches!(
        from_bytes(&no_graph).unwrap_err(),
        ConvertError::MissingGraph
    ));
}

#[test]
fn errors_name_the_field_path() {
    let bad = Enc::new().string(1, "pads").bytes(8, &[0x80]);
    let relu = Enc::new().string(3, "r").string(4, "Relu");
    let graph = Enc::new().msg(1, relu).msg(1, node("Conv", "conv1", bad));
    let err = from_bytes(&model_with(graph, &[("", 17)])).unwrap_err();
    let ConvertError::Malformed { field, reason, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        field,
        r#"ModelProto.graph.node[1] "conv1".attribute[0] "pads".ints"#
    );
    assert_eq!(*reason, ProtoError::Truncated);
    assert!(err.to_string().contains("conv1"), "{err}");
}

#[test]
fn known_fields_with_wrong_wire_type_are_refused() {
    let graph = Enc::new().msg(1, Enc::new().int(4, 3));
    let err = decode_model(&model_with(graph, &[("", 17)])).unwrap_err();
    assert!(
        matches!(&err, ConvertError::Malformed { field, reason: ProtoError::WrongWireType { .. }, .. } if field == "ModelProto.graph.node[0].op_type"),
        "{err}"
    );
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let n = Enc::new()
        .string(4, "Relu")
        .varint(100, 1)
        .fixed64(101, 2)
        .bytes(102, b"future")
        .fixed32(103, 3)
        .string(8, "overload");
    let graph = Enc::new().msg(1, n).msg(999, Enc::new().string(1, "x"));
    let m = from_bytes(&model_with(graph, &[("", 17)])).unwrap();
    assert_eq!(m.graph.nodes[0].op_type, "Relu");
}

#[test]
fn attribute_types() {
    let decode = |a: Enc| {
        let graph = Enc::new().msg(1, node("Op", "n", a));
        from_bytes(&model_with(graph, &[("", 17)]))
            .map(|m| m.graph.nodes[0].attributes[0].value.clone())
    };
    // proto3 writers omit zero scalars.
    assert_eq!(
        decode(Enc::new().string(1, "i").int(20, 2)).unwrap(),
        AttributeValue::Int(0)
    );
    // No declared type: inferred from the one value present.
    assert_eq!(
        decode(Enc::new().string(1, "i").int(3, 4)).unwrap(),
        AttributeValue::Int(4)
    );
    assert_eq!(
        decode(
            Enc::new()
                .string(1, "s")
                .bytes(9, b"a")
                .bytes(9, b"b")
                .int(20, 8)
        )
        .unwrap(),
        AttributeValue::Strings(vec![b"a".to_vec(), b"b".to_vec()])
    );
    assert_eq!(
        decode(
            Enc::new()
                .fixed32(7, 1.5f32.to_bits())
                .fixed32(7, 2.0f32.to_bits())
                .int(20, 6)
        )
        .unwrap(),
        AttributeValue::Floats(vec![1.5, 2.0])
    );
    let tensors = Enc::new()
        .msg(10, Enc::new().int(2, 1).string(8, "t0"))
        .int(20, 9);
    assert!(matches!(decode(tensors).unwrap(), AttributeValue::Tensors(t) if t[0].name == "t0"));
    let graphs = Enc::new().msg(11, Enc::new().string(2, "g0")).int(20, 10);
    assert!(matches!(decode(graphs).unwrap(), AttributeValue::Graphs(g) if g[0].name == "g0"));
    let tp = Enc::new()
        .msg(14, Enc::new().msg(4, Enc::new().msg(1, Enc::new())))
        .int(20, 13);
    assert_eq!(
        decode(tp).unwrap(),
        AttributeValue::Type(TypeProto::Sequence(Box::new(TypeProto::Unset)))
    );
    let sparse = Enc::new()
        .msg(22, Enc::new().packed(3, &[4, 4]))
        .int(20, 11);
    assert!(matches!(decode(sparse).unwrap(), AttributeValue::SparseTensor(s) if s.dims == [4, 4]));

    for (bad, reason) in [
        (Enc::new().int(20, 4), "its value field is missing"),
        (Enc::new().int(20, 99), "unknown attribute type"),
        (
            Enc::new().int(3, 1).fixed32(2, 0),
            "no type, and not exactly one value field to infer it from",
        ),
    ] {
        let err = decode(bad).unwrap_err();
        assert!(
            matches!(&err, ConvertError::Malformed { reason: ProtoError::AttributeType { reason: r, .. }, .. } if *r == reason),
            "{err}"
        );
    }
}

#[test]
fn deep_subgraph_nesting_is_refused_not_overflowed() {
    // Each level: attribute -> graph -> node, three messages.
    let mut g = Enc::new();
    for _ in 0..40 {
        let attr = Enc::new().string(1, "then_branch").msg(6, g).int(20, 5);
        g = Enc::new().msg(1, node("If", "if", attr));
    }
    let err = from_bytes(&model_with(g, &[("", 17)])).unwrap_err();
    assert!(
        matches!(
            err,
            ConvertError::Malformed {
                reason: ProtoError::TooDeep,
                ..
            }
        ),
        "{err}"
    );
}

/// Decodes everything reachable, including every tensor, as the converter would.
fn decode_all(bytes: &[u8]) {
    if let Ok(m) = from_bytes(bytes) {
        for t in m.initializers() {
            let _ = t;
        }
    }
    let _ = decode_tensor_proto(bytes).map(|t| decode_tensor(&t, None));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_models_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = sample_model();
        for (at, value, kind) in edits {
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = value,
                1 => bytes[i] ^= 1 << (value % 8),
                2 => bytes.insert(i, value),
                _ => { bytes.remove(i); }
            }
        }
        decode_all(&bytes);
        let end = cut.index(bytes.len() + 1);
        decode_all(&bytes[..end]);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }
}
