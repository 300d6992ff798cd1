//! A model that uses every feature of the format, built through the public writer API.

#![allow(dead_code)] // each test binary uses a different part of this module

use mobiquant_core::tensor::Layout;
use mobiquant_core::*;

pub fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Every dtype, every quantization kind, a symbolic batch dimension, every attribute kind, an If
/// with two bodies and a state pair. `big` adds a tensor of that many bytes.
pub fn rich_model(big: usize) -> ModelBuilder {
    let mut b = ModelBuilder::new(ModelInfo {
        properties: vec![("source".into(), "tests".into())],
        ..ModelInfo::new("rich", QuantMode::WeightOnly)
    });
    let scales = b
        .add_tensor(
            "w8.scales",
            DType::F32,
            &[3],
            Layout::RowMajor,
            Quantization::None,
            &f32_bytes(&[0.5, 0.25, 0.125]),
        )
        .unwrap();
    let zps = b
        .add_tensor(
            "w8.zero_points",
            DType::I8,
            &[3],
            Layout::RowMajor,
            Quantization::None,
            &[0, 1, 255],
        )
        .unwrap();
    let w8 = b
        .add_tensor(
            "w8",
            DType::I8,
            &[3, 5],
            Layout::RowMajor,
            Quantization::PerChannel {
                axis: 0,
                scales,
                zero_points: Some(zps),
            },
            &(0..15).map(|i| (i * 17) as u8).collect::<Vec<_>>(),
        )
        .unwrap();
    let g_scales = b
        .add_tensor(
            "w4.scales",
            DType::F16,
            &[4, 2],
            Layout::RowMajor,
            Quantization::None,
            &[0.5f32, 1.0, 2.0, 4.0, 0.5, 1.0, 2.0, 4.0]
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let w4 = b
        .add_tensor(
            "w4",
            DType::I4,
            &[4, 64],
            Layout::RowMajor,
            Quantization::PerGroup {
                axis: 1,
                group_size: 32,
                scales: g_scales,
                zero_points: None,
            },
            &[0x7F; 128],
        )
        .unwrap();
    b.add_tensor(
        "bias",
        DType::I32,
        &[3],
        Layout::RowMajor,
        Quantization::PerTensor {
            scale: 0.01,
            zero_point: 0,
        },
        &[1; 12],
    )
    .unwrap();
    b.add_tensor(
        "shape",
        DType::I64,
        &[2],
        Layout::RowMajor,
        Quantization::None,
        &[2; 16],
    )
    .unwrap();
    b.add_tensor(
        "u8",
        DType::U8,
        &[4],
        Layout::RowMajor,
        Quantization::PerTensor {
            scale: 0.1,
            zero_point: 128,
        },
        &[9; 4],
    )
    .unwrap();
    // Kernel-packed f32 weights (Conv's packed A for MR 6, Gemm's packed B).
    b.add_tensor(
        "packed_a",
        DType::F32,
        &[1, 1, 2, 6],
        mobiquant_core::kernels::f32::packed_a_layout(6).unwrap(),
        Quantization::None,
        &f32_bytes(&[0.5; 12]),
    )
    .unwrap();
    b.add_tensor(
        "packed_b",
        DType::F32,
        &[1, 1, 16],
        mobiquant_core::kernels::f32::packed_b_layout(),
        Quantization::None,
        &f32_bytes(&[0.25; 16]),
    )
    .unwrap();
    if big > 0 {
        b.add_constant("big", DType::U8, &[big as u64], &vec![0xA5; big])
            .unwrap();
    }
    let cond = b.add_constant("cond", DType::Bool, &[], &[1]).unwrap();
    let x = b.add_value(ValueInfo {
        name: "x".into(),
        dtype: DType::F32,
        shape: Some(Shape(vec![Dim::Symbol("batch".into()), Dim::Fixed(5)])),
        initializer: None,
    });
    let w = b.add_value(ValueInfo {
        name: "w8".into(),
        dtype: DType::I8,
        shape: Some(Shape::fixed(&[3, 5])),
        initializer: Some(w8),
    });
    let plain = |b: &mut ModelBuilder, name: &str| {
        b.add_value(ValueInfo {
            name: name.into(),
            dtype: DType::F32,
            shape: None,
            initializer: None,
        })
    };
    let y = plain(&mut b, "y");
    let then_out = plain(&mut b, "then_out");
    let else_out = plain(&mut b, "else_out");
    let z = plain(&mut b, "z");
    let h_in = plain(&mut b, "h_in");
    let h_out = plain(&mut b, "h_out");
    let f16_in = b.add_value(ValueInfo {
        name: "f16_in".into(),
        dtype: DType::F16,
        shape: None,
        initializer: None,
    });
    let attrs = vec![
        Attribute {
            name: "i".into(),
            value: AttrValue::Int(-3),
        },
        Attribute {
            name: "f".into(),
            value: AttrValue::Float(0.5),
        },
        Attribute {
            name: "s".into(),
            value: AttrValue::String("NOTSET".into()),
        },
        Attribute {
            name: "is".into(),
            value: AttrValue::Ints(vec![1, 2, 3]),
        },
        Attribute {
            name: "fs".into(),
            value: AttrValue::Floats(vec![0.1, 0.2]),
        },
        Attribute {
            name: "ss".into(),
            value: AttrValue::Strings(vec!["a".into(), "b".into()]),
        },
        Attribute {
            name: "t".into(),
            value: AttrValue::Tensor(w4),
        },
    ];
    let node =
        |name: &str, op: &str, inputs: Vec<Option<u32>>, outputs: Vec<u32>, attributes| Node {
            name: name.into(),
            op: op.into(),
            inputs,
            outputs,
            attributes,
        };
    b.add_graph(Graph {
        name: "main".into(),
        inputs: vec![x, h_in, f16_in],
        outputs: vec![z, h_out],
        nodes: vec![
            node(
                "mm",
                "mq.WeightOnlyMatMul",
                vec![Some(x), Some(w), None],
                vec![y],
                attrs,
            ),
            node("state", "Identity", vec![Some(h_in)], vec![h_out], vec![]),
            node(
                "branch",
                "If",
                vec![Some(cond)],
                vec![z],
                vec![
                    Attribute {
                        name: "then_branch".into(),
                        value: AttrValue::Graph(1),
                    },
                    Attribute {
                        name: "else_branch".into(),
                        value: AttrValue::Graph(2),
                    },
                ],
            ),
        ],
    });
    for (name, out) in [("then", then_out), ("else", else_out)] {
        b.add_graph(Graph {
            name: name.into(),
            inputs: vec![],
            outputs: vec![out],
            nodes: vec![node(name, "Relu", vec![Some(y)], vec![out], vec![])],
        });
    }
    b.add_state(h_in, h_out);
    b
}
