//! Gemm (alpha, beta, transA, transB, optional C, fused activation) and MatMul (batched, with
//! broadcasting of batch dimensions and 1-D promotion), both through [`super::gemm::matmul`].
//!
//! Invariant: a constant transposed B is transposed once at build time, so at run time every B
//! is row-major; a non-constant transposed B is transposed into scratch.

use super::gemm::{Dims, Matrix, matmul};
use super::strided::{broadcast_shapes, broadcast_strides, for_each_row};
use super::{
    Activation, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel,
};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Debug)]
struct Gemm {
    dims: Dims,
    trans_a: bool,
    trans_b: bool,
    /// B transposed to row-major at build time, when B is a constant.
    packed_b: Option<Vec<f32>>,
    alpha: f32,
    beta: f32,
    /// Strides of C as broadcast to `[m, n]` (row, column), when C is present.
    c_strides: Option<(isize, isize)>,
    activation: Activation,
}

/// Writes the `rows × cols` row-major transpose of `src` (which is `cols × rows`) into `dst`.
fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for (j, col) in src.chunks_exact(rows).take(cols).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            if let Some(d) = dst.get_mut(i * cols + j) {
                *d = v;
            }
        }
    }
}

impl Op for Gemm {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let Dims { m, n, k } = self.dims;
        let a = inputs.f32(0)?;
        let a = if self.trans_a {
            Matrix {
                data: a,
                row_stride: 1,
                col_stride: m,
            }
        } else {
            Matrix {
                data: a,
                row_stride: k,
                col_stride: 1,
            }
        };
        let b: &[f32] = match (&self.packed_b, self.trans_b) {
            (Some(packed), _) => packed,
            (None, false) => inputs.f32(1)?,
            (None, true) => {
                let scratch = cx.scratch.get_mut(..k * n).ok_or("scratch too small")?;
                transpose_into(inputs.f32(1)?, k, n, scratch);
                scratch
            }
        };
        let c = match self.c_strides {
            Some(_) => inputs.f32(2)?,
            None => &[],
        };
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let (alpha, beta, act) = (self.alpha, self.beta, self.activation);
        let c_strides = self.c_strides;
        let epilogue = move |i: usize, row: &mut [f32]| {
            if alpha != 1.0 {
                row.iter_mut().for_each(|v| *v *= alpha);
            }
            if let Some((sr, sc)) = c_strides {
                let base = i as isize * sr;
                for (j, v) in row.iter_mut().enumerate() {
                    *v += beta
                        * c.get((base + j as isize * sc) as usize)
                            .copied()
                            .unwrap_or(0.0);
                }
            }
            act.apply_slice(row);
        };
        matmul(cx.pool, self.dims, a, b, y, &epilogue)
    }

    fn scratch_len(&self) -> usize {
        if self.trans_b && self.packed_b.is_none() {
            self.dims.k * self.dims.n
        } else {
            0
        }
    }
}

pub(crate) fn build_gemm(cx: &NodeContext<'_>) -> OpResult<Built> {
    let a = cx.f32_input(0)?;
    let b = cx.f32_input(1)?;
    let trans_a = cx.int("transA", 0)? != 0;
    let trans_b = cx.int("transB", 0)? != 0;
    let (&[a0, a1], &[b0, b1]) = (a.shape.as_slice(), b.shape.as_slice()) else {
        return Err(format!(
            "A and B must be 2-D, got {:?} and {:?}",
            a.shape, b.shape
        ));
    };
    let (m, k) = if trans_a { (a1, a0) } else { (a0, a1) };
    let (kb, n) = if trans_b { (b1, b0) } else { (b0, b1) };
    if k != kb {
        return Err(format!(
            "inner dimensions differ: A {:?} (transA={trans_a}) and B {:?} (transB={trans_b})",
            a.shape, b.shape
        ));
    }
    let beta = cx.float("beta", 1.0)?;
    // With beta = 0, C is not read at all (so NaN or infinity in C cannot leak through 0 · C).
    let c_strides = match cx.opt_input(2).filter(|_| beta != 0.0) {
        None => None,
        Some(c) => {
            if c.dtype != DType::F32
                || c.shape.len() > 2
                || broadcast_shapes(&c.shape, &[m, n])? != [m, n]
            {
                return Err(format!(
                    "C ({} {:?}) does not broadcast to [{m}, {n}]",
                    c.dtype, c.shape
                ));
            }
            let s = broadcast_strides(&c.shape, &[m, n]);
            Some((s[0], s[1]))
        }
    };
    let packed_b = match (trans_b, cx.constant(1)) {
        (true, Some(w)) => {
            let w = w.as_f32().map_err(|e| e.to_string())?;
            let mut packed = vec![0.0; checked_numel(&[k, n])?];
            transpose_into(w, k, n, &mut packed);
            Some(packed)
        }
        _ => None,
    };
    let op = Gemm {
        dims: Dims { m, n, k },
        trans_a,
        trans_b,
        packed_b,
        alpha: cx.float("alpha", 1.0)?,
        beta,
        c_strides,
        activation: Activation::fused(cx)?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(DType::F32, vec![m, n]),
    })
}

#[derive(Debug)]
struct MatMul {
    dims: Dims,
    /// Broadcast batch shape, followed by a 1 so that each batch index is one "row".
    batch_shape: Vec<usize>,
    a_batch_strides: Vec<isize>,
    b_batch_strides: Vec<isize>,
}

impl Op for MatMul {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let Dims { m, n, k } = self.dims;
        let (a, b) = (inputs.f32(0)?, inputs.f32(1)?);
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let mut result = Ok(());
        for_each_row(
            &self.batch_shape,
            [&self.a_batch_strides, &self.b_batch_strides],
            |batch, [oa, ob]| {
                if result.is_err() {
                    return;
                }
                let (oa, ob, oc) = (oa as usize, ob as usize, batch * m * n);
                result = match (a.get(oa..), b.get(ob..), y.get_mut(oc..oc + m * n)) {
                    (Some(a), Some(b), Some(c)) => {
                        let a = Matrix {
                            data: a,
                            row_stride: k,
                            col_stride: 1,
                        };
                        matmul(cx.pool, self.dims, a, b, c, &|_, _| {})
                    }
                    _ => Err("batch offset out of range".into()),
                };
            },
        );
        result
    }
}

pub(crate) fn build_matmul(cx: &NodeContext<'_>) -> OpResult<Built> {
    let a = cx.f32_input(0)?;
    let b = cx.f32_input(1)?;
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err("MatMul inputs must have rank at least 1".into());
    }
    // 1-D promotion: A [k] is [1, k]; B [k] is [k, 1]; the added dimension is dropped after.
    let a2: Vec<usize> = if a.shape.len() == 1 {
        vec![1, a.shape[0]]
    } else {
        a.shape.clone()
    };
    let b2: Vec<usize> = if b.shape.len() == 1 {
        vec![b.shape[0], 1]
    } else {
        b.shape.clone()
    };
    let (ar, br) = (a2.len(), b2.len());
    let (m, k, kb, n) = (a2[ar - 2], a2[ar - 1], b2[br - 2], b2[br - 1]);
    if k != kb {
        return Err(format!(
            "inner dimensions differ: {:?} x {:?}",
            a.shape, b.shape
        ));
    }
    let batch = broadcast_shapes(&a2[..ar - 2], &b2[..br - 2])?;
    check_rank(&batch)?;
    let mut out = batch.clone();
    if a.shape.len() > 1 {
        out.push(m);
    }
    if b.shape.len() > 1 {
        out.push(n);
    }
    let scale = |strides: Vec<isize>, mat: usize| -> Vec<isize> {
        strides
            .into_iter()
            .map(|s| s * mat as isize)
            .chain([0])
            .collect()
    };
    let op = MatMul {
        dims: Dims { m, n, k },
        a_batch_strides: scale(broadcast_strides(&a2[..ar - 2], &batch), m * k),
        b_batch_strides: scale(broadcast_strides(&b2[..br - 2], &batch), k * n),
        batch_shape: batch.iter().copied().chain([1]).collect(),
    };
    checked_numel(&out)?;
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(DType::F32, out),
    })
}
