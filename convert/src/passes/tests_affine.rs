//! Folding constant Mul/Add/Sub/Div into Conv, Gemm and MatMul ([`super::affine`]) on small
//! hand-built chains: the rewrite must happen (or, where it would not be exact, not happen), and
//! the optimized model must compute what the original computes (both run by a core session on
//! the same pseudo-random input).

use mobiquant_core::{AttrValue, Attribute, Graph, Node};

use super::tests::{constant, empty_model, node, value};
use super::tests_fold::{assert_same_results, run_x};
use super::*;
use crate::ir::IrModel;

/// A chain of nodes from the input `x` to the output `y`, each reading the previous one.
struct Chain {
    ir: IrModel,
    x_dims: Vec<u64>,
    nodes: Vec<Node>,
    last: u32,
    seed: u32,
}

fn int(name: &str, v: i64) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::Int(v),
    }
}

fn pads(p: i64, spatial: usize) -> Attribute {
    Attribute {
        name: "pads".into(),
        value: AttrValue::Ints(vec![p; 2 * spatial]),
    }
}

impl Chain {
    fn new(x_dims: &[u64]) -> Chain {
        let mut ir = empty_model("affine");
        let x = value(&mut ir, "x", Some(x_dims));
        Chain {
            ir,
            x_dims: x_dims.to_vec(),
            nodes: vec![],
            last: x,
            seed: 1,
        }
    }

    fn push(&mut self, op: &str, inputs: &[u32], attributes: Vec<Attribute>) -> &mut Chain {
        let k = self.nodes.len();
        let out = value(&mut self.ir, &format!("v{k}"), None);
        self.nodes
            .push(node(&format!("{op}{k}"), op, inputs, &[out], attributes));
        self.last = out;
        self
    }

    fn constant(&mut self, dims: &[u64], positive: bool) -> u32 {
        self.seed += 1;
        let name = format!("c{}", self.seed);
        constant(&mut self.ir, &name, dims.to_vec(), self.seed, positive)
    }

    /// Conv with `out` channels, W `[out, in_per_group, k, k…]` (rank of x), bias, `pad` on
    /// every side, `group`.
    fn conv(&mut self, out: u64, in_per_group: u64, k: u64, pad: i64, group: i64) -> &mut Chain {
        let spatial = self.x_dims.len() - 2;
        let mut dims = vec![out, in_per_group];
        dims.resize(2 + spatial, k);
        let (w, b) = (self.constant(&dims, false), self.constant(&[out], false));
        let x = self.last;
        self.push(
            "Conv",
            &[x, w, b],
            vec![pads(pad, spatial), int("group", group)],
        )
    }

    /// `op(last, c)`, or `op(c, last)` when `constant_first`; `c` has no zero.
    fn affine(&mut self, op: &str, dims: &[u64], constant_first: bool) -> &mut Chain {
        let (c, x) = (self.constant(dims, true), self.last);
        let inputs = if constant_first { [c, x] } else { [x, c] };
        self.push(op, &inputs, vec![])
    }

    /// Written-out hard-swish `v * Clip(v + 3, 0, 6) / 6`.
    fn hard_swish(&mut self) -> &mut Chain {
        let v = self.last;
        let mut scalar = |c: f32| {
            self.ir.add_constant(crate::ir::IrTensor::from_f32s(
                format!("k{c}"),
                vec![1],
                &[c],
            ))
        };
        let (three, zero, six) = (scalar(3.0), scalar(0.0), scalar(6.0));
        self.push("Add", &[v, three], vec![]);
        let a = self.last;
        self.push("Clip", &[a, zero, six], vec![]);
        let r = self.last;
        self.push("Mul", &[v, r], vec![]);
        let m = self.last;
        self.push("Div", &[m, six], vec![])
    }

    fn build(&mut self) -> IrModel {
        let mut ir = self.ir.clone();
        ir.graphs.push(Graph {
            name: "main".into(),
            inputs: vec![0],
            outputs: vec![self.last],
            nodes: self.nodes.clone(),
        });
        ir
    }
}

pub(super) fn ops(ir: &IrModel) -> Vec<&str> {
    ir.graphs[0].nodes.iter().map(|n| n.op.as_str()).collect()
}

/// Optimizes `ir`, checks the node ops left and the (backward, forward) fold counts, and that
/// both models compute the same.
fn check(ir: IrModel, x_dims: &[u64], left: &[&str], folds: (usize, usize)) -> IrModel {
    let mut optimized = ir.clone();
    let report = optimize(&mut optimized);
    assert_eq!(ops(&optimized), left);
    assert_eq!(
        (report.affines_folded, report.affines_folded_forward),
        folds
    );
    let shape: Vec<usize> = x_dims.iter().map(|&d| d as usize).collect();
    assert_same_results(&optimized, &ir, &shape);
    optimized
}

#[test]
fn learnable_affine_block_folds_into_both_convs_and_the_hard_swish_fuses() {
    // PP-LCNetV3: Conv, scale, shift, hard-swish, scale, shift, pointwise Conv.
    let x = [1, 4, 6, 6];
    let ir = Chain::new(&x)
        .conv(4, 1, 3, 1, 4)
        .affine("Mul", &[1], false)
        .affine("Add", &[1], false)
        .hard_swish()
        .affine("Mul", &[1], false)
        .affine("Add", &[1], false)
        .conv(3, 4, 1, 0, 1)
        .build();
    let out = check(ir, &x, &["Conv", "Conv"], (2, 2));
    assert_eq!(
        out.graphs[0].nodes[0].attribute("activation"),
        Some(&AttrValue::String("HardSwish".into()))
    );
}

#[test]
fn per_channel_constants_of_every_spelling_fold_into_the_conv_before() {
    let x = [1, 2, 5, 5];
    for (op, dims, constant_first) in [
        ("Mul", &[3, 1, 1][..], false),
        ("Mul", &[1, 3, 1, 1], true),
        ("Add", &[3, 1, 1], true),
        ("Add", &[], false),
        ("Sub", &[1, 3, 1, 1], false),
        ("Sub", &[3, 1, 1], true),
        ("Div", &[1, 3, 1, 1], false),
        ("Div", &[1, 1, 1, 1], false),
    ] {
        let ir = Chain::new(&x)
            .conv(3, 2, 3, 1, 1)
            .affine(op, dims, constant_first)
            .build();
        check(ir, &x, &["Conv"], (1, 0));
    }
    // A 1-D conv: the channel axis is second to last.
    let x = [1, 2, 7];
    let ir = Chain::new(&x)
        .conv(3, 2, 3, 0, 1)
        .affine("Mul", &[3, 1], false)
        .affine("Add", &[1, 3, 1], false)
        .build();
    check(ir, &x, &["Conv"], (2, 0));
}

#[test]
fn constants_that_are_not_per_channel_or_not_affine_stay() {
    let x = [1, 2, 5, 5];
    for (op, dims, constant_first) in [
        // Varies along the width, not the channels.
        ("Mul", &[1, 1, 1, 5][..], false),
        ("Add", &[5], false),
        // Would broadcast the output to rank 5.
        ("Mul", &[1, 1, 1, 1, 1], false),
        // Not affine in x.
        ("Div", &[1], true),
    ] {
        let ir = Chain::new(&x)
            .conv(3, 2, 3, 1, 1)
            .affine(op, dims, constant_first)
            .build();
        check(ir, &x, &["Conv", op], (0, 0));
    }
    // Division by a constant holding a zero.
    let mut chain = Chain::new(&x);
    chain.conv(3, 2, 3, 1, 1);
    let zero = chain
        .ir
        .add_constant(crate::ir::IrTensor::from_f32s("zero", vec![1], &[0.0]));
    let c = chain.last;
    let mut ir = chain.push("Div", &[c, zero], vec![]).build();
    assert_eq!(optimize(&mut ir).affines_folded, 0);
    assert_eq!(ops(&ir), ["Conv", "Div"]);
}

#[test]
fn an_operand_that_is_not_constant_or_a_conv_output_read_twice_stays() {
    let x = [1, 2, 5, 5];
    // Mul(conv, x'): the other operand is computed.
    let mut chain = Chain::new(&x);
    chain.push("Relu", &[0], vec![]);
    let r = chain.last;
    chain.conv(2, 2, 3, 1, 1);
    let c = chain.last;
    let ir = chain.push("Mul", &[c, r], vec![]).build();
    check(ir, &x, &["Relu", "Conv", "Mul"], (0, 0));
    // The Conv output is also added to the scaled one.
    let mut chain = Chain::new(&x);
    chain.conv(2, 2, 3, 1, 1);
    let c = chain.last;
    chain.affine("Mul", &[1], false);
    let m = chain.last;
    let ir = chain.push("Add", &[c, m], vec![]).build();
    check(ir, &x, &["Conv", "Mul", "Add"], (0, 0));
    // The scaled value is a graph output too: folding forward would lose it.
    let mut ir = Chain::new(&x)
        .affine("Mul", &[1, 2, 1, 1], false)
        .conv(3, 2, 1, 0, 1)
        .build();
    let m = ir.graphs[0].nodes[0].outputs[0];
    ir.graphs[0].outputs.push(m);
    check(ir, &x, &["Mul", "Conv"], (0, 0));
}

#[test]
fn scales_and_shifts_fold_into_the_unpadded_conv_after() {
    let x = [1, 4, 5, 5];
    // Pointwise, grouped and depthwise, per-channel and scalar, every spelling.
    for (group, in_per_group) in [(1, 4), (2, 2), (4, 1)] {
        let ir = Chain::new(&x)
            .affine("Mul", &[1, 4, 1, 1], true)
            .affine("Sub", &[4, 1, 1], true)
            .affine("Add", &[1], false)
            .affine("Div", &[1, 4, 1, 1], false)
            .conv(4, in_per_group, 1, 0, group)
            .build();
        check(ir, &x, &["Conv"], (0, 4));
    }
    // A 3×3 window without padding reads no border.
    let ir = Chain::new(&x)
        .affine("Add", &[1, 4, 1, 1], false)
        .conv(3, 4, 3, 0, 1)
        .build();
    check(ir, &x, &["Conv"], (0, 1));
}

#[test]
fn a_shift_before_a_padded_conv_stays_a_scale_folds() {
    let x = [1, 4, 5, 5];
    let ir = Chain::new(&x)
        .affine("Mul", &[1, 4, 1, 1], false)
        .affine("Add", &[1, 4, 1, 1], false)
        .conv(4, 1, 3, 1, 4)
        .build();
    // The Add stays, and so the Mul (read by the Add, not the Conv) stays too.
    check(ir, &x, &["Mul", "Add", "Conv"], (0, 0));
    let ir = Chain::new(&x)
        .affine("Add", &[1, 4, 1, 1], false)
        .affine("Mul", &[1, 4, 1, 1], false)
        .conv(4, 1, 3, 1, 4)
        .build();
    check(ir, &x, &["Add", "Conv"], (0, 1));
}

#[test]
fn a_constant_that_widens_the_input_does_not_fold_forward() {
    // x has one channel; Mul by a [1, 4, 1, 1] constant makes four for the Conv.
    let x = [1, 1, 5, 5];
    let ir = Chain::new(&x)
        .affine("Mul", &[1, 4, 1, 1], false)
        .conv(3, 4, 1, 0, 1)
        .build();
    check(ir, &x, &["Mul", "Conv"], (0, 0));
}

/// x[2, 3] -> Gemm(B constant, transB, C, alpha, beta) -> `op` by `dims`.
fn gemm(trans_b: bool, c_dims: Option<&[u64]>, op: &str, dims: &[u64]) -> IrModel {
    let mut chain = Chain::new(&[2, 3]);
    let b_dims: &[u64] = if trans_b { &[4, 3] } else { &[3, 4] };
    let b = chain.constant(b_dims, false);
    let mut inputs = vec![0, b];
    inputs.extend(c_dims.map(|d| chain.constant(d, false)));
    let attributes = vec![
        int("transB", i64::from(trans_b)),
        Attribute {
            name: "alpha".into(),
            value: AttrValue::Float(0.5),
        },
        Attribute {
            name: "beta".into(),
            value: AttrValue::Float(2.0),
        },
    ];
    chain
        .push("Gemm", &inputs, attributes)
        .affine(op, dims, false)
        .build()
}

#[test]
fn per_column_constants_fold_into_gemm_and_matmul() {
    for trans_b in [false, true] {
        for c in [None, Some(&[4][..]), Some(&[1, 4]), Some(&[1])] {
            check(gemm(trans_b, c, "Mul", &[4]), &[2, 3], &["Gemm"], (1, 0));
            check(gemm(trans_b, c, "Add", &[1, 4]), &[2, 3], &["Gemm"], (1, 0));
        }
    }
    // C varying per row, or a constant varying per row: not per column.
    check(
        gemm(false, Some(&[2, 1]), "Add", &[4]),
        &[2, 3],
        &["Gemm", "Add"],
        (0, 0),
    );
    check(
        gemm(false, None, "Add", &[2, 1]),
        &[2, 3],
        &["Gemm", "Add"],
        (0, 0),
    );
    // MatMul: a scale folds into B's columns; a batched MatMul has no bias, so a shift stays;
    // a MatMul of a matrix becomes a Gemm with the shift as C.
    for (x, scale_dims, left, folded) in [
        (&[2, 5, 3][..], &[1, 1, 4][..], &["MatMul", "Add"][..], 1),
        (&[5, 3], &[1, 4], &["Gemm"], 2),
    ] {
        let mut chain = Chain::new(x);
        let b = chain.constant(&[3, 4], false);
        let ir = chain
            .push("MatMul", &[0, b], vec![])
            .affine("Mul", scale_dims, false)
            .affine("Add", &[4], false)
            .build();
        check(ir, x, left, (folded, 0));
    }
    // Only a shift: the MatMul becomes a Gemm without scaling.
    let mut chain = Chain::new(&[5, 3]);
    let b = chain.constant(&[3, 4], false);
    let ir = chain
        .push("MatMul", &[0, b], vec![])
        .affine("Add", &[1, 4], true)
        .build();
    let out = check(ir, &[5, 3], &["Gemm"], (1, 0));
    assert_eq!(out.graphs[0].nodes[0].inputs.len(), 3);
}

#[test]
fn constants_of_other_dtypes_and_exported_conv_outputs_stay() {
    let x = [1, 2, 5, 5];
    // An f16 constant: only f32 folds.
    let mut chain = Chain::new(&x);
    chain.conv(3, 2, 3, 1, 1);
    let half = chain.ir.add_constant(crate::ir::IrTensor {
        name: "half".into(),
        dtype: mobiquant_core::DType::F16,
        dims: vec![1],
        bytes: vec![0x00, 0x38],
    });
    let c = chain.last;
    let mut ir = chain.push("Mul", &[c, half], vec![]).build();
    assert_eq!(optimize(&mut ir).affines_folded, 0);
    assert_eq!(ops(&ir), ["Conv", "Mul"]);
    // The Conv output is a graph output as well as the Mul's input.
    let mut ir = Chain::new(&x)
        .conv(3, 2, 3, 1, 1)
        .affine("Mul", &[1], false)
        .build();
    let c = ir.graphs[0].nodes[0].outputs[0];
    ir.graphs[0].outputs.push(c);
    check(ir, &x, &["Conv", "Mul"], (0, 0));
}

mod random_chains {
    use proptest::prelude::*;

    use super::*;

    /// What the constant of one affine node varies along.
    #[derive(Clone, Copy, Debug)]
    enum Along {
        Nothing,
        /// `[C, 1, …]`
        Channels,
        /// `[1, C, 1, …]`
        ChannelsFullRank,
        /// `[L]`: the last (spatial) axis, never per channel.
        Last,
    }

    fn op() -> impl Strategy<Value = (&'static str, bool)> {
        prop_oneof![
            Just(("Mul", false)),
            Just(("Mul", true)),
            Just(("Add", false)),
            Just(("Sub", false)),
            Just(("Sub", true)),
            Just(("Div", false)),
        ]
    }

    fn along() -> impl Strategy<Value = Along> {
        prop_oneof![
            Just(Along::Nothing),
            Just(Along::Channels),
            Just(Along::ChannelsFullRank),
            Just(Along::Last),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Conv?, affine nodes, Conv: whatever folds, the model computes the same.
        #[test]
        fn folding_keeps_results(
            channels in 1u64..=4,
            len in 3u64..=6,
            two_d in any::<bool>(),
            conv_before in any::<bool>(),
            depthwise in any::<bool>(),
            kernel in prop_oneof![Just(1u64), Just(3)],
            pad in 0i64..=1,
            affines in proptest::collection::vec((op(), along()), 1..=4),
        ) {
            let x: Vec<u64> = if two_d {
                vec![1, channels, len, len]
            } else {
                vec![1, channels, len]
            };
            let rank = x.len();
            let mut chain = Chain::new(&x);
            let (group, per_group) = if depthwise { (channels, 1) } else { (1, channels) };
            if conv_before {
                // Same-size output, so that the `[L]` constants still broadcast.
                let same = (kernel as i64 - 1) / 2;
                chain.conv(channels, per_group, kernel, same, group as i64);
            }
            for ((op, constant_first), along) in affines {
                let dims = match along {
                    Along::Nothing => vec![1],
                    Along::Channels => {
                        let mut d = vec![channels];
                        d.resize(rank - 1, 1);
                        d
                    }
                    Along::ChannelsFullRank => {
                        let mut d = vec![1, channels];
                        d.resize(rank, 1);
                        d
                    }
                    Along::Last => vec![len],
                };
                chain.affine(op, &dims, constant_first);
            }
            let ir = chain
                .conv(2 * channels, per_group, kernel, pad, group as i64)
                .build();
            let mut optimized = ir.clone();
            let report = optimize(&mut optimized);
            let shape: Vec<usize> = x.iter().map(|&d| d as usize).collect();
            let (ours, reference) = (run_x(optimized, &shape), run_x(ir, &shape));
            let scale = reference[0].iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (a, b) in ours[0].iter().zip(&reference[0]) {
                prop_assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b} ({report:?})");
            }
        }
    }
}
