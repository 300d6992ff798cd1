//! Per-step timing of a session's runs (`SessionOptions::profile`).
//!
//! Invariants: when profiling is off the executor only tests an `Option` per step (no clock
//! reads); when on, it reads the clock twice per step and adds into slots sized once per plan,
//! so the steady path still allocates nothing. Totals accumulate over runs of one plan and
//! restart when the session runs another plan or [`Profile::reset`] is called.

use std::time::{Duration, Instant};

use crate::plan::{Plan, Step};

/// Accumulated time of one step of the plan (one node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepTime {
    pub node: String,
    pub op_type: String,
    /// Total wall time spent in the node's op over all profiled runs.
    pub total: Duration,
    /// How many times it ran (a node in a branch of an `If` may run fewer times than others).
    pub runs: u64,
}

/// The per-step slots of the plan being profiled.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    /// Index of the plan the slots belong to.
    plan: Option<usize>,
    slots: Vec<(Duration, u64)>,
}

impl Profile {
    /// The slots for plan `p` (with `steps` steps), cleared when they belonged to another plan.
    pub fn slots_for(&mut self, p: usize, steps: usize) -> &mut [(Duration, u64)] {
        if self.plan != Some(p) || self.slots.len() != steps {
            self.plan = Some(p);
            self.slots.clear();
            self.slots.resize(steps, (Duration::ZERO, 0));
        }
        &mut self.slots
    }

    /// Forgets every total.
    pub fn reset(&mut self) {
        self.plan = None;
        self.slots.clear();
    }

    /// The totals of the steps that ran, in plan order, named after `plan`'s nodes (which must be
    /// the profiled plan).
    pub fn step_times(&self, plan: &Plan) -> Vec<StepTime> {
        plan.steps
            .iter()
            .zip(&self.slots)
            .filter_map(|(step, &(total, runs))| match step {
                Step::Run { node, op_type, .. } if runs > 0 => Some(StepTime {
                    node: node.clone(),
                    op_type: op_type.clone(),
                    total,
                    runs,
                }),
                _ => None,
            })
            .collect()
    }
}

/// Adds the time since `start` to `slot`.
#[inline]
pub(crate) fn record(slot: Option<&mut (Duration, u64)>, start: Option<Instant>) {
    if let (Some(slot), Some(start)) = (slot, start) {
        slot.0 += start.elapsed();
        slot.1 += 1;
    }
}
