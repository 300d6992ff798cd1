//! The planner: shape inference errors name node, op and shapes; the arena reuses dead values'
//! bytes and never overlaps values that are live at the same step (checked on random graphs,
//! whose results are also checked against a direct evaluation).

mod runtime_util;

use mobiquant_core::plan::Allocation;
use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

/// Asserts that no two allocations live at the same step share a byte.
fn assert_no_live_overlap(allocs: &[Allocation]) {
    for (i, a) in allocs.iter().enumerate() {
        for b in &allocs[i + 1..] {
            let live_together = a.first_step <= b.last_step && b.first_step <= a.last_step;
            let share_bytes = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
            assert!(
                !(live_together && share_bytes),
                "{a:?} and {b:?} overlap while both live"
            );
        }
    }
}

/// Whether some two allocations share bytes (which is only allowed when their lives are disjoint).
fn some_bytes_are_reused(allocs: &[Allocation]) -> bool {
    allocs.iter().enumerate().any(|(i, a)| {
        allocs[i + 1..]
            .iter()
            .any(|b| a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes)
    })
}

#[test]
fn a_chain_needs_two_buffers() {
    let mut gb = GraphBuilder::new();
    let mut v = gb.input_f32("x", &[1, 1000]);
    for _ in 0..6 {
        v = gb.node("Relu", &[v], vec![]);
    }
    gb.output(v);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let data = rand_vec(1000, 3);
    let out = s
        .run(&[("x", TensorRef::from_f32(&[1, 1000], &data).unwrap())])
        .unwrap();
    assert_eq!(
        out[0].as_f32().unwrap(),
        data.iter()
            .map(|v| v.max(0.0))
            .collect::<Vec<_>>()
            .as_slice()
    );
    let plan = s.last_plan().unwrap();
    assert_eq!(plan.allocations().len(), 6);
    assert_eq!(plan.unshared_bytes(), 6 * 4032);
    assert_eq!(plan.arena_bytes(), 2 * 4032);
    assert!(some_bytes_are_reused(plan.allocations()));
    assert_no_live_overlap(plan.allocations());
}

#[test]
fn views_share_bytes_and_run_nothing() {
    // x -> Relu -> Reshape -> Flatten -> Unsqueeze -> Relu: only the two Relus run.
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2, 6]);
    let r = gb.node("Relu", &[x], vec![]);
    let shape = gb.const_i64(&[3, 4]);
    let reshaped = gb.node("Reshape", &[r, shape], vec![]);
    let flat = gb.node("Flatten", &[reshaped], vec![int("axis", 0)]);
    let axes = gb.const_i64(&[0]);
    let unsq = gb.node("Unsqueeze", &[flat, axes], vec![]);
    let y = gb.node("Neg", &[unsq], vec![]);
    gb.output(y);
    gb.output(flat);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let data = rand_vec(12, 4);
    let out = s
        .run(&[("x", TensorRef::from_f32(&[2, 6], &data).unwrap())])
        .unwrap();
    let relu: Vec<f32> = data.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(out[0].shape(), [1, 1, 12]);
    assert_eq!(
        out[0].as_f32().unwrap(),
        relu.iter().map(|v| -v).collect::<Vec<_>>().as_slice()
    );
    assert_eq!(
        (out[1].shape(), out[1].as_f32().unwrap()),
        (&[1usize, 12][..], relu.as_slice())
    );
    let plan = s.last_plan().unwrap();
    assert_eq!(plan.step_count(), 2);
    assert_eq!(plan.allocations().len(), 2);
    assert_no_live_overlap(plan.allocations());
}

#[test]
fn shape_errors_name_the_node_op_and_shapes() {
    let mut gb = GraphBuilder::new();
    let a = gb.input_f32("a", &[2, 3]);
    let b = gb.input_f32("b", &[4]);
    let y = gb.node("Add", &[a, b], vec![]);
    gb.output(y);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let err = s
        .run(&[
            ("a", TensorRef::from_f32(&[2, 3], &[0.0; 6]).unwrap()),
            ("b", TensorRef::from_f32(&[4], &[0.0; 4]).unwrap()),
        ])
        .unwrap_err();
    let Error::InvalidNode { node, op, what } = &err else {
        panic!("{err}")
    };
    assert_eq!((node.as_str(), op.as_str()), ("add1", "Add"));
    assert!(what.contains("[2, 3]") && what.contains("[4]"), "{what}");
}

#[test]
fn declared_dtypes_are_checked() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2]);
    let y = gb.node_typed("Relu", &[Some(x)], vec![], DType::I64);
    gb.output(y);
    let err = run1(&gb.finish(), &[("x", &[2], &[0.0; 2])]).unwrap_err();
    assert!(err.to_string().contains("declares"), "{err}");
}

#[test]
fn symbols_must_agree_across_inputs() {
    let mut gb = GraphBuilder::new();
    let a = gb.input("a", DType::F32, &[None]);
    let b = gb.input("b", DType::F32, &[None]);
    let y = gb.node("Add", &[a, b], vec![]);
    gb.output(y);
    let model = gb.finish();
    let mut s = Session::new(model, SessionOptions::default()).unwrap();
    let ok = s
        .run(&[
            ("a", TensorRef::from_f32(&[2], &[1.0, 2.0]).unwrap()),
            ("b", TensorRef::from_f32(&[2], &[3.0, 4.0]).unwrap()),
        ])
        .unwrap();
    assert_eq!(ok[0].as_f32().unwrap(), [4.0, 6.0]);
    let err = s
        .run(&[
            ("a", TensorRef::from_f32(&[2], &[1.0, 2.0]).unwrap()),
            ("b", TensorRef::from_f32(&[1], &[3.0]).unwrap()),
        ])
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { ref name, .. } if name == "b"),
        "{err}"
    );
    assert!(err.to_string().contains("'s0' is 1 here but 2"), "{err}");
}

/// A random DAG over [1, width] values: each node is Relu(v), Add(v, w) or Flatten(v) (a view,
/// which shares v's bytes) of earlier values.
fn dag() -> impl Strategy<Value = (usize, Vec<(u8, usize, usize)>, Vec<usize>)> {
    (1usize..40, 1usize..25)
        .prop_flat_map(|(width, n)| {
            let nodes = prop::collection::vec(
                (
                    0u8..3,
                    any::<prop::sample::Index>(),
                    any::<prop::sample::Index>(),
                ),
                n,
            );
            let extra = prop::collection::vec(any::<prop::sample::Index>(), 0..3);
            (Just(width), nodes, extra)
        })
        .prop_map(|(width, nodes, extra)| {
            let total = nodes.len() + 1;
            let nodes: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(i, (kind, a, b))| (*kind, a.index(i + 1), b.index(i + 1)))
                .collect();
            let outputs = extra.iter().map(|e| 1 + e.index(total - 1)).collect();
            (width, nodes, outputs)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_graphs_never_overlap_live_values((width, nodes, extra) in dag(), seed in any::<u64>()) {
        let mut gb = GraphBuilder::new();
        let mut ids = vec![gb.input_f32("x", &[1, width as u64])];
        let x = rand_vec(width, seed);
        let mut vals = vec![x.clone()];
        for &(kind, a, b) in &nodes {
            let (id, v) = match kind {
                0 => (gb.node("Relu", &[ids[a]], vec![]), vals[a].iter().map(|p| p.max(0.0)).collect()),
                1 => (gb.node("Add", &[ids[a], ids[b]], vec![]), vals[a].iter().zip(&vals[b]).map(|(p, q)| p + q).collect::<Vec<_>>()),
                _ => (gb.node("Flatten", &[ids[a]], vec![]), vals[a].clone()),
            };
            ids.push(id);
            vals.push(v);
        }
        let mut outs = vec![ids.len() - 1];
        outs.extend(extra.iter().filter(|&&o| o != ids.len() - 1));
        outs.dedup();
        let mut seen = Vec::new();
        for &o in &outs {
            if !seen.contains(&o) {
                gb.output(ids[o]);
                seen.push(o);
            }
        }
        let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
        for _ in 0..2 {
            let got = s.run(&[("x", TensorRef::from_f32(&[1, width], &x).unwrap())]).unwrap();
            for (t, &o) in got.iter().zip(&seen) {
                prop_assert_eq!(t.as_f32().unwrap(), vals[o].as_slice());
            }
        }
        let plan = s.last_plan().unwrap();
        assert_no_live_overlap(plan.allocations());
        prop_assert!(plan.arena_bytes() <= plan.unshared_bytes());
    }
}

#[test]
fn a_plan_made_without_a_session_tells_shapes_and_plan_time_values() {
    // x[s0, 3] -> Shape -> y (known at plan time); x -> Relu -> r (known only when run).
    let mut gb = GraphBuilder::new();
    let x = gb.input("x", DType::F32, &[None, Some(3)]);
    let y = gb.node_typed("Shape", &[Some(x)], vec![], DType::I64);
    let r = gb.node("Relu", &[x], vec![]);
    gb.output(y);
    gb.output(r);
    let model = gb.finish();
    let plan = plan::Plan::new(&model, &[vec![5, 3]]).unwrap();
    assert_eq!(plan.output_shape(0), Some((DType::I64, &[2usize][..])));
    assert_eq!(plan.output_shape(1), Some((DType::F32, &[5usize, 3][..])));
    assert_eq!(plan.output_value(0).unwrap().as_i64().unwrap(), &[5, 3]);
    assert!(plan.output_value(1).is_none());
    // Shapes the model refuses are errors, as in a session.
    assert!(plan::Plan::new(&model, &[vec![5, 4]]).is_err());
}

/// A Split of three parts is one step writing one block in which each read part has its own
/// bytes (views of a part included); an unread part gets none.
#[test]
fn a_split_runs_once_and_each_part_has_its_own_bytes() {
    let x: Vec<f32> = rand_vec(4 * 6, 7);
    let part = |k: usize| -> Vec<f32> {
        (0..4)
            .flat_map(|i| x[i * 6 + 2 * k..][..2].to_vec())
            .collect()
    };
    for read_middle in [true, false] {
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &[4, 6]);
        let parts = gb.node_outputs("Split", &[Some(xi)], vec![int("axis", 1)], DType::F32, 3);
        let neg = gb.node("Neg", &[parts[0]], vec![]);
        let shape = gb.const_i64(&[8]);
        let flat = gb.node("Reshape", &[parts[2], shape], vec![]);
        gb.output(neg);
        gb.output(flat);
        gb.output(parts[2]);
        if read_middle {
            let relu = gb.node("Relu", &[parts[1]], vec![]);
            gb.output(relu);
        }
        let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
        let out = s
            .run(&[("x", TensorRef::from_f32(&[4, 6], &x).unwrap())])
            .unwrap();
        let negated: Vec<f32> = part(0).iter().map(|v| -v).collect();
        assert_eq!(out[0].as_f32().unwrap(), negated.as_slice());
        assert_eq!(out[1].as_f32().unwrap(), part(2).as_slice());
        assert_eq!(out[1].shape(), &[8]);
        assert_eq!(out[2].as_f32().unwrap(), part(2).as_slice());
        if read_middle {
            let relu: Vec<f32> = part(1).iter().map(|v| v.max(0.0)).collect();
            assert_eq!(out[3].as_f32().unwrap(), relu.as_slice());
        }
        let plan = s.last_plan().unwrap();
        // Split once, Neg, and Relu when the middle part is read.
        assert_eq!(plan.step_count(), 2 + usize::from(read_middle));
        let block: Vec<_> = plan
            .allocations()
            .iter()
            .filter(|a| a.value.starts_with("outputs of"))
            .collect();
        assert_eq!(block.len(), 1);
        // Parts of 32 bytes at 64-aligned offsets.
        assert_eq!(
            block[0].bytes,
            if read_middle { 64 + 64 + 32 } else { 64 + 32 }
        );
        assert_no_live_overlap(plan.allocations());
    }
}

/// A Split of plan-time values (a shape) is folded, every part.
#[test]
fn a_split_of_known_values_is_folded() {
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &[2, 3, 4]);
    let shape = gb.node_typed("Shape", &[Some(xi)], vec![], DType::I64);
    let parts = gb.node_outputs("Split", &[Some(shape)], vec![], DType::I64, 3);
    for p in parts {
        gb.output(p);
    }
    let plan = mobiquant_core::plan::Plan::new(&gb.finish(), &[vec![2, 3, 4]]).unwrap();
    for (k, want) in [2i64, 3, 4].iter().enumerate() {
        let v = plan.output_value(k).unwrap();
        assert_eq!(v.as_i64().unwrap(), &[*want]);
    }
    assert_eq!(plan.step_count(), 0);
}
