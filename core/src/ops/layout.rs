//! Ops that move elements without computing, for every dtype: the copies (Identity, Reshape,
//! Flatten, Squeeze, Unsqueeze) and the strided copies (Transpose, Slice, Expand, which reads
//! broadcast dimensions through stride 0, and Tile, which walks each repeated dimension as a
//! (repeat, size) pair with the repeat at stride 0).
//!
//! Invariant: the output holds exactly the input's elements (all of them for copies, a strided
//! selection for Transpose and Slice), byte for byte.

use super::strided::{broadcast_shapes, broadcast_strides, strided_copy_bytes, strides};
use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel, normalize_axis,
};
use crate::exec::{TensorMut, elem_size};

/// Same bytes, new shape.
#[derive(Debug)]
struct Copy;

impl Op for Copy {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        let y = output.bytes_mut();
        if x.len() != y.len() {
            return Err(format!("copy of {} bytes into {}", x.len(), y.len()));
        }
        y.copy_from_slice(x);
        Ok(())
    }
}

/// An op copying its input unchanged (the planner's copies into `If` outputs).
pub(crate) fn identity() -> Box<dyn Op> {
    Box::new(Copy)
}

fn copy_to(x: &Fact, shape: Vec<usize>) -> OpResult<Built> {
    if checked_numel(&shape)? != checked_numel(&x.shape)? {
        return Err(format!("cannot reshape {:?} to {shape:?}", x.shape));
    }
    check_rank(&shape)?;
    Ok(Built {
        op: Box::new(Copy),
        output: Fact::new(x.dtype, shape),
    })
}

pub(crate) fn build_identity(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    copy_to(x, x.shape.clone())
}

pub(crate) fn build_flatten(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let r = x.shape.len() as i64;
    let axis = cx.int("axis", 1)?;
    let axis = if axis < 0 {
        axis.saturating_add(r)
    } else {
        axis
    };
    if !(0..=r).contains(&axis) {
        return Err(format!("axis {axis} out of range for rank {r}"));
    }
    let (head, tail) = x.shape.split_at(axis as usize);
    copy_to(x, vec![checked_numel(head)?, checked_numel(tail)?])
}

pub(crate) fn build_reshape(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let target = cx.known_ints(1)?.ok_or("the shape input is required")?;
    let allow_zero = cx.int("allowzero", 0)? != 0;
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        shape.push(match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            0 if !allow_zero => *x.shape.get(i).ok_or(format!(
                "shape {target:?}: 0 at {i} has no input dimension to copy"
            ))?,
            d if d >= 0 => d as usize,
            _ => return Err(format!("invalid target shape {target:?}")),
        });
    }
    if let Some(i) = infer {
        let known = checked_numel(&shape)?;
        let total = checked_numel(&x.shape)?;
        if known == 0 || total % known != 0 {
            return Err(format!(
                "cannot infer -1 in {target:?} for input {:?}",
                x.shape
            ));
        }
        shape[i] = total / known;
    }
    copy_to(x, shape)
}

/// Axes from input 1 (opset 13+) or, for older producers, the `axes` attribute.
fn axes(cx: &NodeContext<'_>) -> OpResult<Option<Vec<i64>>> {
    match cx.known_ints(1)? {
        Some(a) => Ok(Some(a)),
        None => Ok(cx.ints("axes")?.map(<[i64]>::to_vec)),
    }
}

pub(crate) fn build_squeeze(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let rank = x.shape.len();
    let mut drop = vec![false; rank];
    match axes(cx)? {
        None => x
            .shape
            .iter()
            .zip(&mut drop)
            .for_each(|(&d, s)| *s = d == 1),
        Some(a) => {
            for ax in a {
                let i = normalize_axis(ax, rank)?;
                if x.shape[i] != 1 {
                    return Err(format!(
                        "cannot squeeze axis {ax} of size {} in {:?}",
                        x.shape[i], x.shape
                    ));
                }
                drop[i] = true;
            }
        }
    }
    let shape = x
        .shape
        .iter()
        .zip(&drop)
        .filter(|(_, d)| !**d)
        .map(|(&s, _)| s)
        .collect();
    copy_to(x, shape)
}

pub(crate) fn build_unsqueeze(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let a = axes(cx)?.ok_or("axes are required")?;
    let rank = x.shape.len() + a.len();
    let mut inserted = vec![false; rank];
    for ax in a {
        let i = normalize_axis(ax, rank)?;
        if std::mem::replace(&mut inserted[i], true) {
            return Err(format!("axis {ax} repeated"));
        }
    }
    let mut src = x.shape.iter();
    let shape = inserted
        .iter()
        .map(|&new| {
            if new {
                1
            } else {
                src.next().copied().unwrap_or(1)
            }
        })
        .collect();
    copy_to(x, shape)
}

/// Output element `i` is input element `offset + Σ index_d · strides_d`.
#[derive(Debug)]
struct Strided {
    elem_size: usize,
    out_shape: Vec<usize>,
    offset: isize,
    strides: Vec<isize>,
}

impl Op for Strided {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        strided_copy_bytes(
            self.elem_size,
            x,
            output.bytes_mut(),
            &self.out_shape,
            self.offset,
            &self.strides,
        )
    }
}

pub(crate) fn strided(
    x: &Fact,
    out_shape: Vec<usize>,
    offset: isize,
    strides: Vec<isize>,
) -> OpResult<Built> {
    check_rank(&out_shape)?;
    checked_numel(&out_shape)?;
    let elem_size = elem_size(x.dtype).ok_or(format!("dtype {} is not supported", x.dtype))?;
    let op = Strided {
        elem_size,
        out_shape: out_shape.clone(),
        offset,
        strides,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, out_shape),
    })
}

pub(crate) fn build_transpose(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let rank = x.shape.len();
    let perm: Vec<usize> = match cx.ints("perm")? {
        None => (0..rank).rev().collect(),
        Some(p) => p
            .iter()
            .map(|&a| normalize_axis(a, rank))
            .collect::<OpResult<_>>()?,
    };
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
        return Err(format!("perm {perm:?} is not a permutation of rank {rank}"));
    }
    let src = strides(&x.shape);
    strided(
        x,
        perm.iter().map(|&p| x.shape[p]).collect(),
        0,
        perm.iter().map(|&p| src[p]).collect(),
    )
}

/// Expand: the input broadcast (ONNX multidirectional rules) with the shape input, which must be
/// known at plan time.
pub(crate) fn build_expand(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let dims = cx.known_ints(1)?.ok_or("the shape input is required")?;
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in shape")))
        .collect::<OpResult<_>>()?;
    let out_shape = broadcast_shapes(&x.shape, &shape)?;
    let strides = broadcast_strides(&x.shape, &out_shape);
    strided(x, out_shape, 0, strides)
}

/// Tile, with repeats known at plan time: dimension `d` of size `s` repeated `r` times is walked
/// as the pair (r, s) with strides (0, the input's stride), which is the output's row-major order.
pub(crate) fn build_tile(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let repeats = cx.known_ints(1)?.ok_or("the repeats input is required")?;
    if repeats.len() != x.shape.len() {
        return Err(format!(
            "{} repeats for an input of rank {}",
            repeats.len(),
            x.shape.len()
        )
        .into());
    }
    let src = strides(&x.shape);
    let (mut walk, mut walk_strides, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for ((&r, &s), &st) in repeats.iter().zip(&x.shape).zip(&src) {
        let r = usize::try_from(r).map_err(|_| format!("negative repeat {r}"))?;
        if r != 1 {
            walk.push(r);
            walk_strides.push(0);
        }
        walk.push(s);
        walk_strides.push(st);
        out.push(s.checked_mul(r).ok_or("tiled size overflows")?);
    }
    if walk.len() > super::MAX_RANK {
        return Err(BuildError::Unsupported(format!(
            "tiling {} dimensions of a rank-{} input (at most {} walked dimensions)",
            walk.len() - x.shape.len(),
            x.shape.len(),
            super::MAX_RANK
        )));
    }
    checked_numel(&out)?;
    let elem_size = elem_size(x.dtype).ok_or(format!("dtype {} is not supported", x.dtype))?;
    let op = Strided {
        elem_size,
        out_shape: walk,
        offset: 0,
        strides: walk_strides,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, out),
    })
}

pub(crate) fn build_slice(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let rank = x.shape.len();
    let starts = cx.known_ints(1)?.ok_or("starts are required")?;
    let ends = cx.known_ints(2)?.ok_or("ends are required")?;
    let axes = cx
        .known_ints(3)?
        .unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = cx.known_ints(4)?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps must have the same length".into());
    }
    let src = strides(&x.shape);
    let mut shape = x.shape.clone();
    let mut out_strides = src.clone();
    let mut offset = 0isize;
    let mut seen = vec![false; rank];
    for i in 0..starts.len() {
        let a = normalize_axis(axes[i], rank)?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axis {} repeated", axes[i]));
        }
        let (dim, step) = (x.shape[a] as i64, steps[i]);
        if step == 0 {
            return Err("step 0".into());
        }
        let wrap = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = (wrap(starts[i]), wrap(ends[i]));
        // Clamped as ONNX says; `max`/`min` rather than `clamp`, which panics on an empty axis.
        let (start, end) = if step > 0 {
            (start.max(0).min(dim), end.max(0).min(dim))
        } else {
            (start.max(0).min(dim - 1), end.max(-1).min(dim - 1))
        };
        let (span, stride) = if step > 0 {
            (end - start, step)
        } else {
            (start - end, step.saturating_neg())
        };
        let len = if span <= 0 {
            0
        } else {
            (span - 1) / stride + 1
        };
        shape[a] = len as usize;
        if len > 0 {
            offset += start as isize * src[a];
        }
        out_strides[a] = step as isize * src[a];
    }
    strided(x, shape, offset, out_strides)
}
