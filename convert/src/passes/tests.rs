//! Each pass on a small hand-built model: the rewritten model must compute what the original
//! computes (both run by a core session), and the rewrite must have happened.

use std::sync::Arc;

use mobiquant_core::{
    AttrValue, Attribute, DType, Graph, Model, ModelInfo, Node, QuantMode, Session, SessionOptions,
    Shape, TensorRef, ValueInfo,
};

use super::*;
use crate::ir::{IrModel, IrTensor};

pub(super) fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// A float model with nothing in it yet.
pub(super) fn empty_model(name: &str) -> IrModel {
    IrModel {
        info: ModelInfo::new(name, QuantMode::Float),
        tensors: vec![],
        values: vec![],
        graphs: vec![],
        states: vec![],
    }
}

pub(super) fn value(ir: &mut IrModel, name: &str, dims: Option<&[u64]>) -> u32 {
    ir.add_value(ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape: dims.map(Shape::fixed),
        initializer: None,
    })
}

pub(super) fn node(
    name: &str,
    op: &str,
    inputs: &[u32],
    outputs: &[u32],
    attributes: Vec<Attribute>,
) -> Node {
    Node {
        name: name.into(),
        op: op.into(),
        inputs: inputs.iter().map(|&v| Some(v)).collect(),
        outputs: outputs.to_vec(),
        attributes,
    }
}

pub(super) fn constant(
    ir: &mut IrModel,
    name: &str,
    dims: Vec<u64>,
    seed: u32,
    positive: bool,
) -> u32 {
    let n = dims.iter().product::<u64>() as usize;
    let mut v = pseudo_random(n, seed);
    if positive {
        v.iter_mut().for_each(|x| *x = x.abs() + 0.5);
    }
    ir.add_constant(IrTensor::from_f32s(name, dims, &v))
}

/// x[1,2,5,5] -> Conv -> BN -> Clip(0, 0.5) -> Identity -> y; x -> BN (standalone) -> z;
/// plus a node nobody reads.
fn sample() -> IrModel {
    let mut ir = empty_model("passes");
    let x = value(&mut ir, "x", Some(&[1, 2, 5, 5]));
    let w = constant(&mut ir, "w", vec![3, 2, 3, 3], 1, false);
    let b = constant(&mut ir, "b", vec![3], 2, false);
    let bn = |ir: &mut IrModel, tag: &str, c: u64, seed: u32| -> Vec<u32> {
        vec![
            constant(ir, &format!("{tag}.scale"), vec![c], seed, false),
            constant(ir, &format!("{tag}.bias"), vec![c], seed + 1, false),
            constant(ir, &format!("{tag}.mean"), vec![c], seed + 2, false),
            constant(ir, &format!("{tag}.var"), vec![c], seed + 3, true),
        ]
    };
    let bn1 = bn(&mut ir, "bn1", 3, 10);
    let bn2 = bn(&mut ir, "bn2", 2, 20);
    let lo = ir.add_constant(IrTensor::from_f32s("lo", vec![], &[0.0]));
    let hi = ir.add_constant(IrTensor::from_f32s("hi", vec![], &[0.5]));
    let [c, n, r, y, z, dead] = ["c", "n", "r", "y", "z", "dead"].map(|s| value(&mut ir, s, None));
    let pads = Attribute {
        name: "pads".into(),
        value: AttrValue::Ints(vec![1, 1, 1, 1]),
    };
    ir.graphs.push(Graph {
        name: "main".into(),
        inputs: vec![x],
        outputs: vec![y, z],
        nodes: vec![
            node("conv", "Conv", &[x, w, b], &[c], vec![pads]),
            node(
                "bn1",
                "BatchNormalization",
                &[c, bn1[0], bn1[1], bn1[2], bn1[3]],
                &[n],
                vec![],
            ),
            node("clip", "Clip", &[n, lo, hi], &[r], vec![]),
            node("id", "Identity", &[r], &[y], vec![]),
            node(
                "bn2",
                "BatchNormalization",
                &[x, bn2[0], bn2[1], bn2[2], bn2[3]],
                &[z],
                vec![],
            ),
            node("unused", "Relu", &[x], &[dead], vec![]),
        ],
    });
    ir
}

fn run(ir: IrModel) -> Vec<Vec<f32>> {
    let model = Model::from_bytes(&ir.into_builder().unwrap().finish().unwrap()).unwrap();
    let mut session = Session::new(Arc::new(model), SessionOptions::default()).unwrap();
    let x = pseudo_random(50, 99);
    let outputs = session
        .run(&[("x", TensorRef::from_f32(&[1, 2, 5, 5], &x).unwrap())])
        .unwrap();
    outputs
        .iter()
        .map(|t| t.as_f32().unwrap().to_vec())
        .collect()
}

/// What `sample()` computes, written out directly: (y, z).
fn naive(ir: &IrModel) -> Vec<Vec<f32>> {
    let t = |name: &str| {
        ir.tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .f32s()
            .unwrap()
    };
    let x = pseudo_random(50, 99);
    let bn = |tag: &str, c: usize, v: f32| {
        let (s, b, m, var) = (
            t(&format!("{tag}.scale")),
            t(&format!("{tag}.bias")),
            t(&format!("{tag}.mean")),
            t(&format!("{tag}.var")),
        );
        (v - m[c]) / (var[c] + 1e-5).sqrt() * s[c] + b[c]
    };
    let (w, b) = (t("w"), t("b"));
    let mut y = Vec::new();
    for o in 0..3 {
        for i in 0..5i32 {
            for j in 0..5i32 {
                let mut acc = b[o];
                for ci in 0..2 {
                    for ki in 0..3i32 {
                        for kj in 0..3i32 {
                            let (ii, jj) = (i + ki - 1, j + kj - 1);
                            if (0..5).contains(&ii) && (0..5).contains(&jj) {
                                acc += w[((o * 2 + ci) * 3 + ki as usize) * 3 + kj as usize]
                                    * x[(ci * 5 + ii as usize) * 5 + jj as usize];
                            }
                        }
                    }
                }
                y.push(bn("bn1", o, acc).clamp(0.0, 0.5));
            }
        }
    }
    let z = x
        .iter()
        .enumerate()
        .map(|(k, &v)| bn("bn2", k / 25, v))
        .collect();
    vec![y, z]
}

#[test]
fn passes_rewrite_and_preserve_results() {
    let mut optimized = sample();
    let report = optimize(&mut optimized);
    assert_eq!(
        report,
        PassReport {
            batch_norms_folded: 1,
            batch_norms_decomposed: 1,
            activations_fused: 1,
            identities_removed: 1,
            dead_nodes_removed: 1,
            shapes_static: 6,
            nodes: 3,
            ..PassReport::default()
        }
    );
    let ops: Vec<&str> = optimized.graphs[0]
        .nodes
        .iter()
        .map(|n| n.op.as_str())
        .collect();
    assert_eq!(ops, ["Conv", "Mul", "Add"]);
    let conv = &optimized.graphs[0].nodes[0];
    assert_eq!(
        conv.attribute("activation"),
        Some(&AttrValue::String("Clip".into()))
    );
    assert_eq!(
        conv.attribute("activation_max"),
        Some(&AttrValue::Float(0.5))
    );
    let reference = naive(&sample());
    let ours = run(optimized);
    for (a, b) in ours.iter().flatten().zip(reference.iter().flatten()) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
    assert_eq!(ours[0].len(), 75);
}

#[test]
fn a_conv_output_read_twice_is_not_rewritten() {
    let mut ir = sample();
    let extra = value(&mut ir, "extra", None);
    let c = ir.graphs[0].nodes[0].outputs[0];
    ir.graphs[0]
        .nodes
        .push(node("reader", "Relu", &[c], &[extra], vec![]));
    ir.graphs[0].outputs.push(extra);
    let report = optimize(&mut ir);
    assert_eq!(
        (report.batch_norms_folded, report.activations_fused),
        (0, 0)
    );
}

/// x -> Conv -> c; c * Clip(c + 3, 0, 6) / 6 -> y, in the spelling given by `mul_first` (the
/// product written `Mul(clip, c)`) and `div` (`Div(·, 6)`, else `Mul(1/6, ·)`).
fn written_out_hard_swish(mul_first: bool, div: bool) -> IrModel {
    let mut ir = empty_model("hard-swish");
    let x = value(&mut ir, "x", Some(&[1, 2, 5, 5]));
    let w = constant(&mut ir, "w", vec![3, 2, 3, 3], 1, false);
    let three = ir.add_constant(IrTensor::from_f32s("three", vec![], &[3.0]));
    let zero = ir.add_constant(IrTensor::from_f32s("zero", vec![], &[0.0]));
    let six = ir.add_constant(IrTensor::from_f32s("six", vec![], &[6.0]));
    let sixth = ir.add_constant(IrTensor::from_f32s("sixth", vec![1], &[1.0 / 6.0]));
    let [c, a, r, m, y] = ["c", "a", "r", "m", "y"].map(|s| value(&mut ir, s, None));
    let product = if mul_first { [r, c] } else { [c, r] };
    let last = if div {
        node("div", "Div", &[m, six], &[y], vec![])
    } else {
        node("scale", "Mul", &[sixth, m], &[y], vec![])
    };
    ir.graphs.push(Graph {
        name: "main".into(),
        inputs: vec![x],
        outputs: vec![y],
        nodes: vec![
            node("conv", "Conv", &[x, w], &[c], vec![]),
            node("add", "Add", &[c, three], &[a], vec![]),
            node("clip", "Clip", &[a, zero, six], &[r], vec![]),
            node("mul", "Mul", &product, &[m], vec![]),
            last,
        ],
    });
    ir
}

#[test]
fn written_out_hard_swish_becomes_one_fused_activation() {
    for (mul_first, div) in [(false, true), (true, true), (true, false)] {
        let mut optimized = written_out_hard_swish(mul_first, div);
        let report = optimize(&mut optimized);
        assert_eq!(
            (report.hard_swishes_recognized, report.activations_fused),
            (1, 1),
            "{mul_first} {div}"
        );
        let nodes = &optimized.graphs[0].nodes;
        assert_eq!(nodes.len(), 1);
        assert_eq!(
            nodes[0].attribute("activation"),
            Some(&AttrValue::String("HardSwish".into()))
        );
        let reference = run(written_out_hard_swish(mul_first, div));
        let ours = run(optimized);
        for (a, b) in ours.iter().flatten().zip(reference.iter().flatten()) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

#[test]
fn hard_swish_pattern_with_other_constants_or_shared_values_stays() {
    // Clip to 5 instead of 6: not a hard-swish.
    let mut ir = written_out_hard_swish(false, true);
    let five = ir.add_constant(IrTensor::from_f32s("five", vec![], &[5.0]));
    ir.graphs[0].nodes[2].inputs[2] = Some(five);
    assert_eq!(optimize(&mut ir).hard_swishes_recognized, 0);
    // The clipped value is also a graph output: the Clip must stay.
    let mut ir = written_out_hard_swish(false, true);
    let r = ir.graphs[0].nodes[2].outputs[0];
    ir.graphs[0].outputs.push(r);
    assert_eq!(optimize(&mut ir).hard_swishes_recognized, 0);
}
