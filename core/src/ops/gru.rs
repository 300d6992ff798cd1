//! GRU (ONNX gate order z, r, h), f32: layouts 0 (`X` [seq, batch, input]) and 1 (`X` [batch,
//! seq, input], outputs batch-first too); directions forward, reverse and bidirectional;
//! optional bias `B` and initial_h; `linear_before_reset` 0 and 1; `clip`. The planner builds a
//! GRU of two outputs as one node per output (attribute `output_index`: 0 = Y, 1 = Y_h; see
//! `plan`), each running the recurrence. A streaming model carries Y_h into initial_h between
//! runs through a declared state pair, like LSTM.
//! Unsupported: sequence_lens, activations other than the defaults (Sigmoid, Tanh).
//!
//! Invariants: a batch item's gates for a step are computed from its previous h before that h
//! changes; h lives in scratch (no allocation while running).

use super::lstm::{expect_f32, optional, recurrent_common};
use super::{
    Activation, BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext,
    checked_numel,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Debug)]
struct Gru {
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    dirs: usize,
    reverse: bool,
    /// Layout 1: batch-first `X`, `initial_h`, `Y` and `Y_h`.
    batch_first: bool,
    linear_before_reset: bool,
    clip: Option<f32>,
    /// Computes Y (true) or Y_h (false).
    y: bool,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

impl Gru {
    /// Element offset of entry (`outer`, batch item `n`) of a tensor ordered [outer][batch] in
    /// layout 0 and [batch][outer] in layout 1 (`outers` entries of `len` elements per item):
    /// X (outer = time step), initial_h and Y_h (outer = direction).
    fn at(&self, outer: usize, outers: usize, n: usize, len: usize) -> usize {
        if self.batch_first {
            (n * outers + outer) * len
        } else {
            (outer * self.batch + n) * len
        }
    }
}

impl Op for Gru {
    fn scratch_len(&self) -> usize {
        self.batch * self.hidden + 4 * self.hidden
    }

    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (seq, batch, ni, nh, dirs) = (self.seq, self.batch, self.input, self.hidden, self.dirs);
        let g3 = 3 * nh;
        let x = optional(inputs, 0, seq * batch * ni)?.ok_or("X is missing")?;
        let w = optional(inputs, 1, dirs * g3 * ni)?.ok_or("W is missing")?;
        let r = optional(inputs, 2, dirs * g3 * nh)?.ok_or("R is missing")?;
        let b = optional(inputs, 3, dirs * 2 * g3)?;
        let h0 = optional(inputs, 5, dirs * batch * nh)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let need = if self.y {
            seq * dirs * batch * nh
        } else {
            dirs * batch * nh
        };
        if y.len() < need {
            return Err("output too short".into());
        }
        let scratch = cx
            .scratch
            .get_mut(..batch * nh + 4 * nh)
            .ok_or("scratch too small")?;
        let (h, rest) = scratch.split_at_mut(batch * nh);
        let (gates, rh) = rest.split_at_mut(g3);
        let (sigmoid, tanh) = (Activation::Sigmoid, Activation::Tanh);
        let clip = |v: f32| self.clip.map_or(v, |l| v.clamp(-l, l));
        for d in 0..dirs {
            let reverse = self.reverse || d == 1;
            let (w, r) = (&w[d * g3 * ni..][..g3 * ni], &r[d * g3 * nh..][..g3 * nh]);
            let (wb, rb) = match b {
                Some(b) => (
                    Some(&b[d * 2 * g3..][..g3]),
                    Some(&b[d * 2 * g3 + g3..][..g3]),
                ),
                None => (None, None),
            };
            for n in 0..batch {
                let hn = &mut h[n * nh..][..nh];
                match h0 {
                    Some(v) => hn.copy_from_slice(&v[self.at(d, dirs, n, nh)..][..nh]),
                    None => hn.fill(0.0),
                }
            }
            for step in 0..seq {
                let t = if reverse { seq - 1 - step } else { step };
                for n in 0..batch {
                    let xt = &x[self.at(t, seq, n, ni)..][..ni];
                    let hn = &mut h[n * nh..][..nh];
                    let bias = |bs: Option<&[f32]>, j: usize| bs.map_or(0.0, |b| b[j]);
                    // z and r: W x + R h + both biases; h: W x + Wb only for now.
                    for (j, g) in gates.iter_mut().enumerate() {
                        *g = dot(&w[j * ni..][..ni], xt) + bias(wb, j);
                        if j < 2 * nh {
                            *g += dot(&r[j * nh..][..nh], hn) + bias(rb, j);
                        }
                    }
                    for g in &mut gates[..2 * nh] {
                        *g = sigmoid.apply(clip(*g));
                    }
                    let (zr, hg) = gates.split_at_mut(2 * nh);
                    let (z, rg) = zr.split_at(nh);
                    if self.linear_before_reset {
                        for u in 0..nh {
                            let j = 2 * nh + u;
                            hg[u] += rg[u] * (dot(&r[j * nh..][..nh], hn) + bias(rb, j));
                        }
                    } else {
                        for ((o, &rv), &hv) in rh.iter_mut().zip(rg).zip(hn.iter()) {
                            *o = rv * hv;
                        }
                        for (u, g) in hg.iter_mut().enumerate() {
                            let j = 2 * nh + u;
                            *g += dot(&r[j * nh..][..nh], &rh[..nh]) + bias(rb, j);
                        }
                    }
                    for u in 0..nh {
                        let cand = tanh.apply(clip(hg[u]));
                        hn[u] = (1.0 - z[u]) * cand + z[u] * hn[u];
                    }
                    if self.y {
                        // Y is [seq, dirs, batch, H] (layout 0) or [batch, seq, dirs, H].
                        let at = if self.batch_first {
                            ((n * seq + t) * dirs + d) * nh
                        } else {
                            ((t * dirs + d) * batch + n) * nh
                        };
                        y[at..at + nh].copy_from_slice(hn);
                    }
                }
            }
            if !self.y {
                for n in 0..batch {
                    let at = self.at(d, dirs, n, nh);
                    y[at..at + nh].copy_from_slice(&h[n * nh..][..nh]);
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let (dirs, reverse, clip, hidden) = recurrent_common(cx)?;
    let batch_first = match cx.int("layout", 0)? {
        0 => false,
        1 => true,
        k => return Err(format!("layout {k}").into()),
    };
    let [a, b, input] = x.shape[..] else {
        return Err(format!("X {:?} must have rank 3", x.shape).into());
    };
    let (seq, batch) = if batch_first { (b, a) } else { (a, b) };
    let g3 = hidden.checked_mul(3).ok_or("hidden_size overflows")?;
    expect_f32(cx, 1, &[dirs, g3, input])?;
    expect_f32(cx, 2, &[dirs, g3, hidden])?;
    expect_f32(cx, 3, &[dirs, 2 * g3])?;
    let state = if batch_first {
        vec![batch, dirs, hidden]
    } else {
        vec![dirs, batch, hidden]
    };
    expect_f32(cx, 5, &state)?;
    let (y, shape) = match cx.int("output_index", 0)? {
        0 if batch_first => (true, vec![batch, seq, dirs, hidden]),
        0 => (true, vec![seq, dirs, batch, hidden]),
        1 => (false, state),
        k => return Err(format!("GRU has no output {k}").into()),
    };
    checked_numel(&shape)?;
    checked_numel(&[batch, hidden])?;
    checked_numel(&[4, hidden])?;
    Ok(Built {
        op: Box::new(Gru {
            seq,
            batch,
            input,
            hidden,
            dirs,
            reverse,
            batch_first,
            linear_before_reset: cx.int("linear_before_reset", 0)? != 0,
            clip,
            y,
        }),
        output: Fact::new(DType::F32, shape),
    })
}
