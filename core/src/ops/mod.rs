//! Float operators with ONNX semantics: how each op is built at plan time and run at run time.
//!
//! An op is built once per plan from its node and the facts (dtype, concrete shape, and for small
//! plan-time-known values the contents) of its inputs: [`build`] parses and checks every
//! attribute and shape there, returning an [`Op`] instance that already holds everything it needs
//! (strides, window geometry, transposed weights) and the facts of its outputs. `Op::run` then only
//! computes: it never parses attributes and never allocates.
//!
//! Most ops have one output ([`Planned::Run`], run by [`Op::run`]). An op that computes several
//! outputs in one pass (Split, LSTM, GRU, TopK, Dropout: [`runs_once`]) is built once for all of a node's outputs
//! ([`Planned::Multi`]) and run once by [`Op::run_multi`], which receives one [`Outputs`]: a
//! tensor per output that something reads and `None` for the others, which the op skips.
//!
//! Invariants: an op's `run` is called only with inputs whose dtypes and shapes equal those it was
//! built for, an output buffer of exactly the announced shape, and at least
//! [`Op::scratch_len`] f32 of scratch; `run_multi` likewise, each present output of exactly the
//! announced shape, no two overlapping. Ops still check what they index (no panics), and report
//! data-dependent failures (e.g. an index out of range) as errors.

mod activation;
mod axis;
mod batch_norm;
mod binary;
mod broadcast;
mod cast;
mod compare;
mod conv;
mod conv_transpose;
mod dropout;
mod elems;
mod fill;
mod gemm;
mod group_norm;
mod gru;
mod im2col;
mod layer_norm;
mod layout;
mod linear;
mod lstm;
mod pad;
mod parallel;
mod pool;
mod pow;
mod recurrent;
mod reduce;
mod reduce_axes;
mod resize;
mod scatter;
mod shape_ops;
mod space_depth;
mod split;
mod strided;
mod support;
mod topk;
mod trilu;
mod unary;
mod window;

use std::fmt;

pub use activation::Activation;
pub(crate) use layout::identity;
pub use support::{Support, max_outputs, op_support, runs_once};

use crate::exec::{Tensor, TensorMut, TensorRef, byte_len};
use crate::graph::{AttrValue, Node};
use crate::tensor::DType;

/// Errors inside ops are plain messages; the planner and executor add node and op names.
pub(crate) type OpResult<T> = std::result::Result<T, String>;

/// What the planner knows about a value before running: dtype, concrete shape, and, for values
/// small enough and computable at plan time (constants, shapes), the contents.
#[derive(Clone, Debug)]
pub struct Fact {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub value: Option<Tensor>,
}

impl Fact {
    pub(crate) fn new(dtype: DType, shape: Vec<usize>) -> Fact {
        Fact {
            dtype,
            shape,
            value: None,
        }
    }
}

/// The inputs of one op invocation, resolved lazily so that running needs no allocation.
pub trait Inputs {
    /// Input `i`, or `None` when it is absent (omitted optional input or out of range).
    fn get(&self, i: usize) -> Option<TensorRef<'_>>;
}

/// Inputs held in a slice (plan-time folding and tests).
pub struct InputList<'a>(pub &'a [Option<TensorRef<'a>>]);

impl Inputs for InputList<'_> {
    fn get(&self, i: usize) -> Option<TensorRef<'_>> {
        self.0.get(i).copied().flatten()
    }
}

impl dyn Inputs + '_ {
    /// Input `i`, which must be present.
    pub(crate) fn req(&self, i: usize) -> OpResult<TensorRef<'_>> {
        self.get(i).ok_or_else(|| format!("input {i} is missing"))
    }

    pub(crate) fn f32(&self, i: usize) -> OpResult<&[f32]> {
        self.req(i)?.as_f32().map_err(|e| format!("input {i}: {e}"))
    }
}

/// What an op may use while running besides its inputs and output.
pub struct RunContext<'a> {
    /// The session's thread pool; `None` runs everything on the calling thread.
    pub pool: Option<&'a rayon::ThreadPool>,
    /// At least `Op::scratch_len` f32 of scratch memory, contents unspecified.
    pub scratch: &'a mut [f32],
}

/// A built operator, ready to run on inputs of the shapes it was built for.
pub trait Op: Send + Sync + fmt::Debug {
    /// Computes the output from the inputs.
    fn run(
        &self,
        inputs: &dyn Inputs,
        output: TensorMut<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()>;

    /// Computes every output of a multi-output op (one built as [`Planned::Multi`]) in one pass;
    /// outputs given as `None` are read by nothing and may be skipped. Single-output ops keep
    /// this default, which the planner never calls.
    fn run_multi(
        &self,
        inputs: &dyn Inputs,
        outputs: Outputs<'_>,
        cx: &mut RunContext<'_>,
    ) -> OpResult<()> {
        let _ = (inputs, outputs, cx);
        Err("this op has a single output".into())
    }

    /// f32 elements of scratch memory `run` (or `run_multi`) needs.
    fn scratch_len(&self) -> usize {
        0
    }
}

/// Where one output of a multi-output op lives: `at` bytes into the op's output block.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputPart {
    pub at: usize,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

/// The outputs of one `run_multi` call: a block of bytes holding each present output at its own
/// offset (`parts`, in output order with increasing offsets), `None` for outputs nobody reads.
pub struct Outputs<'a> {
    rest: &'a mut [u8],
    /// Offset within the block of `rest`'s first byte.
    consumed: usize,
    parts: std::slice::Iter<'a, Option<OutputPart>>,
}

impl<'a> Outputs<'a> {
    pub(crate) fn new(block: &'a mut [u8], parts: &'a [Option<OutputPart>]) -> Outputs<'a> {
        Outputs {
            rest: block,
            consumed: 0,
            parts: parts.iter(),
        }
    }

    /// The next output, in output order: `Ok(None)` for one nobody reads, and also once the
    /// node's outputs are exhausted (an op of up to n outputs may be given fewer).
    pub fn next_output(&mut self) -> OpResult<Option<TensorMut<'a>>> {
        let Some(Some(part)) = self.parts.next() else {
            return Ok(None);
        };
        let len = byte_len(part.dtype, &part.shape).ok_or("output too large")?;
        let skip = part
            .at
            .checked_sub(self.consumed)
            .ok_or("output parts overlap")?;
        let rest = std::mem::take(&mut self.rest);
        if skip.checked_add(len).is_none_or(|end| end > rest.len()) {
            return Err("output block too short".into());
        }
        let (out, rest) = rest[skip..].split_at_mut(len);
        self.rest = rest;
        self.consumed = part.at + len;
        TensorMut::from_bytes(part.dtype, &part.shape, out)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// The first `N` outputs as f32 slices (`None` where not read), for ops of a few fixed outputs.
    pub(crate) fn f32_array<const N: usize>(mut self) -> OpResult<[Option<&'a mut [f32]>; N]> {
        let mut out: [Option<&'a mut [f32]>; N] = std::array::from_fn(|_| None);
        for slot in &mut out {
            if let Some(t) = self.next_output()? {
                *slot = Some(t.into_f32_mut().map_err(|e| e.to_string())?);
            }
        }
        Ok(out)
    }
}

/// A node ready to run: the op and the fact of its output.
pub struct Built {
    pub op: Box<dyn Op>,
    pub output: Fact,
}

/// A multi-output node ready to run once: the op and the fact of each of the node's outputs.
pub struct BuiltMulti {
    pub op: Box<dyn Op>,
    pub outputs: Vec<Fact>,
}

/// The result of building a node.
pub enum Planned {
    /// An op to run at run time (or at plan time, if its inputs are known then).
    Run(Built),
    /// An op of several outputs that computes them all in one run ([`Op::run_multi`]).
    Multi(BuiltMulti),
    /// The output is known outright at plan time (`Shape`, `Constant`): nothing ever runs.
    Known(Tensor),
}

/// A node and the facts of its inputs, with typed attribute accessors.
pub struct NodeContext<'a> {
    pub node: &'a Node,
    /// One entry per node input; `None` for omitted optional inputs.
    pub inputs: Vec<Option<&'a Fact>>,
    /// For inputs that are model constants, their data (zero-copy from the model): ops may
    /// prepare weights from it once at build time.
    pub constants: Vec<Option<TensorRef<'a>>>,
    /// The stored layout of each constant input (`None` for the others): a kernel-packed
    /// constant is seen in `constants` as its packed array (see [`crate::tensor::Layout`]).
    pub constant_layouts: Vec<Option<crate::tensor::Layout>>,
    /// Resolves an `AttrValue::Tensor` to a tensor (for `Constant`).
    pub tensor_attr: &'a dyn Fn(u32) -> OpResult<Tensor>,
}

impl NodeContext<'_> {
    pub(crate) fn input(&self, i: usize) -> OpResult<&Fact> {
        self.opt_input(i)
            .ok_or_else(|| format!("input {i} is required"))
    }

    /// The data of input `i` when it is a model constant.
    pub(crate) fn constant(&self, i: usize) -> Option<TensorRef<'_>> {
        self.constants.get(i).copied().flatten()
    }

    /// The stored layout of input `i` when it is a model constant.
    pub(crate) fn constant_layout(&self, i: usize) -> Option<crate::tensor::Layout> {
        self.constant_layouts.get(i).copied().flatten()
    }

    pub(crate) fn opt_input(&self, i: usize) -> Option<&Fact> {
        self.inputs.get(i).copied().flatten()
    }

    /// Input `i` must be f32.
    pub(crate) fn f32_input(&self, i: usize) -> OpResult<&Fact> {
        let f = self.input(i)?;
        if f.dtype != DType::F32 {
            return Err(format!(
                "input {i} has dtype {}, this op supports f32 only",
                f.dtype
            ));
        }
        Ok(f)
    }

    /// The contents of integer input `i`, which must be known at plan time.
    pub(crate) fn known_ints(&self, i: usize) -> OpResult<Option<Vec<i64>>> {
        let Some(f) = self.opt_input(i) else {
            return Ok(None);
        };
        let t = f.value.as_ref().ok_or_else(|| {
            format!("input {i} must be a constant or computable at plan time (it sets a shape)")
        })?;
        let v = t.view();
        match v.dtype() {
            DType::I64 => Ok(Some(v.as_i64().map_err(|e| e.to_string())?.to_vec())),
            DType::I32 => Ok(Some(
                v.as_i32()
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|&x| x as i64)
                    .collect(),
            )),
            d => Err(format!("input {i} has dtype {d}, expected i64")),
        }
    }

    fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.node.attribute(name)
    }

    pub(crate) fn int(&self, name: &str, default: i64) -> OpResult<i64> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(other) => Err(format!("attribute '{name}' must be an int, got {other:?}")),
        }
    }

    pub(crate) fn float(&self, name: &str, default: f32) -> OpResult<f32> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(other) => Err(format!("attribute '{name}' must be a float, got {other:?}")),
        }
    }

    pub(crate) fn ints(&self, name: &str) -> OpResult<Option<&[i64]>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(other) => Err(format!(
                "attribute '{name}' must be a list of ints, got {other:?}"
            )),
        }
    }

    pub(crate) fn string(&self, name: &str) -> OpResult<Option<&str>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::String(v)) => Ok(Some(v)),
            Some(other) => Err(format!(
                "attribute '{name}' must be a string, got {other:?}"
            )),
        }
    }

    pub(crate) fn attr_value(&self, name: &str) -> Option<&AttrValue> {
        self.attr(name)
    }
}

/// Why building a node failed.
pub enum BuildError {
    /// This runtime has no such op (or variant).
    Unsupported(String),
    /// The node is malformed for its op.
    Invalid(String),
}

impl From<String> for BuildError {
    fn from(s: String) -> Self {
        BuildError::Invalid(s)
    }
}

impl From<&str> for BuildError {
    fn from(s: &str) -> Self {
        BuildError::Invalid(s.into())
    }
}

/// Builds the op of `cx.node` (single-output nodes, and nodes of the ops that [`runs_once`];
/// `If` is handled by the planner).
pub fn build(cx: &NodeContext<'_>) -> Result<Planned, BuildError> {
    if cx.node.outputs.len() != 1 && !runs_once(&cx.node.op) {
        return Err(BuildError::Unsupported(format!(
            "{} outputs (only single-output nodes are supported)",
            cx.node.outputs.len()
        )));
    }
    let op = cx.node.op.as_str();
    for &i in support::plan_time_inputs(op) {
        if cx.opt_input(i).is_some_and(|f| f.value.is_none()) {
            return Err(BuildError::Unsupported(format!(
                "input {i} sets a shape but is only computed at run time"
            )));
        }
    }
    // The window ops implement 1-D and 2-D windows; 3-D ones (rank-5 inputs) are a variant the
    // runtime lacks, not a malformed node.
    let windowed = matches!(op, "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool");
    if windowed && cx.opt_input(0).is_some_and(|f| f.shape.len() > 4) {
        return Err(BuildError::Unsupported(
            "windows over more than 2 spatial dimensions".into(),
        ));
    }
    let built = match op {
        // Two-input Sum, Max and Min take the binary op's single pass.
        "Sum" if cx.inputs.len() == 2 => binary::build(cx, "Add"),
        "Max" | "Min" if cx.inputs.len() != 2 => binary::build_variadic(cx, op),
        "Sum" | "Mean" => binary::build_variadic(cx, op),
        "Pow" if cx.inputs.iter().flatten().any(|f| f.dtype != DType::F32) => pow::build(cx),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "PRelu" | "Mod" => {
            binary::build(cx, op)
        }
        "Expand" => layout::build_expand(cx),
        "ArgMax" | "ArgMin" | "Hardmax" => axis::build_select(cx, op),
        "CumSum" => axis::build_cumsum(cx),
        "Trilu" => trilu::build(cx),
        "GatherND" => scatter::build_gather_nd(cx),
        "ScatterND" => return Ok(Planned::Run(scatter::build_scatter_nd(cx)?)),
        "ScatterElements" => return Ok(Planned::Run(scatter::build_scatter_elements(cx)?)),
        "DepthToSpace" => space_depth::build_depth_to_space(cx),
        "SpaceToDepth" => space_depth::build_space_to_depth(cx),
        "GroupNormalization" => group_norm::build(cx, false),
        "InstanceNormalization" => group_norm::build(cx, true),
        "Relu" | "LeakyRelu" | "Sigmoid" | "HardSigmoid" | "HardSwish" | "Tanh" | "Exp" | "Log"
        | "Sqrt" | "Abs" | "Neg" | "Erf" | "Gelu" | "Reciprocal" | "Floor" | "Ceil" | "Round"
        | "Sign" | "Sin" | "Cos" | "Tan" | "Asin" | "Acos" | "Atan" | "Sinh" | "Cosh" | "Asinh"
        | "Acosh" | "Atanh" | "Softplus" | "Softsign" | "Elu" | "Selu" | "Celu"
        | "ThresholdedRelu" | "Mish" | "Swish" => unary::build(cx, op),
        "Clip" => unary::build_clip(cx),
        "IsNaN" | "IsInf" => unary::build_classify(cx),
        "Softmax" | "LogSoftmax" => reduce::build_softmax(cx),
        "GlobalAveragePool" => reduce::build_global_pool(cx, false),
        "GlobalMaxPool" => reduce::build_global_pool(cx, true),
        "LpNormalization" => reduce::build_lp_normalization(cx),
        "Cast" | "CastLike" => return Ok(Planned::Run(cast::build(cx)?)),
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            return Ok(Planned::Run(compare::build_compare(cx, op)?));
        }
        "Not" => return Ok(Planned::Run(compare::build_not(cx)?)),
        "Where" => return Ok(Planned::Run(compare::build_where(cx)?)),
        "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum" | "ReduceProd" | "ReduceL1"
        | "ReduceL2" | "ReduceSumSquare" | "ReduceLogSum" | "ReduceLogSumExp" => {
            return Ok(Planned::Run(reduce_axes::build(cx, op)?));
        }
        "Pad" => return Ok(Planned::Run(pad::build(cx)?)),
        "Split" => return Ok(Planned::Multi(split::build(cx)?)),
        "LSTM" => return Ok(Planned::Multi(lstm::build(cx)?)),
        "GRU" => return Ok(Planned::Multi(gru::build(cx)?)),
        "TopK" => return Ok(Planned::Multi(topk::build(cx)?)),
        "Dropout" => return Ok(Planned::Multi(dropout::build(cx)?)),
        "LayerNormalization" => return Ok(Planned::Run(layer_norm::build(cx)?)),
        "Resize" => return Ok(Planned::Run(resize::build(cx)?)),
        "ConvTranspose" => return Ok(Planned::Run(conv_transpose::build(cx)?)),
        "BatchNormalization" => return Ok(Planned::Run(batch_norm::build(cx)?)),
        "Conv" => conv::build(cx),
        "Gemm" => linear::build_gemm(cx),
        "MatMul" => linear::build_matmul(cx),
        "MaxPool" | "AveragePool" => pool::build(cx, op),
        "Flatten" => layout::build_flatten(cx),
        "Reshape" => layout::build_reshape(cx),
        "Squeeze" => layout::build_squeeze(cx),
        "Unsqueeze" => layout::build_unsqueeze(cx),
        "Identity" => layout::build_identity(cx),
        "Transpose" => layout::build_transpose(cx),
        "Slice" => layout::build_slice(cx),
        "Concat" => shape_ops::build_concat(cx),
        "Gather" => shape_ops::build_gather(cx),
        "GatherElements" => shape_ops::build_gather_elements(cx),
        "Tile" => return Ok(Planned::Run(layout::build_tile(cx)?)),
        "Shape" => return Ok(Planned::Known(shape_ops::shape(cx)?)),
        "Size" => return Ok(Planned::Known(fill::size(cx)?)),
        "Range" => return Ok(Planned::Known(fill::range(cx)?)),
        "ConstantOfShape" => return Ok(Planned::Known(fill::constant_of_shape(cx)?)),
        "Constant" => return Ok(Planned::Known(shape_ops::constant(cx)?)),
        _ => return Err(BuildError::Unsupported("no implementation".into())),
    };
    Ok(Planned::Run(built?))
}

/// Normalizes a possibly negative axis for a tensor of `rank`.
pub(crate) fn normalize_axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 {
        axis.saturating_add(r)
    } else {
        axis
    };
    if a < 0 || a >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

/// The largest rank the runtime handles (index arithmetic uses fixed arrays of this size).
pub(crate) const MAX_RANK: usize = 8;

pub(crate) fn check_rank(shape: &[usize]) -> OpResult<()> {
    if shape.len() > MAX_RANK {
        return Err(format!(
            "rank {} exceeds the supported maximum {MAX_RANK}",
            shape.len()
        ));
    }
    Ok(())
}

/// Element count of `shape`, as an error on overflow.
pub(crate) fn checked_numel(shape: &[usize]) -> OpResult<usize> {
    crate::exec::numel(shape).ok_or_else(|| format!("shape {shape:?} overflows"))
}
