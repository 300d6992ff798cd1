//! LSTM against a naive reference written here (every direction, initial state, bias,
//! peepholes, all three outputs), a state whose symbolic shape only an initial value fixes,
//! and the shape-only values Size and ConstantOfShape.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

fn sig(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Naive LSTM of one direction over x [seq, batch, ni]; returns (Y per step, h, c).
#[allow(clippy::too_many_arguments)]
fn naive_lstm(
    x: &[f32],
    seq: usize,
    batch: usize,
    ni: usize,
    nh: usize,
    w: &[f32],
    r: &[f32],
    b: &[f32],
    p: &[f32],
    h0: &[f32],
    c0: &[f32],
    reverse: bool,
) -> (Vec<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (mut h, mut c) = (h0.to_vec(), c0.to_vec());
    let mut ys = vec![Vec::new(); seq];
    for step in 0..seq {
        let t = if reverse { seq - 1 - step } else { step };
        let (mut h2, mut c2) = (h.clone(), c.clone());
        for n in 0..batch {
            let gate = |k: usize, u: usize| {
                let j = k * nh + u;
                let mut v = b[j] + b[4 * nh + j];
                for i in 0..ni {
                    v += w[j * ni + i] * x[(t * batch + n) * ni + i];
                }
                for i in 0..nh {
                    v += r[j * nh + i] * h[n * nh + i];
                }
                v
            };
            for u in 0..nh {
                let cp = c[n * nh + u];
                let i = sig(gate(0, u) + p[u] * cp);
                let f = sig(gate(2, u) + p[2 * nh + u] * cp);
                let cn = f * cp + i * gate(3, u).tanh();
                let o = sig(gate(1, u) + p[nh + u] * cn);
                c2[n * nh + u] = cn;
                h2[n * nh + u] = o * cn.tanh();
            }
        }
        h = h2;
        c = c2;
        ys[t] = h.clone();
    }
    (ys, h, c)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn lstm_matches_naive(seq in 1usize..4, batch in 1usize..3, ni in 1usize..4, nh in 1usize..4,
                          dir in 0usize..3, seed in 0u64..100) {
        let direction = ["forward", "reverse", "bidirectional"][dir];
        let dirs = if dir == 2 { 2 } else { 1 };
        let x = rand_vec(seq * batch * ni, seed);
        let w = rand_vec(dirs * 4 * nh * ni, seed + 1);
        let r = rand_vec(dirs * 4 * nh * nh, seed + 2);
        let b = rand_vec(dirs * 8 * nh, seed + 3);
        let h0 = rand_vec(dirs * batch * nh, seed + 4);
        let c0 = rand_vec(dirs * batch * nh, seed + 5);
        let p = rand_vec(dirs * 3 * nh, seed + 6);
        let mut gb = GraphBuilder::new();
        let u = |v: usize| v as u64;
        let xi = gb.input_f32("x", &[u(seq), u(batch), u(ni)]);
        let wi = gb.const_f32(&[u(dirs), u(4 * nh), u(ni)], &w);
        let ri = gb.const_f32(&[u(dirs), u(4 * nh), u(nh)], &r);
        let bi = gb.const_f32(&[u(dirs), u(8 * nh)], &b);
        let hi = gb.const_f32(&[u(dirs), u(batch), u(nh)], &h0);
        let ci = gb.const_f32(&[u(dirs), u(batch), u(nh)], &c0);
        let pi = gb.const_f32(&[u(dirs), u(3 * nh)], &p);
        let attrs = vec![int("hidden_size", nh as i64), string("direction", direction)];
        let outs = gb.node_outputs("LSTM", &[Some(xi), Some(wi), Some(ri), Some(bi), None, Some(hi), Some(ci), Some(pi)], attrs, DType::F32, 3);
        for o in outs {
            gb.output(o);
        }
        let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
        let got = s.run(&[("x", TensorRef::from_f32(&[seq, batch, ni], &x).unwrap())]).unwrap();
        prop_assert_eq!(got[0].shape(), &[seq, dirs, batch, nh]);
        let st = batch * nh;
        for d in 0..dirs {
            let sl = |v: &[f32], n: usize| v[d * n..(d + 1) * n].to_vec();
            let (ys, h, c) = naive_lstm(&x, seq, batch, ni, nh, &sl(&w, 4 * nh * ni), &sl(&r, 4 * nh * nh),
                &sl(&b, 8 * nh), &sl(&p, 3 * nh), &sl(&h0, st), &sl(&c0, st), dir == 1 || d == 1);
            let y = got[0].as_f32().unwrap();
            for (t, yt) in ys.iter().enumerate() {
                assert_close(&y[(t * dirs + d) * st..][..st], yt, 1e-5);
            }
            assert_close(&got[1].as_f32().unwrap()[d * st..][..st], &h, 1e-5);
            assert_close(&got[2].as_f32().unwrap()[d * st..][..st], &c, 1e-5);
        }
    }
}

#[test]
fn lstm_rejects_what_it_does_not_support() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 1, 2]);
    let w = gb.const_f32(&[1, 4, 2], &[0.0; 8]);
    let r = gb.const_f32(&[1, 4, 1], &[0.0; 4]);
    let y = gb.node_typed(
        "LSTM",
        &[Some(x), Some(w), Some(r)],
        vec![int("layout", 1)],
        DType::F32,
    );
    gb.output(y);
    let err = run1(&gb.finish(), &[("x", &[1, 1, 2], &[1.0, 2.0])]).unwrap_err();
    assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 1, 2]);
    let w = gb.const_f32(&[1, 4, 3], &[0.0; 12]);
    let r = gb.const_f32(&[1, 4, 1], &[0.0; 4]);
    let y = gb.node_typed("LSTM", &[Some(x), Some(w), Some(r)], vec![], DType::F32);
    gb.output(y);
    assert!(run1(&gb.finish(), &[("x", &[1, 1, 2], &[1.0, 2.0])]).is_err());
}

/// State h [batch, 2] with a batch symbol no input carries: h' = h + x.
#[test]
fn an_initial_state_fixes_a_symbolic_state_shape() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 2]);
    let h = gb.input("h", DType::F32, &[None, Some(2)]);
    let h2 = gb.node("Add", &[h, x], vec![]);
    gb.output(h2);
    gb.b.add_state(h, h2);
    let model = gb.finish();
    let mut s = Session::new(model, SessionOptions::default()).unwrap();
    let x = TensorRef::from_f32(&[1, 2], &[1.0, 2.0]).unwrap();
    let err = s.run(&[("x", x)]).unwrap_err();
    assert!(err.to_string().contains("not determined"), "{err}");
    s.set_initial_state(
        "h",
        Tensor::from_f32(vec![3, 2], vec![0.0, 0.0, 10.0, 10.0, 20.0, 20.0]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        s.run(&[("x", x)]).unwrap()[0].as_f32().unwrap(),
        &[1.0, 2.0, 11.0, 12.0, 21.0, 22.0]
    );
    assert_eq!(
        s.run(&[("x", x)]).unwrap()[0].as_f32().unwrap(),
        &[2.0, 4.0, 12.0, 14.0, 22.0, 24.0]
    );
    // A new initial shape replans; a wrong rank is a typed input error.
    s.set_initial_state("h", Tensor::from_f32(vec![1, 2], vec![5.0, 5.0]).unwrap())
        .unwrap();
    assert_eq!(
        s.run(&[("x", x)]).unwrap()[0].as_f32().unwrap(),
        &[6.0, 7.0]
    );
    s.set_initial_state("h", Tensor::from_f32(vec![2], vec![5.0, 5.0]).unwrap())
        .unwrap();
    assert!(matches!(
        s.run(&[("x", x)]),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn size_and_constant_of_shape() {
    // y = (x + ConstantOfShape(Shape(x))) · Size(x): the default fill is f32 zero.
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[2, 3]);
    let shape = gb.node_typed("Shape", &[Some(x)], vec![], DType::I64);
    let filled = gb.node_typed("ConstantOfShape", &[Some(shape)], vec![], DType::F32);
    let size = gb.node_typed("Size", &[Some(x)], vec![], DType::I64);
    let size_f = gb.node_typed("Cast", &[Some(size)], vec![int("to", 1)], DType::F32);
    let sum = gb.node("Add", &[x, filled], vec![]);
    let y = gb.node("Mul", &[sum, size_f], vec![]);
    gb.output(y);
    let out = run1(
        &gb.finish(),
        &[("x", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
    )
    .unwrap();
    assert_eq!(out.as_f32().unwrap(), &[6.0, 12.0, 18.0, 24.0, 30.0, 36.0]);
}
