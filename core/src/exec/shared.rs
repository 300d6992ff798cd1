//! Plans shared by all sessions of one model, so that a plan (its ops, its prepared weights) is
//! made once per input-shape signature however many sessions run the model.
//!
//! Invariants: every plan held was made for `model`; plans are immutable once made, so handing
//! out `Arc`s to any number of sessions on any threads is safe; at most `PLAN_CACHE` plans are
//! kept (the oldest is dropped, sessions holding it keep their `Arc`).

use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::format::Model;
use crate::plan::{self, Plan};

/// Plans kept per cache; the oldest is dropped when a new signature arrives.
pub(crate) const PLAN_CACHE: usize = 8;

/// A model with the plans its sessions share. Create sessions from it with
/// [`super::Session::with_shared_plans`].
pub struct SharedPlans {
    model: Arc<Model>,
    plans: Mutex<Vec<Arc<Plan>>>,
}

impl SharedPlans {
    pub fn new(model: Arc<Model>) -> Arc<SharedPlans> {
        Arc::new(SharedPlans {
            model,
            plans: Mutex::new(Vec::new()),
        })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Number of plans currently cached.
    pub fn len(&self) -> usize {
        self.plans
            .lock()
            .map_or_else(|e| e.into_inner().len(), |p| p.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The plan for `shapes`, made (once, under the lock) if no session made it before.
    pub(crate) fn get_or_plan(&self, shapes: &[Vec<usize>]) -> Result<Arc<Plan>> {
        // A panic while planning cannot leave the list half-updated: pushing is the last step.
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plan) = plans.iter().find(|p| p.input_shapes == shapes) {
            return Ok(plan.clone());
        }
        let plan = Arc::new(make_plan(&self.model, shapes, &[])?);
        remember(&mut plans, plan.clone());
        Ok(plan)
    }
}

/// Plans `model` for input `shapes` (and state shapes fixed by initial states, if any), logging
/// the plan's memory figures.
pub(crate) fn make_plan(
    model: &Model,
    shapes: &[Vec<usize>],
    state_shapes: &[Option<Vec<usize>>],
) -> Result<Plan> {
    let plan = plan::plan(model, shapes, state_shapes)?;
    log::debug!(
        "planned {shapes:?}: {} steps, arena {} bytes ({} without reuse), scratch {} f32",
        plan.step_count(),
        plan.arena_bytes(),
        plan.unshared_bytes(),
        plan.scratch_len()
    );
    Ok(plan)
}

/// Adds `plan` to a bounded list, dropping the oldest when full.
pub(crate) fn remember(plans: &mut Vec<Arc<Plan>>, plan: Arc<Plan>) {
    if plans.len() == PLAN_CACHE {
        plans.remove(0);
    }
    plans.push(plan);
}
