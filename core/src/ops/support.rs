//! Which ops and dtypes the runtime implements: the one answer ([`op_support`]) that the planner (before building
//! a node) and the converter (before writing a model) both ask, so that a model the runtime
//! cannot run is refused at convert time with the same reason it would get at plan time.
//!
//! [`op_support`] looks at the op type, the dtypes of the inputs and outputs and the number of
//! outputs only; attribute variants (e.g. Resize's cubic mode) and shapes are checked when the
//! op is built ([`super::build`]), because they may depend on plan-time values, as does
//! whether the inputs that set a shape ([`plan_time_inputs`]) are known at plan time.
//!
//! Invariant: every op `build` implements has an entry here, and an op given dtypes its entry
//! accepts never fails to build for its dtypes (builders may still reject a malformed node).

use crate::tensor::DType;

/// The answer of [`op_support`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    Supported,
    /// What the runtime lacks, e.g. "input 0 has dtype i64; Neg supports f32".
    Unsupported(String),
}

/// Dtypes that element-wise arithmetic, comparison and variadic ops compute with.
const NUMERIC: &[DType] = &[DType::F32, DType::I64, DType::I32, DType::U8, DType::I8];

/// The ops that produce more than one output, and at most how many. The planner runs such a
/// node once if the op [`runs_once`], else as one single-output node per output (all but `If`).
pub fn max_outputs(op: &str) -> usize {
    match op {
        "Split" | "If" => usize::MAX,
        "LSTM" | "LayerNormalization" => 3,
        "GRU" | "TopK" | "Dropout" => 2,
        _ => 1,
    }
}

/// The multi-output ops whose builder returns one op for all of a node's outputs
/// (`Planned::Multi`), run once per node.
pub fn runs_once(op: &str) -> bool {
    matches!(op, "Split" | "LSTM" | "GRU" | "TopK" | "Dropout")
}

/// The inputs of `op` that set an output shape (or a fold the planner needs), which the runtime
/// requires to be known at plan time (constants, or computable from shapes): a node whose such
/// input is only computed at run time is unsupported.
pub(crate) fn plan_time_inputs(op: &str) -> &'static [usize] {
    match op {
        "Reshape" | "Squeeze" | "Unsqueeze" | "Expand" | "Split" | "ReduceMean" | "ReduceMax"
        | "ReduceMin" | "ReduceSum" | "ReduceProd" | "ReduceL1" | "ReduceL2"
        | "ReduceSumSquare" | "ReduceLogSum" | "ReduceLogSumExp" => &[1],
        "Slice" => &[1, 2, 3, 4],
        "Tile" | "TopK" => &[1],
        "Pad" => &[1, 3],
        "Resize" => &[2, 3],
        "ConstantOfShape" => &[0],
        "Range" => &[0, 1, 2],
        _ => &[],
    }
}

/// Whether the runtime runs `op` on inputs of dtypes `inputs` (`None` for omitted optional
/// inputs) producing outputs of dtypes `outputs`.
pub fn op_support(op: &str, inputs: &[Option<DType>], outputs: &[DType]) -> Support {
    match check(op, inputs, outputs) {
        Ok(()) => Support::Supported,
        Err(why) => Support::Unsupported(why),
    }
}

fn check(op: &str, inputs: &[Option<DType>], outputs: &[DType]) -> Result<(), String> {
    let max = max_outputs(op);
    if outputs.len() > max {
        return Err(format!(
            "{} outputs ({op} supports at most {max})",
            outputs.len()
        ));
    }
    let input = |i: usize| inputs.get(i).copied().flatten();
    let present = || {
        inputs
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((i, (*d)?)))
    };
    // Inputs `which` (when present) have one of `allowed`.
    let only = |which: &[usize], allowed: &[DType]| -> Result<(), String> {
        for &i in which {
            if let Some(d) = input(i).filter(|d| !allowed.contains(d)) {
                return Err(format!(
                    "input {i} has dtype {d}; {op} supports {}",
                    list(allowed)
                ));
            }
        }
        Ok(())
    };
    // Every present input has the same dtype, one of `allowed`.
    let same = |allowed: &[DType]| -> Result<(), String> {
        let mut it = present();
        let Some((_, first)) = it.next() else {
            return Ok(());
        };
        if let Some((i, d)) = it.find(|&(_, d)| d != first) {
            return Err(format!(
                "input {i} has dtype {d} but input 0 has {first}; {op} needs one dtype"
            ));
        }
        only(&[0], allowed)
    };
    // Every input and output has a fixed element size (not packed int4).
    let any = || -> Result<(), String> {
        match present()
            .map(|(_, d)| d)
            .chain(outputs.iter().copied())
            .find(|&d| crate::exec::elem_size(d).is_none())
        {
            Some(d) => Err(format!("{op} on dtype {d}")),
            None => Ok(()),
        }
    };
    let first_output_in = |allowed: &[DType]| -> Result<(), String> {
        match outputs.first() {
            Some(d) if !allowed.contains(d) => {
                Err(format!("output dtype {d}; {op} produces {}", list(allowed)))
            }
            _ => Ok(()),
        }
    };
    const F32: &[DType] = &[DType::F32];
    match op {
        "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min" | "PRelu" | "Mod" => same(NUMERIC),
        "Sum" | "Mean" => same(F32),
        "Range" => same(&[DType::F32, DType::I64, DType::I32]),
        "Pow" => {
            only(&[0], &[DType::F32, DType::I64, DType::I32])?;
            only(&[1], NUMERIC)
        }
        "Clip" => only(&[0, 1, 2], NUMERIC),
        "Neg" | "Abs" => only(&[0], &[DType::F32, DType::I64, DType::I32, DType::I8]),
        "Relu" | "LeakyRelu" | "Sigmoid" | "HardSigmoid" | "HardSwish" | "Tanh" | "Exp" | "Log"
        | "Sqrt" | "Erf" | "Gelu" | "Reciprocal" | "Floor" | "Ceil" | "Round" | "Sign" | "Sin"
        | "Cos" | "Tan" | "Asin" | "Acos" | "Atan" | "Sinh" | "Cosh" | "Asinh" | "Acosh"
        | "Atanh" | "Softplus" | "Softsign" | "Elu" | "Selu" | "Celu" | "ThresholdedRelu"
        | "Mish" | "Swish" | "Softmax" | "LogSoftmax" | "GlobalAveragePool" | "GlobalMaxPool"
        | "LpNormalization" | "MaxPool" | "AveragePool" | "BatchNormalization" => {
            only(&[0, 1, 2, 3, 4], F32)
        }
        "Conv" | "ConvTranspose" | "Gemm" | "MatMul" => only(&[0, 1, 2], F32),
        "LSTM" => {
            only(&[4], &[DType::I32])?;
            only(&[0, 1, 2, 3, 5, 6, 7], F32)
        }
        "GRU" => {
            only(&[4], &[DType::I32])?;
            only(&[0, 1, 2, 3, 5], F32)
        }
        "Resize" | "ArgMax" | "ArgMin" | "Hardmax" | "IsNaN" | "IsInf" => only(&[0], F32),
        "CumSum" => {
            only(&[0], &[DType::F32, DType::I64, DType::I32])?;
            only(&[1], &[DType::I64, DType::I32])
        }
        "TopK" => {
            only(&[0], &[DType::F32, DType::I64, DType::I32])?;
            only(&[1], &[DType::I64])
        }
        "Trilu" => {
            only(&[1], &[DType::I64])?;
            any()
        }
        "LayerNormalization" | "GroupNormalization" | "InstanceNormalization" => {
            only(&[0, 1, 2], F32)
        }
        "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum" | "ReduceProd" | "ReduceL1"
        | "ReduceL2" | "ReduceSumSquare" | "ReduceLogSum" | "ReduceLogSumExp" => only(&[0], F32),
        "Cast" | "CastLike" => {
            const CAST: &[DType] = &[
                DType::F32,
                DType::I64,
                DType::I32,
                DType::U8,
                DType::I8,
                DType::Bool,
            ];
            only(&[0, 1], CAST)?;
            first_output_in(CAST)
        }
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" => {
            same(&[NUMERIC, &[DType::Bool]].concat())
        }
        "And" | "Or" | "Xor" | "Not" => only(&[0, 1], &[DType::Bool]),
        "Where" => {
            only(&[0], &[DType::Bool])?;
            any()
        }
        "If" => only(&[0], &[DType::Bool]),
        "ConstantOfShape" => first_output_in(&[DType::F32, DType::I64, DType::I32, DType::Bool]),
        "Pad" | "Split" | "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Identity"
        | "Transpose" | "Slice" | "Concat" | "Gather" | "Shape" | "Size" | "Constant"
        | "Expand" | "Tile" | "GatherElements" | "DepthToSpace" | "SpaceToDepth" => any(),
        "Dropout" => {
            only(&[1], &[DType::F32])?;
            only(&[2], &[DType::Bool])?;
            any()
        }
        "GatherND" | "ScatterND" | "ScatterElements" => {
            only(&[1], &[DType::I64, DType::I32])?;
            any()
        }
        _ => Err("no implementation".into()),
    }
}

fn list(dtypes: &[DType]) -> String {
    dtypes
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
