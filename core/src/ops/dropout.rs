//! Dropout at inference: the output is the input (any fixed-size dtype) and the optional mask is
//! all true. Training mode (opset 12+'s `training_mode` input) is accepted only when it is known
//! at plan time to be false, or true with a `ratio` known to be 0 (nothing dropped); dropping at
//! random is unsupported. The converter removes Dropout nodes whose mask nothing reads; the rest
//! (a read mask, or a graph that is nothing but the Dropout) run here, both outputs in one pass.
//!
//! Invariant: the output holds exactly the input's bytes; run allocates nothing.

use super::{BuildError, BuiltMulti, Fact, Inputs, NodeContext, Op, OpResult, Outputs, RunContext};
use crate::exec::{TensorMut, elem_size};
use crate::tensor::DType;

#[derive(Debug)]
struct Dropout;

impl Op for Dropout {
    fn run(&self, _: &dyn Inputs, _: TensorMut<'_>, _: &mut RunContext<'_>) -> OpResult<()> {
        Err("Dropout runs through run_multi".into())
    }

    fn run_multi(
        &self,
        inputs: &dyn Inputs,
        mut outputs: Outputs<'_>,
        _: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let x = inputs.req(0)?.bytes();
        if let Some(y) = outputs.next_output()? {
            let y = y.into_bytes_mut();
            if x.len() != y.len() {
                return Err("input does not match the planned shape".into());
            }
            y.copy_from_slice(x);
        }
        if let Some(mask) = outputs.next_output()? {
            mask.into_bytes_mut().fill(1);
        }
        Ok(())
    }
}

/// The single value of plan-time input `i` as f64 (f32 or bool), or why it is unsupported.
fn known_scalar(cx: &NodeContext<'_>, i: usize, what: &str) -> Result<Option<f64>, BuildError> {
    let Some(f) = cx.opt_input(i) else {
        return Ok(None);
    };
    let unsupported = |why: String| BuildError::Unsupported(format!("{what} {why}"));
    let t = f
        .value
        .as_ref()
        .ok_or_else(|| unsupported("is only computed at run time".into()))?;
    let v = t.view();
    let x = match v.dtype() {
        DType::F32 => v
            .as_f32()
            .ok()
            .and_then(|s| s.first().map(|&x| f64::from(x))),
        DType::Bool => v.bytes().first().map(|&b| f64::from(u8::from(b != 0))),
        d => return Err(unsupported(format!("has dtype {d}"))),
    };
    x.map(Some).ok_or_else(|| format!("{what} is empty").into())
}

pub(crate) fn build(cx: &NodeContext<'_>) -> Result<BuiltMulti, BuildError> {
    let x = cx.input(0)?;
    if elem_size(x.dtype).is_none() {
        return Err(BuildError::Unsupported(format!("Dropout on {}", x.dtype)));
    }
    if known_scalar(cx, 2, "training_mode")?.is_some_and(|t| t != 0.0) {
        let ratio = known_scalar(cx, 1, "ratio")?.unwrap_or(0.5);
        if ratio != 0.0 {
            return Err(BuildError::Unsupported(format!(
                "training-mode Dropout with ratio {ratio} drops at random"
            )));
        }
    }
    let outputs = [
        Fact::new(x.dtype, x.shape.clone()),
        Fact::new(DType::Bool, x.shape.clone()),
    ];
    Ok(BuiltMulti {
        op: Box::new(Dropout),
        outputs: outputs[..cx.node.outputs.len().min(2)].to_vec(),
    })
}
