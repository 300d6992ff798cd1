//! Sessions: run a shared model on named inputs, planning once per input-shape signature.
//!
//! Invariants: a session's model is never mutated; a plan, once cached, is reused for every run
//! with the same input shapes, and such a run allocates nothing except the tensors `run` returns
//! (`run_in_place` + `output` allocate nothing at all); state tensors always have the dtype and
//! shape of the current plan's states; outputs are readable only after a run that succeeded.
//!
//! Threads: with `threads > 1` a session owns a pool of [`Workers`] and runs each whole plan on
//! one of them while the others spin for work (`super::workers`), so the ops split their work
//! from a pool thread (a local push a spinning worker steals) rather than handing each op's
//! work in from outside, and no worker falls asleep between two ops; the calling thread waits
//! once per run, and no worker spins once the run has returned. A plan with less than
//! `MIN_POOLED_ARENA_BYTES` of activations runs on the calling thread without the pool. After
//! a run of a new plan every worker gets the per-thread GEMM buffers the run grew, so later runs
//! allocate nothing on whichever worker they land.
//!
//! Input policy: names must match the model's inputs exactly (unknown, missing and repeated names
//! are errors); dtypes must equal the model's; shapes must match the model's fixed dimensions and
//! bind its symbolic ones consistently; tensors with a zero-sized dimension are rejected; NaN and
//! infinities pass through with IEEE semantics unless `SessionOptions::reject_non_finite_inputs`
//! asks for an error.

use std::sync::Arc;

use super::arena::Arena;
use super::frame::Frame;
use super::profile::{Profile, StepTime, record};
use super::shared::{SharedPlans, make_plan, remember};
use super::tensor::{Tensor, TensorMut, TensorRef};
use super::workers::Workers;
use crate::error::{Error, Result};
use crate::format::Model;
use crate::kernels::f32::gemm::{buffer_capacities, reserve_buffers};
use crate::ops::{Outputs, RunContext};
use crate::plan::{self, Plan, Slot, Step};
use crate::tensor::DType;

/// How a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads used by one run: 1 runs on the caller's thread with no pool.
    pub threads: usize,
    /// Reject inputs that contain NaN or an infinity (checked on every run, one pass per input).
    pub reject_non_finite_inputs: bool,
    /// Time every step of every run (read with [`Session::profile`]); off costs nothing.
    pub profile: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: 1,
            reject_non_finite_inputs: false,
            profile: false,
        }
    }
}

/// Runs one model; create one per thread (they share the `Arc<Model>`).
pub struct Session {
    model: Arc<Model>,
    options: SessionOptions,
    workers: Option<Workers>,
    input_names: Vec<String>,
    input_dtypes: Vec<DType>,
    output_names: Vec<String>,
    state_names: Vec<String>,
    plans: Vec<Arc<Plan>>,
    /// Where plans come from when this session has none for the input shapes.
    shared: Option<Arc<SharedPlans>>,
    /// The plan of the last successful run, whose outputs are readable.
    last: Option<usize>,
    arena: Arena,
    scratch: Vec<f32>,
    states: Vec<Tensor>,
    initial_states: Vec<Option<Tensor>>,
    /// For each model input, its position among the caller's inputs (reused across runs).
    order: Vec<usize>,
    /// Step times, when `options.profile` is set.
    profile: Profile,
}

/// Runs on each pool worker as it starts: a first steal registers the thread with the epoch
/// collector that rayon's work-stealing deques use, an allocation that would otherwise happen the
/// first time the worker steals a task, in the middle of some later run. Steady runs then allocate
/// nothing on any thread.
fn register_worker() {
    let worker = crossbeam_deque::Worker::<()>::new_fifo();
    let _ = worker.stealer().steal();
}

/// Activation memory below which a plan runs on the calling thread even with a pool: the parallel
/// ops split only outputs of 16K elements or more ([`crate::ops`]' thresholds), which such a plan
/// cannot hold, and its whole run takes less than a few hand-offs.
const MIN_POOLED_ARENA_BYTES: usize = 64 * 1024;

/// Gives every pool worker the per-thread buffers the most grown one has after a run of a new
/// plan: the next run may land on another worker, which must not allocate then.
fn even_out_workers(pool: &rayon::ThreadPool) {
    let most = pool
        .broadcast(|_| buffer_capacities())
        .into_iter()
        .fold([0; 2], |most, each| [0, 1].map(|i| most[i].max(each[i])));
    pool.broadcast(|_| reserve_buffers(most));
}

impl Session {
    /// A session over `model`.
    pub fn new(model: Arc<Model>, options: SessionOptions) -> Result<Session> {
        let workers = match options.threads {
            0 => return Err(Error::invalid_argument("threads must be at least 1")),
            1 => None,
            n => Some(Workers::new(n, register_worker)?),
        };
        let values = model.values();
        let inputs = plan::user_inputs(&model);
        let name = |v: u32| values[v as usize].name.clone();
        Ok(Session {
            input_names: inputs.iter().map(|&v| name(v)).collect(),
            input_dtypes: inputs.iter().map(|&v| values[v as usize].dtype).collect(),
            output_names: model
                .main_graph()
                .outputs
                .iter()
                .map(|&v| name(v))
                .collect(),
            state_names: model.states().iter().map(|s| name(s.input)).collect(),
            order: vec![0; inputs.len()],
            initial_states: vec![None; model.states().len()],
            model,
            options,
            workers,
            plans: Vec::new(),
            shared: None,
            last: None,
            arena: Arena::default(),
            scratch: Vec::new(),
            states: Vec::new(),
            profile: Profile::default(),
        })
    }

    /// A session that takes its plans from `shared` (and adds the ones it makes there), so that
    /// sessions of one model plan each input-shape signature once and share its ops and weights.
    pub fn with_shared_plans(shared: Arc<SharedPlans>, options: SessionOptions) -> Result<Session> {
        let mut session = Session::new(shared.model().clone(), options)?;
        session.shared = Some(shared);
        Ok(session)
    }

    /// Names of the inputs `run` expects (state inputs excluded), in model order.
    pub fn input_names(&self) -> &[String] {
        &self.input_names
    }

    /// Names of the outputs, in model order.
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The plan of the last successful run (memory figures, steps).
    pub fn last_plan(&self) -> Option<&Plan> {
        self.plans.get(self.last?).map(|p| &**p)
    }

    /// Sets the value state `name` starts from (instead of zeros) and resets all states. The
    /// value is used while the state has its shape; a plan whose state shape differs starts
    /// that state from zeros.
    pub fn set_initial_state(&mut self, name: &str, value: Tensor) -> Result<()> {
        let k = self
            .state_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::InvalidInput {
                name: name.into(),
                what: format!("no such state; states are {:?}", self.state_names),
            })?;
        let want = self.model.values()[self.model.states()[k].input as usize].dtype;
        if value.dtype() != want {
            return Err(Error::InvalidInput {
                name: name.into(),
                what: format!("dtype {} given, the state is {want}", value.dtype()),
            });
        }
        let old_shape = self.initial_states[k].as_ref().map(|t| t.shape().to_vec());
        if old_shape.as_deref() != Some(value.shape()) {
            // Plans may depend on the state's shape (it can fix symbolic dimensions).
            self.plans.clear();
            self.last = None;
        }
        self.initial_states[k] = Some(value);
        self.reset_state();
        Ok(())
    }

    /// Resets every state to its initial value (zeros unless set) before the next run.
    pub fn reset_state(&mut self) {
        for (k, state) in self.states.iter_mut().enumerate() {
            reset(state, self.initial_states.get(k).and_then(Option::as_ref));
        }
    }

    /// Runs the model and returns copies of its outputs, in model order.
    pub fn run(&mut self, inputs: &[(&str, TensorRef<'_>)]) -> Result<Vec<Tensor>> {
        self.run_in_place(inputs)?;
        (0..self.output_names.len())
            .map(|i| self.output(i).and_then(Tensor::from_ref))
            .collect()
    }

    /// Runs the model, leaving the outputs in the session: read them with [`Session::output`].
    pub fn run_in_place(&mut self, inputs: &[(&str, TensorRef<'_>)]) -> Result<()> {
        self.last = None;
        self.check_inputs(inputs)?;
        let (p, new_plan) = self.plan_for(inputs)?;
        let plan = &self.plans[p];
        let too_big = |what: &str, bytes: usize| {
            Error::invalid_argument(format!(
                "these input shapes need {bytes} bytes of {what}, which cannot be allocated"
            ))
        };
        self.arena
            .reserve(plan.arena_bytes)
            .map_err(|_| too_big("activation memory", plan.arena_bytes))?;
        if self.scratch.len() < plan.scratch_len {
            let more = plan.scratch_len - self.scratch.len();
            self.scratch
                .try_reserve_exact(more)
                .map_err(|_| too_big("scratch memory", plan.scratch_len.saturating_mul(4)))?;
            self.scratch.resize(plan.scratch_len, 0.0);
        }
        self.prepare_states(p)?;
        let plan = &self.plans[p];
        // A small plan (silero VAD, a wake-word classifier) has no op worth splitting: it runs
        // on the calling thread, without even the one hand-off of a pooled run.
        let workers = self
            .workers
            .as_ref()
            .filter(|_| plan.arena_bytes >= MIN_POOLED_ARENA_BYTES);
        let times = if self.options.profile {
            Some(self.profile.slots_for(p, plan.steps.len()))
        } else {
            None
        };
        let (model, order, states, arena, scratch) = (
            &self.model,
            &self.order,
            &self.states,
            &mut self.arena,
            &mut self.scratch,
        );
        let steps = move |pool: Option<&rayon::ThreadPool>| {
            let mut cx = RunContext { pool, scratch };
            execute(model, plan, inputs, order, states, arena, &mut cx, times)
        };
        match workers {
            // The whole run on a pool thread while the other workers spin for work: ops split
            // their work from inside the pool (a local push that a spinning worker steals)
            // instead of each op injecting its work from outside and sleeping until it is done.
            Some(workers) => workers.run(|pool| {
                steps(Some(pool))?;
                if new_plan {
                    even_out_workers(pool);
                }
                Ok::<_, Error>(())
            })?,
            None => steps(None)?,
        }
        // Carry the states: copy what the run wrote into the state tensors.
        let whole = Frame::reading(&self.model, plan, self.arena.bytes());
        for (k, state) in self.states.iter_mut().enumerate() {
            let src = plan
                .state_outputs
                .get(k)
                .and_then(|&v| whole.value(v))
                .ok_or_else(|| internal("state output unreadable"))?;
            state.view_mut().bytes_mut().copy_from_slice(src.bytes());
        }
        self.last = Some(p);
        Ok(())
    }

    /// Time spent per node over the profiled runs of the last successful run's plan, in plan
    /// order (empty unless [`SessionOptions::profile`] is set). Allocates: call it after the runs.
    pub fn profile(&self) -> Vec<StepTime> {
        match self.last_plan() {
            Some(plan) if self.options.profile => self.profile.step_times(plan),
            _ => Vec::new(),
        }
    }

    /// Forgets the profiled times (for example after warm-up runs).
    pub fn reset_profile(&mut self) {
        self.profile.reset();
    }

    /// Output `i` of the last successful run, borrowed from the session (no copy, no allocation).
    pub fn output(&self, i: usize) -> Result<TensorRef<'_>> {
        let plan = self
            .last_plan()
            .ok_or_else(|| Error::invalid_argument("no successful run yet"))?;
        let v = *plan
            .outputs
            .get(i)
            .ok_or_else(|| Error::invalid_argument(format!("no output {i}")))?;
        let whole = Frame::reading(&self.model, plan, self.arena.bytes());
        whole.value(v).ok_or_else(|| internal("output unreadable"))
    }

    /// The output called `name` of the last successful run, borrowed from the session.
    pub fn output_by_name(&self, name: &str) -> Result<TensorRef<'_>> {
        let i = self
            .output_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "no output '{name}'; outputs are {:?}",
                    self.output_names
                ))
            })?;
        self.output(i)
    }

    /// Matches names, checks dtypes, emptiness and (optionally) finiteness; fills `order`.
    fn check_inputs(&mut self, inputs: &[(&str, TensorRef<'_>)]) -> Result<()> {
        for (i, (name, _)) in inputs.iter().enumerate() {
            if !self.input_names.iter().any(|n| n == name) {
                return Err(Error::InvalidInput {
                    name: (*name).into(),
                    what: format!(
                        "the model has no such input; inputs are {:?}",
                        self.input_names
                    ),
                });
            }
            if inputs[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::InvalidInput {
                    name: (*name).into(),
                    what: "given more than once".into(),
                });
            }
        }
        for (k, want) in self.input_names.iter().enumerate() {
            let at =
                inputs
                    .iter()
                    .position(|(n, _)| n == want)
                    .ok_or_else(|| Error::InvalidInput {
                        name: want.clone(),
                        what: "missing".into(),
                    })?;
            let t = inputs[at].1;
            let err = |what: String| Error::InvalidInput {
                name: want.clone(),
                what,
            };
            if t.dtype() != self.input_dtypes[k] {
                return Err(err(format!(
                    "dtype {} given, the model expects {}",
                    t.dtype(),
                    self.input_dtypes[k]
                )));
            }
            if t.shape().contains(&0) {
                return Err(err(format!(
                    "shape {:?} is empty; empty tensors are not accepted",
                    t.shape()
                )));
            }
            if self.options.reject_non_finite_inputs
                && t.dtype() == DType::F32
                && let Some(i) = t.as_f32()?.iter().position(|x| !x.is_finite())
            {
                return Err(err(format!("element {i} is not finite")));
            }
            self.order[k] = at;
        }
        Ok(())
    }

    /// The cached plan for these input shapes, planning (and caching) it on a miss, and whether
    /// it was a miss.
    fn plan_for(&mut self, inputs: &[(&str, TensorRef<'_>)]) -> Result<(usize, bool)> {
        let order = &self.order;
        let matches = |plan: &Arc<Plan>| {
            plan.input_shapes
                .iter()
                .zip(order)
                .all(|(s, &at)| inputs[at].1.shape() == s.as_slice())
        };
        if let Some(p) = self.plans.iter().position(matches) {
            return Ok((p, false));
        }
        let shapes: Vec<Vec<usize>> = order
            .iter()
            .map(|&at| inputs[at].1.shape().to_vec())
            .collect();
        let state_shapes: Vec<Option<Vec<usize>>> = self
            .initial_states
            .iter()
            .map(|s| s.as_ref().map(|t| t.shape().to_vec()))
            .collect();
        // Shared plans assume state shapes follow from the inputs; a session whose initial state
        // fixes a shape plans for itself.
        let plan = match &self.shared {
            Some(shared) if state_shapes.iter().all(Option::is_none) => {
                shared.get_or_plan(&shapes)?
            }
            _ => Arc::new(make_plan(&self.model, &shapes, &state_shapes)?),
        };
        remember(&mut self.plans, plan);
        Ok((self.plans.len() - 1, true))
    }

    /// Gives every state the dtype and shape plan `p` needs, keeping values that already fit.
    fn prepare_states(&mut self, p: usize) -> Result<()> {
        let facts = &self.plans[p].state_facts;
        if self.states.len() == facts.len()
            && self
                .states
                .iter()
                .zip(facts)
                .all(|(s, (d, sh))| s.dtype() == *d && s.shape() == sh.as_slice())
        {
            return Ok(());
        }
        self.states.clear();
        for (k, (dtype, shape)) in facts.iter().enumerate() {
            let mut state = Tensor::zeros(*dtype, shape.clone())?;
            reset(&mut state, self.initial_states[k].as_ref());
            self.states.push(state);
        }
        Ok(())
    }
}

/// Sets `state` to `initial` when it has the same shape, else to zeros.
fn reset(state: &mut Tensor, initial: Option<&Tensor>) {
    let shape_fits =
        initial.is_some_and(|i| i.shape() == state.shape() && i.dtype() == state.dtype());
    let mut view = state.view_mut();
    match initial {
        Some(init) if shape_fits => view.bytes_mut().copy_from_slice(init.view().bytes()),
        _ => view.bytes_mut().fill(0),
    }
}

fn internal(what: &str) -> Error {
    Error::invalid_argument(format!("internal error: {what}"))
}

/// Runs the steps of `plan`, adding each step's time into `times[step]` when given.
#[allow(clippy::too_many_arguments)]
fn execute(
    model: &Model,
    plan: &Plan,
    inputs: &[(&str, TensorRef<'_>)],
    order: &[usize],
    states: &[Tensor],
    arena: &mut Arena,
    cx: &mut RunContext<'_>,
    mut times: Option<&mut [(std::time::Duration, u64)]>,
) -> Result<()> {
    let mut pc = 0;
    while let Some(step) = plan.steps.get(pc) {
        match step {
            Step::Run {
                node,
                op_type,
                op,
                inputs: reads,
                output,
                parts,
            } => {
                let out = plan
                    .values
                    .get(*output)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| internal("unplanned output"))?;
                let Slot::Arena { offset, len } = out.slot else {
                    return Err(internal("output outside the arena"));
                };
                let bytes = arena.bytes_mut();
                if offset.checked_add(len).is_none_or(|end| end > bytes.len()) {
                    return Err(internal("arena too small"));
                }
                let (before, rest) = bytes.split_at_mut(offset);
                let (out_bytes, after) = rest.split_at_mut(len);
                let frame = Frame {
                    model,
                    plan,
                    inputs,
                    order,
                    states,
                    before,
                    after,
                    out_len: len,
                    reads,
                };
                let start = times.as_ref().map(|_| std::time::Instant::now());
                let ran = if parts.is_empty() {
                    let out_tensor = TensorMut::from_bytes(out.dtype, &out.shape, out_bytes)?;
                    op.run(&frame, out_tensor, cx)
                } else {
                    op.run_multi(&frame, Outputs::new(out_bytes, parts), cx)
                };
                ran.map_err(|what| Error::Execution {
                    node: node.clone(),
                    op: op_type.clone(),
                    what,
                })?;
                record(times.as_deref_mut().and_then(|t| t.get_mut(pc)), start);
                pc += 1;
            }
            Step::Branch { cond, else_at } => {
                let frame = Frame {
                    inputs,
                    order,
                    states,
                    ..Frame::reading(model, plan, arena.bytes())
                };
                let c = frame
                    .value(*cond)
                    .and_then(|t| t.as_bool().ok()?.first().copied())
                    .ok_or_else(|| internal("If condition unreadable"))?;
                pc = if c != 0 { pc + 1 } else { *else_at };
            }
            Step::Jump { to } => pc = *to,
            Step::Fail {
                node,
                op_type,
                what,
            } => {
                return Err(Error::Execution {
                    node: node.clone(),
                    op: op_type.clone(),
                    what: what.clone(),
                });
            }
        }
    }
    Ok(())
}
