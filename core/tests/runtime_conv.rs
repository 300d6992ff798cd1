//! Conv against a direct 7-loop convolution over random geometries (groups, depthwise, strides,
//! dilations, pads, 1-D and 2-D), hand-checked cases, auto_pad and fused activations.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

/// A model with one Conv of geometry `g` (1-D when `one_d`), returning its output.
fn run_conv(
    g: ConvGeom,
    one_d: bool,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    extra: Vec<Attribute>,
) -> Tensor {
    let (model, shape) = conv_model(g, one_d, w, b, extra);
    run1(&model, &[("x", &shape, x)]).unwrap()
}

/// A model with one Conv of geometry `g` (1-D when `one_d`) and the shape of its input.
fn conv_model(
    g: ConvGeom,
    one_d: bool,
    w: &[f32],
    b: Option<&[f32]>,
    extra: Vec<Attribute>,
) -> (std::sync::Arc<Model>, Vec<usize>) {
    let mut gb = GraphBuilder::new();
    let (xs, ws): (Vec<u64>, Vec<u64>) = if one_d {
        (
            vec![g.n as u64, g.c as u64, g.w as u64],
            vec![g.oc as u64, (g.c / g.group) as u64, g.kw as u64],
        )
    } else {
        (
            vec![g.n as u64, g.c as u64, g.h as u64, g.w as u64],
            vec![
                g.oc as u64,
                (g.c / g.group) as u64,
                g.kh as u64,
                g.kw as u64,
            ],
        )
    };
    let xi = gb.input_f32("x", &xs);
    let wi = gb.const_f32(&ws, w);
    let mut inputs = vec![Some(xi), Some(wi)];
    if let Some(b) = b {
        inputs.push(Some(gb.const_f32(&[g.oc as u64], b)));
    }
    let mut attrs = vec![int("group", g.group as i64)];
    if one_d {
        attrs.push(ints("strides", &[g.stride.1 as i64]));
        attrs.push(ints("dilations", &[g.dilation.1 as i64]));
        attrs.push(ints("pads", &[g.pads.1 as i64, g.pads.3 as i64]));
    } else {
        attrs.push(ints("strides", &[g.stride.0 as i64, g.stride.1 as i64]));
        attrs.push(ints(
            "dilations",
            &[g.dilation.0 as i64, g.dilation.1 as i64],
        ));
        attrs.push(ints(
            "pads",
            &[
                g.pads.0 as i64,
                g.pads.1 as i64,
                g.pads.2 as i64,
                g.pads.3 as i64,
            ],
        ));
    }
    attrs.extend(extra);
    let y = gb.node_typed("Conv", &inputs, attrs, DType::F32);
    gb.output(y);
    (gb.finish(), xs.iter().map(|&d| d as usize).collect())
}

fn geometry() -> impl Strategy<Value = (ConvGeom, bool)> {
    (
        (1usize..=2, 1usize..=3, 0usize..3, 1usize..=3),
        (1usize..=7, 1usize..=9, 1usize..=3, 1usize..=3),
        (1usize..=2, 1usize..=2, 1usize..=2, 1usize..=2),
        (0usize..=2, 0usize..=2, 0usize..=1, 0usize..=2),
        any::<bool>(),
    )
        .prop_filter_map(
            "window must fit",
            |(
                (n, cg, group_kind, og),
                (h, w, kh, kw),
                (sh, sw, dh, dw),
                (pt, pl, pb, pr),
                one_d,
            )| {
                // group_kind: 0 plain, 1 two groups, 2 depthwise (one input channel per group).
                let (group, cg) = match group_kind {
                    0 => (1, cg),
                    1 => (2, cg),
                    _ => (cg + 1, 1),
                };
                let (h, kh, sh, dh, pt, pb) = if one_d {
                    (1, 1, 1, 1, 0, 0)
                } else {
                    (h, kh, sh, dh, pt, pb)
                };
                let g = ConvGeom {
                    n,
                    c: cg * group,
                    h,
                    w,
                    oc: og * group,
                    group,
                    kh,
                    kw,
                    stride: (sh, sw),
                    dilation: (dh, dw),
                    pads: (pt, pl, pb, pr),
                };
                let fits = h + pt + pb > (kh - 1) * dh && w + pl + pr > (kw - 1) * dw;
                fits.then_some((g, one_d))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn conv_matches_direct_convolution((g, one_d) in geometry(), seed in any::<u64>(), bias in any::<bool>()) {
        let x = rand_vec(g.n * g.c * g.h * g.w, seed);
        let w = rand_vec(g.oc * (g.c / g.group) * g.kh * g.kw, seed ^ 1);
        let b = rand_vec(g.oc, seed ^ 2);
        let b = bias.then_some(b.as_slice());
        let got = run_conv(g, one_d, &x, &w, b, vec![]);
        let want = naive_conv(g, &x, &w, b);
        let (oh, ow) = g.out_hw();
        let shape = if one_d { vec![g.n, g.oc, ow] } else { vec![g.n, g.oc, oh, ow] };
        prop_assert_eq!(got.shape(), shape.as_slice());
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
}

fn geom(c: usize, h: usize, w: usize, oc: usize, k: usize) -> ConvGeom {
    ConvGeom {
        n: 1,
        c,
        h,
        w,
        oc,
        group: 1,
        kh: k,
        kw: k,
        stride: (1, 1),
        dilation: (1, 1),
        pads: (0, 0, 0, 0),
    }
}

/// Convolutions deep enough that their GEMM goes by several blocks of output columns (blocks
/// start inside output rows), on the im2col path (with stride and padding) and the pointwise
/// one, and with two groups.
#[test]
fn large_convs_split_into_column_blocks_match_direct_convolution() {
    let cases = [
        ConvGeom {
            stride: (1, 2),
            pads: (1, 1, 1, 0),
            ..geom(320, 19, 41, 5, 3)
        },
        geom(9000, 7, 11, 3, 1),
        ConvGeom {
            group: 2,
            pads: (1, 1, 1, 1),
            ..geom(640, 9, 13, 4, 3)
        },
    ];
    assert_match_direct_convolution(&cases, 0);
}

/// Runs each 2-D convolution of `cases` with a bias on random values (seeded from `seed`) and
/// compares it with the direct loop. Sums of up to 9000 products of magnitude <= 1: f32 rounding
/// alone reaches ~1e-5, hence the 1e-4 tolerance.
fn assert_match_direct_convolution(cases: &[ConvGeom], seed: u64) {
    for (i, &g) in cases.iter().enumerate() {
        let s = seed + i as u64;
        let x = rand_vec(g.n * g.c * g.h * g.w, s);
        let w = rand_vec(g.oc * (g.c / g.group) * g.kh * g.kw, s + 10);
        let b = rand_vec(g.oc, s + 20);
        let got = run_conv(g, false, &x, &w, Some(&b), vec![]);
        assert_close(
            got.as_f32().unwrap(),
            &naive_conv(g, &x, &w, Some(&b)),
            1e-4,
        );
    }
}

/// The pointwise path reads each image's input group in place: planes of whole 16-column panels
/// plus a packed remainder (35 = 2 · 16 + 3, 16, 5 < 16), two images and two groups, more
/// output channels per group than a row tile, and a depth above one k block.
#[test]
fn pointwise_convs_read_in_place_match_direct_convolution() {
    let cases = [
        ConvGeom {
            n: 2,
            group: 2,
            ..geom(6, 5, 7, 26, 1)
        },
        geom(3, 4, 4, 17, 1),
        geom(2, 1, 5, 3, 1),
        geom(300, 3, 13, 7, 1),
    ];
    assert_match_direct_convolution(&cases, 30);
}

/// Stride-1 convolutions whose output rows are as wide as their input rows take the shifted-tap
/// im2col fill: openWakeWord's 1x3 ("same" width padding) and 3x1 (none) shapes on planes
/// narrower and wider than a panel, height padding, dilation, a 3x3 "same" window, two groups,
/// two images, a 1-D "same" window, and a depth that cuts the output into blocks of 16 columns
/// starting inside output rows. Each matches the direct convolution, with 1 and 3 threads alike.
#[test]
fn shifted_tap_convs_match_direct_convolution_with_any_thread_count() {
    let one_by = |k: usize, pads| ConvGeom {
        kh: 1,
        kw: k,
        pads,
        ..geom(20, 9, 20, 13, k)
    };
    let by_one = |k: usize, pads| ConvGeom {
        kh: k,
        kw: 1,
        pads,
        ..geom(24, 12, 5, 30, k)
    };
    let wide = |w: usize, g: ConvGeom| ConvGeom { w, ..g };
    let cases = [
        (one_by(3, (0, 1, 0, 1)), false),
        (wide(2, one_by(3, (0, 1, 0, 1))), false),
        (wide(4, one_by(3, (0, 2, 0, 0))), false),
        (by_one(3, (0, 0, 0, 0)), false),
        (wide(33, by_one(3, (1, 0, 2, 0))), false),
        (
            ConvGeom {
                dilation: (2, 2),
                pads: (2, 2, 2, 2),
                ..geom(6, 7, 9, 5, 3)
            },
            false,
        ),
        (
            ConvGeom {
                n: 2,
                oc: 14,
                group: 2,
                ..one_by(3, (1, 1, 0, 1))
            },
            false,
        ),
        (
            ConvGeom {
                h: 1,
                ..one_by(5, (0, 2, 0, 2))
            },
            true,
        ),
        // Depth 3 · 3000: blocks of 16 columns in rows of 11.
        (
            ConvGeom {
                c: 3000,
                h: 3,
                ..wide(11, one_by(3, (0, 1, 0, 1)))
            },
            false,
        ),
    ];
    assert_direct_with_one_and_three_threads(&cases, 40);
}

/// Unpadded 1-D windows at a width stride of 3 or more take the framed im2col fill: an STFT
/// (one channel, 64 taps, stride 20, several blocks of columns: 17 · 64 · 40 MACs), two channels
/// with dilation, and a 2-D input with a one-row kernel.
#[test]
fn framed_convs_match_direct_convolution_with_any_thread_count() {
    let stft = ConvGeom {
        kh: 1,
        kw: 64,
        stride: (1, 20),
        ..geom(1, 1, 840, 17, 64)
    };
    let cases = [
        (stft, true),
        (
            ConvGeom {
                c: 2,
                kh: 1,
                dilation: (1, 2),
                stride: (1, 3),
                ..geom(2, 1, 50, 7, 5)
            },
            true,
        ),
        (
            ConvGeom {
                kh: 1,
                stride: (1, 4),
                ..geom(3, 5, 23, 9, 3)
            },
            false,
        ),
    ];
    assert_direct_with_one_and_three_threads(&cases, 50);
}

/// Runs each case (1-D when its flag is set) with a bias on random values (seeded from `seed`)
/// with 1 and 3 threads: the same bits, close to the direct convolution.
fn assert_direct_with_one_and_three_threads(cases: &[(ConvGeom, bool)], seed: u64) {
    for (i, &(g, one_d)) in cases.iter().enumerate() {
        let s = seed + i as u64;
        let x = rand_vec(g.n * g.c * g.h * g.w, s);
        let w = rand_vec(g.oc * (g.c / g.group) * g.kh * g.kw, s + 10);
        let b = rand_vec(g.oc, s + 20);
        let (model, shape) = conv_model(g, one_d, &w, Some(&b), vec![]);
        let input = TensorRef::from_f32(&shape, &x).unwrap();
        let one = run_with_threads(&model, input, 1);
        assert_eq!(one, run_with_threads(&model, input, 3), "case {i}: {g:?}");
        let want = naive_conv(g, &x, &w, Some(&b));
        assert_close(one[0].as_f32().unwrap(), &want, 1e-4);
    }
}

#[test]
fn conv_by_hand() {
    // 3x3 input 1..9, 2x2 kernel of ones, bias 0.5: sums of each 2x2 window.
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let y = run_conv(
        geom(1, 3, 3, 1, 2),
        false,
        &x,
        &[1.0; 4],
        Some(&[0.5]),
        vec![],
    );
    assert_eq!(y.shape(), [1, 1, 2, 2]);
    assert_eq!(y.as_f32().unwrap(), [12.5, 16.5, 24.5, 28.5]);
    // Stride 2, pad 1: windows at the corners see 1, 3, 7, 9 plus padding.
    let g = ConvGeom {
        stride: (2, 2),
        pads: (1, 1, 1, 1),
        ..geom(1, 3, 3, 1, 2)
    };
    let y = run_conv(g, false, &x, &[1.0; 4], None, vec![]);
    assert_eq!(y.as_f32().unwrap(), [1.0, 5.0, 11.0, 28.0]);
}

#[test]
fn auto_pad_same_keeps_the_spatial_size_and_matches_explicit_pads() {
    let x = rand_vec(2 * 5 * 6, 7);
    let w = rand_vec(3 * 2 * 9, 8);
    let base = ConvGeom {
        stride: (2, 2),
        ..geom(2, 5, 6, 3, 3)
    };
    for (mode, pads) in [("SAME_UPPER", (1, 1, 1, 1)), ("SAME_LOWER", (1, 1, 1, 1))] {
        // in 5, stride 2 -> out 3: total pad (3-1)*2+3-5 = 2, split 1/1; width 6 -> out 3: pad 1, 0 or 0, 1.
        let (pl, pr) = if mode == "SAME_UPPER" { (0, 1) } else { (1, 0) };
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &[1, 2, 5, 6]);
        let wi = gb.const_f32(&[3, 2, 3, 3], &w);
        let y = gb.node(
            "Conv",
            &[xi, wi],
            vec![string("auto_pad", mode), ints("strides", &[2, 2])],
        );
        gb.output(y);
        let got = run1(&gb.finish(), &[("x", &[1, 2, 5, 6], &x)]).unwrap();
        assert_eq!(got.shape(), [1, 3, 3, 3]);
        let want = naive_conv(
            ConvGeom {
                pads: (pads.0, pl, pads.2, pr),
                ..base
            },
            &x,
            &w,
            None,
        );
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
}

#[test]
fn fused_activations_equal_the_separate_ops() {
    let x = rand_vec(3 * 4 * 4, 3)
        .iter()
        .map(|v| v * 8.0)
        .collect::<Vec<_>>();
    let w = rand_vec(4 * 3 * 9, 4);
    let cases: Vec<(Vec<Attribute>, &str, Vec<Attribute>)> = vec![
        (vec![string("activation", "Relu")], "Relu", vec![]),
        (
            vec![
                string("activation", "LeakyRelu"),
                float("activation_alpha", 0.1),
            ],
            "LeakyRelu",
            vec![float("alpha", 0.1)],
        ),
        (
            vec![
                string("activation", "HardSigmoid"),
                float("activation_alpha", 0.3),
                float("activation_beta", 0.4),
            ],
            "HardSigmoid",
            vec![float("alpha", 0.3), float("beta", 0.4)],
        ),
        (vec![string("activation", "HardSwish")], "HardSwish", vec![]),
    ];
    for (fused, op, op_attrs) in cases {
        let g = ConvGeom {
            pads: (1, 1, 1, 1),
            ..geom(3, 4, 4, 4, 3)
        };
        let got = run_conv(g, false, &x, &w, None, fused);
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &[1, 3, 4, 4]);
        let wi = gb.const_f32(&[4, 3, 3, 3], &w);
        let c = gb.node("Conv", &[xi, wi], vec![ints("pads", &[1, 1, 1, 1])]);
        let y = gb.node(op, &[c], op_attrs);
        gb.output(y);
        let want = run1(&gb.finish(), &[("x", &[1, 3, 4, 4], &x)]).unwrap();
        assert_eq!(got.as_f32().unwrap(), want.as_f32().unwrap(), "{op}");
    }
    // Clip bounds as attributes of the fused form, as inputs of the op.
    let g = ConvGeom {
        pads: (1, 1, 1, 1),
        ..geom(3, 4, 4, 4, 3)
    };
    let fused = vec![
        string("activation", "Clip"),
        float("activation_min", 0.0),
        float("activation_max", 6.0),
    ];
    let got = run_conv(g, false, &x, &w, None, fused);
    let want: Vec<f32> = naive_conv(g, &x, &w, None)
        .iter()
        .map(|v| v.clamp(0.0, 6.0))
        .collect();
    assert_close(got.as_f32().unwrap(), &want, 1e-5);
}

#[test]
fn threads_give_the_same_result_as_one() {
    let x = rand_vec(8 * 144, 11);
    let w = rand_vec(16 * 8 * 9, 12);
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &[1, 8, 12, 12]);
    let wi = gb.const_f32(&[16, 8, 3, 3], &w);
    let dw = gb.const_f32(&[16, 1, 3, 3], &w[..144]);
    let c = gb.node("Conv", &[xi, wi], vec![ints("pads", &[1, 1, 1, 1])]);
    let y = gb.node(
        "Conv",
        &[c, dw],
        vec![ints("pads", &[1, 1, 1, 1]), int("group", 16)],
    );
    gb.output(y);
    let model = gb.finish();
    let input = TensorRef::from_f32(&[1, 8, 12, 12], &x).unwrap();
    let mut one = Session::new(model.clone(), SessionOptions::default()).unwrap();
    let mut two = Session::new(
        model,
        SessionOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let a = one.run(&[("x", input)]).unwrap();
    let b = two.run(&[("x", input)]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn mismatched_weights_are_a_node_error() {
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &[1, 3, 4, 4]);
    let wi = gb.const_f32(&[2, 2, 3, 3], &[0.0; 36]);
    let y = gb.node("Conv", &[xi, wi], vec![]);
    gb.output(y);
    let err = run1(&gb.finish(), &[("x", &[1, 3, 4, 4], &[0.0; 48])]).unwrap_err();
    assert!(
        matches!(err, Error::InvalidNode { ref op, .. } if op == "Conv"),
        "{err}"
    );
    assert!(err.to_string().contains("[1, 3, 4, 4]"), "{err}");
}

/// Convs large enough that their column blocks are shared out between threads (im2col and
/// pointwise, with a bias and a fused activation the kernel cannot clamp, which then runs on row
/// segments): every thread count gives the same bits, close to the direct convolution. 40x40
/// planes make several blocks; 14x14 ones (196 columns of depth 576) one block, which the
/// threads split into narrower ones.
#[test]
fn column_blocks_shared_between_threads_give_the_same_result() {
    for (c, oc, hw) in [(48, 40, 40), (64, 96, 14)] {
        blocks_shared_between_threads(c, oc, hw);
    }
}

fn blocks_shared_between_threads(c: usize, oc: usize, hw: usize) {
    let x = rand_vec(c * hw * hw, 21);
    let w3 = rand_vec(oc * c * 9, 22);
    let w1 = rand_vec(oc * oc, 23);
    let b = rand_vec(oc, 24);
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &[1, c as u64, hw as u64, hw as u64]);
    let wi = gb.const_f32(&[oc as u64, c as u64, 3, 3], &w3);
    let bi = gb.const_f32(&[oc as u64], &b);
    let act = || string("activation", "HardSwish");
    let y3 = gb.node(
        "Conv",
        &[xi, wi, bi],
        vec![ints("pads", &[1, 1, 1, 1]), act()],
    );
    let pi = gb.const_f32(&[oc as u64, oc as u64, 1, 1], &w1);
    let y1 = gb.node("Conv", &[y3, pi], vec![act()]);
    gb.output(y3);
    gb.output(y1);
    let model = gb.finish();
    let shape = [1, c, hw, hw];
    let input = TensorRef::from_f32(&shape, &x).unwrap();
    let one = run_with_threads(&model, input, 1);
    for threads in [2, 3] {
        assert_eq!(
            one,
            run_with_threads(&model, input, threads),
            "{threads} threads"
        );
    }
    let hard_swish = |v: f32| v * (v / 6.0 + 0.5).clamp(0.0, 1.0);
    let g = ConvGeom {
        n: 1,
        c,
        h: hw,
        w: hw,
        oc,
        group: 1,
        kh: 3,
        kw: 3,
        stride: (1, 1),
        dilation: (1, 1),
        pads: (1, 1, 1, 1),
    };
    let want: Vec<f32> = naive_conv(g, &x, &w3, Some(&b))
        .into_iter()
        .map(hard_swish)
        .collect();
    assert_close(one[0].as_f32().unwrap(), &want, 1e-4);
}

/// Depthwise Convs on small planes take the channel-block path (blocks of 16 channels): 37
/// channels (two whole blocks and a partial one), two images, stride 1 and 2, 3x3 and 5x5, with
/// the weights and bias constants (packed at build time) or graph inputs (packed per run), a
/// fused HardSwish applied after the block; against the direct loop, and 2 and 3 threads against
/// one, bit for bit.
#[test]
fn depthwise_channel_blocks_match_direct_convolution_at_any_thread_count() {
    let c = 37;
    for (hw, k, stride, constant) in [
        (7, 3, 1, true),
        (14, 3, 2, false),
        (9, 5, 1, false),
        (14, 5, 2, true),
    ] {
        let g = ConvGeom {
            n: 2,
            group: c,
            stride: (stride, stride),
            pads: (k / 2, k / 2, k / 2, k / 2),
            ..geom(c, hw, hw, c, k)
        };
        let x = rand_vec(2 * c * hw * hw, 31);
        let w = rand_vec(c * k * k, 32);
        let b = rand_vec(c, 33);
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &[2, c as u64, hw as u64, hw as u64]);
        let (ws, bs) = ([c as u64, 1, k as u64, k as u64], [c as u64]);
        let (wi, bi) = if constant {
            (gb.const_f32(&ws, &w), gb.const_f32(&bs, &b))
        } else {
            (gb.input_f32("w", &ws), gb.input_f32("b", &bs))
        };
        let p = (k / 2) as i64;
        let attrs = vec![
            int("group", c as i64),
            ints("strides", &[stride as i64, stride as i64]),
            ints("pads", &[p, p, p, p]),
            string("activation", "HardSwish"),
        ];
        let y = gb.node("Conv", &[xi, wi, bi], attrs);
        gb.output(y);
        let model = gb.finish();
        let xs = [2, c, hw, hw];
        let (wsz, bsz) = ([c, 1, k, k], [c]);
        let mut inputs = vec![("x", TensorRef::from_f32(&xs, &x).unwrap())];
        if !constant {
            inputs.push(("w", TensorRef::from_f32(&wsz, &w).unwrap()));
            inputs.push(("b", TensorRef::from_f32(&bsz, &b).unwrap()));
        }
        let run = |threads: usize| {
            let options = SessionOptions {
                threads,
                ..Default::default()
            };
            let mut session = Session::new(model.clone(), options).unwrap();
            session.run(&inputs).unwrap()
        };
        let one = run(1);
        for threads in [2, 3] {
            assert_eq!(
                one,
                run(threads),
                "{hw}x{hw} k{k} s{stride}: {threads} threads"
            );
        }
        let hard_swish = |v: f32| v * (v / 6.0 + 0.5).clamp(0.0, 1.0);
        let want: Vec<f32> = naive_conv(g, &x, &w, Some(&b))
            .into_iter()
            .map(hard_swish)
            .collect();
        assert_close(one[0].as_f32().unwrap(), &want, 1e-5);
    }
}

/// Runs `model` on `x` in a session of `threads` threads.
fn run_with_threads(
    model: &std::sync::Arc<Model>,
    x: TensorRef<'_>,
    threads: usize,
) -> Vec<Tensor> {
    let options = SessionOptions {
        threads,
        ..Default::default()
    };
    let mut session = Session::new(model.clone(), options).unwrap();
    session.run(&[("x", x)]).unwrap()
}
