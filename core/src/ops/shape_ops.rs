//! Ops on whole tensors of any dtype that mostly serve shape computations: Concat, Gather,
//! Shape and Constant. Shape and Constant are values known at plan time, never ops that run.
//!
//! Invariant: Gather checks every index against the axis size at run time (indices may be
//! data), and reports an out-of-range index as an error.

use super::{
    Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank, checked_numel,
    normalize_axis,
};
use crate::exec::{Tensor, TensorMut, elem_size};
use crate::graph::AttrValue;
use crate::tensor::DType;

#[derive(Debug)]
struct Concat {
    /// Product of the dimensions before the axis.
    outer: usize,
    /// Bytes of each input per outer index.
    blocks: Vec<usize>,
}

impl Op for Concat {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let y = output.bytes_mut();
        let mut at = 0;
        for o in 0..self.outer {
            for (i, &block) in self.blocks.iter().enumerate() {
                let x = inputs.req(i)?.bytes();
                let src = x.get(o * block..(o + 1) * block).ok_or("input too short")?;
                y.get_mut(at..at + block)
                    .ok_or("output too short")?
                    .copy_from_slice(src);
                at += block;
            }
        }
        Ok(())
    }
}

pub(crate) fn build_concat(cx: &NodeContext<'_>) -> OpResult<Built> {
    let first = cx.input(0)?;
    let rank = first.shape.len();
    let axis = normalize_axis(cx.int("axis", 0)?, rank)?;
    let size = elem_size(first.dtype).ok_or(format!("dtype {} is not supported", first.dtype))?;
    let inner: usize = first.shape[axis + 1..].iter().product();
    let mut out = first.shape.clone();
    out[axis] = 0;
    let mut blocks = Vec::with_capacity(cx.inputs.len());
    for i in 0..cx.inputs.len() {
        let x = cx.input(i)?;
        let same = x.dtype == first.dtype
            && x.shape.len() == rank
            && (0..rank).all(|d| d == axis || x.shape[d] == first.shape[d]);
        if !same {
            return Err(format!(
                "input {i} ({} {:?}) does not match input 0 ({} {:?}) off axis {axis}",
                x.dtype, x.shape, first.dtype, first.shape
            ));
        }
        out[axis] = out[axis]
            .checked_add(x.shape[axis])
            .ok_or("concatenated size overflows")?;
        blocks.push(checked_numel(&[x.shape[axis], inner, size])?);
    }
    checked_numel(&out)?;
    let outer = first.shape[..axis].iter().product();
    Ok(Built {
        op: Box::new(Concat { outer, blocks }),
        output: Fact::new(first.dtype, out),
    })
}

#[derive(Debug)]
struct Gather {
    outer: usize,
    axis_len: usize,
    /// Bytes per gathered slice.
    block: usize,
}

impl Op for Gather {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        let indices = inputs.req(1)?;
        let (wide, narrow): (&[i64], &[i32]) = match indices.dtype() {
            DType::I64 => (indices.as_i64().map_err(|e| e.to_string())?, &[]),
            _ => (&[], indices.as_i32().map_err(|e| e.to_string())?),
        };
        let indices = wide
            .iter()
            .copied()
            .chain(narrow.iter().map(|&i| i64::from(i)));
        let y = output.bytes_mut();
        let (n, block) = (self.axis_len as i64, self.block);
        let mut chunks = y.chunks_exact_mut(block.max(1));
        for o in 0..self.outer {
            for i in indices.clone() {
                let at = (o * self.axis_len + resolve_index(i, n)?) * block;
                let src = x.get(at..at + block).ok_or("input too short")?;
                if let Some(dst) = chunks.next() {
                    dst.copy_from_slice(src);
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn build_gather(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let ind = cx.input(1)?;
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(format!("indices must be i64 or i32, got {}", ind.dtype));
    }
    let axis = normalize_axis(cx.int("axis", 0)?, x.shape.len())?;
    let size = elem_size(x.dtype).ok_or(format!("dtype {} is not supported", x.dtype))?;
    let mut out = x.shape[..axis].to_vec();
    out.extend(&ind.shape);
    out.extend(&x.shape[axis + 1..]);
    check_rank(&out)?;
    checked_numel(&out)?;
    let op = Gather {
        outer: x.shape[..axis].iter().product(),
        axis_len: x.shape[axis],
        block: checked_numel(&[x.shape[axis + 1..].iter().product(), size])?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, out),
    })
}

/// GatherElements: `out[i] = data[i with its `axis` coordinate replaced by indices[i]]`; any
/// fixed-size dtype, indices i64 or i32 (negative count from the end), checked at run time.
#[derive(Debug)]
struct GatherElements {
    /// The indices' shape (= the output's).
    shape: Vec<usize>,
    /// The data's strides, with the axis's set to 0 (it comes from the index).
    strides: Vec<isize>,
    axis_len: usize,
    axis_stride: usize,
    size: usize,
}

impl Op for GatherElements {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        let indices = inputs.req(1)?;
        let index = |k: usize| read_index(&indices, k);
        let y = output.bytes_mut();
        let (n, size) = (self.axis_len as i64, self.size);
        let inner = self.shape.last().copied().unwrap_or(1);
        let step = self.strides.last().copied().unwrap_or(0);
        let mut failure = None;
        super::strided::for_each_row(&self.shape, [&self.strides], |row, [base]| {
            for c in 0..inner {
                let k = row + c;
                let Some(i) = index(k) else {
                    failure = Some("indices too short".to_string());
                    return;
                };
                let j = match resolve_index(i, n) {
                    Ok(j) => j,
                    Err(e) => {
                        failure = Some(e);
                        return;
                    }
                };
                let at = (base + c as isize * step) as usize + j * self.axis_stride;
                match (
                    x.get(at * size..(at + 1) * size),
                    y.get_mut(k * size..(k + 1) * size),
                ) {
                    (Some(src), Some(dst)) => dst.copy_from_slice(src),
                    _ => failure = Some("index outside the data".to_string()),
                }
            }
        });
        failure.map_or(Ok(()), Err)
    }
}

/// Element `k` of an i64 or i32 index tensor, widened to i64 (`None` past the end or for
/// another dtype).
pub(super) fn read_index(indices: &crate::exec::TensorRef<'_>, k: usize) -> Option<i64> {
    match indices.dtype() {
        DType::I64 => indices.as_i64().ok()?.get(k).copied(),
        DType::I32 => indices.as_i32().ok()?.get(k).map(|&v| i64::from(v)),
        _ => None,
    }
}

/// Index `i` into an axis of `n` elements, negative counting from the end; an error naming both
/// when it is out of range.
pub(super) fn resolve_index(i: i64, n: i64) -> OpResult<usize> {
    let j = if i < 0 { i + n } else { i };
    if (0..n).contains(&j) {
        Ok(j as usize)
    } else {
        Err(format!("index {i} is out of range for an axis of size {n}"))
    }
}

pub(crate) fn build_gather_elements(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.input(0)?;
    let ind = cx.input(1)?;
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(format!("indices must be i64 or i32, got {}", ind.dtype));
    }
    let rank = x.shape.len();
    if ind.shape.len() != rank {
        return Err(format!(
            "indices {:?} and data {:?} differ in rank",
            ind.shape, x.shape
        ));
    }
    let axis = normalize_axis(cx.int("axis", 0)?, rank)?;
    if let Some(d) = (0..rank).find(|&d| d != axis && ind.shape[d] > x.shape[d]) {
        return Err(format!(
            "indices {:?} exceed data {:?} in dimension {d}",
            ind.shape, x.shape
        ));
    }
    check_rank(&ind.shape)?;
    checked_numel(&ind.shape)?;
    let size = elem_size(x.dtype).ok_or(format!("dtype {} is not supported", x.dtype))?;
    let mut strides = super::strided::strides(&x.shape);
    let axis_stride = strides[axis] as usize;
    strides[axis] = 0;
    Ok(Built {
        op: Box::new(GatherElements {
            shape: ind.shape.clone(),
            strides,
            axis_len: x.shape[axis],
            axis_stride,
            size,
        }),
        output: Fact::new(x.dtype, ind.shape.clone()),
    })
}

/// The value of a Shape node: the input's dimensions from `start` to `end`.
pub(crate) fn shape(cx: &NodeContext<'_>) -> OpResult<Tensor> {
    let x = cx.input(0)?;
    let r = x.shape.len() as i64;
    let clamp = |v: i64| (if v < 0 { v.saturating_add(r) } else { v }).clamp(0, r) as usize;
    let start = clamp(cx.int("start", 0)?);
    let end = clamp(cx.int("end", r)?).max(start);
    let dims: Vec<i64> = x.shape[start..end].iter().map(|&d| d as i64).collect();
    Tensor::from_i64(vec![dims.len()], dims).map_err(|e| e.to_string())
}

/// The value of a Constant node.
pub(crate) fn constant(cx: &NodeContext<'_>) -> OpResult<Tensor> {
    match (
        cx.attr_value("value"),
        cx.attr_value("value_float"),
        cx.attr_value("value_floats"),
        cx.attr_value("value_int"),
        cx.attr_value("value_ints"),
    ) {
        (Some(AttrValue::Tensor(id)), ..) => return (cx.tensor_attr)(*id),
        (_, Some(AttrValue::Float(v)), ..) => Tensor::from_f32(vec![], vec![*v]),
        (_, _, Some(AttrValue::Floats(v)), ..) => Tensor::from_f32(vec![v.len()], v.clone()),
        (_, _, _, Some(AttrValue::Int(v)), _) => Tensor::from_i64(vec![], vec![*v]),
        (.., Some(AttrValue::Ints(v))) => Tensor::from_i64(vec![v.len()], v.clone()),
        _ => return Err("needs one of value (tensor), value_float(s), value_int(s)".into()),
    }
    .map_err(|e| e.to_string())
}
