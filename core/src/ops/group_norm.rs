//! GroupNormalization (opset 18 and 21) and InstanceNormalization, f32, on X of shape
//! [N, C, spatial...] (rank ≥ 2): the channels are split into `num_groups` groups of C / G
//! consecutive channels (InstanceNormalization: one group per channel); each (sample, group)
//! slice, contiguous in memory, is normalized to zero mean and unit variance (`epsilon` added to
//! the variance), then each channel is scaled and shifted.
//!
//! Scale and bias hold one value per channel (C: InstanceNormalization, GroupNormalization 21)
//! or per group (G: GroupNormalization 18); the builder tells them apart by length (when C = G
//! the two meanings agree). They are read at run time. Statistics accumulate in f64 through
//! `layer_norm::moments` (`stash_type` asks for at least f32 precision).
//!
//! Invariant: run allocates nothing; slices are processed in parallel on the session's pool,
//! and each result depends on its own slice only, so results do not depend on the thread count.

use super::layer_norm::moments;
use super::parallel::for_each_chunk;
use super::{Built, Fact, Inputs, NodeContext, Op, OpResult, RunContext, checked_numel};
use crate::exec::TensorMut;
use crate::tensor::DType;

#[derive(Debug)]
struct GroupNorm {
    channels: usize,
    /// Channels per group.
    per_group: usize,
    /// Elements per channel (the spatial size).
    spatial: usize,
    /// Whether scale and bias hold one value per channel (else per group).
    per_channel: bool,
    epsilon: f64,
}

impl Op for GroupNorm {
    fn run(
        &self,
        inputs: &dyn Inputs,
        mut output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let (x, scale, bias) = (inputs.f32(0)?, inputs.f32(1)?, inputs.f32(2)?);
        let params = if self.per_channel {
            self.channels
        } else {
            self.channels / self.per_group
        };
        if scale.len() != params || bias.len() != params {
            return Err("scale or bias does not match the planned length".into());
        }
        let y = output.as_f32_mut().map_err(|e| e.to_string())?;
        if x.len() != y.len() {
            return Err("X does not match the planned shape".into());
        }
        let slice = self.per_group * self.spatial;
        let groups = self.channels / self.per_group;
        for_each_chunk(cx.pool, y, slice, |row, ys| {
            let xs = &x[row * slice..][..slice];
            let (mean, inv) = moments(xs, self.epsilon);
            let group = row % groups;
            for (k, (ys, xs)) in ys
                .chunks_mut(self.spatial)
                .zip(xs.chunks(self.spatial))
                .enumerate()
            {
                let p = if self.per_channel {
                    group * self.per_group + k
                } else {
                    group
                };
                let (s, b) = (scale[p], bias[p]);
                for (y, &v) in ys.iter_mut().zip(xs) {
                    *y = ((f64::from(v) - mean) * inv) as f32 * s + b;
                }
            }
        });
        Ok(())
    }
}

/// GroupNormalization (`instance` false) or InstanceNormalization.
pub(crate) fn build(cx: &NodeContext<'_>, instance: bool) -> OpResult<Built> {
    let x = cx.input(0)?;
    if x.dtype != DType::F32 || x.shape.len() < 2 {
        return Err(format!(
            "X must be f32 of rank ≥ 2, got {} {:?}",
            x.dtype, x.shape
        ));
    }
    let channels = x.shape[1];
    let groups = if instance {
        channels
    } else {
        let g = cx.int("num_groups", 0)?;
        usize::try_from(g)
            .ok()
            .filter(|&g| g > 0)
            .ok_or(format!("num_groups must be positive, got {g}"))?
    };
    if channels == 0 || channels % groups != 0 {
        return Err(format!(
            "{channels} channels do not split into {groups} groups"
        ));
    }
    let len = |i: usize| -> OpResult<usize> {
        let f = cx.input(i)?;
        if f.dtype != DType::F32 || f.shape.len() != 1 {
            return Err(format!(
                "input {i} must be a 1-D f32 tensor, got {} {:?}",
                f.dtype, f.shape
            ));
        }
        Ok(f.shape[0])
    };
    let (scale, bias) = (len(1)?, len(2)?);
    if scale != bias || (scale != channels && scale != groups) {
        return Err(format!(
            "scale ({scale}) and bias ({bias}) must both hold {channels} channels or {groups} groups"
        ));
    }
    Ok(Built {
        op: Box::new(GroupNorm {
            channels,
            per_group: channels / groups,
            spatial: checked_numel(&x.shape[2..])?,
            per_channel: scale == channels,
            epsilon: f64::from(cx.float("epsilon", 1e-5)?),
        }),
        output: Fact::new(DType::F32, x.shape.clone()),
    })
}
