//! GRU (ONNX gate order z, r, h), f32: layouts 0 (`X` [seq, batch, input]) and 1 (`X` [batch,
//! seq, input], outputs batch-first too); directions forward, reverse and bidirectional;
//! optional bias `B`, `sequence_lens` and initial_h; `linear_before_reset` 0 and 1; `clip`. One
//! op computes both outputs (Y, Y_h) in one pass, skipping those nothing reads. A streaming
//! model carries Y_h into initial_h between runs through a declared state pair, like LSTM.
//! Unsupported: activations other than the defaults (Sigmoid, Tanh).
//!
//! Per direction, the input projection `X · Wᵀ` (plus Wb, and Rb of z and r) of every step is
//! one GEMM; each step then computes `h · R_zrᵀ` and the candidate's recurrent product (of
//! `r ⊙ h`, or of `h` scaled by r after, with `linear_before_reset`) as GEMMs over the batch
//! rows, and applies the gate functions to whole vectors (`Activation::apply_slice`). With
//! `sequence_lens`, steps at or past a batch entry's length keep its h and write zeros to Y.
//!
//! Invariants: a step's gates are computed from the previous step's h for the whole batch
//! before h changes; everything the run writes besides the outputs lives in scratch (no
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
struct Gru {
    seq: usize,
    batch: usize,
    input: usize,
    /// Direction(s), clip and hidden size.
    common: Common,
    /// Layout 1: batch-first `X`, `initial_h`, `Y` and `Y_h`.
    layout: Layout,
    linear_before_reset: bool,
    w: GateWeights,
    /// R in two groups: the z and r rows, and the h rows.
    r: GateWeights,
    kernels: &'static Kernels,
}

impl Gru {
    fn at(&self, outer: usize, outers: usize, n: usize, len: usize) -> usize {
        self.layout.at(outer, outers, n, len)
    }

    /// Scratch besides the packed weights: the input projection, the z/r gates, the candidate,
    /// h, r ⊙ h and the projection's bias.
    fn own_scratch(&self) -> usize {
        let (g3, bh) = (3 * self.common.hidden, self.batch * self.common.hidden);
        self.seq * self.batch * g3 + 2 * bh + 3 * bh + g3
    }
}

impl Op for Gru {
    fn scratch_len(&self) -> usize {
        self.own_scratch() + self.w.scratch_len() + self.r.scratch_len()
    }

    fn run(&self, _: &dyn Inputs, _: TensorMut<'_>, _: &mut RunContext<'_>) -> OpResult<()> {
        Err("GRU computes several outputs (run_multi)".into())
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
        let (g3, state) = (3 * nh, batch * nh);
        let x = optional(inputs, 0, seq * batch * ni)?.ok_or("X is missing")?;
        let b = optional(inputs, 3, dirs * 2 * g3)?;
        let lens = sequence_lens(inputs, batch, seq)?;
        let h0 = optional(inputs, 5, dirs * state)?;
        let [mut y, mut y_h] = outputs.f32_array::<2>()?;
        let weights = (&self.w, &self.r);
        let (own, w, r) = scratch_and_weights(cx.scratch, self.own_scratch(), weights, inputs)?;
        let (xw, rest) = own.split_at_mut(seq * batch * g3);
        let (zr, rest) = rest.split_at_mut(2 * state);
        let (cand, rest) = rest.split_at_mut(state);
        let (h, rest) = rest.split_at_mut(state);
        let (rh, bias) = rest.split_at_mut(state);
        let (sigmoid, tanh) = (Activation::Sigmoid, Activation::Tanh);
        let (kernels, pool) = (self.kernels, cx.pool);
        for d in 0..dirs {
            let reverse = self.common.reverse || d == 1;
            // The projection's bias: Wb of every gate, plus Rb of z and r (the h gate's Rb is
            // added inside, or scaled by r with linear_before_reset).
            let rbh = match b {
                Some(b) => {
                    let b = &b[d * 2 * g3..][..2 * g3];
                    bias.copy_from_slice(&b[..g3]);
                    add_into(&mut bias[..2 * nh], &b[g3..g3 + 2 * nh]);
                    Some(&b[g3 + 2 * nh..])
                }
                None => {
                    bias.fill(0.0);
                    None
                }
            };
            let add_bias = |_: usize, row: &mut [f32]| add_into(row, bias);
            let rows = seq * batch;
            w.product(
                kernels,
                pool,
                (d, 0),
                rows,
                (x, ni),
                (xw, g3),
                Some(&add_bias),
            )?;
            for n in 0..batch {
                let hn = &mut h[n * nh..][..nh];
                match h0 {
                    Some(v) => hn.copy_from_slice(&v[self.at(d, dirs, n, nh)..][..nh]),
                    None => hn.fill(0.0),
                }
            }
            for step in 0..seq {
                let t = if reverse { seq - 1 - step } else { step };
                r.product(kernels, pool, (d, 0), batch, (h, nh), (zr, 2 * nh), None)?;
                for n in 0..batch {
                    let g = &mut zr[n * 2 * nh..][..2 * nh];
                    add_into(g, &xw[self.at(t, seq, n, g3)..][..2 * nh]);
                    clip_all(self.common.clip, g);
                    sigmoid.apply_slice(self.kernels, g);
                }
                if self.linear_before_reset {
                    r.product(kernels, pool, (d, 1), batch, (h, nh), (cand, nh), None)?;
                } else {
                    for n in 0..batch {
                        let rg = &zr[n * 2 * nh + nh..][..nh];
                        let (rhn, hn) = (&mut rh[n * nh..][..nh], &h[n * nh..][..nh]);
                        for u in 0..nh {
                            rhn[u] = rg[u] * hn[u];
                        }
                    }
                    r.product(kernels, pool, (d, 1), batch, (rh, nh), (cand, nh), None)?;
                }
                for n in 0..batch {
                    let y_at = self.layout.y_at((t, seq), (d, dirs), n, nh);
                    if !in_sequence(lens, n, t) {
                        put(&mut y, y_at, nh, None)?;
                        continue;
                    }
                    let (z, rg) = zr[n * 2 * nh..][..2 * nh].split_at(nh);
                    let c = &mut cand[n * nh..][..nh];
                    if let Some(rbh) = rbh {
                        add_into(c, rbh);
                    }
                    if self.linear_before_reset {
                        for u in 0..nh {
                            c[u] *= rg[u];
                        }
                    }
                    add_into(c, &xw[self.at(t, seq, n, g3) + 2 * nh..][..nh]);
                    clip_all(self.common.clip, c);
                    tanh.apply_slice(self.kernels, c);
                    let hn = &mut h[n * nh..][..nh];
                    for u in 0..nh {
                        hn[u] = (1.0 - z[u]) * c[u] + z[u] * hn[u];
                    }
                    put(&mut y, y_at, nh, Some(hn))?;
                }
            }
            for n in 0..batch {
                put(
                    &mut y_h,
                    self.at(d, dirs, n, nh),
                    nh,
                    Some(&h[n * nh..][..nh]),
                )?;
            }
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<BuiltMulti, BuildError> {
    let x = cx.input(0)?;
    let (layout, seq, input) = layout(cx, &x.shape)?;
    let batch = layout.batch;
    let common = common(cx, batch)?;
    let (dirs, hidden) = (common.dirs, common.hidden);
    let g3 = hidden.checked_mul(3).ok_or("hidden_size overflows")?;
    expect_f32(cx, 0, &x.shape)?;
    expect_f32(cx, 1, &[dirs, g3, input])?;
    expect_f32(cx, 2, &[dirs, g3, hidden])?;
    expect_f32(cx, 3, &[dirs, 2 * g3])?;
    let (y, state) = layout.shapes(seq, dirs, hidden);
    expect_f32(cx, 5, &state)?;
    checked_numel(&y)?;
    checked_numel(&[seq, batch, g3, 2])?;
    let outputs = [y, state]
        .into_iter()
        .take(cx.node.outputs.len())
        .map(|shape| Fact::new(DType::F32, shape))
        .collect();
    Ok(BuiltMulti {
        op: Box::new(Gru {
            seq,
            batch,
            input,
            layout,
            linear_before_reset: cx.int("linear_before_reset", 0)? != 0,
            w: GateWeights::new(cx, 1, (dirs, g3, input), &[(0, g3)])?,
            r: GateWeights::new(
                cx,
                2,
                (dirs, g3, hidden),
                &[(0, 2 * hidden), (2 * hidden, hidden)],
            )?,
            kernels: super::gemm::plan_kernels()?,
            common,
        }),
        outputs,
    })
}
