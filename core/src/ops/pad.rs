//! Pad (opset 11+) on any fixed-size dtype: `pads` (and opset-18 `axes`) as inputs known at plan
//! time, the optional `constant_value` input read at run time; modes `constant`, `reflect`,
//! `edge` and `wrap`. Negative pads crop.
//!
//! Invariants: every output element maps at build time to a rule per dimension (an input index,
//! or the constant); `reflect` needs at least 2 elements on a padded axis and pads of at most
//! size − 1 there, `edge`/`wrap` need a non-empty axis: anything else is a build error.

use super::strided::strides;
use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel, normalize_axis,
};
use crate::exec::{TensorMut, elem_size};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

#[derive(Debug)]
struct Pad {
    mode: Mode,
    size: usize,
    in_shape: Vec<usize>,
    in_strides: Vec<isize>,
    out_shape: Vec<usize>,
    /// Padding before each axis (negative crops).
    begin: Vec<i64>,
}

impl Pad {
    /// The input index along an axis of `n` elements for output index `i`, or `None` for the
    /// constant.
    fn source(&self, i: usize, axis: usize) -> Option<usize> {
        let n = self.in_shape[axis] as i64;
        let j = i as i64 - self.begin[axis];
        if (0..n).contains(&j) {
            return Some(j as usize);
        }
        let j = match self.mode {
            Mode::Constant => return None,
            Mode::Edge => j.clamp(0, n - 1),
            Mode::Wrap => j.rem_euclid(n),
            Mode::Reflect => {
                let period = 2 * (n - 1);
                let r = j.rem_euclid(period.max(1));
                if r < n { r } else { period - r }
            }
        };
        Some(j as usize)
    }
}

impl Op for Pad {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        let size = self.size;
        let zero = [0u8; 8];
        let fill = match inputs.get(2) {
            Some(c) => c.bytes().get(..size).ok_or("constant_value is empty")?,
            None => &zero[..size],
        };
        let y = output.bytes_mut();
        let rank = self.out_shape.len();
        let mut idx = [0usize; super::MAX_RANK];
        for dst in y.chunks_exact_mut(size) {
            let mut at = Some(0isize);
            for (d, &i) in idx[..rank].iter().enumerate() {
                at = match (at, self.source(i, d)) {
                    (Some(a), Some(j)) => Some(a + j as isize * self.in_strides[d]),
                    _ => None,
                };
            }
            let src = match at {
                Some(a) => {
                    let a = a as usize * size;
                    x.get(a..a + size).ok_or("pad source out of bounds")?
                }
                None => fill,
            };
            dst.copy_from_slice(src);
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < self.out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let size =
        elem_size(x.dtype).ok_or_else(|| BuildError::Unsupported(format!("Pad on {}", x.dtype)))?;
    let rank = x.shape.len();
    check_rank(&x.shape)?;
    let mode = match cx.string("mode")?.unwrap_or("constant") {
        "constant" => Mode::Constant,
        "reflect" => Mode::Reflect,
        "edge" => Mode::Edge,
        "wrap" => Mode::Wrap,
        other => return Err(BuildError::Unsupported(format!("mode '{other}'"))),
    };
    let at_run_time = |e: String| BuildError::Unsupported(format!("pads or axes: {e}"));
    let pads = match (cx.known_ints(1).map_err(at_run_time)?, cx.ints("pads")?) {
        (Some(p), _) => p,
        (None, Some(p)) => p.to_vec(),
        (None, None) => return Err(BuildError::Invalid("pads are required".into())),
    };
    let axes: Vec<usize> = match cx.known_ints(3).map_err(at_run_time)? {
        Some(a) => a
            .iter()
            .map(|&a| normalize_axis(a, rank))
            .collect::<OpResult<_>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(BuildError::Invalid(format!(
            "{} pads for {} axes",
            pads.len(),
            axes.len()
        )));
    }
    if let Some(c) = cx.opt_input(2)
        && (c.dtype != x.dtype || c.shape.iter().product::<usize>() != 1)
    {
        return Err(BuildError::Invalid(format!(
            "constant_value must be one {} element, got {} {:?}",
            x.dtype, c.dtype, c.shape
        )));
    }
    let mut begin = vec![0i64; rank];
    let mut out = x.shape.clone();
    for (k, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[k], pads[k + axes.len()]);
        let n = x.shape[a] as i64;
        let len = n
            .checked_add(b)
            .and_then(|v| v.checked_add(e))
            .filter(|&v| v >= 0)
            .ok_or_else(|| format!("pads {b}, {e} do not fit axis {a} of size {n}"))?;
        let padded = len > 0 && (b > 0 || e > 0);
        let ok = match mode {
            _ if !padded => true,
            Mode::Constant => true,
            Mode::Edge | Mode::Wrap => n > 0,
            Mode::Reflect => n >= 2 && b.max(e) < n,
        };
        if !ok {
            return Err(BuildError::Invalid(format!(
                "{mode:?} padding by {b}, {e} on axis {a} of size {n}"
            )));
        }
        begin[a] = b;
        out[a] = len as usize;
    }
    checked_numel(&out)?;
    checked_numel(&[checked_numel(&x.shape)?, size])?;
    Ok(Built {
        op: Box::new(Pad {
            mode,
            size,
            in_strides: strides(&x.shape),
            in_shape: x.shape.clone(),
            out_shape: out.clone(),
            begin,
        }),
        output: Fact::new(x.dtype, out),
    })
}
