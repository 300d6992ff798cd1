//! MaxPool and AveragePool, 1-D and 2-D: kernel_shape, strides, dilations, pads / auto_pad,
//! ceil_mode, and count_include_pad for AveragePool. Only the first output (values) of MaxPool is
//! supported, not its optional indices.
//!
//! Invariant: windows never read padding: MaxPool skips it, AveragePool divides by the number of
//! taps inside the input (or, with count_include_pad, inside input + explicit pads). A window
//! entirely in the padding (only possible with dilation) gives −∞ (MaxPool) or 0 (AveragePool).

use std::sync::atomic::{AtomicBool, Ordering};

use super::gemm::plan_kernels;
use super::parallel::for_each_chunk;
use super::window::{Axis, Window, window};
use super::{Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, checked_numel};
use crate::exec::TensorMut;
use crate::kernels::Kernels;
use crate::kernels::vmath::f32_vmax;

#[derive(Debug)]
struct Pool {
    max: bool,
    count_include_pad: bool,
    window: Window,
    kernels: &'static Kernels,
}

/// Taps `t` of output `o` that fall inside the input, and how many lie in input + pads.
fn taps(a: &Axis, o: usize) -> (impl Iterator<Item = usize> + '_, usize) {
    let padded_end = a.input + a.pad_begin + a.pad_end;
    let in_padded = (0..a.kernel)
        .filter(|&t| o * a.stride + t * a.dilation < padded_end)
        .count();
    ((0..a.kernel).filter_map(move |t| a.source(o, t)), in_padded)
}

impl Op for Pool {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.f32(0)?;
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        let Window { h, w } = self.window;
        let plane_in = self.window.input_len();
        let ok = AtomicBool::new(true);
        for_each_chunk(cx.pool, y, self.window.output_len(), |plane, out| {
            let Some(xp) = x.get(plane * plane_in..(plane + 1) * plane_in) else {
                return;
            };
            if self.max {
                if self.max_plane(xp, out).is_none() {
                    ok.store(false, Ordering::Relaxed);
                }
                return;
            }
            for oy in 0..h.output {
                for ox in 0..w.output {
                    let (rows, h_padded) = taps(&h, oy);
                    let mut acc = if self.max { f32::NEG_INFINITY } else { 0.0 };
                    let mut count = 0usize;
                    for iy in rows {
                        let (cols, _) = taps(&w, ox);
                        for ix in cols {
                            let v = xp[iy * w.input + ix];
                            if self.max {
                                if v > acc || v.is_nan() {
                                    acc = v;
                                }
                            } else {
                                acc += v;
                            }
                            count += 1;
                        }
                    }
                    if !self.max {
                        let divisor = if self.count_include_pad {
                            h_padded * taps(&w, ox).1
                        } else {
                            count
                        };
                        acc = if divisor == 0 {
                            0.0
                        } else {
                            acc / divisor as f32
                        };
                    }
                    out[oy * w.output + ox] = acc;
                }
            }
        });
        if ok.into_inner() {
            Ok(())
        } else {
            Err("MaxPool plane sizes do not match the window".into())
        }
    }
}

impl Pool {
    /// MaxPool of one plane, a row of outputs at a time: for each tap `(iy, kx)` in the scalar
    /// loop's order, the vectorized maximum of the row's outputs whose tap lies inside the input
    /// with that row's inputs `stride_w` apart. The same updates per output in the same order
    /// as an output-by-output loop, so the same bits (signed zeros and NaNs included).
    /// `None` when a slice does not fit the window (not for a plane of the built shape).
    fn max_plane(&self, xp: &[f32], out: &mut [f32]) -> Option<()> {
        let Window { h, w } = self.window;
        for (oy, row) in out.chunks_exact_mut(w.output).take(h.output).enumerate() {
            row.fill(f32::NEG_INFINITY);
            for iy in taps(&h, oy).0 {
                let src = xp.get(iy * w.input..(iy + 1) * w.input)?;
                for kx in 0..w.kernel {
                    let valid = w.valid_outputs(kx);
                    if valid.is_empty() {
                        continue;
                    }
                    let first = valid.start * w.stride + kx * w.dilation - w.pad_begin;
                    f32_vmax(self.kernels, &mut row[valid], src.get(first..)?, w.stride).ok()?;
                }
            }
        }
        Some(())
    }
}

pub(crate) fn build(cx: &NodeContext<'_>, op: &str) -> OpResult<Built> {
    let x = cx.f32_input(0)?;
    if !(3..=4).contains(&x.shape.len()) {
        return Err(format!("X {:?} must be 3-D or 4-D", x.shape));
    }
    let kernel: Vec<usize> = match cx.ints("kernel_shape")? {
        Some(k) if k.iter().all(|&v| v >= 1) => k.iter().map(|&v| v as usize).collect(),
        other => {
            return Err(format!(
                "'kernel_shape' must be given, all ≥ 1, got {other:?}"
            ));
        }
    };
    let ceil_mode = cx.int("ceil_mode", 0)? != 0;
    let window = window(cx, &x.shape[2..], &kernel, ceil_mode)?;
    let mut out = x.shape[..2].to_vec();
    out.extend(window.output_dims(x.shape.len() - 2));
    checked_numel(&out)?;
    let op = Pool {
        max: op == "MaxPool",
        count_include_pad: cx.int("count_include_pad", 0)? != 0,
        window,
        kernels: plan_kernels()?,
    };
    Ok(Built {
        op: Box::new(op),
        output: Fact::new(x.dtype, out),
    })
}
