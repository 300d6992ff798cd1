//! Resolving a plan's values to tensors while a step runs.
//!
//! A step's output (for a multi-output step, the block holding all its outputs) is carved out of
//! the arena with `split_at_mut`, leaving the bytes before and after it readable; every input the step reads lies entirely on one side (the memory plan
//! guarantees no live value overlaps the output). An input that would overlap is reported as
//! missing rather than aliased, so a planner bug surfaces as an error, never as a data race.

use crate::exec::{Tensor, TensorRef};
use crate::format::Model;
use crate::ops::Inputs;
use crate::plan::{Plan, Slot};

/// Everything values can live in during one step.
pub(crate) struct Frame<'a> {
    pub model: &'a Model,
    pub plan: &'a Plan,
    /// The caller's inputs, as given, and for each plan input its position there.
    pub inputs: &'a [(&'a str, TensorRef<'a>)],
    pub order: &'a [usize],
    pub states: &'a [Tensor],
    /// Arena bytes before the output.
    pub before: &'a [u8],
    /// Arena bytes after the output, which starts at `before.len()` and is `out_len` long.
    pub after: &'a [u8],
    pub out_len: usize,
    /// The plan values the current step reads, in op input order.
    pub reads: &'a [Option<usize>],
}

impl<'a> Frame<'a> {
    /// A frame that reads the whole arena (between steps, after a run) with no caller inputs or
    /// states.
    pub fn reading(model: &'a Model, plan: &'a Plan, arena: &'a [u8]) -> Frame<'a> {
        Frame {
            model,
            plan,
            inputs: &[],
            order: &[],
            states: &[],
            before: arena,
            after: &[],
            out_len: 0,
            reads: &[],
        }
    }

    /// The tensor of plan value `v`, if it is readable in this frame.
    pub fn value(&self, v: usize) -> Option<TensorRef<'a>> {
        let pv = self.plan.values.get(v)?.as_ref()?;
        let bytes: &'a [u8] = match pv.slot {
            Slot::Constant(tid) => self.model.tensor(tid)?.bytes(),
            Slot::Folded(k) => self.plan.folded.get(k)?.view().bytes(),
            // Views of an input (Reshape and the like) share its bytes under their own shape.
            Slot::Input(k) => self.inputs.get(*self.order.get(k)?)?.1.bytes(),
            Slot::State(k) => self.states.get(k)?.view().bytes(),
            Slot::Arena { offset, len } => {
                let out_start = self.before.len();
                let out_end = out_start + self.out_len;
                if offset + len <= out_start {
                    self.before.get(offset..offset + len)?
                } else if offset >= out_end {
                    self.after.get(offset - out_end..offset - out_end + len)?
                } else {
                    return None;
                }
            }
        };
        TensorRef::from_bytes(pv.dtype, &pv.shape, bytes).ok()
    }
}

impl Inputs for Frame<'_> {
    fn get(&self, i: usize) -> Option<TensorRef<'_>> {
        self.value((*self.reads.get(i)?)?)
    }
}
