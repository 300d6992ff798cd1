//! No input makes the runtime panic: random ops with random attributes, shapes and shape-setting
//! constants either run or return a typed error.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

const OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Pow",
    "Max",
    "Relu",
    "Clip",
    "LeakyRelu",
    "HardSigmoid",
    "Softmax",
    "GlobalAveragePool",
    "MaxPool",
    "AveragePool",
    "Flatten",
    "Reshape",
    "Transpose",
    "Concat",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Gather",
    "Slice",
    "Identity",
    "Constant",
    "Cast",
    "Equal",
    "Less",
    "GreaterOrEqual",
    "Not",
    "And",
    "Where",
    "ReduceMean",
    "ReduceMax",
    "ReduceSum",
    "ReduceLogSumExp",
    "Pad",
    "Split",
    "Resize",
    "ConvTranspose",
    "BatchNormalization",
    "LSTM",
    "Size",
    "ConstantOfShape",
    "GRU",
    "LayerNormalization",
    "Gelu",
    "Sum",
    "Mean",
    "Min",
    "Neg",
    "Expand",
    "Range",
    "ArgMax",
    "Hardmax",
    "CumSum",
    "Trilu",
    "Tile",
    "GatherElements",
    "IsInf",
    "LogSoftmax",
    "CastLike",
];

fn any_int() -> impl Strategy<Value = i64> {
    prop_oneof![-3i64..6, Just(i64::MIN), Just(i64::MAX), Just(1 << 40)]
}

fn attribute() -> impl Strategy<Value = Attribute> {
    let names = prop::sample::select(vec![
        "axis",
        "group",
        "strides",
        "pads",
        "dilations",
        "kernel_shape",
        "perm",
        "transA",
        "transB",
        "ceil_mode",
        "count_include_pad",
        "auto_pad",
        "alpha",
        "beta",
        "activation",
        "allowzero",
        "start",
        "end",
        "axes",
        "value_ints",
        "value_float",
        "activation_min",
        "to",
        "keepdims",
        "noop_with_empty_axes",
        "mode",
        "num_outputs",
        "split",
        "coordinate_transformation_mode",
        "nearest_mode",
        "output_padding",
        "output_shape",
        "hidden_size",
        "direction",
        "epsilon",
        "clip",
        "layout",
        "linear_before_reset",
        "approximate",
        "exclusive",
        "reverse",
        "upper",
        "select_last_index",
        "detect_positive",
    ]);
    let values = prop_oneof![
        any_int().prop_map(AttrValue::Int),
        prop::collection::vec(any_int(), 0..5).prop_map(AttrValue::Ints),
        (-2.0f32..2.0).prop_map(AttrValue::Float),
        prop::sample::select(vec![
            "NOTSET",
            "VALID",
            "SAME_UPPER",
            "SAME_LOWER",
            "Relu",
            "Clip",
            "bogus",
            "linear",
            "nearest",
            "reflect",
            "edge",
            "wrap",
            "align_corners",
            "asymmetric",
            "half_pixel",
            "floor",
            "bidirectional",
            "reverse",
            "tanh",
            "none",
        ])
        .prop_map(|s| AttrValue::String(s.into())),
    ];
    (names, values).prop_map(|(name, value)| Attribute {
        name: name.into(),
        value,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn random_nodes_run_or_fail_cleanly(
        op in prop::sample::select(OPS),
        shapes in prop::collection::vec(prop::collection::vec(1usize..4, 0..5), 1..4),
        int_input in prop::collection::vec(any_int(), 0..5),
        int_position in 0usize..4,
        attrs in prop::collection::vec(attribute(), 0..5),
        dtype in prop::sample::select(vec![DType::F32, DType::I64, DType::Bool]),
    ) {
        let mut gb = GraphBuilder::new();
        let mut inputs = Vec::new();
        let mut data = Vec::new();
        for (i, s) in shapes.iter().enumerate() {
            if i == int_position {
                inputs.push(Some(gb.const_i64(&int_input)));
            }
            let dims: Vec<u64> = s.iter().map(|&d| d as u64).collect();
            inputs.push(Some(gb.input_f32(&format!("x{i}"), &dims)));
            data.push(rand_vec(s.iter().product(), i as u64));
        }
        let y = gb.node_typed(op, &inputs, attrs, dtype);
        gb.output(y);
        let mut b = gb.b;
        b.add_graph(gb.graph);
        let Ok(bytes) = b.finish() else { return Ok(()) };
        let model = std::sync::Arc::new(Model::from_bytes(&bytes).unwrap());
        let mut s = Session::new(model, SessionOptions::default()).unwrap();
        let names: Vec<String> = (0..shapes.len()).map(|i| format!("x{i}")).collect();
        let refs: Vec<_> = names.iter().zip(&shapes).zip(&data)
            .map(|((n, s), d)| (n.as_str(), TensorRef::from_f32(s, d).unwrap()))
            .collect();
        // Either outcome is fine; a panic fails the test.
        let _ = s.run(&refs);
    }
}
