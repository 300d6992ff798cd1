//! Cast, comparisons, logic, Where and the axis reductions: hand-checked small cases, a random
//! comparison against a naive reduction written here, and typed errors for unsupported dtypes.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

/// Runs a graph whose inputs are f32 tensors named x0, x1, ...
fn run_f32(model: &std::sync::Arc<Model>, inputs: &[(&[usize], &[f32])]) -> Result<Tensor> {
    let names: Vec<String> = (0..inputs.len()).map(|i| format!("x{i}")).collect();
    let named: Vec<(&str, &[usize], &[f32])> = inputs
        .iter()
        .zip(&names)
        .map(|((s, d), n)| (n.as_str(), *s, *d))
        .collect();
    run1(model, &named)
}

fn dims(s: &[usize]) -> Vec<u64> {
    s.iter().map(|&d| d as u64).collect()
}

#[test]
fn cast_truncates_saturates_and_makes_booleans() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x0", &[6]);
    let i = gb.node_typed("Cast", &[Some(x)], vec![int("to", 7)], DType::I64);
    let b = gb.node_typed("Cast", &[Some(x)], vec![int("to", 9)], DType::Bool);
    let bi = gb.node_typed("Cast", &[Some(b)], vec![int("to", 6)], DType::I32);
    gb.output(i);
    gb.output(bi);
    let model = gb.finish();
    let mut s = Session::new(model, SessionOptions::default()).unwrap();
    let data = [1.7f32, -1.7, 0.0, 1e30, f32::NAN, -0.2];
    let out = s
        .run(&[("x0", TensorRef::from_f32(&[6], &data).unwrap())])
        .unwrap();
    assert_eq!(out[0].as_i64().unwrap(), &[1, -1, 0, i64::MAX, 0, 0]);
    let ints: Vec<i32> = out[1]
        .view()
        .bytes()
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(ints, [1, 1, 0, 1, 1, 1]);
}

#[test]
fn cast_to_an_unknown_type_is_unsupported() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x0", &[2]);
    let y = gb.node_typed("Cast", &[Some(x)], vec![int("to", 8)], DType::F32);
    gb.output(y);
    let err = run_f32(&gb.finish(), &[(&[2], &[1.0, 2.0])]).unwrap_err();
    assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
}

/// A comparison broadcast [2, 3] against [3], then Where picks from two f32 inputs.
#[test]
fn comparisons_and_where_broadcast() {
    for (op, want) in [
        ("Equal", [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        ("Less", [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("LessOrEqual", [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        ("Greater", [0.0, 0.0, 1.0, 1.0, 1.0, 0.0]),
        ("GreaterOrEqual", [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ] {
        let mut gb = GraphBuilder::new();
        let a = gb.input_f32("x0", &[2, 3]);
        let b = gb.input_f32("x1", &[3]);
        let c = gb.node_typed(op, &[Some(a), Some(b)], vec![], DType::Bool);
        let one = gb.const_f32(&[1], &[1.0]);
        let zero = gb.const_f32(&[], &[0.0]);
        let y = gb.node("Where", &[c, one, zero], vec![]);
        gb.output(y);
        let a = [0.0f32, 2.0, 5.0, 9.0, 3.0, 4.0];
        let out = run_f32(&gb.finish(), &[(&[2, 3], &a), (&[3], &[1.0, 2.0, 4.0])]).unwrap();
        assert_eq!(out.as_f32().unwrap(), &want, "{op}");
    }
}

#[test]
fn logic_ops_on_booleans() {
    let mut gb = GraphBuilder::new();
    let a = gb.input_f32("x0", &[4]);
    let b = gb.input_f32("x1", &[4]);
    let zero = gb.const_f32(&[], &[0.0]);
    let pa = gb.node_typed("Greater", &[Some(a), Some(zero)], vec![], DType::Bool);
    let pb = gb.node_typed("Greater", &[Some(b), Some(zero)], vec![], DType::Bool);
    let mut outs = Vec::new();
    for op in ["And", "Or", "Xor"] {
        let r = gb.node_typed(op, &[Some(pa), Some(pb)], vec![], DType::Bool);
        outs.push(gb.node_typed("Cast", &[Some(r)], vec![int("to", 1)], DType::F32));
    }
    let n = gb.node_typed("Not", &[Some(pa)], vec![], DType::Bool);
    outs.push(gb.node_typed("Cast", &[Some(n)], vec![int("to", 1)], DType::F32));
    for o in outs {
        gb.output(o);
    }
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let (x, y) = ([0.0f32, 0.0, 1.0, 1.0], [0.0f32, 1.0, 0.0, 1.0]);
    let out = s
        .run(&[
            ("x0", TensorRef::from_f32(&[4], &x).unwrap()),
            ("x1", TensorRef::from_f32(&[4], &y).unwrap()),
        ])
        .unwrap();
    let got: Vec<&[f32]> = out.iter().map(|t| t.as_f32().unwrap()).collect();
    assert_eq!(got[0], &[0.0, 0.0, 0.0, 1.0]);
    assert_eq!(got[1], &[0.0, 1.0, 1.0, 1.0]);
    assert_eq!(got[2], &[0.0, 1.0, 1.0, 0.0]);
    assert_eq!(got[3], &[1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn logic_on_floats_is_unsupported() {
    let mut gb = GraphBuilder::new();
    let a = gb.input_f32("x0", &[2]);
    let y = gb.node_typed("And", &[Some(a), Some(a)], vec![], DType::Bool);
    gb.output(y);
    let err = run_f32(&gb.finish(), &[(&[2], &[1.0, 0.0])]).unwrap_err();
    assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
}

fn reduce_model(
    op: &str,
    shape: &[usize],
    axes: Option<&[i64]>,
    attrs: Vec<Attribute>,
) -> std::sync::Arc<Model> {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x0", &dims(shape));
    let mut inputs = vec![Some(x)];
    if let Some(a) = axes {
        inputs.push(Some(gb.const_i64(a)));
    }
    let y = gb.node_typed(op, &inputs, attrs, DType::F32);
    gb.output(y);
    gb.finish()
}

#[test]
fn reductions_by_hand() {
    // [[1, 2, 3], [4, -5, 6]]
    let x = [1.0f32, 2.0, 3.0, 4.0, -5.0, 6.0];
    /// Op, axes, keepdims, output shape, output.
    type Case<'a> = (&'a str, &'a [i64], i64, &'a [usize], &'a [f32]);
    let cases: [Case; 8] = [
        ("ReduceMean", &[1], 1, &[2, 1], &[2.0, 5.0 / 3.0]),
        ("ReduceMax", &[0], 0, &[3], &[4.0, 2.0, 6.0]),
        ("ReduceMin", &[-1], 0, &[2], &[1.0, -5.0]),
        ("ReduceSum", &[], 0, &[], &[11.0]),
        ("ReduceProd", &[1], 0, &[2], &[6.0, -120.0]),
        ("ReduceL1", &[0, 1], 1, &[1, 1], &[21.0]),
        ("ReduceSumSquare", &[0], 0, &[3], &[17.0, 29.0, 45.0]),
        ("ReduceL2", &[1], 0, &[2], &[14.0f32.sqrt(), 77.0f32.sqrt()]),
    ];
    for (op, axes, keep, shape, want) in cases {
        let m = reduce_model(op, &[2, 3], Some(axes), vec![int("keepdims", keep)]);
        let out = run_f32(&m, &[(&[2, 3], &x)]).unwrap();
        assert_eq!(out.shape(), shape, "{op}");
        assert_close(out.as_f32().unwrap(), want, 1e-6);
    }
    // Axes as an attribute (before opset 18), and noop_with_empty_axes.
    let m = reduce_model("ReduceMean", &[2, 3], None, vec![ints("axes", &[0])]);
    let out = run_f32(&m, &[(&[2, 3], &x)]).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[2.5, -1.5, 4.5]);
    let m = reduce_model(
        "ReduceSum",
        &[2, 3],
        Some(&[]),
        vec![int("noop_with_empty_axes", 1)],
    );
    let out = run_f32(&m, &[(&[2, 3], &x)]).unwrap();
    assert_eq!(
        (out.shape(), out.as_f32().unwrap()),
        (&[2usize, 3][..], &x[..])
    );
    let m = reduce_model(
        "ReduceLogSumExp",
        &[2, 3],
        Some(&[1]),
        vec![int("keepdims", 0)],
    );
    let out = run_f32(&m, &[(&[2, 3], &x)]).unwrap();
    let lse = |v: &[f32]| v.iter().map(|x| x.exp()).sum::<f32>().ln();
    assert_close(out.as_f32().unwrap(), &[lse(&x[..3]), lse(&x[3..])], 1e-6);
}

#[test]
fn reduction_rejects_bad_axes_without_panicking() {
    let m = reduce_model("ReduceMax", &[2, 3], Some(&[2]), vec![]);
    assert!(run_f32(&m, &[(&[2, 3], &[0.0; 6])]).is_err());
    let m = reduce_model("ReduceMax", &[2, 3], None, vec![ints("axes", &[1, -1])]);
    let out = run_f32(&m, &[(&[2, 3], &[0.0; 6])]).unwrap();
    assert_eq!(out.shape(), &[2, 1]);
}

/// Naive sum, max and mean over `axes` (keepdims), element by element.
fn naive_reduce(op: &str, x: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f32> {
    let out_shape: Vec<usize> = (0..shape.len())
        .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
        .collect();
    let n_out: usize = out_shape.iter().product();
    let mut acc = vec![Vec::new(); n_out];
    for (i, &v) in x.iter().enumerate() {
        let mut rem = i;
        let mut idx = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            idx[d] = rem % shape[d];
            rem /= shape[d];
        }
        let mut o = 0;
        for d in 0..shape.len() {
            o = o * out_shape[d] + if axes.contains(&d) { 0 } else { idx[d] };
        }
        acc[o].push(v);
    }
    acc.iter()
        .map(|vals| match op {
            "ReduceSum" => vals.iter().sum(),
            "ReduceMax" => vals.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            _ => vals.iter().sum::<f32>() / vals.len() as f32,
        })
        .collect()
}

proptest! {
    #[test]
    fn reductions_match_naive(
        shape in prop::collection::vec(1usize..4, 1..5),
        mask in 1u32..16,
        op in prop::sample::select(vec!["ReduceSum", "ReduceMax", "ReduceMean"]),
        seed in 0u64..1000,
    ) {
        let axes: Vec<usize> = (0..shape.len()).filter(|d| mask & (1 << d) != 0).collect();
        prop_assume!(!axes.is_empty());
        let x = rand_vec(shape.iter().product(), seed);
        let axes_i: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
        let m = reduce_model(op, &shape, Some(&axes_i), vec![]);
        let out = run_f32(&m, &[(&shape, &x)]).unwrap();
        assert_close(out.as_f32().unwrap(), &naive_reduce(op, &x, &shape, &axes), 1e-5);
    }
}
