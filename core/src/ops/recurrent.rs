//! What LSTM and GRU share: attribute parsing, input checks, `sequence_lens`, and the gate
//! weights as packed GEMM operands.
//!
//! Both ops compute the input projection `X · Wᵀ` of every time step in one f32 GEMM, then per
//! step the recurrent product `h · Rᵀ` (batch rows) through the same GEMM, so the weights are
//! packed as the GEMM's B ([`GateWeights`]): once at build time when they are model constants,
//! into scratch on every run otherwise.
//!
//! Invariants: a packed group of direction `d` holds `Wᵀ` restricted to that group's gate rows,
//! `k × rows`, in the layout of `kernels::f32::pack`; `sequence_lens` values are checked to lie
//! in `0..=seq` before any step reads them.

use super::gemm::{Dims, Finish, Matrix, matmul, pack_rhs};
use super::{Activation, BuildError, Inputs, NodeContext, OpResult};
use crate::kernels::Kernels;
use crate::kernels::f32::PostFn;
use crate::tensor::DType;

/// An optional f32 input, checked to hold at least `len` values.
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

/// `sequence_lens` (input 4) when present: one length per batch entry, each in `0..=seq`.
pub(super) fn sequence_lens(
    inputs: &dyn Inputs,
    batch: usize,
    seq: usize,
) -> OpResult<Option<&[i32]>> {
    let Some(t) = inputs.get(4) else {
        return Ok(None);
    };
    let lens = t.as_i32().map_err(|e| format!("sequence_lens: {e}"))?;
    let lens = lens
        .get(..batch)
        .ok_or("sequence_lens is shorter than the batch")?;
    if let Some(bad) = lens
        .iter()
        .find(|&&l| usize::try_from(l).map_or(true, |l| l > seq))
    {
        return Err(format!(
            "sequence_lens holds {bad}, outside 0..={seq} (the sequence length)"
        ));
    }
    Ok(Some(lens))
}

/// Whether time step `t` of batch entry `n` is within its sequence.
pub(super) fn in_sequence(lens: Option<&[i32]>, n: usize, t: usize) -> bool {
    lens.is_none_or(|l| (t as i64) < i64::from(l[n]))
}

/// Input `i`, when present, must be f32 of `shape`.
pub(super) fn expect_f32(cx: &NodeContext<'_>, i: usize, shape: &[usize]) -> OpResult<()> {
    match cx.opt_input(i) {
        Some(f) if f.dtype != DType::F32 || f.shape != shape => Err(format!(
            "input {i} is {} {:?}, expected f32 {shape:?}",
            f.dtype, f.shape
        )),
        _ => Ok(()),
    }
}

/// The build-time parameters both ops share.
#[derive(Debug)]
pub(super) struct Common {
    pub dirs: usize,
    pub reverse: bool,
    pub clip: Option<f32>,
    pub hidden: usize,
}

/// What LSTM and GRU share at build time: the variants neither supports (non-default
/// activations), `direction`, `clip`, the hidden size (attribute, or R's last dimension), and a
/// `sequence_lens` that must be i32 `[batch]`.
pub(super) fn common(cx: &NodeContext<'_>, batch: usize) -> Result<Common, BuildError> {
    if cx.attr_value("activations").is_some() || cx.attr_value("activation_alpha").is_some() {
        return Err(BuildError::Unsupported(
            "activations other than the defaults".into(),
        ));
    }
    if let Some(f) = cx.opt_input(4)
        && (f.dtype != DType::I32 || f.shape != [batch])
    {
        return Err(format!(
            "sequence_lens is {} {:?}, expected i32 [{batch}]",
            f.dtype, f.shape
        )
        .into());
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
    Ok(Common {
        dirs,
        reverse,
        clip,
        hidden,
    })
}

/// Where a batch item's vectors are in X, the states and Y: layout 0 orders them time (or
/// direction) first, layout 1 batch first.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub batch_first: bool,
    pub batch: usize,
}

impl Layout {
    /// Element offset of entry (`outer`, batch item `n`) of a tensor ordered [outer][batch] in
    /// layout 0 and [batch][outer] in layout 1 (`outers` entries of `len` elements per item):
    /// X (outer = time step), initial_h/c and Y_h/c (outer = direction).
    pub fn at(self, outer: usize, outers: usize, n: usize, len: usize) -> usize {
        if self.batch_first {
            (n * outers + outer) * len
        } else {
            (outer * self.batch + n) * len
        }
    }

    /// Element offset of Y's vector for step `t`, direction `d`, batch item `n`: Y is
    /// [seq, dirs, batch, H] in layout 0 and [batch, seq, dirs, H] in layout 1.
    pub fn y_at(
        self,
        (t, seq): (usize, usize),
        (d, dirs): (usize, usize),
        n: usize,
        nh: usize,
    ) -> usize {
        if self.batch_first {
            ((n * seq + t) * dirs + d) * nh
        } else {
            ((t * dirs + d) * self.batch + n) * nh
        }
    }

    /// The shapes of Y and of a state, for `seq` steps, `dirs` directions, `nh` hidden units.
    pub fn shapes(self, seq: usize, dirs: usize, nh: usize) -> (Vec<usize>, Vec<usize>) {
        let batch = self.batch;
        if self.batch_first {
            (vec![batch, seq, dirs, nh], vec![batch, dirs, nh])
        } else {
            (vec![seq, dirs, batch, nh], vec![dirs, batch, nh])
        }
    }
}

/// The layout attribute (0 or 1) and (seq, batch, input) from X of rank 3.
pub(super) fn layout(cx: &NodeContext<'_>, x: &[usize]) -> OpResult<(Layout, usize, usize)> {
    let batch_first = match cx.int("layout", 0)? {
        0 => false,
        1 => true,
        k => return Err(format!("layout {k}")),
    };
    let [a, b, input] = x[..] else {
        return Err(format!("X {x:?} must have rank 3"));
    };
    let (seq, batch) = if batch_first { (b, a) } else { (a, b) };
    Ok((Layout { batch_first, batch }, seq, input))
}

/// Writes `len` elements at `at` of an output that is read (`Some`): `v`, or zeros for `None`.
pub(super) fn put(
    out: &mut Option<&mut [f32]>,
    at: usize,
    len: usize,
    v: Option<&[f32]>,
) -> OpResult<()> {
    if let Some(out) = out.as_deref_mut() {
        let dst = out.get_mut(at..at + len).ok_or("output too short")?;
        match v {
            Some(v) => dst.copy_from_slice(v),
            None => dst.fill(0.0),
        }
    }
    Ok(())
}

/// Clamps every gate pre-activation to `[-clip, clip]` when `clip` is set.
pub(super) fn clip_all(clip: Option<f32>, gates: &mut [f32]) {
    if let Some(l) = clip {
        gates.iter_mut().for_each(|g| *g = g.clamp(-l, l));
    }
}

/// `acc[j] += add[j]` over the common length.
pub(super) fn add_into(acc: &mut [f32], add: &[f32]) {
    acc.iter_mut().zip(add).for_each(|(a, b)| *a += b);
}

/// A weight input `[dirs, gates, k]` (W or R) as packed GEMM right-hand sides: for each
/// direction and each group of consecutive gate rows, `Wᵀ` of those rows (`k × rows`).
#[derive(Debug)]
pub(super) struct GateWeights {
    input: usize,
    dirs: usize,
    /// Gate rows per direction.
    rows: usize,
    k: usize,
    /// (first gate row, rows) of each group, in order.
    groups: Vec<(usize, usize)>,
    /// Packed at build time when the input is a model constant.
    constant: Option<Vec<f32>>,
}

impl GateWeights {
    /// Weights of input `input` (`[dirs, rows, k]`, checked by the caller) cut into `groups`.
    pub fn new(
        cx: &NodeContext<'_>,
        input: usize,
        (dirs, rows, k): (usize, usize, usize),
        groups: &[(usize, usize)],
    ) -> OpResult<GateWeights> {
        let mut weights = GateWeights {
            input,
            dirs,
            rows,
            k,
            groups: groups.to_vec(),
            constant: None,
        };
        let len = weights.packed_len()?;
        if let Some(t) = cx.constant(input) {
            let data = t.as_f32().map_err(|e| e.to_string())?;
            let mut packed = vec![0.0; len];
            weights.pack(data, &mut packed)?;
            weights.constant = Some(packed);
        }
        Ok(weights)
    }

    fn group_len(&self, rows: usize) -> OpResult<usize> {
        Dims {
            m: 0,
            n: rows,
            k: self.k,
        }
        .packed_rhs_len()
    }

    /// f32 elements of every packed group of every direction.
    fn packed_len(&self) -> OpResult<usize> {
        let mut total = 0usize;
        for &(_, rows) in &self.groups {
            total = total
                .checked_add(self.group_len(rows)?)
                .ok_or("weights too large")?;
        }
        total
            .checked_mul(self.dirs)
            .ok_or_else(|| "weights too large".into())
    }

    /// Scratch the run needs to pack non-constant weights.
    pub fn scratch_len(&self) -> usize {
        match self.constant {
            Some(_) => 0,
            None => self.packed_len().unwrap_or(0),
        }
    }

    fn pack(&self, data: &[f32], dst: &mut [f32]) -> OpResult<()> {
        let mut at = 0;
        for d in 0..self.dirs {
            for &(first, rows) in &self.groups {
                let len = self.group_len(rows)?;
                let from = data
                    .get((d * self.rows + first) * self.k..)
                    .ok_or("weights shorter than planned")?;
                // Element (p, j) of Wᵀ is W[first + j][p].
                let b = Matrix {
                    data: from,
                    row_stride: 1,
                    col_stride: self.k,
                };
                let dims = Dims {
                    m: 0,
                    n: rows,
                    k: self.k,
                };
                pack_rhs(dims, b, &mut dst[at..at + len])?;
                at += len;
            }
        }
        Ok(())
    }

    /// The packed weights: the constant ones, or the input packed into `scratch` (at least
    /// [`GateWeights::scratch_len`] elements).
    pub fn get<'a>(&'a self, inputs: &dyn Inputs, scratch: &'a mut [f32]) -> OpResult<Packed<'a>> {
        let data: &'a [f32] = match &self.constant {
            Some(p) => p,
            None => {
                let len = self.packed_len()?;
                let dst = scratch.get_mut(..len).ok_or("scratch too small")?;
                let src = optional(inputs, self.input, self.dirs * self.rows * self.k)?
                    .ok_or_else(|| format!("input {} is missing", self.input))?;
                self.pack(src, dst)?;
                dst
            }
        };
        Ok(Packed {
            weights: self,
            data,
        })
    }
}

/// Cuts the run's scratch into the op's own `own` elements and W and R packed (the constants,
/// or the inputs packed into the rest of the scratch).
pub(super) fn scratch_and_weights<'a>(
    scratch: &'a mut [f32],
    own: usize,
    (w, r): (&'a GateWeights, &'a GateWeights),
    inputs: &dyn Inputs,
) -> OpResult<(&'a mut [f32], Packed<'a>, Packed<'a>)> {
    let scratch = scratch
        .get_mut(..own + w.scratch_len() + r.scratch_len())
        .ok_or("scratch too small")?;
    let (own, packs) = scratch.split_at_mut(own);
    let (w_scratch, r_scratch) = packs.split_at_mut(w.scratch_len());
    Ok((own, w.get(inputs, w_scratch)?, r.get(inputs, r_scratch)?))
}

/// Packed gate weights ready for the GEMM.
pub(super) struct Packed<'a> {
    weights: &'a GateWeights,
    data: &'a [f32],
}

impl Packed<'_> {
    /// `c[i] = a[i] · Wᵀ` over group `g` of direction `d` for the `m` rows of `a` (row `i` at
    /// `a[i * a_rs..][..k]`), row `i` of `c` at `c[i * c_rs..][..rows]`, then `post` on each row.
    #[allow(clippy::too_many_arguments)]
    pub fn product(
        &self,
        kernels: &Kernels,
        pool: Option<&rayon::ThreadPool>,
        (d, g): (usize, usize),
        m: usize,
        (a, a_rs): (&[f32], usize),
        (c, c_rs): (&mut [f32], usize),
        post: Option<PostFn<'_>>,
    ) -> OpResult<()> {
        let w = self.weights;
        let per_dir: usize = w
            .groups
            .iter()
            .map(|&(_, rows)| w.group_len(rows))
            .sum::<OpResult<usize>>()?;
        let mut at = d * per_dir;
        for &(_, rows) in &w.groups[..g] {
            at += w.group_len(rows)?;
        }
        let rows = w.groups.get(g).ok_or("no such gate group")?.1;
        let len = w.group_len(rows)?;
        let b = self
            .data
            .get(at..at + len)
            .ok_or("packed weights too short")?;
        let dims = Dims { m, n: rows, k: w.k };
        let a = Matrix {
            data: a,
            row_stride: a_rs,
            col_stride: 1,
        };
        let finish = Finish {
            row_bias: None,
            activation: Activation::Identity,
            post,
        };
        matmul(kernels, pool, dims, a.lhs(), b, (c, c_rs), finish)
    }
}
