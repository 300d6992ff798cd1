//! LSTM (ONNX gate order i, o, f, c), f32, layout 0 (`X` is [seq, batch, input]): directions
//! forward, reverse and bidirectional; optional bias `B`, initial_h, initial_c and peepholes `P`;
//! `clip`. The planner builds an LSTM of several outputs as one node per output (attribute
//! `output_index`: 0 = Y, 1 = Y_h, 2 = Y_c; see `plan`), each running the recurrence.
//! Unsupported: sequence_lens, layout 1, input_forget, activations other than the defaults
//! (Sigmoid, Tanh, Tanh).
//!
//! Invariants: gates of a step are computed from the previous step's h for the whole batch
//! before h and c change; h and c live in scratch (no allocation while running).

use super::{
    Activation, BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext,
    checked_numel,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Output {
    Y,
    H,
    C,
}

#[derive(Debug)]
struct Lstm {
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    dirs: usize,
    reverse: bool,
    clip: Option<f32>,
    output: Output,
}

/// An optional input, checked to hold at least `len` values (shared with GRU).
pub(super) fn optional(inputs: &dyn Inputs, i: usize, len: usize) -> OpResult<Option<&[f32]>> {
    match inputs.get(i) {
        None => Ok(None),
        Some(t) => {
            let v = t.as_f32().map_err(|e| e.to_string())?;
            if v.len() < len {
                return Err(format!("input {i} is shorter than planned"));
            }
            Ok(Some(v))
        }
    }
}

impl Op for Lstm {
    fn scratch_len(&self) -> usize {
        self.batch * self.hidden * 6
    }

    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (seq, batch, ni, nh, dirs) = (self.seq, self.batch, self.input, self.hidden, self.dirs);
        let g4 = 4 * nh;
        let x = optional(inputs, 0, seq * batch * ni)?.ok_or("X is missing")?;
        let w = optional(inputs, 1, dirs * g4 * ni)?.ok_or("W is missing")?;
        let r = optional(inputs, 2, dirs * g4 * nh)?.ok_or("R is missing")?;
        let b = optional(inputs, 3, dirs * 2 * g4)?;
        let h0 = optional(inputs, 5, dirs * batch * nh)?;
        let c0 = optional(inputs, 6, dirs * batch * nh)?;
        let p = optional(inputs, 7, dirs * 3 * nh)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let state = batch * nh;
        let scratch = cx.scratch.get_mut(..6 * state).ok_or("scratch too small")?;
        let (h, rest) = scratch.split_at_mut(state);
        let (c, gates) = rest.split_at_mut(state);
        let (sigmoid, tanh) = (Activation::Sigmoid, Activation::Tanh);
        let clip = |v: f32| self.clip.map_or(v, |l| v.clamp(-l, l));
        for d in 0..dirs {
            let reverse = self.reverse || d == 1;
            let (w, r) = (&w[d * g4 * ni..][..g4 * ni], &r[d * g4 * nh..][..g4 * nh]);
            match h0 {
                Some(v) => h.copy_from_slice(&v[d * state..][..state]),
                None => h.fill(0.0),
            }
            match c0 {
                Some(v) => c.copy_from_slice(&v[d * state..][..state]),
                None => c.fill(0.0),
            }
            for step in 0..seq {
                let t = if reverse { seq - 1 - step } else { step };
                for n in 0..batch {
                    let xt = &x[(t * batch + n) * ni..][..ni];
                    let hn = &h[n * nh..][..nh];
                    for (j, g) in gates[n * g4..][..g4].iter_mut().enumerate() {
                        let mut acc = b.map_or(0.0, |b| b[d * 2 * g4 + j] + b[d * 2 * g4 + g4 + j]);
                        acc += w[j * ni..][..ni]
                            .iter()
                            .zip(xt)
                            .map(|(a, b)| a * b)
                            .sum::<f32>();
                        acc += r[j * nh..][..nh]
                            .iter()
                            .zip(hn)
                            .map(|(a, b)| a * b)
                            .sum::<f32>();
                        *g = acc;
                    }
                }
                for n in 0..batch {
                    let g = &gates[n * g4..][..g4];
                    for u in 0..nh {
                        let peep = |k: usize| p.map_or(0.0, |p| p[d * 3 * nh + k * nh + u]);
                        let cp = c[n * nh + u];
                        let i = sigmoid.apply(clip(g[u]) + peep(0) * cp);
                        let f = sigmoid.apply(clip(g[2 * nh + u]) + peep(2) * cp);
                        let cc = tanh.apply(clip(g[3 * nh + u]));
                        let cn = f * cp + i * cc;
                        let o = sigmoid.apply(clip(g[nh + u]) + peep(1) * cn);
                        let hn = o * tanh.apply(cn);
                        c[n * nh + u] = cn;
                        h[n * nh + u] = hn;
                        if self.output == Output::Y {
                            let at = ((t * dirs + d) * batch + n) * nh + u;
                            *y.get_mut(at).ok_or("Y too short")? = hn;
                        }
                    }
                }
            }
            let last = match self.output {
                Output::Y => continue,
                Output::H => &*h,
                Output::C => &*c,
            };
            y.get_mut(d * state..(d + 1) * state)
                .ok_or("output too short")?
                .copy_from_slice(last);
        }
        Ok(())
    }
}

/// What LSTM and GRU share at build time: the variants neither supports (sequence_lens,
/// non-default activations), `direction` as (directions, reverse), `clip`, and the hidden size
/// (attribute, or R's last dimension), as (dirs, reverse, clip, hidden).
pub(super) fn recurrent_common(
    cx: &NodeContext<'_>,
) -> Result<(usize, bool, Option<f32>, usize), BuildError> {
    let unsupported = |what: &str| Err(BuildError::Unsupported(what.into()));
    if cx.opt_input(4).is_some() {
        return unsupported("sequence_lens");
    }
    if cx.attr_value("activations").is_some() || cx.attr_value("activation_alpha").is_some() {
        return unsupported("activations other than the defaults");
    }
    let (dirs, reverse) = match cx.string("direction")?.unwrap_or("forward") {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        other => return Err(format!("direction '{other}'").into()),
    };
    let clip = match cx.attr_value("clip") {
        None => None,
        Some(_) => Some(cx.float("clip", f32::INFINITY)?),
    };
    let hidden = match (cx.int("hidden_size", -1)?, &cx.input(2)?.shape[..]) {
        (-1, [_, _, h]) => *h,
        (h, _) => usize::try_from(h).map_err(|_| format!("hidden_size {h}"))?,
    };
    Ok((dirs, reverse, clip, hidden))
}

/// Input `i`, when present, must be f32 of `shape` (shared with GRU).
pub(super) fn expect_f32(cx: &NodeContext<'_>, i: usize, shape: &[usize]) -> OpResult<()> {
    match cx.opt_input(i) {
        Some(f) if f.dtype != DType::F32 || f.shape != shape => Err(format!(
            "input {i} is {} {:?}, expected f32 {shape:?}",
            f.dtype, f.shape
        )),
        _ => Ok(()),
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let unsupported = |what: &str| Err(BuildError::Unsupported(what.into()));
    let x = cx.input(0)?;
    if cx.int("layout", 0)? != 0 {
        return unsupported("layout 1");
    }
    if cx.int("input_forget", 0)? != 0 {
        return unsupported("input_forget");
    }
    let (dirs, reverse, clip, hidden) = recurrent_common(cx)?;
    let [seq, batch, input] = x.shape[..] else {
        return Err(format!("X {:?} must be [seq, batch, input]", x.shape).into());
    };
    let g4 = hidden.checked_mul(4).ok_or("hidden_size overflows")?;
    let expect = |i: usize, shape: &[usize]| expect_f32(cx, i, shape);
    expect(1, &[dirs, g4, input])?;
    expect(2, &[dirs, g4, hidden])?;
    expect(3, &[dirs, 2 * g4])?;
    expect(5, &[dirs, batch, hidden])?;
    expect(6, &[dirs, batch, hidden])?;
    expect(7, &[dirs, 3 * hidden])?;
    let (output, shape) = match cx.int("output_index", 0)? {
        0 => (Output::Y, vec![seq, dirs, batch, hidden]),
        1 => (Output::H, vec![dirs, batch, hidden]),
        2 => (Output::C, vec![dirs, batch, hidden]),
        k => return Err(format!("LSTM has no output {k}").into()),
    };
    checked_numel(&shape)?;
    checked_numel(&[batch, hidden, 6])?;
    Ok(Built {
        op: Box::new(Lstm {
            seq,
            batch,
            input,
            hidden,
            dirs,
            reverse,
            clip,
            output,
        }),
        output: Fact::new(DType::F32, shape),
    })
}
