//! Gemm (alpha, beta, transA, transB, optional C, fused activation) and MatMul (batched, with
//! broadcasting of batch dimensions and 1-D promotion), both through [`super::gemm::matmul`].
//!
//! Invariant: a constant B (the weights, transposed or not) is read in place from the packing the
//! converter stored (`Layout::PackedF32B`, the same on every tier: input 3 of Gemm, input 2 of
//! MatMul), or packed for the GEMM kernels once at build time when there is none; a non-constant
//! B is packed into scratch at run time (reading it through strides, so a transposed B costs no
//! extra pass).

use super::gemm::{Dims, Finish, Matrix, matmul, pack_constant_rhs, pack_rhs, plan_kernels};
use super::strided::{broadcast_shapes, broadcast_strides, for_each_row};
use super::{
    Activation, Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, check_rank,
    checked_numel,
};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::f32::{NR, PostFn, packed_b_layout};
use crate::tensor::DType;

#[derive(Debug)]
struct Gemm {
    dims: Dims,
    trans_a: bool,
    trans_b: bool,
    /// Where B comes packed from.
    packed_b: PackedB,
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
        let b = packed_rhs(
            &self.packed_b,
            inputs,
            inputs.f32(1)?,
            (self.dims, self.trans_b),
            cx.scratch,
        )?;
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
        self.packed_b.scratch_len(self.dims)
    }
}

/// Where Gemm finds its packed B.
#[derive(Debug)]
enum PackedB {
    /// B is not a constant: packed into scratch on each run.
    PerRun,
    /// Packed at build time.
    Built(Vec<f32>),
    /// Stored in the model as input `.0` (`Layout::PackedF32B`, dims `[ceil(n / NR), k, NR]`),
    /// read in place.
    Stored(usize),
}

/// The input of a Gemm node holding B stored packed (`Layout::PackedF32B`), if any.
const GEMM_PACKED_B_INPUT: usize = 3;
/// The same for MatMul.
const MATMUL_PACKED_B_INPUT: usize = 2;

/// The packed B of a constant B: the stored packing (input `at`, which must have the dims of B's
/// packing) or one made now; `PerRun` when B is not a constant or `eligible` is false.
fn constant_packed_b(
    cx: &NodeContext<'_>,
    at: usize,
    dims: Dims,
    trans_b: bool,
    eligible: bool,
) -> OpResult<PackedB> {
    let Some(w) = cx.constant(1).filter(|_| eligible) else {
        return Ok(PackedB::PerRun);
    };
    let stored = cx
        .constant(at)
        .filter(|_| cx.constant_layout(at) == Some(packed_b_layout()));
    if let Some(t) = stored {
        let want = [dims.n.div_ceil(NR), dims.k, NR];
        if t.shape() != want {
            return Err(format!(
                "stored packed B has dims {:?}, B packs into {want:?}",
                t.shape()
            ));
        }
        return Ok(PackedB::Stored(at));
    }
    let w = w.as_f32().map_err(|e| e.to_string())?;
    Ok(PackedB::Built(pack_constant_rhs(
        dims,
        rhs(w, dims, trans_b),
    )?))
}

/// B packed, from where `packed_b` says, or into `scratch` from `b` (a `[k, n]` or, with
/// `trans_b`, `[n, k]` matrix).
fn packed_rhs<'a>(
    packed_b: &'a PackedB,
    inputs: &'a dyn Inputs,
    b: &[f32],
    (dims, trans_b): (Dims, bool),
    scratch: &'a mut [f32],
) -> OpResult<&'a [f32]> {
    match packed_b {
        PackedB::Built(packed) => Ok(packed),
        PackedB::Stored(i) => inputs.f32(*i),
        PackedB::PerRun => {
            let scratch = scratch
                .get_mut(..dims.packed_rhs_len()?)
                .ok_or("scratch too small")?;
            pack_rhs(dims, rhs(b, dims, trans_b), scratch)?;
            Ok(scratch)
        }
    }
}

impl PackedB {
    /// f32 elements of scratch a product with this B needs (room to pack B on each run).
    fn scratch_len(&self, dims: Dims) -> usize {
        match self {
            // The build checked that the size does not overflow.
            PackedB::PerRun => dims.packed_rhs_len().unwrap_or(0),
            PackedB::Built(_) | PackedB::Stored(_) => 0,
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
    let dims = Dims { m, n, k };
    dims.packed_rhs_len()?;
    let packed_b = constant_packed_b(cx, GEMM_PACKED_B_INPUT, dims, trans_b, true)?;
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
    /// Where B comes packed from when it is a constant of rank 2 or less (shared by every
    /// batch); `PerRun` otherwise.
    packed_b: PackedB,
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
        let scratch = &mut cx.scratch[..];
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
                        let packed =
                            packed_rhs(&self.packed_b, inputs, b, (self.dims, false), scratch);
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
        self.packed_b.scratch_len(self.dims)
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
    let packed_b = constant_packed_b(cx, MATMUL_PACKED_B_INPUT, dims, false, b.shape.len() <= 2)?;
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
