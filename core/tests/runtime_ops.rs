//! Every op other than Conv: hand-checked small cases, and random cases against naive
//! implementations written here (matrix products, broadcasting, pools).

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

/// One node over f32 inputs named x0, x1, ... of the given shapes; returns its output.
fn run_op(op: &str, inputs: &[(&[usize], &[f32])], attrs: Vec<Attribute>) -> Result<Tensor> {
    let mut gb = GraphBuilder::new();
    let ids: Vec<u32> = inputs
        .iter()
        .enumerate()
        .map(|(i, (s, _))| {
            gb.input_f32(
                &format!("x{i}"),
                &s.iter().map(|&d| d as u64).collect::<Vec<_>>(),
            )
        })
        .collect();
    let y = gb.node(op, &ids, attrs);
    gb.output(y);
    let model = gb.finish();
    let names: Vec<String> = (0..inputs.len()).map(|i| format!("x{i}")).collect();
    let named: Vec<(&str, &[usize], &[f32])> = inputs
        .iter()
        .zip(&names)
        .map(|((s, d), n)| (n.as_str(), *s, *d))
        .collect();
    run1(&model, &named)
}

/// Row-major index -> multi-index for `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

/// Reads `data` of `shape` at an output multi-index, broadcasting (right-aligned, size-1 dims).
fn at_broadcast(data: &[f32], shape: &[usize], out_idx: &[usize]) -> f32 {
    let pad = out_idx.len() - shape.len();
    let mut flat = 0;
    for (d, &n) in shape.iter().enumerate() {
        flat = flat * n + if n == 1 { 0 } else { out_idx[pad + d] };
    }
    data[flat]
}

fn shapes_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec((1usize..4, 0u8..3), 0..4).prop_map(|dims| {
        // Each output dim is given to both, to a only (b gets 1), or to b only.
        let a = dims
            .iter()
            .map(|&(d, k)| if k == 2 { 1 } else { d })
            .collect::<Vec<_>>();
        let b = dims
            .iter()
            .map(|&(d, k)| if k == 1 { 1 } else { d })
            .collect::<Vec<_>>();
        // Drop leading dims of b sometimes to test rank broadcasting.
        let cut = b.len() / 2;
        (a, b[cut..].to_vec())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn binary_ops_broadcast_like_onnx((sa, sb) in shapes_pair(), seed in any::<u64>(), op in 0usize..7) {
        let names = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"];
        let f = |a: f32, b: f32| match op { 0 => a + b, 1 => a - b, 2 => a * b, 3 => a / b, 4 => a.powf(b), 5 => a.max(b), _ => a.min(b) };
        let a: Vec<f32> = rand_vec(sa.iter().product(), seed).iter().map(|v| if op == 4 { v.abs() + 0.5 } else { *v }).collect();
        let b: Vec<f32> = rand_vec(sb.iter().product(), seed ^ 9).iter().map(|v| if op == 3 { v + 2.0 } else { *v }).collect();
        let got = run_op(names[op], &[(&sa, &a), (&sb, &b)], vec![]).unwrap();
        let rank = sa.len().max(sb.len());
        let out: Vec<usize> = (0..rank).map(|i| {
            let da = if i + sa.len() >= rank { sa[i + sa.len() - rank] } else { 1 };
            let db = if i + sb.len() >= rank { sb[i + sb.len() - rank] } else { 1 };
            da.max(db)
        }).collect();
        prop_assert_eq!(got.shape(), out.as_slice());
        let want: Vec<f32> = (0..out.iter().product()).map(|i| {
            let idx = unravel(i, &out);
            f(at_broadcast(&a, &sa, &idx), at_broadcast(&b, &sb, &idx))
        }).collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-6);
    }

    #[test]
    fn matmul_batches_and_broadcasts(m in 1usize..6, k in 1usize..7, n in 1usize..6, ba in 1usize..3, bb in 1usize..3, seed in any::<u64>()) {
        // A [ba, 1, m, k] x B [bb, k, n] -> [ba, bb, m, n]
        let a = rand_vec(ba * m * k, seed);
        let b = rand_vec(bb * k * n, seed ^ 3);
        let got = run_op("MatMul", &[(&[ba, 1, m, k], &a), (&[bb, k, n], &b)], vec![]).unwrap();
        prop_assert_eq!(got.shape(), &[ba, bb, m, n]);
        let mut want = Vec::new();
        for i in 0..ba {
            for j in 0..bb {
                want.extend(naive_matmul(m, k, n, &a[i * m * k..(i + 1) * m * k], &b[j * k * n..(j + 1) * k * n]));
            }
        }
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }

    #[test]
    fn gemm_matches_naive(m in 1usize..7, k in 1usize..9, n in 1usize..7, ta in any::<bool>(), tb in any::<bool>(), c_kind in 0usize..4, seed in any::<u64>()) {
        let a = rand_vec(m * k, seed);
        let b = rand_vec(k * n, seed ^ 5);
        let transpose = |x: &[f32], r: usize, c: usize| -> Vec<f32> { (0..c * r).map(|i| x[(i % r) * c + i / r]).collect() };
        let (a_in, a_shape) = if ta { (transpose(&a, m, k), [k, m]) } else { (a.clone(), [m, k]) };
        let (b_in, b_shape) = if tb { (transpose(&b, k, n), [n, k]) } else { (b.clone(), [k, n]) };
        let c_shape: Vec<usize> = match c_kind { 0 => vec![], 1 => vec![n], 2 => vec![m, 1], _ => vec![m, n] };
        let c = rand_vec(c_shape.iter().product(), seed ^ 6);
        let (alpha, beta) = (0.5, 2.0);
        let attrs = vec![int("transA", ta as i64), int("transB", tb as i64), float("alpha", alpha), float("beta", beta)];
        let got = run_op("Gemm", &[(&a_shape, &a_in), (&b_shape, &b_in), (&c_shape, &c)], attrs).unwrap();
        let ab = naive_matmul(m, k, n, &a, &b);
        let want: Vec<f32> = (0..m * n).map(|i| alpha * ab[i] + beta * at_broadcast(&c, &c_shape, &[i / n, i % n])).collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }

    #[test]
    fn pools_match_naive(h in 1usize..7, w in 1usize..7, k in 1usize..4, s in 1usize..3, d in 1usize..3, p in 0usize..2, ceil in any::<bool>(), include_pad in any::<bool>(), max in any::<bool>(), one_d in any::<bool>(), seed in any::<u64>()) {
        // 1-D pools are 2-D pools over a height of 1 with a trivial window on it.
        let (h, kh, sh, dh, ph) = if one_d { (1, 1, 1, 1, 0) } else { (h, k, s, d, p) };
        let span = |k: usize, d: usize| (k - 1) * d + 1;
        prop_assume!(k > p && h + 2 * ph >= span(kh, dh) && w + 2 * p >= span(k, d));
        let x = rand_vec(2 * h * w, seed);
        let op = if max { "MaxPool" } else { "AveragePool" };
        let pair = |a: usize, b: usize| if one_d { vec![b as i64] } else { vec![a as i64, b as i64] };
        let pads = if one_d { vec![p as i64; 2] } else { vec![p as i64; 4] };
        let attrs = vec![ints("kernel_shape", &pair(kh, k)), ints("strides", &pair(sh, s)), ints("dilations", &pair(dh, d)), ints("pads", &pads), int("ceil_mode", ceil as i64), int("count_include_pad", include_pad as i64)];
        let shape: Vec<usize> = if one_d { vec![1, 2, w] } else { vec![1, 2, h, w] };
        let got = run_op(op, &[(&shape, &x)], attrs).unwrap();
        let out_len = |i: usize, k: usize, s: usize, d: usize, p: usize| {
            let room = i + 2 * p - span(k, d);
            let mut o = if ceil { room.div_ceil(s) + 1 } else { room / s + 1 };
            if ceil && (o - 1) * s >= i + p { o -= 1; }
            o
        };
        let (oh, ow) = (out_len(h, kh, sh, dh, ph), out_len(w, k, s, d, p));
        let want_shape: Vec<usize> = if one_d { vec![1, 2, ow] } else { vec![1, 2, oh, ow] };
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        let mut want = Vec::new();
        for c in 0..2 {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut best, mut sum, mut count, mut padded) = (f32::NEG_INFINITY, 0.0f32, 0, 0);
                    for ky in 0..kh {
                        for kx in 0..k {
                            let y = (oy * sh + ky * dh) as isize - ph as isize;
                            let x_ = (ox * s + kx * d) as isize - p as isize;
                            if y < (h + ph) as isize && x_ < (w + p) as isize { padded += 1; }
                            if y < 0 || x_ < 0 || y >= h as isize || x_ >= w as isize { continue; }
                            let v = x[(c * h + y as usize) * w + x_ as usize];
                            best = best.max(v);
                            sum += v;
                            count += 1;
                        }
                    }
                    // A window entirely in the padding (possible with dilation) is degenerate.
                    prop_assume!(count > 0);
                    want.push(if max { best } else { sum / if include_pad { padded } else { count } as f32 });
                }
            }
        }
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
}

#[test]
fn unary_ops_by_hand() {
    let x = [-2.0f32, -0.5, 0.0, 1.0, 3.0];
    let s = [5usize];
    let cases: Vec<(&str, Vec<Attribute>, [f32; 5])> = vec![
        ("Relu", vec![], [0.0, 0.0, 0.0, 1.0, 3.0]),
        (
            "LeakyRelu",
            vec![float("alpha", 0.1)],
            [-0.2, -0.05, 0.0, 1.0, 3.0],
        ),
        ("HardSigmoid", vec![], [0.1, 0.4, 0.5, 0.7, 1.0]),
        (
            "HardSwish",
            vec![],
            [
                -2.0 * (1.0 / 6.0),
                -0.5 * (2.5 / 6.0),
                0.0,
                1.0 * (4.0 / 6.0),
                3.0,
            ],
        ),
        ("Abs", vec![], [2.0, 0.5, 0.0, 1.0, 3.0]),
        ("Neg", vec![], [2.0, 0.5, -0.0, -1.0, -3.0]),
        ("Exp", vec![], x.map(f32::exp)),
        ("Tanh", vec![], x.map(f32::tanh)),
        ("Sigmoid", vec![], x.map(|v| 1.0 / (1.0 + (-v).exp()))),
        (
            "Erf",
            vec![],
            [-0.995_322_3, -0.520_499_9, 0.0, 0.842_700_8, 0.999_977_9],
        ),
    ];
    for (op, attrs, want) in cases {
        let got = run_op(op, &[(&s, &x)], attrs).unwrap();
        assert_close(got.as_f32().unwrap(), &want, 1e-6);
    }
    let pos = [0.25f32, 1.0, 4.0];
    assert_eq!(
        run_op("Sqrt", &[(&[3], &pos)], vec![])
            .unwrap()
            .as_f32()
            .unwrap(),
        [0.5, 1.0, 2.0]
    );
    assert_close(
        run_op("Log", &[(&[3], &pos)], vec![])
            .unwrap()
            .as_f32()
            .unwrap(),
        &pos.map(f32::ln),
        1e-6,
    );
}

#[test]
fn parametric_activations_match_their_formulas() {
    let x: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.15).collect();
    let s = [x.len()];
    // Written here in f64 from the ONNX definitions.
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let softplus = |v: f64| (1.0 + v.exp()).ln();
    type Formula = Box<dyn Fn(f64) -> f64>;
    let cases: Vec<(&str, Vec<Attribute>, Formula)> = vec![
        (
            "Elu",
            vec![float("alpha", 0.7)],
            Box::new(|v| if v > 0.0 { v } else { 0.7 * (v.exp() - 1.0) }),
        ),
        (
            "Selu",
            vec![float("alpha", 2.0), float("gamma", 3.0)],
            Box::new(|v| 3.0 * if v > 0.0 { v } else { 2.0 * (v.exp() - 1.0) }),
        ),
        (
            "Selu",
            vec![],
            Box::new(|v| {
                1.050_701_0
                    * if v > 0.0 {
                        v
                    } else {
                        1.673_263_2 * (v.exp() - 1.0)
                    }
            }),
        ),
        (
            "Celu",
            vec![float("alpha", 2.0)],
            Box::new(|v| v.max(0.0) + (2.0 * ((v / 2.0).exp() - 1.0)).min(0.0)),
        ),
        (
            "ThresholdedRelu",
            vec![float("alpha", 0.3)],
            Box::new(|v| if v > 0.3f32 as f64 { v } else { 0.0 }),
        ),
        ("Mish", vec![], Box::new(move |v| v * softplus(v).tanh())),
        (
            "Swish",
            vec![float("alpha", 1.5)],
            Box::new(move |v| v * sigmoid(1.5 * v)),
        ),
    ];
    for (op, attrs, f) in cases {
        let got = run_op(op, &[(&s, &x)], attrs).unwrap();
        let want: Vec<f32> = x.iter().map(|&v| f(v as f64) as f32).collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-6);
    }
}

#[test]
fn prelu_and_mod_by_hand() {
    let x = [-2.0f32, -1.0, 0.0, 3.0, -4.0, 5.0];
    let slope = [0.5f32, -1.0];
    let got = run_op("PRelu", &[(&[3, 2], &x), (&[2], &slope)], vec![]).unwrap();
    assert_eq!(got.as_f32().unwrap(), [-1.0, 1.0, 0.0, 3.0, -2.0, 5.0]);
    // The slope must broadcast to the input, not widen it.
    assert!(run_op("PRelu", &[(&[2], &slope), (&[3, 2], &x)], vec![]).is_err());
    let d = [3.0f32];
    let m = run_op("Mod", &[(&[6], &x), (&[1], &d)], vec![int("fmod", 1)]).unwrap();
    assert_eq!(m.as_f32().unwrap(), [-2.0, -1.0, 0.0, 0.0, -1.0, 2.0]);
    let m = run_op("Mod", &[(&[6], &x), (&[1], &d)], vec![]).unwrap();
    assert_eq!(m.as_f32().unwrap(), [1.0, 2.0, 0.0, 0.0, 2.0, 2.0]);
}

#[test]
fn clip_takes_bounds_as_inputs_and_they_are_optional() {
    let x = [-3.0f32, 0.5, 9.0];
    let got = run_op("Clip", &[(&[3], &x), (&[], &[0.0]), (&[], &[6.0])], vec![]).unwrap();
    assert_eq!(got.as_f32().unwrap(), [0.0, 0.5, 6.0]);
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x0", &[3]);
    let hi = gb.const_f32(&[], &[1.0]);
    let y = gb.node_typed("Clip", &[Some(xi), None, Some(hi)], vec![], DType::F32);
    gb.output(y);
    assert_eq!(
        run1(&gb.finish(), &[("x0", &[3], &x)])
            .unwrap()
            .as_f32()
            .unwrap(),
        [-3.0, 0.5, 1.0]
    );
}

#[test]
fn softmax_along_any_axis() {
    let x = [1.0f32, 2.0, 3.0, 1.0, 1.0, 1.0];
    let last = run_op("Softmax", &[(&[2, 3], &x)], vec![]).unwrap();
    let e = [1.0f32.exp(), 2.0f32.exp(), 3.0f32.exp()];
    let sum: f32 = e.iter().sum();
    assert_close(
        last.as_f32().unwrap(),
        &[
            e[0] / sum,
            e[1] / sum,
            e[2] / sum,
            1.0 / 3.0,
            1.0 / 3.0,
            1.0 / 3.0,
        ],
        1e-6,
    );
    let first = run_op("Softmax", &[(&[2, 3], &x)], vec![int("axis", 0)]).unwrap();
    let pair = |a: f32, b: f32| 1.0 / (1.0 + (b - a).exp());
    assert_close(
        first.as_f32().unwrap(),
        &[
            0.5,
            pair(2.0, 1.0),
            pair(3.0, 1.0),
            0.5,
            pair(1.0, 2.0),
            pair(1.0, 3.0),
        ],
        1e-6,
    );
    // Large values do not overflow.
    let big = run_op("Softmax", &[(&[2], &[1000.0, 1000.0])], vec![]).unwrap();
    assert_eq!(big.as_f32().unwrap(), [0.5, 0.5]);
}

#[test]
fn global_average_pool_and_flatten() {
    let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let g = run_op("GlobalAveragePool", &[(&[1, 3, 2, 2], &x)], vec![]).unwrap();
    assert_eq!(g.shape(), [1, 3, 1, 1]);
    assert_eq!(g.as_f32().unwrap(), [1.5, 5.5, 9.5]);
    let f = run_op("Flatten", &[(&[1, 3, 2, 2], &x)], vec![int("axis", 2)]).unwrap();
    assert_eq!(f.shape(), [3, 4]);
    let f0 = run_op("Flatten", &[(&[1, 3, 2, 2], &x)], vec![int("axis", 0)]).unwrap();
    assert_eq!(f0.shape(), [1, 12]);
}

#[test]
fn transpose_concat_and_identity() {
    let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
    let t = run_op("Transpose", &[(&[2, 3], &x)], vec![]).unwrap();
    assert_eq!(
        (t.shape(), t.as_f32().unwrap()),
        (&[3usize, 2][..], &[0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0][..])
    );
    let t3 = run_op(
        "Transpose",
        &[(&[1, 2, 3], &x)],
        vec![ints("perm", &[2, 0, 1])],
    )
    .unwrap();
    assert_eq!(
        (t3.shape(), t3.as_f32().unwrap()),
        (&[3usize, 1, 2][..], &[0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0][..])
    );
    let c = run_op(
        "Concat",
        &[(&[2, 3], &x), (&[2, 1], &[9.0, 8.0])],
        vec![int("axis", -1)],
    )
    .unwrap();
    assert_eq!(
        (c.shape(), c.as_f32().unwrap()),
        (
            &[2usize, 4][..],
            &[0.0f32, 1.0, 2.0, 9.0, 3.0, 4.0, 5.0, 8.0][..]
        )
    );
    let i = run_op("Identity", &[(&[2, 3], &x)], vec![]).unwrap();
    assert_eq!(i.as_f32().unwrap(), x.as_slice());
    assert!(matches!(
        run_op(
            "Concat",
            &[(&[2, 3], &x), (&[3, 1], &[0.0; 3])],
            vec![int("axis", 1)]
        ),
        Err(Error::InvalidNode { .. })
    ));
}

/// A graph `x -> op(x, constant i64 inputs...) -> y`.
fn with_int_inputs(
    op: &str,
    shape: &[u64],
    x: &[f32],
    ints_in: &[&[i64]],
    attrs: Vec<Attribute>,
) -> Result<Tensor> {
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", shape);
    let mut inputs = vec![Some(xi)];
    for v in ints_in {
        inputs.push(Some(gb.const_i64(v)));
    }
    let y = gb.node_typed(op, &inputs, attrs, DType::F32);
    gb.output(y);
    let s: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    run1(&gb.finish(), &[("x", &s, x)])
}

#[test]
fn reshape_squeeze_unsqueeze() {
    let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
    let r = with_int_inputs("Reshape", &[2, 3, 4], &x, &[&[0, -1]], vec![]).unwrap();
    assert_eq!(r.shape(), [2, 12]);
    assert_eq!(r.as_f32().unwrap(), x.as_slice());
    let r = with_int_inputs("Reshape", &[2, 3, 4], &x, &[&[4, 0, 2]], vec![]).unwrap();
    assert_eq!(r.shape(), [4, 3, 2]);
    assert!(with_int_inputs("Reshape", &[2, 3, 4], &x, &[&[5, -1]], vec![]).is_err());
    assert!(with_int_inputs("Reshape", &[2, 3, 4], &x, &[&[-1, -1]], vec![]).is_err());
    let u = with_int_inputs("Unsqueeze", &[2, 3, 4], &x, &[&[0, -1]], vec![]).unwrap();
    assert_eq!(u.shape(), [1, 2, 3, 4, 1]);
    let s = with_int_inputs("Squeeze", &[1, 2, 1, 12], &x, &[&[0, -2]], vec![]).unwrap();
    assert_eq!(s.shape(), [2, 12]);
    let all = with_int_inputs("Squeeze", &[1, 2, 1, 12], &x, &[], vec![]).unwrap();
    assert_eq!(all.shape(), [2, 12]);
    assert!(matches!(
        with_int_inputs("Squeeze", &[2, 12], &x, &[&[0]], vec![]),
        Err(Error::InvalidNode { .. })
    ));
}

#[test]
fn slice_with_negative_indices_and_steps() {
    let x: Vec<f32> = (0..20).map(|v| v as f32).collect();
    // rows 1..3, columns from the end backwards with step -2
    let s = with_int_inputs(
        "Slice",
        &[4, 5],
        &x,
        &[&[1, -1], &[3, i64::MIN], &[0, 1], &[1, -2]],
        vec![],
    )
    .unwrap();
    assert_eq!(s.shape(), [2, 3]);
    assert_eq!(s.as_f32().unwrap(), [9.0, 7.0, 5.0, 14.0, 12.0, 10.0]);
    let clamp = with_int_inputs("Slice", &[4, 5], &x, &[&[2], &[i64::MAX]], vec![]).unwrap();
    assert_eq!(clamp.shape(), [2, 5]);
    assert_eq!(clamp.as_f32().unwrap(), &x[10..]);
    let empty = with_int_inputs("Slice", &[4, 5], &x, &[&[3], &[1]], vec![]).unwrap();
    assert_eq!(empty.shape(), [0, 5]);
}

#[test]
fn gather_checks_indices_at_run_time() {
    let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
    let g = with_int_inputs("Gather", &[3, 2], &x, &[&[2, -3]], vec![]).unwrap();
    assert_eq!(
        (g.shape(), g.as_f32().unwrap()),
        (&[2usize, 2][..], &[4.0f32, 5.0, 0.0, 1.0][..])
    );
    let g1 = with_int_inputs("Gather", &[3, 2], &x, &[&[1]], vec![int("axis", 1)]).unwrap();
    assert_eq!(
        (g1.shape(), g1.as_f32().unwrap()),
        (&[3usize, 1][..], &[1.0f32, 3.0, 5.0][..])
    );
    // Indices from a model input: out of range is an execution error naming the node.
    let mut gb = GraphBuilder::new();
    let data = gb.const_f32(&[3, 2], &x);
    let idx = gb.input("idx", DType::I64, &[Some(2)]);
    let y = gb.node("Gather", &[data, idx], vec![]);
    gb.output(y);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let ok = s
        .run(&[("idx", TensorRef::from_i64(&[2], &[0, 2]).unwrap())])
        .unwrap();
    assert_eq!(ok[0].as_f32().unwrap(), [0.0, 1.0, 4.0, 5.0]);
    let err = s
        .run(&[("idx", TensorRef::from_i64(&[2], &[0, 3]).unwrap())])
        .unwrap_err();
    assert!(
        matches!(err, Error::Execution { ref op, .. } if op == "Gather"),
        "{err}"
    );
    assert!(err.to_string().contains("index 3"), "{err}");
}

#[test]
fn shape_and_constant_feed_reshape_at_plan_time() {
    // y = Reshape(x, Concat(Gather(Shape(x), 0), Constant[-1])): [batch, 3, 4] -> [batch, 12]
    let mut gb = GraphBuilder::new();
    let x = gb.input("x", DType::F32, &[None, Some(3), Some(4)]);
    let shape = gb.node_typed("Shape", &[Some(x)], vec![], DType::I64);
    let zero = gb.const_i64(&[0]);
    let batch = gb.node_typed("Gather", &[Some(shape), Some(zero)], vec![], DType::I64);
    let minus_one = gb.node_typed("Constant", &[], vec![ints("value_ints", &[-1])], DType::I64);
    let target = gb.node_typed(
        "Concat",
        &[Some(batch), Some(minus_one)],
        vec![int("axis", 0)],
        DType::I64,
    );
    let y = gb.node_typed("Reshape", &[Some(x), Some(target)], vec![], DType::F32);
    gb.output(y);
    gb.output(shape);
    let model = gb.finish();
    let mut s = Session::new(model, SessionOptions::default()).unwrap();
    for batch in [1usize, 3] {
        let data = rand_vec(batch * 12, 1);
        let out = s
            .run(&[("x", TensorRef::from_f32(&[batch, 3, 4], &data).unwrap())])
            .unwrap();
        assert_eq!(out[0].shape(), [batch, 12]);
        assert_eq!(out[0].as_f32().unwrap(), data.as_slice());
        assert_eq!(out[1].as_i64().unwrap(), [batch as i64, 3, 4]);
        // Only the reshape copy runs; the shape arithmetic was folded.
        assert_eq!(s.last_plan().unwrap().step_count(), 1);
    }
}

#[test]
fn integer_arithmetic_on_shapes() {
    let mut gb = GraphBuilder::new();
    let a = gb.input("a", DType::I64, &[Some(3)]);
    let b = gb.const_i64(&[2, 0, -4]);
    let y = gb.node_typed("Div", &[Some(a), Some(b)], vec![], DType::I64);
    gb.output(y);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let out = s
        .run(&[("a", TensorRef::from_i64(&[3], &[7, 5, 9]).unwrap())])
        .unwrap();
    assert_eq!(out[0].as_i64().unwrap(), [3, 0, -2]);
}

#[test]
fn unsupported_ops_are_typed_errors() {
    let err = run_op("NonZero", &[(&[1], &[0.0])], vec![]).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedOp { ref op, .. } if op == "NonZero"),
        "{err}"
    );
    let err = run_op(
        "Conv",
        &[(&[1, 1, 2, 2], &[0.0; 4]), (&[1, 1, 1, 1], &[1.0])],
        vec![string("activation", "Swish")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("Swish"), "{err}");
}

#[test]
fn gemm_with_zero_beta_ignores_c() {
    let got = run_op(
        "Gemm",
        &[
            (&[1, 2], &[1.0, 2.0]),
            (&[2, 1], &[3.0, 4.0]),
            (&[1], &[f32::NAN]),
        ],
        vec![float("beta", 0.0), string("activation", "Relu")],
    )
    .unwrap();
    assert_eq!(got.as_f32().unwrap(), [11.0]);
}

/// Regression: a MatMul whose B is a constant (packed once at build) must not ask for the scratch
/// that only a run-time B needs (it failed with "scratch too small" in a plan without other
/// scratch users; found by the real-model tests on the openWakeWord mel spectrogram).
#[test]
fn matmul_with_constant_b_needs_no_scratch() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2, 3]);
    let b = gb.const_f32(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = gb.node("MatMul", &[x, b], vec![]);
    gb.output(y);
    let model = gb.finish();
    let got = run1(&model, &[("x", &[2, 3], &[1.0, 0.0, -1.0, 2.0, 1.0, 0.5])]).unwrap();
    assert_eq!(got.as_f32().unwrap(), &[-4.0, -4.0, 7.5, 11.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn depth_space_moves_match_naive(n in 1usize..3, cb in 1usize..4, h in 1usize..4, w in 1usize..4, b in 1usize..4, crd in any::<bool>(), seed in any::<u64>()) {
        let mode = if crd { "CRD" } else { "DCR" };
        let c = cb * b * b;
        // Input channel of output channel c' at block offset (i, j).
        let src_c = |co: usize, i: usize, j: usize| if crd { co * b * b + i * b + j } else { (i * b + j) * cb + co };
        let x = rand_vec(n * c * h * w, seed);
        let got = run_op("DepthToSpace", &[(&[n, c, h, w], &x)], vec![int("blocksize", b as i64), string("mode", mode)]).unwrap();
        prop_assert_eq!(got.shape(), &[n, cb, h * b, w * b]);
        let mut want = Vec::new();
        for ni in 0..n { for co in 0..cb { for r in 0..h * b { for q in 0..w * b {
            let ci = src_c(co, r % b, q % b);
            want.push(x[((ni * c + ci) * h + r / b) * w + q / b]);
        }}}}
        prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());
        // SpaceToDepth of an [n, cb, h·b, w·b] input: output channel src_c(c, i, j) (CRD: c·b² + i·b + j).
        let (hh, ww) = (h * b, w * b);
        let x2 = rand_vec(n * cb * hh * ww, seed ^ 5);
        let got = run_op("SpaceToDepth", &[(&[n, cb, hh, ww], &x2)], vec![int("blocksize", b as i64), string("mode", mode)]).unwrap();
        prop_assert_eq!(got.shape(), &[n, c, h, w]);
        let y = got.as_f32().unwrap();
        for ni in 0..n { for ci in 0..cb { for i in 0..b { for j in 0..b { for r in 0..h { for q in 0..w {
            let co = src_c(ci, i, j);
            prop_assert_eq!(y[((ni * c + co) * h + r) * w + q], x2[((ni * cb + ci) * hh + r * b + i) * ww + q * b + j]);
        }}}}}}
    }

    #[test]
    fn group_and_instance_norm_match_naive(n in 1usize..3, g in 1usize..4, cg in 1usize..4, s in 1usize..6, per_channel in any::<bool>(), instance in any::<bool>(), seed in any::<u64>()) {
        let (g, cg) = if instance { (g * cg, 1) } else { (g, cg) };
        let c = g * cg;
        let params = if per_channel || instance { c } else { g };
        let x = rand_vec(n * c * s, seed);
        let scale = rand_vec(params, seed ^ 1);
        let bias = rand_vec(params, seed ^ 2);
        let (op, attrs) = if instance {
            ("InstanceNormalization", vec![float("epsilon", 1e-3)])
        } else {
            ("GroupNormalization", vec![int("num_groups", g as i64), float("epsilon", 1e-3)])
        };
        let got = run_op(op, &[(&[n, c, s], &x), (&[params], &scale), (&[params], &bias)], attrs).unwrap();
        let mut want = vec![0.0f32; x.len()];
        for ni in 0..n {
            for gi in 0..g {
                let at = (ni * c + gi * cg) * s;
                let xs = &x[at..at + cg * s];
                let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / xs.len() as f64;
                let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / xs.len() as f64;
                for k in 0..cg * s {
                    let p = if params == c { gi * cg + k / s } else { gi };
                    want[at + k] = ((xs[k] as f64 - mean) / (var + 1e-3f32 as f64).sqrt()) as f32 * scale[p] + bias[p];
                }
            }
        }
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
}

#[test]
fn depth_to_space_by_hand_and_bad_nodes_are_errors() {
    // [1, 4, 1, 1] with blocksize 2: DCR puts channel i·2 + j at (i, j).
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let got = run_op(
        "DepthToSpace",
        &[(&[1, 4, 1, 1], &x)],
        vec![int("blocksize", 2)],
    )
    .unwrap();
    assert_eq!(got.shape(), &[1, 1, 2, 2]);
    assert_eq!(got.as_f32().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    for attrs in [
        vec![int("blocksize", 3)],
        vec![int("blocksize", 0)],
        vec![int("blocksize", 2), string("mode", "XYZ")],
    ] {
        assert!(matches!(
            run_op("DepthToSpace", &[(&[1, 4, 1, 1], &x)], attrs),
            Err(Error::InvalidNode { .. })
        ));
    }
    assert!(
        run_op(
            "GroupNormalization",
            &[(&[1, 4, 1], &x), (&[3], &x[..3]), (&[3], &x[..3])],
            vec![int("num_groups", 2)]
        )
        .is_err()
    );
}

/// TopK of `x` (shape `shape`) with a constant K: (values, indices).
fn top_k(shape: &[usize], x: &[f32], k: i64, attrs: Vec<Attribute>) -> Result<(Tensor, Tensor)> {
    let mut gb = GraphBuilder::new();
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let xi = gb.input_f32("x", &dims);
    let ki = gb.const_i64(&[k]);
    let out = gb.node_outputs("TopK", &[Some(xi), Some(ki)], attrs, DType::F32, 2);
    // `node_outputs` gives every output one dtype; Indices are i64.
    let indices = gb.b.add_value(ValueInfo {
        name: "indices".into(),
        dtype: DType::I64,
        shape: None,
        initializer: None,
    });
    gb.graph.nodes.last_mut().unwrap().outputs[1] = indices;
    gb.output(out[0]);
    gb.output(indices);
    let mut s = Session::new(gb.finish(), SessionOptions::default())?;
    let mut outs = s.run(&[("x", TensorRef::from_f32(shape, x)?)])?;
    assert_eq!(outs.len(), 2, "TopK gives Values and Indices");
    let indices = outs.remove(1);
    Ok((outs.remove(0), indices))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn top_k_matches_a_naive_stable_sort(outer in 1usize..3, n in 1usize..9, inner in 1usize..3, k_frac in 0usize..=8, largest in any::<bool>(), seed in any::<u64>()) {
        let k = k_frac * n / 8;
        // Few distinct values, so that ties are common.
        let x: Vec<f32> = rand_vec(outer * n * inner, seed).iter().map(|v| (v * 3.0).round()).collect();
        let (values, indices) = top_k(&[outer, n, inner], &x, k as i64, vec![int("axis", 1), int("largest", largest as i64)]).unwrap();
        prop_assert_eq!(values.shape(), &[outer, k, inner]);
        let (mut want_v, mut want_i) = (vec![0.0f32; outer * k * inner], vec![0i64; outer * k * inner]);
        for o in 0..outer {
            for i in 0..inner {
                let mut idx: Vec<usize> = (0..n).collect();
                // A stable sort keeps equal values in index order.
                idx.sort_by(|&a, &b| {
                    let (va, vb) = (x[(o * n + a) * inner + i], x[(o * n + b) * inner + i]);
                    if largest { vb.partial_cmp(&va).unwrap() } else { va.partial_cmp(&vb).unwrap() }
                });
                for r in 0..k {
                    want_v[(o * k + r) * inner + i] = x[(o * n + idx[r]) * inner + i];
                    want_i[(o * k + r) * inner + i] = idx[r] as i64;
                }
            }
        }
        prop_assert_eq!(values.as_f32().unwrap(), want_v.as_slice());
        prop_assert_eq!(indices.view().as_i64().unwrap(), want_i.as_slice());
    }
}

#[test]
fn top_k_by_hand_and_k_out_of_range_is_invalid() {
    let x = [1.0f32, f32::NAN, 3.0, 3.0, -1.0];
    let (v, i) = top_k(&[5], &x, 3, vec![]).unwrap();
    assert!(v.as_f32().unwrap()[0].is_nan());
    assert_eq!(&v.as_f32().unwrap()[1..], [3.0, 3.0]);
    assert_eq!(i.view().as_i64().unwrap(), [1, 2, 3]);
    let (v, i) = top_k(&[5], &x, 2, vec![int("largest", 0)]).unwrap();
    assert_eq!(v.as_f32().unwrap(), [-1.0, 1.0]);
    assert_eq!(i.view().as_i64().unwrap(), [4, 0]);
    assert!(matches!(
        top_k(&[5], &x, 6, vec![]),
        Err(Error::InvalidNode { .. })
    ));
}

/// Dropout of `x` with optional constant ratio and training_mode, reading Y and the mask.
fn dropout(x: &[f32], ratio: Option<f32>, training: Option<bool>) -> Result<(Tensor, Tensor)> {
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &[x.len() as u64]);
    let r = ratio.map(|r| gb.const_f32(&[], &[r]));
    let t = training.map(|t| {
        gb.b.add_constant("t", DType::Bool, &[], &[u8::from(t)])
            .unwrap()
    });
    let out = gb.node_outputs("Dropout", &[Some(xi), r, t], vec![], DType::F32, 2);
    // `node_outputs` gives every output one dtype; the mask is bool.
    let mask = gb.b.add_value(ValueInfo {
        name: "mask".into(),
        dtype: DType::Bool,
        shape: None,
        initializer: None,
    });
    gb.graph.nodes.last_mut().unwrap().outputs[1] = mask;
    gb.output(out[0]);
    gb.output(mask);
    let mut s = Session::new(gb.finish(), SessionOptions::default())?;
    let mut outs = s.run(&[("x", TensorRef::from_f32(&[x.len()], x)?)])?;
    let mask = outs.remove(1);
    Ok((outs.remove(0), mask))
}

#[test]
fn dropout_at_inference_copies_and_masks_nothing() {
    let x = [1.0f32, -2.0, 3.5];
    for (ratio, training) in [
        (None, None),
        (Some(0.3), Some(false)),
        (Some(0.0), Some(true)),
    ] {
        let (y, mask) = dropout(&x, ratio, training).unwrap();
        assert_eq!(y.as_f32().unwrap(), x);
        assert_eq!(mask.dtype(), DType::Bool);
        assert_eq!(mask.view().bytes(), [1, 1, 1]);
    }
    assert!(matches!(
        dropout(&x, Some(0.5), Some(true)),
        Err(Error::UnsupportedOp { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn lp_normalization_and_global_max_pool_match_naive(a in 1usize..4, b in 1usize..5, c in 1usize..4, axis in 0usize..3, l1 in any::<bool>(), zero_row in any::<bool>(), seed in any::<u64>()) {
        let shape = [a, b, c];
        let mut x = rand_vec(a * b * c, seed);
        if zero_row {
            // A zero slice along every axis through element 0 (its norm is 0: output 0).
            x[0] = 0.0;
        }
        let got = run_op("LpNormalization", &[(&shape, &x)], vec![int("axis", axis as i64), int("p", if l1 { 1 } else { 2 })]).unwrap();
        let strides = [b * c, c, 1];
        let mut want = vec![0.0f32; x.len()];
        for (e, w) in want.iter_mut().enumerate() {
            let pos = (e / strides[axis]) % shape[axis];
            let base = e - pos * strides[axis];
            let along = (0..shape[axis]).map(|j| x[base + j * strides[axis]] as f64);
            let norm = if l1 { along.map(f64::abs).sum::<f64>() } else { along.map(|v| v * v).sum::<f64>().sqrt() };
            *w = if norm == 0.0 { 0.0 } else { x[e] / norm as f32 };
        }
        assert_close(got.as_f32().unwrap(), &want, 1e-6);
        let got = run_op("GlobalMaxPool", &[(&shape, &x)], vec![]).unwrap();
        prop_assert_eq!(got.shape(), &[a, b, 1]);
        let want: Vec<f32> = x.chunks(c).map(|p| p.iter().copied().fold(f32::NEG_INFINITY, f32::max)).collect();
        prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());
    }
}

#[test]
fn global_max_pool_propagates_nan() {
    let x = [1.0f32, f32::NAN, 3.0, -1.0, -2.0, -0.5];
    let got = run_op("GlobalMaxPool", &[(&[1, 2, 3], &x)], vec![]).unwrap();
    let y = got.as_f32().unwrap();
    assert!(y[0].is_nan());
    assert_eq!(y[1], -0.5);
}

/// Element-wise ops on a tensor large enough to be split across the pool (an odd length, so the
/// last span is short): 1 and 3 threads give the same bits, equal to the elements computed one by
/// one. Add of two full tensors, Mul by a broadcast scalar, Sigmoid (unary).
#[test]
fn element_wise_ops_split_across_threads_give_the_same_bits() {
    let dims = [1u64, 7, 61, 67];
    let n = 7 * 61 * 67;
    let (x, z) = (rand_vec(n, 31), rand_vec(n, 32));
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &dims);
    let zi = gb.input_f32("z", &dims);
    let half = gb.const_f32(&[], &[0.5]);
    let sum = gb.node("Add", &[xi, zi], vec![]);
    let scaled = gb.node("Mul", &[sum, half], vec![]);
    let y = gb.node("Sigmoid", &[scaled], vec![]);
    gb.output(y);
    let model = gb.finish();
    let shape = [1, 7, 61, 67];
    let inputs = [
        ("x", TensorRef::from_f32(&shape, &x).unwrap()),
        ("z", TensorRef::from_f32(&shape, &z).unwrap()),
    ];
    let run = |threads| {
        let options = SessionOptions {
            threads,
            ..Default::default()
        };
        let mut session = Session::new(model.clone(), options).unwrap();
        session.run(&inputs).unwrap().remove(0)
    };
    let (one, three) = (run(1), run(3));
    assert_eq!(one, three);
    let want: Vec<f32> = x
        .iter()
        .zip(&z)
        .map(|(a, b)| 1.0 / (1.0 + (-(a + b) * 0.5).exp()))
        .collect();
    assert_close(three.as_f32().unwrap(), &want, 1e-6);
}
