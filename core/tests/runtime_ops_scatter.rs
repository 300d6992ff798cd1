//! GatherND, ScatterND and ScatterElements: hand-checked cases, random cases against naive
//! loops written here, and out-of-range indices as run errors.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

/// `op(x, indices, [updates])` with x (and updates) f32 inputs and constant i64 indices of
/// `ind_shape`; returns the output.
fn run_indexed(
    op: &str,
    x: (&[usize], &[f32]),
    indices: (&[usize], &[i64]),
    updates: Option<(&[usize], &[f32])>,
    attrs: Vec<Attribute>,
) -> Result<Tensor> {
    let mut gb = GraphBuilder::new();
    let dims = |s: &[usize]| s.iter().map(|&d| d as u64).collect::<Vec<_>>();
    let xi = gb.input_f32("x", &dims(x.0));
    let flat = gb.const_i64(indices.1);
    let shape: Vec<i64> = indices.0.iter().map(|&d| d as i64).collect();
    let shape = gb.const_i64(&shape);
    let ind = gb.node_typed("Reshape", &[Some(flat), Some(shape)], vec![], DType::I64);
    let mut inputs = vec![Some(xi), Some(ind)];
    if let Some((s, _)) = updates {
        inputs.push(Some(gb.input_f32("u", &dims(s))));
    }
    let y = gb.node_typed(op, &inputs, attrs, DType::F32);
    gb.output(y);
    let model = gb.finish();
    let mut feeds = vec![("x", x.0, x.1)];
    if let Some((s, u)) = updates {
        feeds.push(("u", s, u));
    }
    run1(&model, &feeds)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn scatter_elements_matches_naive(r in 1usize..5, c in 1usize..5, ir in 1usize..5, ic in 1usize..5, axis in 0usize..2, red in 0usize..5, seed in any::<u64>()) {
        let data = rand_vec(r * c, seed);
        // Index dims other than the axis are at most the data's.
        let (ir, ic) = if axis == 0 { (ir, ic.min(c)) } else { (ir.min(r), ic) };
        let len = [r, c][axis] as i64;
        let idx: Vec<i64> = rand_vec(ir * ic, seed ^ 1).iter().map(|v| ((v.abs() * 97.0) as i64 % (2 * len)) - len).collect();
        let upd = rand_vec(ir * ic, seed ^ 2);
        let names = ["none", "add", "mul", "max", "min"];
        let got = run_indexed("ScatterElements", (&[r, c], &data), (&[ir, ic], &idx), Some((&[ir, ic], &upd)), vec![int("axis", axis as i64), string("reduction", names[red])]).unwrap();
        let mut want = data.clone();
        for i in 0..ir {
            for j in 0..ic {
                let k = idx[i * ic + j];
                let k = if k < 0 { k + len } else { k } as usize;
                let at = if axis == 0 { k * c + j } else { i * c + k };
                let u = upd[i * ic + j];
                want[at] = match red { 0 => u, 1 => want[at] + u, 2 => want[at] * u, 3 => want[at].max(u), _ => want[at].min(u) };
            }
        }
        prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());
    }

    #[test]
    fn scatter_nd_and_gather_nd_match_naive(a in 1usize..4, b in 1usize..4, c in 1usize..4, k in 1usize..4, t in 1usize..5, add in any::<bool>(), seed in any::<u64>()) {
        let shape = [a, b, c];
        let data = rand_vec(a * b * c, seed);
        let idx: Vec<i64> = rand_vec(t * k, seed ^ 1).iter().enumerate().map(|(i, v)| ((v.abs() * 89.0) as usize % shape[i % k]) as i64).collect();
        let block: usize = shape[k..].iter().product();
        let upd = rand_vec(t * block, seed ^ 2);
        let mut ushape = vec![t];
        ushape.extend(&shape[k..]);
        let offset = |tuple: usize| (0..k).fold(0, |acc, d| acc * shape[d] + idx[tuple * k + d] as usize) * block;
        let attrs = vec![string("reduction", if add { "add" } else { "none" })];
        let got = run_indexed("ScatterND", (&shape, &data), (&[t, k], &idx), Some((&ushape, &upd)), attrs).unwrap();
        let mut want = data.clone();
        for tuple in 0..t {
            for e in 0..block {
                let at = offset(tuple) + e;
                want[at] = if add { want[at] + upd[tuple * block + e] } else { upd[tuple * block + e] };
            }
        }
        prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());
        let got = run_indexed("GatherND", (&shape, &data), (&[t, k], &idx), None, vec![]).unwrap();
        prop_assert_eq!(got.shape(), ushape.as_slice());
        let want: Vec<f32> = (0..t).flat_map(|tuple| data[offset(tuple)..offset(tuple) + block].to_vec()).collect();
        prop_assert_eq!(got.as_f32().unwrap(), want.as_slice());
    }
}

#[test]
fn gather_nd_with_batch_dims_by_hand() {
    // data [2, 2, 2], indices [2, 1] with batch_dims 1: batch b picks row indices[b].
    let data = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let got = run_indexed(
        "GatherND",
        (&[2, 2, 2], &data),
        (&[2, 1], &[1, 0]),
        None,
        vec![int("batch_dims", 1)],
    )
    .unwrap();
    assert_eq!(got.shape(), &[2, 2]);
    assert_eq!(got.as_f32().unwrap(), [2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn out_of_range_indices_are_run_errors_and_bad_shapes_build_errors() {
    let data = [1.0f32, 2.0, 3.0];
    for op in ["GatherND", "ScatterND"] {
        let upd = [9.0f32];
        let updates = (op == "ScatterND").then_some((&[1usize][..], &upd[..]));
        let err = run_indexed(op, (&[3], &data), (&[1, 1], &[3]), updates, vec![]).unwrap_err();
        assert!(matches!(err, Error::Execution { .. }), "{op}: {err}");
    }
    let err = run_indexed(
        "ScatterElements",
        (&[3], &data),
        (&[1], &[-4]),
        Some((&[1], &[0.0])),
        vec![],
    )
    .unwrap_err();
    assert!(matches!(err, Error::Execution { .. }), "{err}");
    // Updates of the wrong shape.
    assert!(matches!(
        run_indexed(
            "ScatterND",
            (&[3], &data),
            (&[2, 1], &[0, 1]),
            Some((&[3], &data)),
            vec![]
        ),
        Err(Error::InvalidNode { .. })
    ));
}
