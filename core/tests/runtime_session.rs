//! Sessions: input checking (typed errors, never panics), plan caching, streaming state carried
//! and reset, `If` bodies reading outer values, outputs read in place, and one model run by
//! several threads at once.

mod runtime_util;

use std::sync::Arc;

use mobiquant_core::*;
use runtime_util::*;

/// y = x * 2 + 1, x: [batch, 3] f32.
fn affine() -> Arc<Model> {
    let mut gb = GraphBuilder::new();
    let x = gb.input("x", DType::F32, &[None, Some(3)]);
    let two = gb.const_f32(&[], &[2.0]);
    let one = gb.const_f32(&[1], &[1.0]);
    let m = gb.node("Mul", &[x, two], vec![]);
    let y = gb.node("Add", &[m, one], vec![]);
    gb.output(y);
    gb.finish()
}

fn session(model: &Arc<Model>) -> Session {
    Session::new(model.clone(), SessionOptions::default()).unwrap()
}

#[test]
fn wrong_inputs_are_typed_errors() {
    let model = affine();
    let mut s = session(&model);
    let data = [1.0f32; 6];
    let good = TensorRef::from_f32(&[2, 3], &data).unwrap();
    let expect = |r: Result<Vec<Tensor>>, needle: &str| {
        let err = r.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
        assert!(err.to_string().contains(needle), "'{err}' lacks '{needle}'");
    };
    expect(s.run(&[]), "missing");
    expect(s.run(&[("y", good)]), "no such input");
    expect(s.run(&[("x", good), ("x", good)]), "more than once");
    expect(
        s.run(&[("x", TensorRef::from_f32(&[3, 2], &data).unwrap())]),
        "model's [s0,3]",
    );
    expect(
        s.run(&[("x", TensorRef::from_f32(&[6], &data).unwrap())]),
        "rank",
    );
    expect(
        s.run(&[("x", TensorRef::from_i64(&[2, 3], &[1; 6]).unwrap())]),
        "dtype i64",
    );
    expect(
        s.run(&[("x", TensorRef::from_f32(&[0, 3], &[]).unwrap())]),
        "empty",
    );
    assert!(s.output(0).is_err(), "no output before a successful run");
    let out = s.run(&[("x", good)]).unwrap();
    assert_eq!(out[0].as_f32().unwrap(), [3.0; 6]);
    // A failed run hides the previous outputs.
    assert!(s.run(&[]).is_err());
    assert!(s.output(0).is_err());
}

#[test]
fn non_finite_inputs_pass_or_fail_by_option() {
    let model = affine();
    let data = [1.0f32, f32::NAN, 2.0];
    let x = TensorRef::from_f32(&[1, 3], &data).unwrap();
    let out = session(&model).run(&[("x", x)]).unwrap();
    assert!(out[0].as_f32().unwrap()[1].is_nan());
    let mut strict = Session::new(
        model,
        SessionOptions {
            reject_non_finite_inputs: true,
            ..Default::default()
        },
    )
    .unwrap();
    let err = strict.run(&[("x", x)]).unwrap_err();
    assert!(err.to_string().contains("element 1 is not finite"), "{err}");
}

#[test]
fn profile_counts_every_step_of_every_run_only_when_asked() {
    let model = affine();
    let data = [1.0f32; 3];
    let x = TensorRef::from_f32(&[1, 3], &data).unwrap();
    let mut plain = session(&model);
    plain.run_in_place(&[("x", x)]).unwrap();
    assert!(plain.profile().is_empty());
    let mut profiled = Session::new(
        model,
        SessionOptions {
            profile: true,
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..3 {
        profiled.run_in_place(&[("x", x)]).unwrap();
    }
    let steps = profiled.profile();
    let ops: Vec<&str> = steps.iter().map(|s| s.op_type.as_str()).collect();
    assert_eq!(ops, ["Mul", "Add"]);
    assert!(steps.iter().all(|s| s.runs == 3), "{steps:?}");
    profiled.reset_profile();
    assert!(profiled.profile().is_empty());
    profiled.run_in_place(&[("x", x)]).unwrap();
    assert!(profiled.profile().iter().all(|s| s.runs == 1));
}

#[test]
fn zero_threads_is_an_error() {
    assert!(
        Session::new(
            affine(),
            SessionOptions {
                threads: 0,
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn plans_are_cached_per_input_shape() {
    let model = affine();
    let mut s = session(&model);
    for batch in [1usize, 4, 1, 4, 2] {
        let data = vec![0.5f32; batch * 3];
        s.run_in_place(&[("x", TensorRef::from_f32(&[batch, 3], &data).unwrap())])
            .unwrap();
        let out = s.output_by_name(&s.output_names()[0].clone()).unwrap();
        assert_eq!(out.shape(), [batch, 3]);
        assert_eq!(out.as_f32().unwrap(), vec![2.0; batch * 3].as_slice());
        assert_eq!(s.last_plan().unwrap().input_shapes(), [vec![batch, 3]]);
    }
}

/// A streaming accumulator: state h [1, 2]; h' = h + x; y = h' * 10. Outputs (y, h').
fn accumulator() -> Arc<Model> {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 2]);
    let h = gb.input_f32("h", &[1, 2]);
    let h2 = gb.node("Add", &[h, x], vec![]);
    let ten = gb.const_f32(&[], &[10.0]);
    let y = gb.node("Mul", &[h2, ten], vec![]);
    gb.output(y);
    gb.output(h2);
    gb.b.add_state(h, h2);
    gb.finish()
}

#[test]
fn state_is_carried_between_runs_and_reset() {
    let model = accumulator();
    let mut s = session(&model);
    assert_eq!(s.input_names(), ["x"]);
    let x = TensorRef::from_f32(&[1, 2], &[1.0, 2.0]).unwrap();
    let run = |s: &mut Session| s.run(&[("x", x)]).unwrap()[0].as_f32().unwrap().to_vec();
    assert_eq!(run(&mut s), [10.0, 20.0]);
    assert_eq!(run(&mut s), [20.0, 40.0]);
    assert_eq!(run(&mut s), [30.0, 60.0]);
    s.reset_state();
    assert_eq!(run(&mut s), [10.0, 20.0]);
    s.set_initial_state("h", Tensor::from_f32(vec![1, 2], vec![100.0, 0.0]).unwrap())
        .unwrap();
    assert_eq!(run(&mut s), [1010.0, 20.0]);
    assert_eq!(run(&mut s), [1020.0, 40.0]);
    s.reset_state();
    assert_eq!(run(&mut s), [1010.0, 20.0]);
    assert!(
        s.set_initial_state("nope", Tensor::from_f32(vec![1], vec![0.0]).unwrap())
            .is_err()
    );
    // Another session of the same model has its own state.
    let mut other = session(&model);
    assert_eq!(run(&mut other), [10.0, 20.0]);
}

/// y = If(cond) { x + outer } else { x * outer }, with outer = x * 3 computed outside; `cond` is
/// an input, or a constant when `fixed` is given.
fn branching(fixed: Option<bool>) -> Arc<Model> {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2]);
    let cond = match fixed {
        None => gb.input("cond", DType::Bool, &[]),
        Some(c) => {
            gb.b.add_constant("cond", DType::Bool, &[], &[c as u8])
                .unwrap()
        }
    };
    let three = gb.const_f32(&[], &[3.0]);
    let outer = gb.node("Mul", &[x, three], vec![]);
    let main = std::mem::take(&mut gb.graph);
    let then_out = gb.node("Add", &[x, outer], vec![]);
    gb.graph.name = "then".into();
    gb.graph.outputs.push(then_out);
    let then_g = std::mem::take(&mut gb.graph);
    let else_out = gb.node("Mul", &[x, outer], vec![]);
    gb.graph.name = "else".into();
    gb.graph.outputs.push(else_out);
    let else_g = std::mem::take(&mut gb.graph);
    gb.graph = main;
    let y = gb.node_typed(
        "If",
        &[Some(cond)],
        vec![
            Attribute {
                name: "then_branch".into(),
                value: AttrValue::Graph(1),
            },
            Attribute {
                name: "else_branch".into(),
                value: AttrValue::Graph(2),
            },
        ],
        DType::F32,
    );
    gb.output(y);
    let main = std::mem::take(&mut gb.graph);
    gb.b.add_graph(main);
    gb.b.add_graph(then_g);
    gb.b.add_graph(else_g);
    Arc::new(Model::from_bytes(&gb.b.finish().unwrap()).unwrap())
}

#[test]
fn if_runs_the_chosen_body_reading_outer_values() {
    let model = branching(None);
    let mut s = session(&model);
    let x = TensorRef::from_f32(&[2], &[1.0, 2.0]).unwrap();
    let run = |s: &mut Session, c: u8| {
        let cond = TensorRef::from_bytes(DType::Bool, &[], std::slice::from_ref(&c)).unwrap();
        s.run(&[("x", x), ("cond", cond)]).unwrap()[0]
            .as_f32()
            .unwrap()
            .to_vec()
    };
    assert_eq!(run(&mut s, 1), [4.0, 8.0]);
    assert_eq!(run(&mut s, 0), [3.0, 12.0]);
    assert_eq!(run(&mut s, 1), [4.0, 8.0]);
}

#[test]
fn sessions_on_many_threads_share_one_model() {
    let model = accumulator();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let model = model.clone();
            std::thread::spawn(move || {
                let mut s = Session::new(
                    model,
                    SessionOptions {
                        threads: 1 + t % 2,
                        ..Default::default()
                    },
                )
                .unwrap();
                let step = t as f32 + 1.0;
                let data = [step, -step];
                let x = TensorRef::from_f32(&[1, 2], &data).unwrap();
                for i in 1..=200 {
                    let out = s.run(&[("x", x)]).unwrap();
                    assert_eq!(
                        out[1].as_f32().unwrap(),
                        [step * i as f32, -step * i as f32]
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn outputs_can_be_read_without_copies() {
    let model = affine();
    let mut s = session(&model);
    let data = [1.0f32, 2.0, 3.0];
    s.run_in_place(&[("x", TensorRef::from_f32(&[1, 3], &data).unwrap())])
        .unwrap();
    let y = s.output(0).unwrap();
    assert_eq!(
        (y.shape(), y.as_f32().unwrap()),
        (&[1usize, 3][..], &[3.0f32, 5.0, 7.0][..])
    );
    assert!(s.output(1).is_err());
    assert!(s.output_by_name("nope").is_err());
}

#[test]
fn graph_inputs_passed_through_as_outputs_are_copied() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2]);
    gb.output(x);
    let mut s = session(&gb.finish());
    let out = s
        .run(&[("x", TensorRef::from_f32(&[2], &[4.0, 5.0]).unwrap())])
        .unwrap();
    assert_eq!(out[0].as_f32().unwrap(), [4.0, 5.0]);
}

#[test]
fn sessions_move_between_threads_and_models_are_shared() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Session>();
    send_sync::<Model>();
    send_sync::<Tensor>();
}

#[test]
fn if_with_a_constant_condition_plans_only_the_taken_body() {
    for (fixed, want) in [(true, [4.0, 8.0]), (false, [3.0, 12.0])] {
        let mut s = session(&branching(Some(fixed)));
        let x = TensorRef::from_f32(&[2], &[1.0, 2.0]).unwrap();
        assert_eq!(s.run(&[("x", x)]).unwrap()[0].as_f32().unwrap(), want);
        // outer, the body's node, and the copy into the If output: no branch, no jump.
        assert_eq!(s.last_plan().unwrap().step_count(), 3);
    }
}

#[test]
fn sessions_can_share_plans() {
    let shared = SharedPlans::new(affine());
    assert!(shared.is_empty());
    let data = [1.0f32; 6];
    let x = TensorRef::from_f32(&[2, 3], &data).unwrap();
    let mut a = Session::with_shared_plans(shared.clone(), SessionOptions::default()).unwrap();
    let mut b = std::thread::spawn({
        let shared = shared.clone();
        move || {
            let mut b = Session::with_shared_plans(shared, SessionOptions::default()).unwrap();
            let data = [1.0f32; 6];
            let x = TensorRef::from_f32(&[2, 3], &data).unwrap();
            assert_eq!(b.run(&[("x", x)]).unwrap()[0].as_f32().unwrap(), [3.0; 6]);
            b
        }
    })
    .join()
    .unwrap();
    assert_eq!(a.run(&[("x", x)]).unwrap()[0].as_f32().unwrap(), [3.0; 6]);
    assert_eq!(shared.len(), 1);
    assert!(std::ptr::eq(a.last_plan().unwrap(), b.last_plan().unwrap()));
    // A new shape is planned once more, for everyone.
    let one = TensorRef::from_f32(&[1, 3], &data[..3]).unwrap();
    a.run(&[("x", one)]).unwrap();
    b.run(&[("x", one)]).unwrap();
    assert_eq!(shared.len(), 2);
    assert!(std::ptr::eq(a.last_plan().unwrap(), b.last_plan().unwrap()));
    // Sessions made without the shared plans plan for themselves.
    let mut c = session(shared.model());
    c.run(&[("x", one)]).unwrap();
    assert!(!std::ptr::eq(
        a.last_plan().unwrap(),
        c.last_plan().unwrap()
    ));
}

/// A model large enough to run on the pool (activations above the session's threshold), run
/// many times in a row on two and three threads: every good run gives the bits of one thread,
/// and a run that fails inside the plan (a Gather index out of range) or before it (a wrong
/// shape) comes back as its error, leaving the session ready for the next run.
#[test]
fn pooled_runs_in_a_row_match_one_thread_and_fail_cleanly() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2, 8, 30, 30]);
    let index = gb.input("i", DType::I64, &[Some(1)]);
    let w = gb.const_f32(&[24, 8, 1, 1], &rand_vec(24 * 8, 1));
    let dw = gb.const_f32(&[24, 1, 3, 3], &rand_vec(24 * 9, 2));
    let expanded = gb.node("Conv", &[x, w], vec![]);
    let filtered = gb.node(
        "Conv",
        &[expanded, dw],
        vec![int("group", 24), ints("pads", &[1, 1, 1, 1])],
    );
    let picked = gb.node("Gather", &[filtered, index], vec![int("axis", 1)]);
    gb.output(picked);
    let model = gb.finish();
    let data = rand_vec(2 * 8 * 30 * 30, 3);
    let x = TensorRef::from_f32(&[2, 8, 30, 30], &data).unwrap();
    let short = TensorRef::from_f32(&[2, 8, 30, 29], &data[..2 * 8 * 30 * 29]).unwrap();
    let picks: Vec<[i64; 1]> = (0..25).map(|i| [i]).collect();
    let run = |s: &mut Session, x: TensorRef<'_>, i: usize| {
        let i = TensorRef::from_i64(&[1], &picks[i]).unwrap();
        s.run(&[("x", x), ("i", i)])
    };
    let mut one = session(&model);
    let want: Vec<Vec<Tensor>> = (0..24).map(|i| run(&mut one, x, i).unwrap()).collect();
    for threads in [2, 3] {
        let options = SessionOptions {
            threads,
            ..Default::default()
        };
        let mut s = Session::new(model.clone(), options).unwrap();
        for r in 0..300 {
            match r % 10 {
                3 => {
                    let err = run(&mut s, x, 24).unwrap_err();
                    assert!(
                        matches!(err, Error::Execution { ref op, .. } if op == "Gather"),
                        "{err}"
                    );
                }
                7 => {
                    let err = run(&mut s, short, 0).unwrap_err();
                    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
                }
                _ => assert_eq!(
                    run(&mut s, x, r % 24).unwrap(),
                    want[r % 24],
                    "{threads} threads, run {r}"
                ),
            }
        }
    }
}
