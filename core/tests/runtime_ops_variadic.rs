//! Ops added for transformer and recurrent models, against naive references written here:
//! variadic Sum/Mean/Max/Min with broadcasting, integer arithmetic, Expand, Range, Gelu (both
//! forms), LayerNormalization (all three outputs), integer Neg; and the typed refusals of what
//! the runtime does not implement (`op_support`).

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

/// Row-major index of `idx` (an index of `out`) in a tensor of `shape` broadcast to `out`.
fn bcast_index(idx: &[usize], shape: &[usize], out: &[usize]) -> usize {
    let pad = out.len() - shape.len();
    let mut at = 0;
    for (d, &n) in shape.iter().enumerate() {
        at = at * n + if n == 1 { 0 } else { idx[pad + d] };
    }
    at
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

/// A shape of rank `rank` whose dims are `full`'s or 1, chosen by the bits of `mask`.
fn sub_shape(full: &[usize], rank: usize, mask: u32) -> Vec<usize> {
    let tail = &full[full.len() - rank..];
    tail.iter()
        .enumerate()
        .map(|(d, &n)| if mask >> d & 1 == 1 { 1 } else { n })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn variadic_ops_match_naive(op in 0usize..4, k in 1usize..5, dims in prop::collection::vec(1usize..4, 1..4),
                                masks in prop::collection::vec((0usize..4, 0u32..16), 4), seed in 0u64..100) {
        let name = ["Sum", "Mean", "Max", "Min"][op];
        let shapes: Vec<Vec<usize>> = (0..k)
            .map(|i| sub_shape(&dims, masks[i].0.min(dims.len()), masks[i].1))
            .collect();
        // Every shape is a suffix of `dims` with some dims set to 1: the broadcast takes the
        // longest rank and, per dimension, the larger size.
        let rank = shapes.iter().map(Vec::len).max().unwrap();
        let out: Vec<usize> = (0..rank)
            .map(|d| shapes.iter().map(|s| {
                let pad = rank - s.len();
                if d < pad { 1 } else { s[d - pad] }
            }).max().unwrap())
            .collect();
        let data: Vec<Vec<f32>> = shapes.iter().enumerate()
            .map(|(i, s)| rand_vec(s.iter().product(), seed + i as u64)).collect();
        let mut gb = GraphBuilder::new();
        let ins: Vec<u32> = shapes.iter().enumerate()
            .map(|(i, s)| gb.input_f32(&format!("x{i}"), &s.iter().map(|&d| d as u64).collect::<Vec<_>>()))
            .collect();
        let y = gb.node(name, &ins, vec![]);
        gb.output(y);
        let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
        let names: Vec<String> = (0..k).map(|i| format!("x{i}")).collect();
        let feeds: Vec<_> = (0..k)
            .map(|i| (names[i].as_str(), TensorRef::from_f32(&shapes[i], &data[i]).unwrap()))
            .collect();
        let got = s.run(&feeds).unwrap().remove(0);
        prop_assert_eq!(got.shape(), out.as_slice());
        let n: usize = out.iter().product();
        let want: Vec<f32> = (0..n).map(|e| {
            let idx = unravel(e, &out);
            let vals = (0..k).map(|i| data[i][bcast_index(&idx, &shapes[i], &out)]);
            match name {
                "Sum" => vals.sum(),
                "Mean" => vals.sum::<f32>() / k as f32,
                "Max" => vals.fold(f32::NEG_INFINITY, f32::max),
                _ => vals.fold(f32::INFINITY, f32::min),
            }
        }).collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-6);
    }
}

/// Runs a one-node model on inputs of any dtype, returning the output's bytes.
fn run_typed(
    op: &str,
    inputs: &[(DType, &[usize], Vec<u8>)],
    out: DType,
    attrs: Vec<Attribute>,
) -> Result<Tensor> {
    let mut gb = GraphBuilder::new();
    let ids: Vec<Option<u32>> = inputs
        .iter()
        .enumerate()
        .map(|(i, (d, s, _))| {
            let dims: Vec<_> = s.iter().map(|&n| Some(n as u64)).collect();
            Some(gb.input(&format!("x{i}"), *d, &dims))
        })
        .collect();
    let y = gb.node_typed(op, &ids, attrs, out);
    gb.output(y);
    let mut s = Session::new(gb.finish(), SessionOptions::default())?;
    let names: Vec<String> = (0..inputs.len()).map(|i| format!("x{i}")).collect();
    let feeds: Vec<_> = inputs
        .iter()
        .zip(&names)
        .map(|((d, s, b), n)| (n.as_str(), TensorRef::from_bytes(*d, s, b).unwrap()))
        .collect();
    Ok(s.run(&feeds)?.remove(0))
}

#[test]
fn integer_arithmetic_wraps_and_truncates() {
    let i8s = |v: &[i8]| v.iter().map(|&x| x as u8).collect::<Vec<u8>>();
    let a = i8s(&[100, -128, 7, -7]);
    let b = i8s(&[100, 1, 2, 2]);
    let run = |op: &str| {
        let t = run_typed(
            op,
            &[(DType::I8, &[4], a.clone()), (DType::I8, &[4], b.clone())],
            DType::I8,
            vec![],
        )
        .unwrap();
        t.view()
            .bytes()
            .iter()
            .map(|&x| x as i8)
            .collect::<Vec<i8>>()
    };
    assert_eq!(run("Add"), [-56, -127, 9, -5]);
    assert_eq!(run("Sub"), [0, 127, 5, -9]);
    assert_eq!(run("Mul"), [16, -128, 14, -14]);
    assert_eq!(run("Div"), [1, -128, 3, -3]);
    assert_eq!(run("Max"), [100, 1, 7, 2]);
    let u = run_typed(
        "Div",
        &[
            (DType::U8, &[2], vec![200, 9]),
            (DType::U8, &[2], vec![0, 2]),
        ],
        DType::U8,
        vec![],
    )
    .unwrap();
    assert_eq!(u.view().bytes(), [0, 4]); // division by zero gives 0
    let n = run_typed(
        "Neg",
        &[(DType::I64, &[3], i64_bytes(&[5, -3, i64::MIN]))],
        DType::I64,
        vec![],
    )
    .unwrap();
    assert_eq!(n.as_i64().unwrap(), [-5, 3, i64::MIN]);
    let a = run_typed(
        "Abs",
        &[(DType::I64, &[2], i64_bytes(&[-4, 4]))],
        DType::I64,
        vec![],
    )
    .unwrap();
    assert_eq!(a.as_i64().unwrap(), [4, 4]);
}

#[test]
fn unsupported_dtypes_are_typed_errors_naming_node_op_and_dtype() {
    for (op, dtype) in [
        ("Sigmoid", DType::I64),
        ("Add", DType::Bool),
        ("Sum", DType::I64),
    ] {
        let bytes = if dtype == DType::I64 {
            i64_bytes(&[1, 2])
        } else {
            vec![1, 0]
        };
        let e = run_typed(op, &[(dtype, &[2], bytes)], dtype, vec![]).unwrap_err();
        match &e {
            Error::UnsupportedOp { node, op: o, what } => {
                assert_eq!(o, op);
                assert!(node.starts_with(&op.to_lowercase()), "{e}");
                assert!(what.contains(&dtype.to_string()), "{e}");
            }
            other => panic!("{op} on {dtype}: {other}"),
        }
    }
    assert_eq!(
        op_support("Neg", &[Some(DType::I64)], &[DType::I64]),
        Support::Supported
    );
    assert!(matches!(
        op_support("Gelu", &[Some(DType::I32)], &[DType::I32]),
        Support::Unsupported(_)
    ));
    assert!(matches!(
        op_support("NoSuchOp", &[], &[DType::F32]),
        Support::Unsupported(_)
    ));
    assert!(matches!(
        op_support("Relu", &[Some(DType::F32)], &[DType::F32; 2]),
        Support::Unsupported(_)
    ));
}

#[test]
fn expand_broadcasts_and_range_counts() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[3, 1]);
    let shape = gb.const_i64(&[2, 1, 4]);
    let y = gb.node("Expand", &[x, shape], vec![]);
    gb.output(y);
    let got = run1(&gb.finish(), &[("x", &[3, 1], &[1.0, 2.0, 3.0])]).unwrap();
    assert_eq!(got.shape(), &[2, 3, 4]);
    let want: Vec<f32> = (0..24).map(|i| ((i / 4) % 3 + 1) as f32).collect();
    assert_eq!(got.as_f32().unwrap(), want.as_slice());
    // Incompatible shapes are an invalid node.
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[3]);
    let shape = gb.const_i64(&[2]);
    let y = gb.node("Expand", &[x, shape], vec![]);
    gb.output(y);
    let e = run1(&gb.finish(), &[("x", &[3], &[1.0; 3])]).unwrap_err();
    assert!(matches!(e, Error::InvalidNode { .. }), "{e}");

    // Range over constants: f32 (accumulating delta) and i64, negative delta, empty.
    for (start, limit, delta) in [(1.0f32, 2.0, 0.3), (10.0, 4.0, -3.0), (0.0, 5.0, 1.0)] {
        let mut gb = GraphBuilder::new();
        let x = gb.input_f32("x", &[1]);
        let s = gb.const_f32(&[], &[start]);
        let l = gb.const_f32(&[], &[limit]);
        let d = gb.const_f32(&[], &[delta]);
        let r = gb.node("Range", &[s, l, d], vec![]);
        let y = gb.node("Add", &[r, x], vec![]);
        gb.output(y);
        let got = run1(&gb.finish(), &[("x", &[1], &[0.0])]).unwrap();
        let n = ((limit - start) / delta).ceil().max(0.0) as usize;
        let mut want = vec![start];
        while want.len() < n {
            want.push(want.last().unwrap() + delta);
        }
        assert_eq!(got.as_f32().unwrap(), &want[..n]);
    }
    // A Range bound computed at run time is unsupported (it sets a shape).
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[]);
    let l = gb.const_f32(&[], &[3.0]);
    let r = gb.node("Range", &[x, l, l], vec![]);
    gb.output(r);
    let e = run1(&gb.finish(), &[("x", &[], &[0.0])]).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOp { .. }), "{e}");
}

fn erf64(x: f64) -> f64 {
    // Series, ample for |x| <= 3 at f32 precision.
    let mut sum = 0.0;
    let mut term = x;
    for n in 0..80 {
        sum += term / (2 * n + 1) as f64;
        term *= -x * x / (n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn gelu_both_forms_match_their_formulas() {
    let xs: Vec<f32> = (-30..=30).map(|i| i as f32 / 10.0).collect();
    for approximate in ["none", "tanh"] {
        let mut gb = GraphBuilder::new();
        let x = gb.input_f32("x", &[xs.len() as u64]);
        let y = gb.node("Gelu", &[x], vec![string("approximate", approximate)]);
        gb.output(y);
        let got = run1(&gb.finish(), &[("x", &[xs.len()], &xs)]).unwrap();
        let want: Vec<f32> = xs
            .iter()
            .map(|&x| {
                let x = x as f64;
                let v = if approximate == "none" {
                    0.5 * x * (1.0 + erf64(x / 2f64.sqrt()))
                } else {
                    0.5 * x
                        * (1.0
                            + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3)))
                                .tanh())
                };
                v as f32
            })
            .collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1]);
    let y = gb.node("Gelu", &[x], vec![string("approximate", "fast")]);
    gb.output(y);
    assert!(matches!(
        run1(&gb.finish(), &[("x", &[1], &[0.0])]),
        Err(Error::InvalidNode { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn layer_norm_matches_naive(dims in prop::collection::vec(1usize..5, 1..4), axis_pick in 0usize..4,
                                bias in any::<bool>(), seed in 0u64..100) {
        let rank = dims.len();
        let axis = axis_pick % rank;
        let outer: usize = dims[..axis].iter().product();
        let inner: usize = dims[axis..].iter().product();
        let x = rand_vec(outer * inner, seed);
        let scale = rand_vec(inner, seed + 1);
        let b = rand_vec(inner, seed + 2);
        let mut gb = GraphBuilder::new();
        let d64: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        let xi = gb.input_f32("x", &d64);
        let si = gb.const_f32(&d64[axis..], &scale);
        let bi = bias.then(|| gb.const_f32(&d64[axis..], &b));
        let outs = gb.node_outputs("LayerNormalization", &[Some(xi), Some(si), bi],
            vec![int("axis", axis as i64 - rank as i64), float("epsilon", 1e-3)], DType::F32, 3);
        for o in outs { gb.output(o); }
        let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
        let got = s.run(&[("x", TensorRef::from_f32(&dims, &x).unwrap())]).unwrap();
        let stats: Vec<usize> = (0..rank).map(|d| if d < axis { dims[d] } else { 1 }).collect();
        prop_assert_eq!(got[0].shape(), dims.as_slice());
        prop_assert_eq!(got[1].shape(), stats.as_slice());
        prop_assert_eq!(got[2].shape(), stats.as_slice());
        let (mut y, mut means, mut invs) = (Vec::new(), Vec::new(), Vec::new());
        for o in 0..outer {
            let row = &x[o * inner..(o + 1) * inner];
            let mean = row.iter().sum::<f32>() / inner as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / inner as f32;
            let inv = 1.0 / (var + 1e-3).sqrt();
            for j in 0..inner {
                y.push((row[j] - mean) * inv * scale[j] + if bias { b[j] } else { 0.0 });
            }
            means.push(mean);
            invs.push(inv);
        }
        assert_close(got[0].as_f32().unwrap(), &y, 1e-4);
        assert_close(got[1].as_f32().unwrap(), &means, 1e-5);
        assert_close(got[2].as_f32().unwrap(), &invs, 1e-4);
    }
}

#[test]
fn layer_norm_refuses_bad_scale() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2, 3]);
    let s = gb.const_f32(&[2], &[1.0, 1.0]);
    let y = gb.node("LayerNormalization", &[x, s], vec![]);
    gb.output(y);
    let e = run1(&gb.finish(), &[("x", &[2, 3], &[0.0; 6])]).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOp { .. }), "{e}");
}

#[test]
fn log_softmax_matches_naive_and_cast_like_takes_the_second_dtype() {
    let x = rand_vec(2 * 3 * 4, 5)
        .iter()
        .map(|v| v * 50.0)
        .collect::<Vec<f32>>();
    for axis in [0i64, 1, -1] {
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &[2, 3, 4]);
        let y = gb.node("LogSoftmax", &[xi], vec![int("axis", axis)]);
        gb.output(y);
        let got = run1(&gb.finish(), &[("x", &[2, 3, 4], &x)]).unwrap();
        let dims = [2usize, 3, 4];
        let a = axis.rem_euclid(3) as usize;
        let stride: usize = dims[a + 1..].iter().product();
        let want: Vec<f32> = (0..24)
            .map(|i| {
                let base = i - (i / stride % dims[a]) * stride;
                let row: Vec<f64> = (0..dims[a]).map(|j| x[base + j * stride] as f64).collect();
                let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
                (x[i] as f64 - lse) as f32
            })
            .collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
    let t = run_typed(
        "CastLike",
        &[
            (DType::F32, &[3], f32_bytes(&[1.7, -2.3, 0.0])),
            (DType::I64, &[1], i64_bytes(&[0])),
        ],
        DType::I64,
        vec![],
    )
    .unwrap();
    assert_eq!(t.as_i64().unwrap(), [1, -2, 0]);
}

#[test]
fn mixed_dtype_pow_and_integer_clip() {
    // f32 base, i64 exponent (broadcast).
    let t = run_typed(
        "Pow",
        &[
            (DType::F32, &[2, 2], f32_bytes(&[2.0, -3.0, 0.5, 4.0])),
            (DType::I64, &[2], i64_bytes(&[3, 2])),
        ],
        DType::F32,
        vec![],
    )
    .unwrap();
    assert_eq!(t.as_f32().unwrap(), [8.0, 9.0, 0.125, 16.0]);
    // i64 base, f32 exponent: the result truncates to the base's type.
    let t = run_typed(
        "Pow",
        &[
            (DType::I64, &[3], i64_bytes(&[2, 9, 10])),
            (DType::F32, &[3], f32_bytes(&[0.5, 0.5, -1.0])),
        ],
        DType::I64,
        vec![],
    )
    .unwrap();
    assert_eq!(t.as_i64().unwrap(), [1, 3, 0]);
    // Clip on i8 with both bounds, and with only a lower one.
    let i8s = |v: &[i8]| v.iter().map(|&x| x as u8).collect::<Vec<u8>>();
    let x = i8s(&[-128, -5, 0, 5, 127]);
    let t = run_typed(
        "Clip",
        &[
            (DType::I8, &[5], x.clone()),
            (DType::I8, &[], i8s(&[-4])),
            (DType::I8, &[], i8s(&[4])),
        ],
        DType::I8,
        vec![],
    )
    .unwrap();
    assert_eq!(t.view().bytes(), i8s(&[-4, -4, 0, 4, 4]).as_slice());
    let t = run_typed(
        "Clip",
        &[(DType::I8, &[5], x), (DType::I8, &[], i8s(&[0]))],
        DType::I8,
        vec![],
    )
    .unwrap();
    assert_eq!(t.view().bytes(), i8s(&[0, 0, 0, 5, 127]).as_slice());
}

/// The trigonometric and soft unary ops against f64 references (the ONNX suite's cases for
/// them are stamped opset 22, beyond what the converter accepts).
#[test]
fn trigonometric_and_soft_unaries_match_f64() {
    type F = fn(f64) -> f64;
    let cases: [(&str, F, f32); 13] = [
        ("Sin", f64::sin, 3.0),
        ("Cos", f64::cos, 3.0),
        ("Tan", f64::tan, 1.2),
        ("Asin", f64::asin, 0.99),
        ("Acos", f64::acos, 0.99),
        ("Atan", f64::atan, 5.0),
        ("Sinh", f64::sinh, 3.0),
        ("Cosh", f64::cosh, 3.0),
        ("Asinh", f64::asinh, 5.0),
        ("Atanh", f64::atanh, 0.99),
        ("Softplus", |x| x.exp().ln_1p(), 30.0),
        ("Softsign", |x| x / (1.0 + x.abs()), 30.0),
        ("Acosh", f64::acosh, 5.0),
    ];
    for (op, f, range) in cases {
        let xs: Vec<f32> = (0..=40)
            .map(|i| {
                if op == "Acosh" {
                    1.0 + range * i as f32 / 40.0
                } else {
                    range * (i as f32 / 20.0 - 1.0)
                }
            })
            .collect();
        let mut gb = GraphBuilder::new();
        let x = gb.input_f32("x", &[xs.len() as u64]);
        let y = gb.node(op, &[x], vec![]);
        gb.output(y);
        let got = run1(&gb.finish(), &[("x", &[xs.len()], &xs)]).unwrap();
        let want: Vec<f32> = xs.iter().map(|&x| f(x as f64) as f32).collect();
        assert_close(got.as_f32().unwrap(), &want, 1e-5);
    }
}

/// 3-D windows (rank-5 inputs) are a variant the runtime lacks: unsupported, not invalid.
#[test]
fn three_dimensional_windows_are_unsupported() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 1, 2, 2, 2]);
    let y = gb.node("MaxPool", &[x], vec![ints("kernel_shape", &[2, 2, 2])]);
    gb.output(y);
    let e = run1(&gb.finish(), &[("x", &[1, 1, 2, 2, 2], &[0.0; 8])]).unwrap_err();
    assert!(matches!(e, Error::UnsupportedOp { .. }), "{e}");
}
