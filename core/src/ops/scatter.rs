//! Indexed reads and writes whose indices are data: GatherND (with `batch_dims`), ScatterND and
//! ScatterElements (with `reduction` none, add, mul, max, min). Data of any fixed-size dtype
//! (reductions other than none: f32 only, others unsupported); indices i64 or i32, negative
//! counting from the end, checked at run time (an index out of range is a run error naming it).
//!
//! Scatters copy `data` into the output and then apply the updates in index order, so with
//! reduction none a repeated index keeps its last update (ONNX leaves that undefined; this is
//! onnxruntime's and the reference's order). Run allocates nothing.

use super::shape_ops::{read_index, resolve_index};
use super::strided::{for_each_row, strides};
use super::{
    BuildError, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel, normalize_axis,
};
use crate::exec::{TensorMut, TensorRef, elem_size};
use crate::tensor::DType;

/// How a scatter combines an update with the value already there.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

impl Reduction {
    fn parse(cx: &NodeContext<'_>, dtype: DType) -> Result<Reduction, BuildError> {
        let r = match cx.string("reduction")?.unwrap_or("none") {
            "none" => Reduction::None,
            "add" => Reduction::Add,
            "mul" => Reduction::Mul,
            "max" => Reduction::Max,
            "min" => Reduction::Min,
            other => return Err(format!("unknown reduction '{other}'").into()),
        };
        if r != Reduction::None && dtype != DType::F32 {
            return Err(BuildError::Unsupported(format!(
                "reduction {r:?} on dtype {dtype} (f32 only)"
            )));
        }
        Ok(r)
    }

    /// Combines `src` (elements of `size` bytes) into `dst`.
    fn apply(self, size: usize, dst: &mut [u8], src: &[u8]) -> OpResult<()> {
        if self == Reduction::None {
            dst.copy_from_slice(src);
            return Ok(());
        }
        debug_assert_eq!(size, 4, "reductions are built for f32 only");
        let cast = |e: bytemuck::PodCastError| e.to_string();
        let d: &mut [f32] = bytemuck::try_cast_slice_mut(dst).map_err(cast)?;
        let s: &[f32] = bytemuck::try_cast_slice(src).map_err(cast)?;
        for (a, &b) in d.iter_mut().zip(s) {
            *a = match self {
                Reduction::Add => *a + b,
                Reduction::Mul => *a * b,
                Reduction::Max => a.max(b),
                Reduction::Min => a.min(b),
                Reduction::None => b,
            };
        }
        Ok(())
    }
}

/// The indices input: i64 or i32.
fn index_fact<'a>(cx: &'a NodeContext<'_>, i: usize) -> OpResult<&'a Fact> {
    let f = cx.input(i)?;
    if !matches!(f.dtype, DType::I64 | DType::I32) {
        return Err(format!("indices must be i64 or i32, got {}", f.dtype));
    }
    Ok(f)
}

fn elem(dtype: DType) -> OpResult<usize> {
    elem_size(dtype).ok_or(format!("dtype {dtype} is not supported"))
}

/// `len` bytes at `at` of `bytes`, or an error (the planner proved the lengths; this guards run).
fn span(bytes: &[u8], at: usize, len: usize) -> OpResult<&[u8]> {
    bytes
        .get(at..at + len)
        .ok_or_else(|| "index outside the tensor".into())
}

/// The element offset in data of the index tuple `t` (of `dims.len()` entries) of `indices`,
/// through `data_strides` over dimensions `dims`.
fn tuple_offset(
    indices: &TensorRef<'_>,
    t: usize,
    dims: &[usize],
    data_strides: &[isize],
) -> OpResult<usize> {
    let k = dims.len();
    let mut at = 0;
    for (d, (&n, &s)) in dims.iter().zip(data_strides).enumerate() {
        let i = read_index(indices, t * k + d).ok_or("indices too short")?;
        at += resolve_index(i, n as i64)? * s as usize;
    }
    Ok(at)
}

/// GatherND: for each batch and index tuple, the block of data it addresses.
#[derive(Debug)]
struct GatherNd {
    /// Product of the first `batch_dims` dimensions.
    batches: usize,
    /// Index tuples per batch.
    tuples: usize,
    /// Data dimensions the tuples index (after the batch dims), and their element strides.
    dims: Vec<usize>,
    strides: Vec<isize>,
    /// Elements per batch of data, and per addressed block.
    batch_len: usize,
    block: usize,
    size: usize,
}

impl Op for GatherNd {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (x, indices) = (inputs.req(0)?.bytes(), inputs.req(1)?);
        let y = output.bytes_mut();
        let bytes = self.block * self.size;
        for b in 0..self.batches {
            for t in 0..self.tuples {
                let tuple = b * self.tuples + t;
                let at =
                    b * self.batch_len + tuple_offset(&indices, tuple, &self.dims, &self.strides)?;
                let src = span(x, at * self.size, bytes)?;
                y.get_mut(tuple * bytes..(tuple + 1) * bytes)
                    .ok_or("output too short")?
                    .copy_from_slice(src);
            }
        }
        Ok(())
    }
}

pub(crate) fn build_gather_nd(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let ind = index_fact(cx, 1)?;
    let b = usize::try_from(cx.int("batch_dims", 0)?).map_err(|_| "batch_dims must be ≥ 0")?;
    let (r, q) = (x.shape.len(), ind.shape.len());
    let k = *ind.shape.last().ok_or("indices must have rank ≥ 1")?;
    if b >= q || b >= r || b + k > r || ind.shape[..b] != x.shape[..b] {
        return Err(format!(
            "indices {:?} with batch_dims {b} do not address data {:?}",
            ind.shape, x.shape
        ));
    }
    let mut out = x.shape[..b].to_vec();
    out.extend(&ind.shape[b..q - 1]);
    out.extend(&x.shape[b + k..]);
    check_rank(&out)?;
    checked_numel(&out)?;
    let st = strides(&x.shape);
    let op = GatherNd {
        batches: checked_numel(&x.shape[..b])?,
        tuples: checked_numel(&ind.shape[b..q - 1])?,
        dims: x.shape[b..b + k].to_vec(),
        strides: st[b..b + k].to_vec(),
        batch_len: checked_numel(&x.shape[b..])?,
        block: checked_numel(&x.shape[b + k..])?,
        size: elem(x.dtype)?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, out),
    })
}

/// ScatterND: data copied, then each update block written (or combined) where its index tuple
/// points.
#[derive(Debug)]
struct ScatterNd {
    tuples: usize,
    dims: Vec<usize>,
    strides: Vec<isize>,
    block: usize,
    size: usize,
    reduction: Reduction,
}

/// The output's bytes, holding a copy of the data (input 0) that the updates then go into.
fn copy_data<'y>(inputs: &dyn Inputs, output: &'y mut TensorMut<'_>) -> OpResult<&'y mut [u8]> {
    let x = inputs.req(0)?.bytes();
    let y = output.bytes_mut();
    if x.len() != y.len() {
        return Err("data does not match the planned shape".into());
    }
    y.copy_from_slice(x);
    Ok(y)
}

impl Op for ScatterNd {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (indices, updates) = (inputs.req(1)?, inputs.req(2)?);
        let y = copy_data(inputs, &mut output)?;
        let bytes = self.block * self.size;
        for t in 0..self.tuples {
            let at = tuple_offset(&indices, t, &self.dims, &self.strides)? * self.size;
            let src = span(updates.bytes(), t * bytes, bytes)?;
            let dst = y.get_mut(at..at + bytes).ok_or("index outside the data")?;
            self.reduction.apply(self.size, dst, src)?;
        }
        Ok(())
    }
}

pub(crate) fn build_scatter_nd(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let ind = index_fact(cx, 1)?;
    let upd = cx.input(2)?;
    let (r, q) = (x.shape.len(), ind.shape.len());
    let k = *ind.shape.last().ok_or("indices must have rank ≥ 1")?;
    let mut want = ind.shape[..q - 1].to_vec();
    if k <= r {
        want.extend(&x.shape[k..]);
    }
    if k > r || upd.shape != want || upd.dtype != x.dtype {
        return Err(format!(
            "updates {} {:?} do not fit data {} {:?} and indices {:?}",
            upd.dtype, upd.shape, x.dtype, x.shape, ind.shape
        )
        .into());
    }
    let st = strides(&x.shape);
    let op = ScatterNd {
        tuples: checked_numel(&ind.shape[..q - 1])?,
        dims: x.shape[..k].to_vec(),
        strides: st[..k].to_vec(),
        block: checked_numel(&x.shape[k..])?,
        size: elem(x.dtype)?,
        reduction: Reduction::parse(cx, x.dtype)?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}

/// ScatterElements: data copied, then `out[i with its axis coordinate replaced by indices[i]]`
/// updated from `updates[i]` for every index `i` of the indices' shape.
#[derive(Debug)]
struct ScatterElements {
    /// The indices' shape (= the updates').
    shape: Vec<usize>,
    /// The data's strides, with the axis's set to 0 (it comes from the index).
    strides: Vec<isize>,
    axis_len: usize,
    axis_stride: usize,
    size: usize,
    reduction: Reduction,
}

impl Op for ScatterElements {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (indices, updates) = (inputs.req(1)?, inputs.req(2)?.bytes());
        let y = copy_data(inputs, &mut output)?;
        let size = self.size;
        let inner = self.shape.last().copied().unwrap_or(1);
        let step = self.strides.last().copied().unwrap_or(0);
        let mut result = Ok(());
        for_each_row(&self.shape, [&self.strides], |row, [base]| {
            for c in 0..inner {
                if result.is_err() {
                    return;
                }
                let k = row + c;
                result = (|| {
                    let i = read_index(&indices, k).ok_or("indices too short")?;
                    let j = resolve_index(i, self.axis_len as i64)?;
                    let at = (base + c as isize * step) as usize + j * self.axis_stride;
                    let dst = y
                        .get_mut(at * size..(at + 1) * size)
                        .ok_or("index outside the data")?;
                    self.reduction
                        .apply(size, dst, span(updates, k * size, size)?)
                })();
            }
        });
        result
    }
}

pub(crate) fn build_scatter_elements(cx: &NodeContext<'_>) -> Result<Built, BuildError> {
    let x = cx.input(0)?;
    let ind = index_fact(cx, 1)?;
    let upd = cx.input(2)?;
    let rank = x.shape.len();
    let axis = normalize_axis(cx.int("axis", 0)?, rank)?;
    let fits = ind.shape.len() == rank
        && (0..rank).all(|d| d == axis || ind.shape[d] <= x.shape[d])
        && upd.shape == ind.shape
        && upd.dtype == x.dtype;
    if !fits {
        return Err(format!(
            "indices {:?} and updates {} {:?} do not fit data {} {:?} on axis {axis}",
            ind.shape, upd.dtype, upd.shape, x.dtype, x.shape
        )
        .into());
    }
    check_rank(&ind.shape)?;
    let mut st = strides(&x.shape);
    let axis_stride = st[axis] as usize;
    st[axis] = 0;
    let op = ScatterElements {
        shape: ind.shape.clone(),
        strides: st,
        axis_len: x.shape[axis],
        axis_stride,
        size: elem(x.dtype)?,
        reduction: Reduction::parse(cx, x.dtype)?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}
