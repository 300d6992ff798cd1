//! Split on any fixed-size dtype. The planner builds a Split of n outputs as n single-output
//! nodes, each carrying the attribute `output_index` (see `plan`); this op copies that one part.
//!
//! Part sizes come from the `split` input (opset 13+, known at plan time) or attribute (before
//! 13); otherwise from `num_outputs` (opset 18: parts of ceil(size / n), the last smaller) or
//! the output count (equal parts). Invariant: the part sizes add up to the axis size.

use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, normalize_axis,
};
use crate::exec::{TensorMut, elem_size};

#[derive(Debug)]
struct Split {
    outer: usize,
    /// Bytes of the input per outer index.
    row: usize,
    /// Byte offset and length of this part within a row.
    start: usize,
    len: usize,
}

impl Op for Split {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        let y = output.bytes_mut();
        for o in 0..self.outer {
            let at = o * self.row + self.start;
            let src = x.get(at..at + self.len).ok_or("input too short")?;
            y.get_mut(o * self.len..(o + 1) * self.len)
                .ok_or("output too short")?
                .copy_from_slice(src);
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
            if cx.attr_value("num_outputs").is_none() && n % parts != 0 {
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

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let size = elem_size(x.dtype)
        .ok_or_else(|| BuildError::Unsupported(format!("Split on {}", x.dtype)))?;
    let axis = normalize_axis(cx.int("axis", 0)?, x.shape.len())?;
    let count = usize::try_from(cx.int("output_count", 1)?).unwrap_or(0);
    let index = usize::try_from(cx.int("output_index", 0)?).unwrap_or(usize::MAX);
    if index >= count {
        return Err(BuildError::Invalid(format!(
            "output {index} of a Split with {count} outputs"
        )));
    }
    let sizes = part_sizes(cx, x.shape[axis], count)?;
    let inner: usize = x.shape[axis + 1..].iter().product::<usize>() * size;
    let before: usize = sizes[..index].iter().sum();
    let mut out = x.shape.clone();
    out[axis] = sizes[index];
    Ok(Built {
        op: Box::new(Split {
            outer: x.shape[..axis].iter().product(),
            row: x.shape[axis] * inner,
            start: before * inner,
            len: sizes[index] * inner,
        }),
        output: Fact::new(x.dtype, out),
    })
}
