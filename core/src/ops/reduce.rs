//! Ops that reduce along axes: Softmax and LogSoftmax (one axis, opset-13 semantics),
//! LpNormalization (p 1 or 2, one axis: `x / ‖x‖ₚ`, 0 where the norm is 0, as ONNX's
//! reference), GlobalAveragePool and GlobalMaxPool (NaN propagates).
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

/// The sum of `x` over 16 interleaved partial sums (element `i` goes to partial `i % 16`; the
/// partials are then added pairwise): one fixed order on every CPU, and one the compiler
/// vectorizes, unlike a single running sum whose every add waits for the previous one.
fn lane_sum(x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    for (a, v) in acc.iter_mut().zip(tail) {
        *a += v;
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

#[derive(Debug)]
struct GlobalPool {
    plane: usize,
    /// GlobalMaxPool (else the average).
    max: bool,
}

impl Op for GlobalPool {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        for (y, plane) in y.iter_mut().zip(x.chunks_exact(self.plane)) {
            *y = if self.max {
                plane.iter().fold(
                    f32::NEG_INFINITY,
                    |m, &v| {
                        if v.is_nan() || v > m { v } else { m }
                    },
                )
            } else {
                lane_sum(plane) / self.plane as f32
            };
        }
        Ok(())
    }
}

/// GlobalAveragePool, or GlobalMaxPool when `max`.
pub(crate) fn build_global_pool(cx: &NodeContext<'_>, max: bool) -> OpResult<Built> {
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
        op: Box::new(GlobalPool { plane, max }),
        output: Fact::new(x.dtype, out),
    })
}

/// LpNormalization: each slice along the axis divided by its L1 or L2 norm (accumulated in f64).
#[derive(Debug)]
struct LpNorm {
    len: usize,
    inner: usize,
    l1: bool,
}

impl Op for LpNorm {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let (len, inner) = (self.len, self.inner);
        if x.len() != y.len() {
            return Err("input does not match the planned shape".into());
        }
        if len * inner == 0 {
            return Ok(());
        }
        for (xs, ys) in x
            .chunks_exact(len * inner)
            .zip(y.chunks_exact_mut(len * inner))
        {
            for i in 0..inner {
                let along = (0..len).map(|j| f64::from(xs[j * inner + i]));
                let norm = if self.l1 {
                    along.map(f64::abs).sum::<f64>()
                } else {
                    along.map(|v| v * v).sum::<f64>().sqrt()
                } as f32;
                for j in 0..len {
                    ys[j * inner + i] = if norm == 0.0 {
                        0.0
                    } else {
                        xs[j * inner + i] / norm
                    };
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn build_lp_normalization(cx: &NodeContext<'_>) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    let axis = normalize_axis(cx.int("axis", -1)?, x.shape.len())?;
    let l1 = match cx.int("p", 2)? {
        1 => true,
        2 => false,
        p => return Err(format!("p must be 1 or 2, got {p}")),
    };
    Ok(Built {
        op: Box::new(LpNorm {
            len: x.shape[axis],
            inner: x.shape[axis + 1..].iter().product(),
            l1,
        }),
        output: Fact::new(x.dtype, x.shape.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::lane_sum;

    #[test]
    fn lane_sum_matches_a_wide_sum_at_every_length() {
        let mut seed = 0x9e37_79b9u32;
        for len in 0..100 {
            let x: Vec<f32> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect();
            let want: f64 = x.iter().map(|&v| f64::from(v)).sum();
            let got = lane_sum(&x);
            assert!(
                (f64::from(got) - want).abs() <= 1e-5,
                "len {len}: {got} vs {want}"
            );
            // Small integers add exactly in any order.
            let ints: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 3.0).collect();
            let exact: i32 = (0..len).map(|i| (i % 7) - 3).sum();
            assert_eq!(lane_sum(&ints), exact as f32, "len {len}");
        }
        assert!(lane_sum(&[1.0, f32::NAN, 2.0]).is_nan());
    }
}
