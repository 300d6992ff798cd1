//! Planning: from a model and concrete input shapes to a program a session runs without further
//! decisions.
//!
//! A plan binds the symbolic dimensions of the inputs, infers the dtype and shape of every value
//! (naming the node, op and shapes on a mismatch), builds each node's op once, folds what is
//! computable at plan time (constants, `Shape` and everything downstream of it up to
//! [`FOLD_LIMIT`] elements), makes Reshape-like ops views that share their input's bytes,
//! flattens `If` bodies into the step list with branch and jump steps,
//! and places every intermediate in one arena by liveness ([`memory`]). A node of an op that
//! computes several outputs at once (`ops::runs_once`: Split, LSTM, GRU, TopK, Dropout) becomes one step
//! writing one arena block that holds each of its read outputs at its own 64-aligned offset
//! (outputs nothing reads get no bytes and are not computed); the block lives as long as its
//! longest-lived output.
//!
//! Invariants of a finished [`Plan`]: each step's inputs are available when it runs (model
//! constants, folded values, caller inputs, session state, or arena values produced by an earlier
//! step on every path to it); each `Run` step writes exactly one arena value (a multi-output
//! step's block, whose outputs share its bytes without overlapping each other), whose byte range
//! overlaps no value live at the same step; a view is never written, and the value whose bytes
//! it shares stays live while the view is read; graph outputs live in the arena, the model, or the
//! plan (never in caller inputs or state), so they stay readable after a run.

pub mod memory;

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::exec::{Tensor, TensorRef, byte_len};
use crate::format::Model;
use crate::graph::{AttrValue, Attribute, GraphId, Node, ValueId};
use crate::ops::{
    self, BuildError, BuiltMulti, Fact, InputList, NodeContext, Op, OutputPart, Outputs, Planned,
    RunContext,
};
use crate::tensor::{DType, Dim};
use memory::Lifetime;

/// Values computable at plan time are folded up to this many elements.
pub const FOLD_LIMIT: usize = 1 << 16;

/// Where a value lives while a plan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A model constant, read in place.
    Constant(u32),
    /// A value computed at plan time, held by the plan.
    Folded(usize),
    /// The caller's input number `k` (in `Plan::input_names` order).
    Input(usize),
    /// The session's state number `k` (in `Model::states` order).
    State(usize),
    /// `len` bytes at `offset` in the session's arena.
    Arena { offset: usize, len: usize },
}

/// A planned value: where it lives, its dtype and concrete shape.
#[derive(Clone, Debug)]
pub(crate) struct PlannedValue {
    pub name: String,
    pub slot: Slot,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

/// One instruction of a plan.
#[derive(Debug)]
pub(crate) enum Step {
    /// Runs `op` on `inputs`, writing the arena value `output`: with `parts` empty, through
    /// `Op::run`; else `output` is the block of a multi-output op, run through `Op::run_multi`
    /// with one part per node output (offsets within the block; `None` for unread outputs).
    Run {
        node: String,
        op_type: String,
        op: Box<dyn Op>,
        inputs: Vec<Option<usize>>,
        output: usize,
        parts: Vec<Option<OutputPart>>,
    },
    /// Continues with the next step if the bool value `cond` is true, else at step `else_at`.
    Branch { cond: usize, else_at: usize },
    /// Continues at step `to`.
    Jump { to: usize },
    /// Fails the run: an `If` branch that cannot run for these input shapes was taken.
    Fail {
        node: String,
        op_type: String,
        what: String,
    },
}

/// Where an intermediate was placed, for memory reports and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub value: String,
    pub offset: usize,
    pub bytes: usize,
    /// Steps (indices into the plan's program) during which the value must keep its bytes.
    pub first_step: usize,
    pub last_step: usize,
}

/// A program for one input-shape signature.
#[derive(Debug)]
pub struct Plan {
    pub(crate) input_shapes: Vec<Vec<usize>>,
    /// Indexed by value: model values first, then copies the planner added; `None` for values
    /// the plan never computes (untaken branches, unused values).
    pub(crate) values: Vec<Option<PlannedValue>>,
    pub(crate) folded: Vec<Tensor>,
    pub(crate) steps: Vec<Step>,
    /// Plan value of each graph output, in model order.
    pub(crate) outputs: Vec<usize>,
    /// For each state pair: the plan value the run writes (copied to the state after a run).
    pub(crate) state_outputs: Vec<usize>,
    /// dtype and shape of each state.
    pub(crate) state_facts: Vec<(DType, Vec<usize>)>,
    pub(crate) arena_bytes: usize,
    pub(crate) scratch_len: usize,
    allocations: Vec<Allocation>,
}

impl Plan {
    /// Plans `model` for caller inputs of `input_shapes` (in the order of
    /// `Session::input_names`; dtypes are the model's), states taking their declared shapes.
    /// Sessions plan on their own: this is for tools that want the runtime's shape inference
    /// and plan-time folding without running (the converter's shape and constant passes).
    pub fn new(model: &Model, input_shapes: &[Vec<usize>]) -> Result<Plan> {
        plan(model, input_shapes, &[])
    }

    /// The contents of graph output `i` when the plan knows them without running: computed at
    /// plan time from constants and shapes (up to [`FOLD_LIMIT`] elements).
    pub fn output_value(&self, i: usize) -> Option<TensorRef<'_>> {
        let v = self.values.get(*self.outputs.get(i)?)?.as_ref()?;
        match v.slot {
            Slot::Folded(k) => self.folded.get(k).map(Tensor::view),
            _ => None,
        }
    }

    /// The input shapes this plan was made for, in input order.
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.input_shapes
    }

    /// Bytes of the activation arena.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Bytes all intermediates would take without reuse (each 64-byte aligned).
    pub fn unshared_bytes(&self) -> usize {
        self.allocations
            .iter()
            .map(|a| a.bytes.next_multiple_of(memory::ALIGN))
            .sum()
    }

    /// f32 elements of scratch memory (im2col, transposes) the plan needs besides the arena.
    pub fn scratch_len(&self) -> usize {
        self.scratch_len
    }

    /// Every arena value with its offset and lifetime.
    pub fn allocations(&self) -> &[Allocation] {
        &self.allocations
    }

    /// Number of steps (op runs, branches and jumps).
    pub fn step_count(&self) -> usize {
        self.steps.len()
    }

    /// The dtype and shape of graph output `i`.
    pub fn output_shape(&self, i: usize) -> Option<(DType, &[usize])> {
        let v = self.values.get(*self.outputs.get(i)?)?.as_ref()?;
        Some((v.dtype, &v.shape))
    }
}

/// The caller-facing inputs of a model: main-graph inputs that are not state inputs.
pub(crate) fn user_inputs(model: &Model) -> Vec<ValueId> {
    let states: Vec<ValueId> = model.states().iter().map(|s| s.input).collect();
    model
        .main_graph()
        .inputs
        .iter()
        .copied()
        .filter(|v| !states.contains(v))
        .collect()
}

/// Per model value: whether some node of any graph reads it or some graph returns it.
fn read_values(model: &Model) -> Vec<bool> {
    let mut read = vec![false; model.values().len()];
    for graph in model.graphs() {
        let node_inputs = graph.nodes.iter().flat_map(|n| n.inputs.iter().flatten());
        for &v in node_inputs.chain(&graph.outputs) {
            if let Some(r) = read.get_mut(v as usize) {
                *r = true;
            }
        }
    }
    read
}

/// Binds the symbolic dimensions of `declared` to `actual`, or says what does not fit.
pub(crate) fn bind_shape(
    declared: Option<&crate::tensor::Shape>,
    actual: &[usize],
    symbols: &mut HashMap<String, usize>,
) -> std::result::Result<(), String> {
    let Some(declared) = declared else {
        return Ok(());
    };
    if declared.rank() != actual.len() {
        return Err(format!(
            "shape {actual:?} has rank {}, the model expects {declared}",
            actual.len()
        ));
    }
    for (d, &n) in declared.0.iter().zip(actual) {
        match d {
            Dim::Fixed(f) if *f as usize != n => {
                return Err(format!(
                    "shape {actual:?} does not match the model's {declared}"
                ));
            }
            Dim::Fixed(_) => {}
            Dim::Symbol(s) => match symbols.get(s) {
                Some(&bound) if bound != n => {
                    return Err(format!(
                        "shape {actual:?}: dimension '{s}' is {n} here but {bound} in another input"
                    ));
                }
                Some(_) => {}
                None => {
                    symbols.insert(s.clone(), n);
                }
            },
        }
    }
    Ok(())
}

/// Builds the plan of `model` for inputs of `input_shapes` (in [`user_inputs`] order; dtypes are
/// the model's, checked by the caller). `state_shapes` gives, per state, the shape of the
/// initial value a caller set, if any: it fixes the state's shape (and binds its symbols) where
/// the inputs do not.
pub(crate) fn plan(
    model: &Model,
    input_shapes: &[Vec<usize>],
    state_shapes: &[Option<Vec<usize>>],
) -> Result<Plan> {
    Planner::new(model, input_shapes, state_shapes)?.finish()
}

/// What a value is known to be while planning.
struct Known {
    fact: Fact,
    slot: Slot,
    /// For a value sharing an arena value's bytes (a view such as Reshape, or an output of a
    /// multi-output step): that value and the byte offset within it.
    alias_of: Option<(usize, usize)>,
}

struct Planner<'m> {
    model: &'m Model,
    /// Indexed like the plan's values: model values first, then values the planner adds.
    known: Vec<Option<Known>>,
    names: Vec<String>,
    folded: Vec<Tensor>,
    steps: Vec<Step>,
    scratch_len: usize,
    input_shapes: Vec<Vec<usize>>,
    state_facts: Vec<(DType, Vec<usize>)>,
    /// Per model value: whether a node (in any graph) reads it or a graph returns it.
    read: Vec<bool>,
}

fn node_error(node: &Node, what: impl Into<String>) -> Error {
    Error::InvalidNode {
        node: node.name.clone(),
        op: node.op.clone(),
        what: what.into(),
    }
}

impl<'m> Planner<'m> {
    fn new(
        model: &'m Model,
        input_shapes: &[Vec<usize>],
        state_shapes: &[Option<Vec<usize>>],
    ) -> Result<Planner<'m>> {
        let values = model.values();
        let mut planner = Planner {
            model,
            known: (0..values.len()).map(|_| None).collect(),
            names: values.iter().map(|v| v.name.clone()).collect(),
            folded: Vec::new(),
            steps: Vec::new(),
            scratch_len: 0,
            input_shapes: input_shapes.to_vec(),
            state_facts: Vec::new(),
            read: read_values(model),
        };
        let mut symbols = HashMap::new();
        let inputs = user_inputs(model);
        if inputs.len() != input_shapes.len() {
            return Err(Error::invalid_argument(format!(
                "{} input shapes given, the model has {} inputs",
                input_shapes.len(),
                inputs.len()
            )));
        }
        for (k, (&v, shape)) in inputs.iter().zip(input_shapes).enumerate() {
            let info = &values[v as usize];
            bind_shape(info.shape.as_ref(), shape, &mut symbols).map_err(|what| {
                Error::InvalidInput {
                    name: info.name.clone(),
                    what,
                }
            })?;
            planner.known[v as usize] = Some(Known {
                fact: Fact::new(info.dtype, shape.clone()),
                slot: Slot::Input(k),
                alias_of: None,
            });
        }
        for (k, pair) in model.states().iter().enumerate() {
            let info = &values[pair.input as usize];
            if let Some(Some(given)) = state_shapes.get(k) {
                bind_shape(info.shape.as_ref(), given, &mut symbols).map_err(|what| {
                    Error::InvalidInput {
                        name: info.name.clone(),
                        what: format!("initial state: {what}"),
                    }
                })?;
            }
        }
        for (k, pair) in model.states().iter().enumerate() {
            let info = &values[pair.input as usize];
            let given = state_shapes.get(k).cloned().flatten();
            let shape = info
                .shape
                .as_ref()
                .and_then(|s| {
                    s.0.iter()
                        .map(|d| match d {
                            Dim::Fixed(n) => usize::try_from(*n).ok(),
                            Dim::Symbol(s) => symbols.get(s).copied(),
                        })
                        .collect::<Option<Vec<usize>>>()
                })
                .or(given)
                .ok_or_else(|| Error::InvalidInput {
                    name: info.name.clone(),
                    what: "state shape is not determined by the inputs (set an initial state \
                           to give it)"
                        .into(),
                })?;
            planner.state_facts.push((info.dtype, shape.clone()));
            planner.known[pair.input as usize] = Some(Known {
                fact: Fact::new(info.dtype, shape),
                slot: Slot::State(k),
                alias_of: None,
            });
        }
        for (v, info) in values.iter().enumerate() {
            if let Some(tid) = info.initializer {
                planner.known[v] = Some(planner.constant_fact(tid)?);
            }
        }
        Ok(planner)
    }

    fn constant_fact(&self, tid: u32) -> Result<Known> {
        let view = self
            .model
            .tensor(tid)
            .ok_or_else(|| Error::invalid_argument(format!("no tensor {tid}")))?;
        let info = view.info;
        let shape: Vec<usize> = info.dims.iter().map(|&d| d as usize).collect();
        let readable = crate::exec::elem_size(info.dtype).is_some()
            && info.layout == crate::tensor::Layout::RowMajor
            && matches!(info.quantization, crate::quant::Quantization::None);
        let mut fact = Fact::new(info.dtype, shape.clone());
        if readable && info.numel() <= FOLD_LIMIT as u64 {
            fact.value = TensorRef::from_bytes(info.dtype, &shape, view.bytes())
                .and_then(Tensor::from_ref)
                .ok();
        }
        Ok(Known {
            fact,
            slot: Slot::Constant(tid),
            alias_of: None,
        })
    }

    fn fact(&self, v: usize) -> Option<&Fact> {
        self.known.get(v)?.as_ref().map(|k| &k.fact)
    }

    fn plan_graph(&mut self, gid: GraphId) -> Result<()> {
        let model = self.model;
        let graph = &model.graphs()[gid as usize];
        for node in &graph.nodes {
            self.check_support(node)?;
            if node.op == "If" {
                self.plan_if(node)?;
            } else if ops::max_outputs(&node.op) > 1 && !ops::runs_once(&node.op) {
                self.plan_per_output(node)?;
            } else {
                self.plan_node(node)?;
            }
        }
        Ok(())
    }

    /// Refuses a node whose op or dtypes the runtime does not implement (`ops::op_support`, the
    /// same answer the converter gets).
    fn check_support(&self, node: &Node) -> Result<()> {
        let inputs: Vec<Option<DType>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|v| self.fact(v as usize)).map(|f| f.dtype))
            .collect();
        let values = self.model.values();
        let outputs: Vec<DType> = node
            .outputs
            .iter()
            .filter_map(|&o| values.get(o as usize).map(|v| v.dtype))
            .collect();
        match ops::op_support(&node.op, &inputs, &outputs) {
            ops::Support::Supported => Ok(()),
            ops::Support::Unsupported(what) => Err(Error::UnsupportedOp {
                node: node.name.clone(),
                op: node.op.clone(),
                what,
            }),
        }
    }

    /// An op of several outputs that is not [`ops::runs_once`] (LayerNormalization) is planned as
    /// n single-output nodes of the same op, each told which output it computes (attribute
    /// `output_index`, read by the op's builder).
    fn plan_per_output(&mut self, node: &Node) -> Result<()> {
        for (index, &out) in node.outputs.iter().enumerate() {
            let mut part = node.clone();
            part.outputs = vec![out];
            part.attributes.push(Attribute {
                name: "output_index".into(),
                value: AttrValue::Int(index as i64),
            });
            self.plan_node(&part)?;
        }
        Ok(())
    }

    fn plan_node(&mut self, node: &Node) -> Result<()> {
        let inputs: Vec<Option<usize>> =
            node.inputs.iter().map(|i| i.map(|v| v as usize)).collect();
        let mut facts = Vec::with_capacity(inputs.len());
        let mut constants = Vec::with_capacity(inputs.len());
        let mut constant_layouts = Vec::with_capacity(inputs.len());
        for &i in &inputs {
            let Some(v) = i else {
                facts.push(None);
                constants.push(None);
                constant_layouts.push(None);
                continue;
            };
            let known = self.known[v].as_ref().ok_or_else(|| {
                node_error(
                    node,
                    format!("input '{}' is not computed before this node", self.names[v]),
                )
            })?;
            facts.push(Some(&known.fact));
            let stored = match known.slot {
                Slot::Constant(tid) => self.model.tensor(tid),
                _ => None,
            };
            constants.push(stored.and_then(|t| {
                TensorRef::from_bytes(t.info.dtype, &known.fact.shape, t.bytes()).ok()
            }));
            constant_layouts.push(stored.map(|t| t.info.layout));
        }
        let model = self.model;
        let tensor_attr = |tid: u32| -> ops::OpResult<Tensor> {
            let t = model.tensor(tid).ok_or("no such tensor")?;
            let shape: Vec<usize> = t.info.dims.iter().map(|&d| d as usize).collect();
            TensorRef::from_bytes(t.info.dtype, &shape, t.bytes())
                .and_then(Tensor::from_ref)
                .map_err(|e| e.to_string())
        };
        let cx = NodeContext {
            node,
            inputs: facts,
            constants,
            constant_layouts,
            tensor_attr: &tensor_attr,
        };
        let planned = ops::build(&cx).map_err(|e| match e {
            BuildError::Unsupported(what) => Error::UnsupportedOp {
                node: node.name.clone(),
                op: node.op.clone(),
                what,
            },
            BuildError::Invalid(what) => node_error(node, what),
        })?;
        let (mut output, op) = match planned {
            Planned::Multi(built) => {
                let all_known = cx.inputs.iter().flatten().all(|f| f.value.is_some());
                let small = built
                    .outputs
                    .iter()
                    .all(|f| crate::exec::numel(&f.shape).is_some_and(|n| n <= FOLD_LIMIT));
                let values = match all_known && small {
                    true => Some(self.evaluate_multi(node, &built, &cx.inputs)?),
                    false => None,
                };
                return self.plan_multi(node, inputs, built, values);
            }
            Planned::Run(built) => (built.output, Some(built.op)),
            Planned::Known(t) => {
                let fact = Fact::new(t.dtype(), t.shape().to_vec());
                (
                    Fact {
                        value: Some(t),
                        ..fact
                    },
                    None,
                )
            }
        };
        let out_v = node.outputs[0] as usize;
        self.check_declared(node, out_v, output.dtype)?;
        let all_known = cx.inputs.iter().flatten().all(|f| f.value.is_some());
        if let Some(op) = op.as_ref().filter(|_| {
            output.value.is_none()
                && all_known
                && crate::exec::numel(&output.shape).is_some_and(|n| n <= FOLD_LIMIT)
        }) {
            output.value = Some(self.evaluate(node, op.as_ref(), &cx.inputs, &output)?);
        }
        let (slot, alias_of) = if let Some(value) = &output.value {
            self.folded.push(value.clone());
            (Slot::Folded(self.folded.len() - 1), None)
        } else if let Some(source) = self.view_source(node, &inputs) {
            // A view: same bytes, new shape; nothing runs.
            source
        } else {
            let op = op.ok_or_else(|| node_error(node, "internal error: no op and no value"))?;
            self.scratch_len = self.scratch_len.max(op.scratch_len());
            self.steps.push(Step::Run {
                node: node.name.clone(),
                op_type: node.op.clone(),
                op,
                inputs,
                output: out_v,
                parts: Vec::new(),
            });
            (Slot::Arena { offset: 0, len: 0 }, None)
        };
        self.known[out_v] = Some(Known {
            fact: output,
            slot,
            alias_of,
        });
        Ok(())
    }

    /// Output value `v` of `node` must have the dtype the model declares.
    fn check_declared(&self, node: &Node, v: usize, dtype: DType) -> Result<()> {
        let declared = &self.model.values()[v];
        if declared.dtype != dtype {
            return Err(node_error(
                node,
                format!(
                    "computes {dtype} but the model declares '{}' as {}",
                    declared.name, declared.dtype
                ),
            ));
        }
        Ok(())
    }

    /// Adds a built multi-output node: its outputs as folded values when `values` holds them,
    /// else one step writing a block that holds every output something reads.
    fn plan_multi(
        &mut self,
        node: &Node,
        inputs: Vec<Option<usize>>,
        built: BuiltMulti,
        values: Option<Vec<Tensor>>,
    ) -> Result<()> {
        if built.outputs.len() != node.outputs.len() {
            return Err(node_error(
                node,
                format!(
                    "internal error: {} outputs built for {}",
                    built.outputs.len(),
                    node.outputs.len()
                ),
            ));
        }
        for (fact, &v) in built.outputs.iter().zip(&node.outputs) {
            self.check_declared(node, v as usize, fact.dtype)?;
        }
        if let Some(values) = values {
            for (value, &v) in values.into_iter().zip(&node.outputs) {
                let fact = Fact::new(value.dtype(), value.shape().to_vec());
                self.folded.push(value.clone());
                self.known[v as usize] = Some(Known {
                    fact: Fact {
                        value: Some(value),
                        ..fact
                    },
                    slot: Slot::Folded(self.folded.len() - 1),
                    alias_of: None,
                });
            }
            return Ok(());
        }
        let block = self.known.len();
        let mut parts = Vec::with_capacity(node.outputs.len());
        let mut bytes = 0usize;
        for (fact, &v) in built.outputs.into_iter().zip(&node.outputs) {
            let v = v as usize;
            if !self.read.get(v).copied().unwrap_or(false) {
                parts.push(None);
                continue;
            }
            let len = byte_len(fact.dtype, &fact.shape)
                .ok_or_else(|| node_error(node, "an output is too large"))?;
            let at = bytes.next_multiple_of(memory::ALIGN);
            bytes = at
                .checked_add(len)
                .ok_or_else(|| node_error(node, "the outputs are too large"))?;
            parts.push(Some(OutputPart {
                at,
                dtype: fact.dtype,
                shape: fact.shape.clone(),
            }));
            self.known[v] = Some(Known {
                fact,
                slot: Slot::Arena { offset: 0, len: 0 },
                alias_of: Some((block, at)),
            });
        }
        if parts.iter().all(Option::is_none) {
            return Ok(());
        }
        self.known.push(Some(Known {
            fact: Fact::new(DType::U8, vec![bytes]),
            slot: Slot::Arena { offset: 0, len: 0 },
            alias_of: None,
        }));
        self.names.push(format!("outputs of {}", node.name));
        self.scratch_len = self.scratch_len.max(built.op.scratch_len());
        self.steps.push(Step::Run {
            node: node.name.clone(),
            op_type: node.op.clone(),
            op: built.op,
            inputs,
            output: block,
            parts,
        });
        Ok(())
    }

    /// For ops whose output is their first input's bytes under another shape, where the output
    /// can live: the input's own slot (a constant, a caller input, state, or folded value), or,
    /// for an arena value, a share of its bytes (`alias_of` names the value that owns them).
    fn view_source(
        &self,
        node: &Node,
        inputs: &[Option<usize>],
    ) -> Option<(Slot, Option<(usize, usize)>)> {
        const VIEWS: [&str; 5] = ["Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"];
        if !VIEWS.contains(&node.op.as_str()) {
            return None;
        }
        let source = (*inputs.first()?)?;
        let known = self.known.get(source)?.as_ref()?;
        Some(match known.slot {
            Slot::Arena { .. } => (known.slot, Some(known.alias_of.unwrap_or((source, 0)))),
            other => (other, None),
        })
    }

    /// Runs `op` now on inputs known at plan time.
    fn evaluate(
        &self,
        node: &Node,
        op: &dyn Op,
        inputs: &[Option<&Fact>],
        output: &Fact,
    ) -> Result<Tensor> {
        let views: Vec<Option<TensorRef<'_>>> = inputs
            .iter()
            .map(|f| f.and_then(|f| f.value.as_ref()).map(Tensor::view))
            .collect();
        let mut out = Tensor::zeros(output.dtype, output.shape.clone())
            .map_err(|e| node_error(node, e.to_string()))?;
        let mut scratch = vec![0.0f32; op.scratch_len()];
        op.run(
            &InputList(&views),
            out.view_mut(),
            &mut RunContext {
                pool: None,
                scratch: &mut scratch,
            },
        )
        .map_err(|what| node_error(node, what))?;
        Ok(out)
    }

    /// Runs a multi-output op now on inputs known at plan time; returns every output.
    fn evaluate_multi(
        &self,
        node: &Node,
        built: &BuiltMulti,
        inputs: &[Option<&Fact>],
    ) -> Result<Vec<Tensor>> {
        let views: Vec<Option<TensorRef<'_>>> = inputs
            .iter()
            .map(|f| f.and_then(|f| f.value.as_ref()).map(Tensor::view))
            .collect();
        let mut outs = built
            .outputs
            .iter()
            .map(|f| Tensor::zeros(f.dtype, f.shape.clone()))
            .collect::<Result<Vec<Tensor>>>()
            .map_err(|e| node_error(node, e.to_string()))?;
        let mut scratch = vec![0.0f32; built.op.scratch_len()];
        let mut cx = RunContext {
            pool: None,
            scratch: &mut scratch,
        };
        // Each output is computed in its own block, the op told to skip the others.
        for k in 0..outs.len() {
            let parts: Vec<Option<OutputPart>> = (0..outs.len())
                .map(|j| {
                    (j == k).then(|| OutputPart {
                        at: 0,
                        dtype: outs[j].dtype(),
                        shape: outs[j].shape().to_vec(),
                    })
                })
                .collect();
            let mut out = outs[k].view_mut();
            built
                .op
                .run_multi(
                    &InputList(&views),
                    Outputs::new(out.bytes_mut(), &parts),
                    &mut cx,
                )
                .map_err(|what| node_error(node, what))?;
        }
        Ok(outs)
    }

    fn body(&self, node: &Node, name: &str) -> Result<GraphId> {
        match node.attribute(name) {
            Some(AttrValue::Graph(g)) => Ok(*g),
            _ => Err(node_error(
                node,
                format!("attribute '{name}' must be a graph"),
            )),
        }
    }

    /// Plans `If`: a known condition plans only the chosen body; otherwise both bodies go into
    /// the program behind a branch, each ending with copies of its outputs into the node's.
    fn plan_if(&mut self, node: &Node) -> Result<()> {
        let (then_g, else_g) = (
            self.body(node, "then_branch")?,
            self.body(node, "else_branch")?,
        );
        let cond = node
            .inputs
            .first()
            .copied()
            .flatten()
            .map(|v| v as usize)
            .ok_or_else(|| node_error(node, "the condition is required"))?;
        let fact = self
            .fact(cond)
            .ok_or_else(|| node_error(node, "the condition is not computed before this node"))?;
        if fact.dtype != DType::Bool || fact.shape.iter().product::<usize>() != 1 {
            return Err(node_error(
                node,
                format!(
                    "the condition must be one bool, got {} {:?}",
                    fact.dtype, fact.shape
                ),
            ));
        }
        if let Some(value) = &fact.value {
            let taken = if value.view().as_bool().is_ok_and(|b| b.first() != Some(&0)) {
                then_g
            } else {
                else_g
            };
            self.plan_graph(taken)?;
            return self.copy_outputs(node, taken, false);
        }
        // A branch that cannot be planned for these shapes (its shape logic is meant for
        // other inputs) becomes a run-time error if taken; both failing is a plan error.
        let branch_at = self.steps.len();
        self.steps.push(Step::Branch { cond, else_at: 0 });
        let then_ok = self.plan_branch(node, then_g, false)?;
        let jump_at = self.steps.len();
        self.steps.push(Step::Jump { to: 0 });
        let else_at = self.steps.len();
        if let Err(e) = self.plan_branch(node, else_g, then_ok.is_ok())?
            && let Err(first) = then_ok
        {
            return Err(node_error(node, format!("no branch can run: {first}; {e}")));
        }
        let end = self.steps.len();
        self.steps[branch_at] = Step::Branch { cond, else_at };
        self.steps[jump_at] = Step::Jump { to: end };
        Ok(())
    }

    /// Plans body `gid` of `node` and copies its outputs (checked against the other branch's
    /// when `second`). If the body cannot be planned, its steps are replaced by one
    /// `Fail` step and the error is returned inside `Ok`.
    fn plan_branch(
        &mut self,
        node: &Node,
        gid: GraphId,
        second: bool,
    ) -> Result<std::result::Result<(), String>> {
        let start = self.steps.len();
        let planned = self
            .plan_graph(gid)
            .and_then(|()| self.copy_outputs(node, gid, second));
        match planned {
            Ok(()) => Ok(Ok(())),
            // Unsupported ops stay errors: only shape-dependent failures are deferred.
            Err(e @ Error::UnsupportedOp { .. }) => Err(e),
            Err(e) => {
                self.steps.truncate(start);
                self.steps.push(Step::Fail {
                    node: node.name.clone(),
                    op_type: node.op.clone(),
                    what: format!("the taken branch cannot run for these input shapes: {e}"),
                });
                Ok(Err(e.to_string()))
            }
        }
    }

    /// Copies the outputs of body `gid` into the outputs of `node`; `second` checks them against
    /// the facts the first body set.
    fn copy_outputs(&mut self, node: &Node, gid: GraphId, second: bool) -> Result<()> {
        let body = &self.model.graphs()[gid as usize];
        if body.outputs.len() != node.outputs.len() {
            return Err(node_error(
                node,
                format!(
                    "body '{}' has {} outputs, the node {}",
                    body.name,
                    body.outputs.len(),
                    node.outputs.len()
                ),
            ));
        }
        for (&from, &to) in body.outputs.iter().zip(&node.outputs) {
            let (from, to) = (from as usize, to as usize);
            let fact = self
                .fact(from)
                .ok_or_else(|| node_error(node, "a body output is not computed"))?
                .clone();
            if second {
                let first = self
                    .fact(to)
                    .ok_or_else(|| node_error(node, "output not planned"))?;
                if first.dtype != fact.dtype || first.shape != fact.shape {
                    return Err(node_error(
                        node,
                        format!(
                            "the branches produce different outputs ({} {:?} vs {} {:?}); both must match",
                            first.dtype, first.shape, fact.dtype, fact.shape
                        ),
                    ));
                }
            }
            self.copy_value(from, to, fact)?;
        }
        Ok(())
    }

    /// Emits a step writing a copy of value `from` into the arena value `to`.
    fn copy_value(&mut self, from: usize, to: usize, fact: Fact) -> Result<()> {
        let fact = Fact::new(fact.dtype, fact.shape);
        self.steps.push(Step::Run {
            node: format!("copy of {}", self.names[from]),
            op_type: "Identity".into(),
            op: ops::identity(),
            inputs: vec![Some(from)],
            output: to,
            parts: Vec::new(),
        });
        self.known[to] = Some(Known {
            fact,
            slot: Slot::Arena { offset: 0, len: 0 },
            alias_of: None,
        });
        Ok(())
    }

    /// Finishes the program and places the arena values.
    fn finish(mut self) -> Result<Plan> {
        self.plan_graph(0)?;
        let model = self.model;
        let mut outputs = Vec::new();
        for &v in &model.main_graph().outputs {
            let v = v as usize;
            let known = self.known[v].as_ref().ok_or_else(|| {
                Error::invalid_argument(format!("output '{}' is not computed", self.names[v]))
            })?;
            if matches!(known.slot, Slot::Input(_) | Slot::State(_)) {
                // Outputs must outlive the caller's inputs and the state update: copy them.
                let fact = known.fact.clone();
                let copy = self.known.len();
                self.known.push(None);
                self.names.push(self.names[v].clone());
                self.copy_value(v, copy, fact)?;
                outputs.push(copy);
            } else {
                outputs.push(v);
            }
        }
        let mut state_outputs = Vec::new();
        for (k, pair) in model.states().iter().enumerate() {
            let out = pair.output as usize;
            let fact = self.fact(out).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "state output '{}' is not computed",
                    self.names[out]
                ))
            })?;
            let (dtype, shape) = &self.state_facts[k];
            if fact.dtype != *dtype || fact.shape != *shape {
                return Err(Error::InvalidNode {
                    node: self.names[out].clone(),
                    op: "state".into(),
                    what: format!(
                        "state output is {} {:?} but the state input is {dtype} {shape:?}",
                        fact.dtype, fact.shape
                    ),
                });
            }
            // Validation guarantees a state output is a graph output; read it where the output lives.
            let at = model
                .main_graph()
                .outputs
                .iter()
                .position(|&o| o as usize == out);
            state_outputs.push(at.map_or(out, |i| outputs[i]));
        }
        self.place(outputs, state_outputs)
    }

    fn place(self, outputs: Vec<usize>, state_outputs: Vec<usize>) -> Result<Plan> {
        let n = self.known.len();
        let end = self.steps.len();
        let mut first = vec![usize::MAX; n];
        let mut last = vec![0usize; n];
        for (i, step) in self.steps.iter().enumerate() {
            let (reads, writes): (Vec<usize>, Option<usize>) = match step {
                Step::Run { inputs, output, .. } => {
                    (inputs.iter().flatten().copied().collect(), Some(*output))
                }
                Step::Branch { cond, .. } => (vec![*cond], None),
                Step::Jump { .. } | Step::Fail { .. } => (vec![], None),
            };
            for r in reads {
                last[r] = last[r].max(i);
            }
            if let Some(w) = writes {
                first[w] = first[w].min(i);
                last[w] = last[w].max(i);
            }
        }
        for &v in outputs.iter().chain(&state_outputs) {
            last[v] = end;
        }
        // A value's bytes must outlive every value sharing them.
        for (v, known) in self.known.iter().enumerate() {
            if let Some((root, _)) = known.as_ref().and_then(|k| k.alias_of) {
                last[root] = last[root].max(last[v]);
                first[root] = first[root].min(first[v]);
            }
        }
        let mut values = Vec::with_capacity(n);
        let mut arena_ids = Vec::new();
        let mut lifetimes = Vec::new();
        let mut aliases = Vec::new();
        for (v, known) in self.known.into_iter().enumerate() {
            let Some(Known {
                fact,
                slot,
                alias_of,
            }) = known
            else {
                values.push(None);
                continue;
            };
            if let Some((root, at)) = alias_of {
                let bytes = byte_len(fact.dtype, &fact.shape).ok_or_else(|| {
                    Error::invalid_argument(format!("value '{}' is too large", self.names[v]))
                })?;
                aliases.push((v, root, at, bytes));
            } else if let Slot::Arena { .. } = slot {
                let bytes = byte_len(fact.dtype, &fact.shape).ok_or_else(|| {
                    Error::invalid_argument(format!("value '{}' is too large", self.names[v]))
                })?;
                arena_ids.push(v);
                lifetimes.push(Lifetime {
                    bytes,
                    first_step: first[v].min(last[v]),
                    last_step: last[v],
                });
            }
            values.push(Some(PlannedValue {
                name: self.names[v].clone(),
                slot,
                dtype: fact.dtype,
                shape: fact.shape,
            }));
        }
        let (offsets, arena_bytes) = memory::assign(&lifetimes)
            .ok_or_else(|| Error::invalid_argument("activation memory overflows"))?;
        // Proven once per plan (quadratic in the value count, paid at planning only).
        memory::check(&lifetimes, &offsets).map_err(|(a, b)| {
            Error::invalid_argument(format!(
                "internal error: memory plan overlaps live values '{}' and '{}'",
                self.names[arena_ids[a]], self.names[arena_ids[b]]
            ))
        })?;
        let mut allocations = Vec::with_capacity(arena_ids.len());
        for ((&v, life), &offset) in arena_ids.iter().zip(&lifetimes).zip(&offsets) {
            if let Some(value) = values[v].as_mut() {
                value.slot = Slot::Arena {
                    offset,
                    len: life.bytes,
                };
                allocations.push(Allocation {
                    value: value.name.clone(),
                    offset,
                    bytes: life.bytes,
                    first_step: life.first_step,
                    last_step: life.last_step,
                });
            }
        }
        for (v, root, at, len) in aliases {
            let root_slot = values[root].as_ref().map(|r| r.slot);
            if let (Some(value), Some(Slot::Arena { offset, .. })) = (values[v].as_mut(), root_slot)
            {
                value.slot = Slot::Arena {
                    offset: offset + at,
                    len,
                };
            }
        }
        Ok(Plan {
            input_shapes: self.input_shapes,
            values,
            folded: self.folded,
            steps: self.steps,
            outputs,
            state_outputs,
            state_facts: self.state_facts,
            arena_bytes,
            scratch_len: self.scratch_len,
            allocations,
        })
    }
}
