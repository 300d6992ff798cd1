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
        vec![int("input_forget", 1)],
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

/// Naive GRU of one direction over x [seq, batch, ni] (gates z, r, h); returns (Y per step, h).
#[allow(clippy::too_many_arguments)]
fn naive_gru(
    x: &[f32],
    seq: usize,
    batch: usize,
    ni: usize,
    nh: usize,
    w: &[f32],
    r: &[f32],
    b: &[f32],
    h0: &[f32],
    reverse: bool,
    linear_before_reset: bool,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut h = h0.to_vec();
    let mut ys = vec![Vec::new(); seq];
    for step in 0..seq {
        let t = if reverse { seq - 1 - step } else { step };
        let mut h2 = h.clone();
        for n in 0..batch {
            let hp = &h[n * nh..(n + 1) * nh];
            let wx = |j: usize| -> f32 {
                (0..ni)
                    .map(|i| w[j * ni + i] * x[(t * batch + n) * ni + i])
                    .sum::<f32>()
                    + b[j]
            };
            let rv = |j: usize, v: &[f32]| -> f32 {
                (0..nh).map(|i| r[j * nh + i] * v[i]).sum::<f32>() + b[3 * nh + j]
            };
            let z: Vec<f32> = (0..nh).map(|u| sig(wx(u) + rv(u, hp))).collect();
            let rg: Vec<f32> = (0..nh).map(|u| sig(wx(nh + u) + rv(nh + u, hp))).collect();
            let rh: Vec<f32> = (0..nh).map(|u| rg[u] * hp[u]).collect();
            for u in 0..nh {
                let j = 2 * nh + u;
                let cand = if linear_before_reset {
                    (wx(j) + rg[u] * rv(j, hp)).tanh()
                } else {
                    (wx(j) + rv(j, &rh)).tanh()
                };
                h2[n * nh + u] = (1.0 - z[u]) * cand + z[u] * hp[u];
            }
        }
        h = h2;
        ys[t] = h.clone();
    }
    (ys, h)
}

/// A GRU model: x [seq, batch, ni] (layout 0) or [batch, seq, ni] (layout 1) in, Y and Y_h out.
#[allow(clippy::too_many_arguments)]
fn gru_model(
    seq: usize,
    batch: usize,
    ni: usize,
    nh: usize,
    direction: &str,
    lbr: bool,
    layout: i64,
    weights: (&[f32], &[f32], &[f32], &[f32]),
) -> std::sync::Arc<Model> {
    let dirs = if direction == "bidirectional" { 2 } else { 1 };
    let (w, r, b, h0) = weights;
    let u = |v: usize| v as u64;
    let mut gb = GraphBuilder::new();
    let xi = if layout == 0 {
        gb.input_f32("x", &[u(seq), u(batch), u(ni)])
    } else {
        gb.input_f32("x", &[u(batch), u(seq), u(ni)])
    };
    let wi = gb.const_f32(&[u(dirs), u(3 * nh), u(ni)], w);
    let ri = gb.const_f32(&[u(dirs), u(3 * nh), u(nh)], r);
    let bi = gb.const_f32(&[u(dirs), u(6 * nh)], b);
    let state = if layout == 0 {
        [u(dirs), u(batch), u(nh)]
    } else {
        [u(batch), u(dirs), u(nh)]
    };
    let hi = gb.const_f32(&state, h0);
    let attrs = vec![
        int("hidden_size", nh as i64),
        string("direction", direction),
        int("linear_before_reset", lbr as i64),
        int("layout", layout),
    ];
    let outs = gb.node_outputs(
        "GRU",
        &[Some(xi), Some(wi), Some(ri), Some(bi), None, Some(hi)],
        attrs,
        DType::F32,
        2,
    );
    for o in outs {
        gb.output(o);
    }
    gb.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn gru_matches_naive(seq in 1usize..4, batch in 1usize..3, ni in 1usize..4, nh in 1usize..4,
                         dir in 0usize..3, lbr in any::<bool>(), seed in 0u64..100) {
        let direction = ["forward", "reverse", "bidirectional"][dir];
        let dirs = if dir == 2 { 2 } else { 1 };
        let x = rand_vec(seq * batch * ni, seed);
        let w = rand_vec(dirs * 3 * nh * ni, seed + 1);
        let r = rand_vec(dirs * 3 * nh * nh, seed + 2);
        let b = rand_vec(dirs * 6 * nh, seed + 3);
        let h0 = rand_vec(dirs * batch * nh, seed + 4);
        let model = gru_model(seq, batch, ni, nh, direction, lbr, 0, (&w, &r, &b, &h0));
        let mut s = Session::new(model, SessionOptions::default()).unwrap();
        let got = s.run(&[("x", TensorRef::from_f32(&[seq, batch, ni], &x).unwrap())]).unwrap();
        prop_assert_eq!(got[0].shape(), &[seq, dirs, batch, nh]);
        prop_assert_eq!(got[1].shape(), &[dirs, batch, nh]);
        let st = batch * nh;
        for d in 0..dirs {
            let sl = |v: &[f32], n: usize| v[d * n..(d + 1) * n].to_vec();
            let (ys, h) = naive_gru(&x, seq, batch, ni, nh, &sl(&w, 3 * nh * ni),
                &sl(&r, 3 * nh * nh), &sl(&b, 6 * nh), &sl(&h0, st), dir == 1 || d == 1, lbr);
            let y = got[0].as_f32().unwrap();
            for (t, yt) in ys.iter().enumerate() {
                assert_close(&y[(t * dirs + d) * st..][..st], yt, 1e-5);
            }
            assert_close(&got[1].as_f32().unwrap()[d * st..][..st], &h, 1e-5);
        }
    }
}

/// Layout 1 (batch first) gives layout 0's results with batch and time (direction) swapped.
/// `v[a][c]` → `v[c][a]` for `outer × inner` vectors of `len`.
fn swap(v: &[f32], outer: usize, inner: usize, len: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for a in 0..outer {
        for c in 0..inner {
            let src = &v[(a * inner + c) * len..][..len];
            out[(c * outer + a) * len..][..len].copy_from_slice(src);
        }
    }
    out
}

/// Y of layout 0 ([seq, dirs, batch, nh]) equals Y of layout 1 ([batch, seq, dirs, nh]).
fn assert_y_transposed(
    l0: &Tensor,
    l1: &Tensor,
    (seq, dirs, batch, nh): (usize, usize, usize, usize),
) {
    let (y0, y1) = (l0.as_f32().unwrap(), l1.as_f32().unwrap());
    for t in 0..seq {
        for d in 0..dirs {
            for n in 0..batch {
                assert_eq!(
                    &y0[((t * dirs + d) * batch + n) * nh..][..nh],
                    &y1[((n * seq + t) * dirs + d) * nh..][..nh]
                );
            }
        }
    }
}

#[test]
fn gru_layout_1_is_layout_0_transposed() {
    let (seq, batch, ni, nh, dirs) = (3, 2, 2, 3, 2);
    let x0 = rand_vec(seq * batch * ni, 7);
    let w = rand_vec(dirs * 3 * nh * ni, 8);
    let r = rand_vec(dirs * 3 * nh * nh, 9);
    let b = rand_vec(dirs * 6 * nh, 10);
    let h00 = rand_vec(dirs * batch * nh, 11);
    // x1[n][t] = x0[t][n]; h01[n][d] = h00[d][n].
    let x1 = swap(&x0, seq, batch, ni);
    let h01 = swap(&h00, dirs, batch, nh);
    let run = |layout: i64, x: &[f32], h0: &[f32], shape: &[usize]| {
        let m = gru_model(
            seq,
            batch,
            ni,
            nh,
            "bidirectional",
            false,
            layout,
            (&w, &r, &b, h0),
        );
        let mut s = Session::new(m, SessionOptions::default()).unwrap();
        s.run(&[("x", TensorRef::from_f32(shape, x).unwrap())])
            .unwrap()
    };
    let l0 = run(0, &x0, &h00, &[seq, batch, ni]);
    let l1 = run(1, &x1, &h01, &[batch, seq, ni]);
    assert_eq!(l1[0].shape(), &[batch, seq, dirs, nh]);
    assert_eq!(l1[1].shape(), &[batch, dirs, nh]);
    assert_y_transposed(&l0[0], &l1[0], (seq, dirs, batch, nh));
    assert_eq!(
        swap(l0[1].as_f32().unwrap(), dirs, batch, nh),
        l1[1].as_f32().unwrap()
    );
}

/// Streaming: Y_h fed back into initial_h through a state pair; two runs over two chunks equal
/// one run over the whole sequence, and reset_state starts again from zeros.
#[test]
fn gru_state_streams_across_runs() {
    let (batch, ni, nh) = (1, 2, 3);
    let w = rand_vec(3 * nh * ni, 21);
    let r = rand_vec(3 * nh * nh, 22);
    let b = rand_vec(6 * nh, 23);
    let streaming = {
        let mut gb = GraphBuilder::new();
        let x = gb.input(
            "x",
            DType::F32,
            &[None, Some(batch as u64), Some(ni as u64)],
        );
        let h = gb.input_f32("h", &[1, batch as u64, nh as u64]);
        let wi = gb.const_f32(&[1, 3 * nh as u64, ni as u64], &w);
        let ri = gb.const_f32(&[1, 3 * nh as u64, nh as u64], &r);
        let bi = gb.const_f32(&[1, 6 * nh as u64], &b);
        let outs = gb.node_outputs(
            "GRU",
            &[Some(x), Some(wi), Some(ri), Some(bi), None, Some(h)],
            vec![int("hidden_size", nh as i64)],
            DType::F32,
            2,
        );
        gb.output(outs[1]);
        gb.b.add_state(h, outs[1]);
        gb.finish()
    };
    let x = rand_vec(5 * batch * ni, 24);
    let (chunk1, chunk2) = x.split_at(2 * batch * ni);
    let mut s = Session::new(streaming, SessionOptions::default()).unwrap();
    s.run(&[("x", TensorRef::from_f32(&[2, batch, ni], chunk1).unwrap())])
        .unwrap();
    let h = s
        .run(&[("x", TensorRef::from_f32(&[3, batch, ni], chunk2).unwrap())])
        .unwrap();
    let (_, want) = naive_gru(&x, 5, batch, ni, nh, &w, &r, &b, &[0.0; 3], false, false);
    assert_close(h[0].as_f32().unwrap(), &want, 1e-5);
    s.reset_state();
    let again = s
        .run(&[("x", TensorRef::from_f32(&[5, batch, ni], &x).unwrap())])
        .unwrap();
    assert_close(again[0].as_f32().unwrap(), &want, 1e-5);
}

#[test]
fn gru_rejects_what_it_does_not_support() {
    let build = |extra: Vec<Attribute>, seq_lens: bool| {
        let mut gb = GraphBuilder::new();
        let x = gb.input_f32("x", &[1, 1, 2]);
        let w = gb.const_f32(&[1, 3, 2], &[0.0; 6]);
        let r = gb.const_f32(&[1, 3, 1], &[0.0; 3]);
        let lens = seq_lens.then(|| gb.const_i64(&[1]));
        let y = gb.node_typed(
            "GRU",
            &[Some(x), Some(w), Some(r), None, lens],
            extra,
            DType::F32,
        );
        gb.output(y);
        run1(&gb.finish(), &[("x", &[1, 1, 2], &[1.0, 2.0])]).unwrap_err()
    };
    let unsupported = |e: &Error| matches!(e, Error::UnsupportedOp { .. });
    // sequence_lens is i32 in ONNX; an i64 one is a dtype the runtime lacks.
    assert!(unsupported(&build(vec![], true)));
    let acts = Attribute {
        name: "activations".into(),
        value: AttrValue::Strings(vec!["Relu".into(), "Tanh".into()]),
    };
    assert!(unsupported(&build(vec![acts], false)));
    let e = build(vec![int("layout", 2)], false);
    assert!(matches!(e, Error::InvalidNode { .. }), "{e}");
    let e = build(vec![string("direction", "sideways")], false);
    assert!(matches!(e, Error::InvalidNode { .. }), "{e}");
}

/// Rows `[..len]` of batch entry `n` of x [seq, batch, ni], as x [len, 1, ni].
fn entry(x: &[f32], batch: usize, ni: usize, n: usize, len: usize) -> Vec<f32> {
    (0..len)
        .flat_map(|t| x[(t * batch + n) * ni..][..ni].iter().copied())
        .collect()
}

fn i32_input(shape: &[usize], data: &[i32]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A recurrent node over graph inputs x, w, r, b, lens, h0 (and c0, p for LSTM): weights that are
/// not constants take the run-time packing path. Returns every output of one run.
fn run_recurrent(
    op: &str,
    batch: usize,
    attrs: Vec<Attribute>,
    tensors: &[(&str, Vec<usize>, &[f32])],
    lens: &[i32],
) -> Result<Vec<Tensor>> {
    let mut gb = GraphBuilder::new();
    let mut ids = Vec::new();
    for (name, shape, _) in tensors {
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        ids.push(Some(gb.input_f32(name, &dims)));
    }
    let l = gb.input("lens", DType::I32, &[Some(batch as u64)]);
    ids.insert(4, Some(l));
    let n_out = if op == "LSTM" { 3 } else { 2 };
    let outs = gb.node_outputs(op, &ids, attrs, DType::F32, n_out);
    for o in outs {
        gb.output(o);
    }
    let lens_bytes = i32_input(&[batch], lens);
    let mut feed: Vec<(&str, TensorRef<'_>)> = tensors
        .iter()
        .map(|(name, shape, data)| (*name, TensorRef::from_f32(shape, data).unwrap()))
        .collect();
    let lens_shape = [batch];
    feed.push((
        "lens",
        TensorRef::from_bytes(DType::I32, &lens_shape, &lens_bytes).unwrap(),
    ));
    Session::new(gb.finish(), SessionOptions::default())?.run(&feed)
}

/// With sequence_lens, each batch entry's outputs are those of its own sequence cut to its
/// length (in reverse, the cut sequence read backwards), and Y is zero past it.
#[test]
fn lstm_and_gru_follow_sequence_lens() {
    let (seq, batch, ni, nh, dirs) = (4, 3, 3, 5, 2);
    let lens = [4, 2, 1];
    let x = rand_vec(seq * batch * ni, 11);
    let h0 = rand_vec(dirs * batch * nh, 12);
    let c0 = rand_vec(dirs * batch * nh, 13);
    let p = rand_vec(dirs * 3 * nh, 14);
    let st = batch * nh;
    for op in ["LSTM", "GRU"] {
        let gates = if op == "LSTM" { 4 } else { 3 };
        let w = rand_vec(dirs * gates * nh * ni, 15);
        let r = rand_vec(dirs * gates * nh * nh, 16);
        let b = rand_vec(dirs * 2 * gates * nh, 17);
        let mut tensors = vec![
            ("x", vec![seq, batch, ni], &x[..]),
            ("w", vec![dirs, gates * nh, ni], &w[..]),
            ("r", vec![dirs, gates * nh, nh], &r[..]),
            ("b", vec![dirs, 2 * gates * nh], &b[..]),
            ("h0", vec![dirs, batch, nh], &h0[..]),
        ];
        if op == "LSTM" {
            tensors.push(("c0", vec![dirs, batch, nh], &c0[..]));
            tensors.push(("p", vec![dirs, 3 * nh], &p[..]));
        }
        let attrs = vec![
            int("hidden_size", nh as i64),
            string("direction", "bidirectional"),
        ];
        let got = run_recurrent(op, batch, attrs, &tensors, &lens).unwrap();
        let y = got[0].as_f32().unwrap();
        for d in 0..dirs {
            let sl = |v: &[f32], len: usize| v[d * len..(d + 1) * len].to_vec();
            for (n, &len) in lens.iter().enumerate() {
                let len = len as usize;
                let xn = entry(&x, batch, ni, n, len);
                let one = |v: &[f32]| v[(d * batch + n) * nh..][..nh].to_vec();
                let (ys, h, c) = if op == "LSTM" {
                    let (ys, h, c) = naive_lstm(
                        &xn,
                        len,
                        1,
                        ni,
                        nh,
                        &sl(&w, 4 * nh * ni),
                        &sl(&r, 4 * nh * nh),
                        &sl(&b, 8 * nh),
                        &sl(&p, 3 * nh),
                        &one(&h0),
                        &one(&c0),
                        d == 1,
                    );
                    (ys, h, Some(c))
                } else {
                    let (ys, h) = naive_gru(
                        &xn,
                        len,
                        1,
                        ni,
                        nh,
                        &sl(&w, 3 * nh * ni),
                        &sl(&r, 3 * nh * nh),
                        &sl(&b, 6 * nh),
                        &one(&h0),
                        d == 1,
                        false,
                    );
                    (ys, h, None)
                };
                for t in 0..seq {
                    let at = ((t * dirs + d) * batch + n) * nh;
                    let want = ys.get(t).cloned().unwrap_or_else(|| vec![0.0; nh]);
                    assert_close(&y[at..at + nh], &want, 1e-5);
                }
                let at = d * st + n * nh;
                assert_close(&got[1].as_f32().unwrap()[at..at + nh], &h, 1e-5);
                if let Some(c) = c {
                    assert_close(&got[2].as_f32().unwrap()[at..at + nh], &c, 1e-5);
                }
            }
        }
        // A length past the sequence is a typed error.
        let attrs = vec![
            int("hidden_size", nh as i64),
            string("direction", "bidirectional"),
        ];
        let err = run_recurrent(op, batch, attrs, &tensors, &[5, 1, 1]).unwrap_err();
        assert!(matches!(err, Error::Execution { .. }), "{err}");
    }
}

/// An LSTM whose graph reads only Y_h computes it exactly as when all three outputs are read,
/// and the plan gives the unread Y and Y_c no bytes.
#[test]
fn lstm_computes_only_the_outputs_read() {
    let (seq, batch, ni, nh) = (3, 2, 4, 6);
    let x = rand_vec(seq * batch * ni, 21);
    let w = rand_vec(4 * nh * ni, 22);
    let r = rand_vec(4 * nh * nh, 23);
    let model = |read: &[usize]| {
        let mut gb = GraphBuilder::new();
        let xi = gb.input_f32("x", &[seq as u64, batch as u64, ni as u64]);
        let wi = gb.const_f32(&[1, 4 * nh as u64, ni as u64], &w);
        let ri = gb.const_f32(&[1, 4 * nh as u64, nh as u64], &r);
        let outs = gb.node_outputs(
            "LSTM",
            &[Some(xi), Some(wi), Some(ri)],
            vec![],
            DType::F32,
            3,
        );
        for &k in read {
            gb.output(outs[k]);
        }
        gb.finish()
    };
    let x_shape = [seq, batch, ni];
    let feed = [("x", TensorRef::from_f32(&x_shape, &x).unwrap())];
    let mut all = Session::new(model(&[0, 1, 2]), SessionOptions::default()).unwrap();
    let all_out = all.run(&feed).unwrap();
    let mut only_h = Session::new(model(&[1]), SessionOptions::default()).unwrap();
    let h_out = only_h.run(&feed).unwrap();
    assert_eq!(h_out[0].as_f32().unwrap(), all_out[1].as_f32().unwrap());
    let plan = only_h.last_plan().unwrap();
    assert_eq!(plan.step_count(), 1);
    assert_eq!(plan.allocations().len(), 1);
    assert_eq!(plan.allocations()[0].bytes, batch * nh * 4);
    assert!(all.last_plan().unwrap().allocations()[0].bytes >= (seq + 2) * batch * nh * 4);
}

/// LSTM layout 1 (batch-first X, states and outputs) computes layout 0's results transposed.
#[test]
fn lstm_layout_1_is_layout_0_transposed() {
    let (seq, batch, ni, nh, dirs) = (3, 2, 2, 3, 2);
    let x0 = rand_vec(seq * batch * ni, 31);
    let w = rand_vec(dirs * 4 * nh * ni, 32);
    let r = rand_vec(dirs * 4 * nh * nh, 33);
    let b = rand_vec(dirs * 8 * nh, 34);
    let h0 = rand_vec(dirs * batch * nh, 35);
    let c0 = rand_vec(dirs * batch * nh, 36);
    let p = rand_vec(dirs * 3 * nh, 37);
    let (x1, h1, c1) = (
        swap(&x0, seq, batch, ni),
        swap(&h0, dirs, batch, nh),
        swap(&c0, dirs, batch, nh),
    );
    let run = |layout: i64, x: &[f32], h: &[f32], c: &[f32], xs: Vec<usize>, ss: Vec<usize>| {
        let tensors = [
            ("x", xs, x),
            ("w", vec![dirs, 4 * nh, ni], &w[..]),
            ("r", vec![dirs, 4 * nh, nh], &r[..]),
            ("b", vec![dirs, 8 * nh], &b[..]),
            ("h0", ss.clone(), h),
            ("c0", ss, c),
            ("p", vec![dirs, 3 * nh], &p[..]),
        ];
        let attrs = vec![string("direction", "bidirectional"), int("layout", layout)];
        run_recurrent("LSTM", batch, attrs, &tensors, &[seq as i32; 2]).unwrap()
    };
    let l0 = run(
        0,
        &x0,
        &h0,
        &c0,
        vec![seq, batch, ni],
        vec![dirs, batch, nh],
    );
    let l1 = run(
        1,
        &x1,
        &h1,
        &c1,
        vec![batch, seq, ni],
        vec![batch, dirs, nh],
    );
    assert_eq!(l1[0].shape(), &[batch, seq, dirs, nh]);
    assert_y_transposed(&l0[0], &l1[0], (seq, dirs, batch, nh));
    for k in 1..3 {
        assert_eq!(l1[k].shape(), &[batch, dirs, nh]);
        assert_eq!(
            swap(l0[k].as_f32().unwrap(), dirs, batch, nh),
            l1[k].as_f32().unwrap()
        );
    }
}
