//! ArgMax, ArgMin, Hardmax, CumSum, Trilu, Tile, GatherElements, IsNaN and IsInf against naive
//! references written here.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

fn one_node(
    op: &str,
    x: (&[usize], &[f32]),
    extra: Option<(DType, Vec<u8>)>,
    attrs: Vec<Attribute>,
    out: DType,
) -> Tensor {
    let mut gb = GraphBuilder::new();
    let d: Vec<u64> = x.0.iter().map(|&n| n as u64).collect();
    let xi = gb.input_f32("x", &d);
    let mut ins = vec![Some(xi)];
    let extra_shape = [1usize];
    if let Some((dtype, _)) = &extra {
        ins.push(Some(gb.input("e", *dtype, &[Some(1)])));
    }
    let y = gb.node_typed(op, &ins, attrs, out);
    gb.output(y);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let mut feeds = vec![("x", TensorRef::from_f32(x.0, x.1).unwrap())];
    if let Some((dtype, bytes)) = &extra {
        feeds.push((
            "e",
            TensorRef::from_bytes(*dtype, &extra_shape, bytes).unwrap(),
        ));
    }
    s.run(&feeds).unwrap().remove(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn arg_and_hard_max_match_naive(dims in prop::collection::vec(1usize..4, 1..4), axis_pick in 0usize..4,
                                   keep in any::<bool>(), last in any::<bool>(), seed in 0u64..100) {
        let rank = dims.len();
        let axis = axis_pick % rank;
        // Few distinct values, so ties (and select_last_index) matter.
        let x: Vec<f32> = rand_vec(dims.iter().product(), seed).iter().map(|v| (v * 2.0).round()).collect();
        let outer: usize = dims[..axis].iter().product();
        let (len, inner): (usize, usize) = (dims[axis], dims[axis + 1..].iter().product());
        for op in ["ArgMax", "ArgMin", "Hardmax"] {
            let attrs = vec![int("axis", axis as i64), int("keepdims", keep as i64), int("select_last_index", last as i64)];
            let out = if op == "Hardmax" { DType::F32 } else { DType::I64 };
            let got = one_node(op, (&dims, &x), None, attrs, out);
            let mut picks = Vec::new();
            for o in 0..outer {
                for i in 0..inner {
                    let vals: Vec<f32> = (0..len).map(|j| x[(o * len + j) * inner + i]).collect();
                    let ext = if op == "ArgMin" { vals.iter().cloned().fold(f32::INFINITY, f32::min) } else { vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max) };
                    let hits: Vec<usize> = (0..len).filter(|&j| vals[j] == ext).collect();
                    let j = if last && op != "Hardmax" { *hits.last().unwrap() } else { hits[0] };
                    picks.push(j);
                }
            }
            if op == "Hardmax" {
                let mut want = vec![0.0f32; x.len()];
                for o in 0..outer { for i in 0..inner { want[(o * len + picks[o * inner + i]) * inner + i] = 1.0; } }
                prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());
            } else {
                let mut shape = dims.clone();
                if keep { shape[axis] = 1 } else { shape.remove(axis); }
                prop_assert_eq!(got.shape(), shape.as_slice());
                let want: Vec<i64> = picks.iter().map(|&j| j as i64).collect();
                prop_assert_eq!(got.as_i64().unwrap(), want.as_slice());
            }
        }
    }
}

#[test]
fn cumsum_all_modes_and_trilu_diagonals() {
    let x: Vec<f32> = (1..=6).map(|v| v as f32).collect();
    let axis = |a: i64| Some((DType::I64, i64_bytes(&[a])));
    let run = |a: i64, ex: i64, rev: i64| {
        let t = one_node(
            "CumSum",
            (&[2, 3], &x),
            axis(a),
            vec![int("exclusive", ex), int("reverse", rev)],
            DType::F32,
        );
        t.as_f32().unwrap().to_vec()
    };
    assert_eq!(run(1, 0, 0), [1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
    assert_eq!(run(-1, 1, 0), [0.0, 1.0, 3.0, 0.0, 4.0, 9.0]);
    assert_eq!(run(1, 0, 1), [6.0, 5.0, 3.0, 15.0, 11.0, 6.0]);
    assert_eq!(run(0, 1, 1), [4.0, 5.0, 6.0, 0.0, 0.0, 0.0]);

    let m: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    for upper in [0i64, 1] {
        for k in [-2i64, -1, 0, 1, 3] {
            let t = one_node(
                "Trilu",
                (&[3, 4], &m),
                Some((DType::I64, i64_bytes(&[k]))),
                vec![int("upper", upper)],
                DType::F32,
            );
            let want: Vec<f32> = (0..12)
                .map(|e| {
                    let d = (e % 4) as i64 - (e / 4) as i64;
                    let keep = if upper == 1 { d >= k } else { d <= k };
                    if keep { m[e] } else { 0.0 }
                })
                .collect();
            assert_eq!(t.as_f32().unwrap(), want.as_slice(), "upper {upper} k {k}");
        }
    }
}

/// Regression (found by `arg_and_hard_max_match_naive`): Hardmax has no select_last_index, so
/// a tie goes to the first maximum even when a model carries that attribute.
#[test]
fn hardmax_ties_go_to_the_first_maximum() {
    let attrs = vec![int("axis", 1), int("select_last_index", 1)];
    let t = one_node(
        "Hardmax",
        (&[2, 2], &[1.0, 1.0, 0.0, 0.0]),
        None,
        attrs,
        DType::F32,
    );
    assert_eq!(t.as_f32().unwrap(), [1.0, 0.0, 1.0, 0.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn tile_and_gather_elements_match_naive(dims in prop::collection::vec(1usize..4, 1..4),
                                           reps in prop::collection::vec(1i64..4, 4),
                                           axis_pick in 0usize..4, seed in 0u64..100) {
        let rank = dims.len();
        let x = rand_vec(dims.iter().product(), seed);
        let d64: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        let unravel = |mut i: usize, shape: &[usize]| {
            let mut idx = vec![0; shape.len()];
            for d in (0..shape.len()).rev() { idx[d] = i % shape[d]; i /= shape[d]; }
            idx
        };
        let ravel = |idx: &[usize], shape: &[usize]| idx.iter().zip(shape).fold(0, |a, (&i, &n)| a * n + i);

        // Tile: out[i] = x[i mod shape].
        let reps = &reps[..rank];
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &d64);
        let r = gb.const_i64(reps);
        let y = gb.node("Tile", &[xi, r], vec![]);
        gb.output(y);
        let got = run1(&gb.finish(), &[("x", &dims, &x)]).unwrap();
        let out: Vec<usize> = dims.iter().zip(reps).map(|(&d, &r)| d * r as usize).collect();
        prop_assert_eq!(got.shape(), out.as_slice());
        let want: Vec<f32> = (0..out.iter().product()).map(|e| {
            let idx: Vec<usize> = unravel(e, &out).iter().zip(&dims).map(|(i, d)| i % d).collect();
            x[ravel(&idx, &dims)]
        }).collect();
        prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());

        // GatherElements along `axis` with indices (some negative) of a smaller or equal shape.
        let axis = axis_pick % rank;
        let ishape: Vec<usize> = dims.iter().enumerate().map(|(d, &n)| if d == axis { 2 } else { n.div_ceil(2) }).collect();
        let n = dims[axis] as i64;
        let idx: Vec<i64> = rand_vec(ishape.iter().product(), seed + 1).iter()
            .map(|v| ((v + 1.0) * n as f32) as i64 % (2 * n) - n).collect();
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &d64);
        let ii = gb.input("i", DType::I64, &ishape.iter().map(|&d| Some(d as u64)).collect::<Vec<_>>());
        let y = gb.node_typed("GatherElements", &[Some(xi), Some(ii)], vec![int("axis", axis as i64)], DType::F32);
        gb.output(y);
        let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
        let got = s.run(&[("x", TensorRef::from_f32(&dims, &x).unwrap()), ("i", TensorRef::from_i64(&ishape, &idx).unwrap())]).unwrap();
        let want: Vec<f32> = (0..idx.len()).map(|e| {
            let mut at = unravel(e, &ishape);
            at[axis] = idx[e].rem_euclid(n) as usize;
            x[ravel(&at, &dims)]
        }).collect();
        prop_assert_eq!(got[0].as_f32().unwrap(), want.as_slice());
        // An index out of range is a run-time error naming it.
        let mut bad = idx.clone();
        bad[0] = n;
        let e = s.run(&[("x", TensorRef::from_f32(&dims, &x).unwrap()), ("i", TensorRef::from_i64(&ishape, &bad).unwrap())]).unwrap_err();
        prop_assert!(matches!(e, Error::Execution { .. }), "{}", e);
    }
}

#[test]
fn isnan_and_isinf_classify() {
    let x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -1.0];
    let bools = |op: &str, attrs: Vec<Attribute>| {
        one_node(op, (&[5], &x), None, attrs, DType::Bool)
            .view()
            .bytes()
            .to_vec()
    };
    assert_eq!(bools("IsNaN", vec![]), [1, 0, 0, 0, 0]);
    assert_eq!(bools("IsInf", vec![]), [0, 1, 1, 0, 0]);
    assert_eq!(
        bools("IsInf", vec![int("detect_negative", 0)]),
        [0, 1, 0, 0, 0]
    );
    assert_eq!(
        bools("IsInf", vec![int("detect_positive", 0)]),
        [0, 0, 1, 0, 0]
    );
}
