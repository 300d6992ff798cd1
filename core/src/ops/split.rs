//! Split on any fixed-size dtype: one op for all of a node's outputs (`Planned::Multi`), which
//! copies every part that something reads in one pass over the input and skips the others.
//!
//! Part sizes come from the `split` input (opset 13+, known at plan time) or attribute (before
//! 13); otherwise from `num_outputs` (opset 18: parts of ceil(size / n), the last smaller) or
//! the output count (equal parts). Invariant: the part sizes add up to the axis size.

use super::{
    BuildError, BuiltMulti, Fact, Inputs, NodeContext, Op, OpResult, Outputs, RunContext,
    normalize_axis,
};
use crate::exec::{TensorMut, elem_size};

#[derive(Debug)]
struct Split {
    outer: usize,
    /// Bytes of the input per outer index.
    row: usize,
    /// Byte offset and length of each part within a row, in output order.
    parts: Vec<(usize, usize)>,
}

impl Op for Split {
    fn run(&self, _: &dyn Inputs, _: TensorMut<'_>, _: &mut RunContext<'_>) -> OpResult<()> {
        Err("Split computes several outputs (run_multi)".into())
    }

    fn run_multi(
        &self,
        inputs: &dyn Inputs,
        mut outputs: Outputs<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        for &(start, len) in &self.parts {
            let Some(out) = outputs.next_output()? else {
                continue;
            };
            let y = out.into_bytes_mut();
            for o in 0..self.outer {
                let at = o * self.row + start;
                let src = x.get(at..at + len).ok_or("input too short")?;
                y.get_mut(o * len..(o + 1) * len)
                    .ok_or("output too short")?
                    .copy_from_slice(src);
            }
        }
        Ok(())
    }
}

/// The sizes of the parts of an axis of `n` elements.
fn part_sizes(cx: &NodeContext<'_>, n: usize, count: usize) -> Result<Vec<usize>, BuildError> {
    let known = cx
        .known_ints(1)
        .map_err(|e| BuildError::Unsupported(format!("split sizes: {e}")))?;
    let given = match (known, cx.ints("split")?) {
        (Some(s), _) => Some(s),
        (None, Some(s)) => Some(s.to_vec()),
        (None, None) => None,
    };
    let sizes: Vec<usize> = match given {
        Some(s) => s
            .iter()
            .map(|&v| usize::try_from(v).map_err(|_| format!("negative split size {v}")))
            .collect::<OpResult<_>>()?,
        None => {
            let parts = usize::try_from(cx.int("num_outputs", count as i64)?)
                .ok()
                .filter(|&p| p == count && p > 0)
                .ok_or_else(|| format!("num_outputs must equal the {count} outputs"))?;
            let each = n.div_ceil(parts);
            if cx.attr_value("num_outputs").is_none() && !n.is_multiple_of(parts) {
                return Err(BuildError::Invalid(format!(
                    "axis of {n} does not split into {parts} equal parts"
                )));
            }
            (0..parts)
                .map(|k| n.saturating_sub(k * each).min(each))
                .collect()
        }
    };
    if sizes.len() != count || sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s)) != Some(n) {
        return Err(BuildError::Invalid(format!(
            "split sizes {sizes:?} do not make {count} parts of an axis of {n}"
        )));
    }
    Ok(sizes)
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<BuiltMulti, BuildError> {
    let x = cx.input(0)?;
    let size = elem_size(x.dtype)
        .ok_or_else(|| BuildError::Unsupported(format!("Split on {}", x.dtype)))?;
    let axis = normalize_axis(cx.int("axis", 0)?, x.shape.len())?;
    let count = cx.node.outputs.len();
    let sizes = part_sizes(cx, x.shape[axis], count)?;
    let inner: usize = x.shape[axis + 1..].iter().product::<usize>() * size;
    let mut parts = Vec::with_capacity(count);
    let mut outputs = Vec::with_capacity(count);
    let mut before = 0;
    for &n in &sizes {
        parts.push((before * inner, n * inner));
        before += n;
        let mut shape = x.shape.clone();
        shape[axis] = n;
        outputs.push(Fact::new(x.dtype, shape));
    }
    Ok(BuiltMulti {
        op: Box::new(Split {
            outer: x.shape[..axis].iter().product(),
            row: x.shape[axis] * inner,
            parts,
        }),
        outputs,
    })
}
