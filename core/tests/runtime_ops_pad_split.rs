//! Pad (every mode, negative pads, axes) and Split (sizes from input, attribute, equal and
//! uneven parts): hand-checked cases, a naive padding reference, and typed errors.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

fn pad_model(
    shape: &[usize],
    pads: &[i64],
    axes: Option<&[i64]>,
    mode: &str,
    value: Option<f32>,
) -> std::sync::Arc<Model> {
    let mut gb = GraphBuilder::new();
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let x = gb.input_f32("x", &dims);
    let p = gb.const_i64(pads);
    let c = value.map(|v| gb.const_f32(&[], &[v]));
    let a = axes.map(|a| gb.const_i64(a));
    let y = gb.node_typed(
        "Pad",
        &[Some(x), Some(p), c, a],
        vec![string("mode", mode)],
        DType::F32,
    );
    gb.output(y);
    gb.finish()
}

fn pad(
    shape: &[usize],
    x: &[f32],
    pads: &[i64],
    axes: Option<&[i64]>,
    mode: &str,
    value: Option<f32>,
) -> Result<Tensor> {
    run1(
        &pad_model(shape, pads, axes, mode, value),
        &[("x", shape, x)],
    )
}

#[test]
fn pad_modes_by_hand() {
    let x = [1.0f32, 2.0, 3.0];
    let cases: [(&str, &[f32]); 4] = [
        ("constant", &[9.0, 9.0, 1.0, 2.0, 3.0, 9.0]),
        ("reflect", &[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]),
        ("edge", &[1.0, 1.0, 1.0, 2.0, 3.0, 3.0]),
        ("wrap", &[2.0, 3.0, 1.0, 2.0, 3.0, 1.0]),
    ];
    for (mode, want) in cases {
        let out = pad(&[3], &x, &[2, 1], None, mode, Some(9.0)).unwrap();
        assert_eq!(out.as_f32().unwrap(), want, "{mode}");
    }
    // 2-D, padding only axis 1 through `axes`, default constant 0; and a negative (cropping) pad.
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let out = pad(&[2, 2], &x, &[1, 0], Some(&[-1]), "constant", None).unwrap();
    assert_eq!(out.shape(), &[2, 3]);
    assert_eq!(out.as_f32().unwrap(), &[0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
    let out = pad(&[2, 2], &x, &[-1, 0, 0, 1], None, "edge", None).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[3.0, 4.0, 4.0]);
}

#[test]
fn pad_errors_are_typed() {
    // Reflect needs pads smaller than the axis.
    assert!(pad(&[2], &[1.0, 2.0], &[2, 0], None, "reflect", None).is_err());
    // Wrong pads count, and cropping past the axis.
    assert!(pad(&[2], &[1.0, 2.0], &[1], None, "constant", None).is_err());
    assert!(pad(&[2], &[1.0, 2.0], &[-2, -1], None, "constant", None).is_err());
    let err = pad(&[2], &[1.0, 2.0], &[1, 1], None, "mirror", None).unwrap_err();
    assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
}

/// Naive padding of a 2-D tensor, element by element.
fn naive_pad2(x: &[f32], h: usize, w: usize, p: [i64; 4], mode: &str) -> Vec<f32> {
    let (oh, ow) = (
        (h as i64 + p[0] + p[2]) as usize,
        (w as i64 + p[1] + p[3]) as usize,
    );
    let map = |i: i64, n: i64| -> Option<i64> {
        if (0..n).contains(&i) {
            return Some(i);
        }
        match mode {
            "edge" => Some(i.clamp(0, n - 1)),
            "wrap" => Some(i.rem_euclid(n)),
            "reflect" => Some(if i < 0 { -i } else { 2 * (n - 1) - i }),
            _ => None,
        }
    };
    let mut y = Vec::new();
    for r in 0..oh as i64 {
        for c in 0..ow as i64 {
            y.push(match (map(r - p[0], h as i64), map(c - p[1], w as i64)) {
                (Some(a), Some(b)) => x[a as usize * w + b as usize],
                _ => 0.0,
            });
        }
    }
    y
}

proptest! {
    #[test]
    fn pad_matches_naive(h in 2usize..5, w in 2usize..5, p in prop::array::uniform4(0i64..2),
                         mode in prop::sample::select(vec!["constant", "reflect", "edge", "wrap"]),
                         seed in 0u64..100) {
        let x = rand_vec(h * w, seed);
        let out = pad(&[h, w], &x, &p, None, mode, None).unwrap();
        prop_assert_eq!(out.as_f32().unwrap(), &naive_pad2(&x, h, w, p, mode)[..]);
    }
}

/// Splits a [2, 5] tensor (0..10) along axis 1 into `parts` outputs.
fn split(sizes: Option<&[i64]>, attrs: Vec<Attribute>, parts: usize) -> Result<Vec<Tensor>> {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2, 5]);
    let s = sizes.map(|s| gb.const_i64(s));
    let mut all = vec![int("axis", 1)];
    all.extend(attrs);
    for y in gb.node_outputs("Split", &[Some(x), s], all, DType::F32, parts) {
        gb.output(y);
    }
    let data: Vec<f32> = (0..10).map(|v| v as f32).collect();
    let mut s = Session::new(gb.finish(), SessionOptions::default())?;
    s.run(&[("x", TensorRef::from_f32(&[2, 5], &data).unwrap())])
}

fn parts(out: &[Tensor]) -> Vec<(Vec<usize>, Vec<f32>)> {
    out.iter()
        .map(|t| (t.shape().to_vec(), t.as_f32().unwrap().to_vec()))
        .collect()
}

#[test]
fn split_by_hand() {
    let want = vec![
        (vec![2, 2], vec![0.0, 1.0, 5.0, 6.0]),
        (vec![2, 3], vec![2.0, 3.0, 4.0, 7.0, 8.0, 9.0]),
    ];
    assert_eq!(parts(&split(Some(&[2, 3]), vec![], 2).unwrap()), want);
    assert_eq!(
        parts(&split(None, vec![ints("split", &[2, 3])], 2).unwrap()),
        want
    );
    // num_outputs (opset 18): parts of ceil(5 / 3) = 2, the last smaller.
    let out = split(None, vec![int("num_outputs", 3)], 3).unwrap();
    let shapes: Vec<_> = out.iter().map(|t| t.shape().to_vec()).collect();
    assert_eq!(shapes, [vec![2, 2], vec![2, 2], vec![2, 1]]);
    assert_eq!(out[2].as_f32().unwrap(), &[4.0, 9.0]);
    // Equal parts by output count must divide the axis.
    assert!(split(None, vec![], 2).is_err());
    assert!(split(Some(&[2, 2]), vec![], 2).is_err());
    assert!(split(Some(&[-1, 6]), vec![], 2).is_err());
    assert!(split(None, vec![int("num_outputs", 2)], 3).is_err());
}
