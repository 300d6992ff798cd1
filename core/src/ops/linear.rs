//! Gemm (alpha, beta, transA, transB, optional C, fused activation) and MatMul (batched, with
//! broadcasting of batch dimensions and 1-D promotion), both through [`super::gemm::matmul`].
//!
//! Invariant: a constant B (the weights, transposed or not) is packed for the GEMM kernels once at
//! build time; a non-constant B is packed into scratch at run time (reading it through strides, so
//! a transposed B costs no extra pass).

use super::gemm::{Dims, Finish, Matrix, matmul, pack_constant_rhs, pack_rhs, plan_kernels};
use super::strided::{broadcast_shapes, broadcast_strides, for_each_row};
use super::{
    Activation, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel,
};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::f32::PostFn;
use crate::tensor::DType;

#[derive(Debug)]
struct Gemm {
    dims: Dims,
    trans_a: bool,
    trans_b: bool,
    /// B packed for the GEMM at build time, when B is a constant.
    packed_b: Option<Vec<f32>>,
    kernels: &'static Kernels,
    alpha: f32,
    beta: f32,
    /// Strides of C as broadcast to `[m, n]` (row, column), when C is present.
    c_strides: Option<(isize, isize)>,
    activation: Activation,
}

/// B (`k × n`) as a matrix view: `[k, n]` row-major, or `[n, k]` when transposed.
fn rhs(b: &[f32], dims: Dims, trans_b: bool) -> Matrix<'_> {
    let (row_stride, col_stride) = if trans_b { (1, dims.k) } else { (dims.n, 1) };
    Matrix {
        data: b,
        row_stride,
        col_stride,
    }
}

impl Op for Gemm {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let Dims { m, k, .. } = self.dims;
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
        let b: &[f32] = match &self.packed_b {
            Some(packed) => packed,
            None => {
                let len = rhs_scratch_len(&self.packed_b, self.dims)?;
                let scratch = cx.scratch.get_mut(..len).ok_or("scratch too small")?;
                pack_rhs(
                    self.dims,
                    rhs(inputs.f32(1)?, self.dims, self.trans_b),
                    scratch,
                )?;
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
            act.apply_slice(self.kernels, row);
        };
        // Without alpha and C, only the activation remains, which `matmul` fuses when it can.
        let post: Option<PostFn<'_>> = if alpha == 1.0 && c_strides.is_none() {
            None
        } else {
            Some(&epilogue)
        };
        let finish = Finish {
            row_bias: None,
            activation: act,
            post,
        };
        matmul(
            self.kernels,
            cx.pool,
            self.dims,
            a.lhs(),
            b,
            (y, self.dims.n),
            finish,
        )
    }

    fn scratch_len(&self) -> usize {
        // The build checked that the size does not overflow.
        rhs_scratch_len(&self.packed_b, self.dims).unwrap_or(0)
    }
}

/// Scratch a product needs: room to pack B at run time, unless B was packed at build time.
fn rhs_scratch_len(packed_b: &Option<Vec<f32>>, dims: Dims) -> OpResult<usize> {
    match packed_b {
        Some(_) => Ok(0),
        None => dims.packed_rhs_len(),
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
    let dims = Dims { m, n, k };
    dims.packed_rhs_len()?;
    let packed_b = match cx.constant(1) {
        Some(w) => {
            let w = w.as_f32().map_err(|e| e.to_string())?;
            Some(pack_constant_rhs(dims, rhs(w, dims, trans_b))?)
        }
        None => None,
    };
    let op = Gemm {
        dims,
        trans_a,
        trans_b,
        packed_b,
        kernels: plan_kernels()?,
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
    /// B packed at build time, when it is a constant 2-D matrix (shared by every batch).
    packed_b: Option<Vec<f32>>,
    kernels: &'static Kernels,
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
        let packed_len = rhs_scratch_len(&self.packed_b, self.dims)?;
        let scratch = cx
            .scratch
            .get_mut(..packed_len)
            .ok_or("scratch too small")?;
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
                        let packed = match &self.packed_b {
                            Some(packed) => Ok(&packed[..]),
                            None => pack_rhs(self.dims, rhs(b, self.dims, false), scratch)
                                .map(|()| &*scratch),
                        };
                        let finish = Finish {
                            row_bias: None,
                            activation: Activation::Identity,
                            post: None,
                        };
                        packed.and_then(|packed| {
                            matmul(
                                self.kernels,
                                cx.pool,
                                self.dims,
                                a.lhs(),
                                packed,
                                (c, self.dims.n),
                                finish,
                            )
                        })
                    }
                    _ => Err("batch offset out of range".into()),
                };
            },
        );
        result
    }

    fn scratch_len(&self) -> usize {
        // The build checked that the size does not overflow.
        rhs_scratch_len(&self.packed_b, self.dims).unwrap_or(0)
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
    let dims = Dims { m, n, k };
    dims.packed_rhs_len()?;
    let packed_b = match cx.constant(1) {
        Some(w) if b.shape.len() <= 2 => {
            let w = w.as_f32().map_err(|e| e.to_string())?;
            Some(pack_constant_rhs(dims, rhs(w, dims, false))?)
        }
        _ => None,
    };
    let op = MatMul {
        dims,
        packed_b,
        kernels: plan_kernels()?,
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
