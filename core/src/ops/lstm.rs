//! LSTM (ONNX gate order i, o, f, c), f32: layouts 0 (`X` [seq, batch, input]) and 1 (`X`
//! [batch, seq, input], states and outputs batch-first too); directions forward, reverse and
//! bidirectional; optional bias `B`, `sequence_lens`, initial_h, initial_c and peepholes `P`;
//! `clip`. One op computes all three outputs (Y, Y_h, Y_c) in one pass, skipping those nothing
//! reads. Unsupported: input_forget, activations other than the defaults (Sigmoid, Tanh, Tanh).
//!
//! Per direction, the input projection `X · Wᵀ + Wb + Rb` of every step is one GEMM; each step
//! then adds `h · Rᵀ` (one GEMM over the batch rows) and applies the gate functions to whole
//! gate vectors (`Activation::apply_slice`). With `sequence_lens`, a batch entry's steps at or
//! past its length leave its h and c as they are and write zeros to Y (ONNX semantics; in
//! reverse, its sequence starts at step length − 1).
//!
//! Invariants: gates of a step are computed from the previous step's h for the whole batch
//! before h and c change; everything the run writes besides the outputs lives in scratch (no
//! allocation while running).

use super::recurrent::{
    Common, GateWeights, Layout, add_into, clip_all, common, expect_f32, in_sequence, layout,
    optional, put, scratch_and_weights, sequence_lens,
};
use super::{
    Activation, BuildError, BuiltMulti, Fact, Inputs, NodeContext, Op, OpResult, Outputs,
    RunContext, checked_numel,
};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::tensor::DType;

#[derive(Debug)]
struct Lstm {
    seq: usize,
    batch: usize,
    input: usize,
    /// Direction(s), clip and hidden size.
    common: Common,
    layout: Layout,
    w: GateWeights,
    r: GateWeights,
    kernels: &'static Kernels,
}

impl Lstm {
    /// Scratch besides the packed weights: the input projection, the step's gates, h, c, one
    /// hidden vector of temporaries and the combined bias.
    fn own_scratch(&self) -> usize {
        let g4 = 4 * self.common.hidden;
        self.seq * self.batch * g4
            + self.batch * g4
            + 2 * self.batch * self.common.hidden
            + self.common.hidden
            + g4
    }
}

impl Op for Lstm {
    fn scratch_len(&self) -> usize {
        self.own_scratch() + self.w.scratch_len() + self.r.scratch_len()
    }

    fn run(&self, _: &dyn Inputs, _: TensorMut<'_>, _: &mut RunContext<'_>) -> OpResult<()> {
        Err("LSTM computes several outputs (run_multi)".into())
    }

    fn run_multi(
        &self,
        inputs: &dyn Inputs,
        outputs: Outputs<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (seq, batch, ni, nh, dirs) = (
            self.seq,
            self.batch,
            self.input,
            self.common.hidden,
            self.common.dirs,
        );
        let (g4, state) = (4 * nh, batch * nh);
        let x = optional(inputs, 0, seq * batch * ni)?.ok_or("X is missing")?;
        let b = optional(inputs, 3, dirs * 2 * g4)?;
        let lens = sequence_lens(inputs, batch, seq)?;
        let h0 = optional(inputs, 5, dirs * state)?;
        let c0 = optional(inputs, 6, dirs * state)?;
        let p = optional(inputs, 7, dirs * 3 * nh)?;
        let [mut y, mut y_h, mut y_c] = outputs.f32_array::<3>()?;
        let weights = (&self.w, &self.r);
        let (own, w, r) = scratch_and_weights(cx.scratch, self.own_scratch(), weights, inputs)?;
        let (xw, rest) = own.split_at_mut(seq * batch * g4);
        let (gates, rest) = rest.split_at_mut(batch * g4);
        let (h, rest) = rest.split_at_mut(state);
        let (c, rest) = rest.split_at_mut(state);
        let (tmp, bias) = rest.split_at_mut(nh);
        let (sigmoid, tanh) = (Activation::Sigmoid, Activation::Tanh);
        for d in 0..dirs {
            let reverse = self.common.reverse || d == 1;
            match b {
                Some(b) => {
                    let b = &b[d * 2 * g4..][..2 * g4];
                    bias.copy_from_slice(&b[..g4]);
                    add_into(bias, &b[g4..]);
                }
                None => bias.fill(0.0),
            }
            let add_bias = |_: usize, row: &mut [f32]| add_into(row, bias);
            let rows = seq * batch;
            w.product(
                self.kernels,
                cx.pool,
                (d, 0),
                rows,
                (x, ni),
                (xw, g4),
                Some(&add_bias),
            )?;
            let lay = self.layout;
            for (init, s) in [(h0, &mut *h), (c0, &mut *c)] {
                for n in 0..batch {
                    let sn = &mut s[n * nh..][..nh];
                    match init {
                        Some(v) => sn.copy_from_slice(&v[lay.at(d, dirs, n, nh)..][..nh]),
                        None => sn.fill(0.0),
                    }
                }
            }
            let peep = |k: usize| p.map(|p| &p[(d * 3 + k) * nh..][..nh]);
            for step in 0..seq {
                let t = if reverse { seq - 1 - step } else { step };
                r.product(
                    self.kernels,
                    cx.pool,
                    (d, 0),
                    batch,
                    (h, nh),
                    (gates, g4),
                    None,
                )?;
                for n in 0..batch {
                    let y_at = lay.y_at((t, seq), (d, dirs), n, nh);
                    if !in_sequence(lens, n, t) {
                        put(&mut y, y_at, nh, None)?;
                        continue;
                    }
                    let g = &mut gates[n * g4..][..g4];
                    add_into(g, &xw[lay.at(t, seq, n, g4)..][..g4]);
                    clip_all(self.common.clip, g);
                    let (gi, rest) = g.split_at_mut(nh);
                    let (go, rest) = rest.split_at_mut(nh);
                    let (gf, gc) = rest.split_at_mut(nh);
                    let (hn, cn) = (&mut h[n * nh..][..nh], &mut c[n * nh..][..nh]);
                    if let (Some(pi), Some(pf)) = (peep(0), peep(2)) {
                        for u in 0..nh {
                            gi[u] += pi[u] * cn[u];
                            gf[u] += pf[u] * cn[u];
                        }
                    }
                    sigmoid.apply_slice(self.kernels, gi);
                    sigmoid.apply_slice(self.kernels, gf);
                    tanh.apply_slice(self.kernels, gc);
                    for u in 0..nh {
                        cn[u] = gf[u] * cn[u] + gi[u] * gc[u];
                    }
                    if let Some(po) = peep(1) {
                        for u in 0..nh {
                            go[u] += po[u] * cn[u];
                        }
                    }
                    sigmoid.apply_slice(self.kernels, go);
                    tmp.copy_from_slice(cn);
                    tanh.apply_slice(self.kernels, tmp);
                    for u in 0..nh {
                        hn[u] = go[u] * tmp[u];
                    }
                    put(&mut y, y_at, nh, Some(hn))?;
                }
            }
            for (out, last) in [(&mut y_h, &*h), (&mut y_c, &*c)] {
                for n in 0..batch {
                    put(out, lay.at(d, dirs, n, nh), nh, Some(&last[n * nh..][..nh]))?;
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<BuiltMulti, BuildError> {
    let x = cx.input(0)?;
    if cx.int("input_forget", 0)? != 0 {
        return Err(BuildError::Unsupported("input_forget".into()));
    }
    let (layout, seq, input) = layout(cx, &x.shape)?;
    let batch = layout.batch;
    let common = common(cx, batch)?;
    let (dirs, hidden) = (common.dirs, common.hidden);
    let g4 = hidden.checked_mul(4).ok_or("hidden_size overflows")?;
    let expect = |i: usize, shape: &[usize]| expect_f32(cx, i, shape);
    expect(0, &x.shape)?;
    expect(1, &[dirs, g4, input])?;
    expect(2, &[dirs, g4, hidden])?;
    expect(3, &[dirs, 2 * g4])?;
    let (y, state) = layout.shapes(seq, dirs, hidden);
    expect(5, &state)?;
    expect(6, &state)?;
    expect(7, &[dirs, 3 * hidden])?;
    checked_numel(&y)?;
    checked_numel(&[seq, batch, g4, 2])?;
    let outputs = [y, state.clone(), state]
        .into_iter()
        .take(cx.node.outputs.len())
        .map(|shape| Fact::new(DType::F32, shape))
        .collect();
    Ok(BuiltMulti {
        op: Box::new(Lstm {
            seq,
            batch,
            input,
            layout,
            w: GateWeights::new(cx, 1, (dirs, g4, input), &[(0, g4)])?,
            r: GateWeights::new(cx, 2, (dirs, g4, hidden), &[(0, g4)])?,
            kernels: super::gemm::plan_kernels()?,
            common,
        }),
        outputs,
    })
}
