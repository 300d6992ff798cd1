//! Ops that reduce along axes: Softmax and LogSoftmax (one axis, opset-13 semantics) and
//! GlobalAveragePool.
//!
//! Invariant: Softmax and LogSoftmax subtract the maximum of each slice before exponentiating,
//! so they never overflow for finite inputs.

use super::gemm::plan_kernels;
use super::parallel::for_each_chunk;
use super::{Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, normalize_axis};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::vmath::f32_vsoftmax;

#[derive(Debug)]
struct Softmax {
    /// Elements along the axis.
    len: usize,
    /// Elements after the axis (the stride of the axis).
    inner: usize,
    /// LogSoftmax: `x - max - ln Σ exp(x - max)`.
    log: bool,
    kernels: &'static Kernels,
}

impl Op for Softmax {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        y.copy_from_slice(x.get(..y.len()).ok_or("input too short")?);
        let (len, inner, log) = (self.len, self.inner, self.log);
        let kernels = self.kernels;
        for_each_chunk(cx.pool, y, len * inner, |_, block| {
            if inner == 1 && !log {
                // Softmax over the last axis: contiguous rows, the vectorized kernel.
                return f32_vsoftmax(kernels, block);
            }
            for i in 0..inner {
                let at = |j: usize| j * inner + i;
                let max = (0..len)
                    .map(|j| block[at(j)])
                    .fold(f32::NEG_INFINITY, f32::max);
                if log {
                    let sum: f32 = (0..len).map(|j| (block[at(j)] - max).exp()).sum();
                    let shift = max + sum.ln();
                    for j in 0..len {
                        block[at(j)] -= shift;
                    }
                    continue;
                }
                let mut sum = 0.0;
                for j in 0..len {
                    let e = (block[at(j)] - max).exp();
                    block[at(j)] = e;
                    sum += e;
                }
                for j in 0..len {
                    block[at(j)] /= sum;
                }
            }
        });
        Ok(())
    }
}

pub(crate) fn build_softmax(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    let axis = normalize_axis(cx.int("axis", -1)?, x.shape.len())?;
    let op = Softmax {
        len: x.shape[axis],
        inner: x.shape[axis + 1..].iter().product(),
        log: cx.node.op == "LogSoftmax",
        kernels: plan_kernels()?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}

#[derive(Debug)]
struct GlobalAveragePool {
    plane: usize,
}

impl Op for GlobalAveragePool {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        for (y, plane) in y.iter_mut().zip(x.chunks_exact(self.plane)) {
            *y = plane.iter().sum::<f32>() / self.plane as f32;
        }
        Ok(())
    }
}

pub(crate) fn build_global_average_pool(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    if x.shape.len() < 3 {
        return Err(format!(
            "X {:?} must have rank ≥ 3 ([N, C, spatial...])",
            x.shape
        ));
    }
    let plane: usize = x.shape[2..].iter().product();
    if plane == 0 {
        return Err("empty spatial dimensions".into());
    }
    let mut out = x.shape[..2].to_vec();
    out.resize(x.shape.len(), 1);
    Ok(Built {
        op: Box::new(GlobalAveragePool { plane }),
        output: Fact::new(x.dtype, out),
    })
}
