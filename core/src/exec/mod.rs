//! Execution: runtime tensors and sessions that run a model's plans.
//!
//! A [`Session`] shares an immutable `Arc<Model>`, owns its thread pool, its activation arena,
//! its scratch memory and its streaming state, and caches one plan per input-shape signature.
//! Any number of sessions may run the same model on different threads at once; sessions made
//! from one [`SharedPlans`] also share their plans (ops and prepared weights).

mod arena;
mod frame;
mod profile;
mod session;
mod shared;
mod tensor;
mod workers;

pub use profile::StepTime;
pub use session::{Session, SessionOptions};
pub use shared::SharedPlans;
pub use tensor::{Tensor, TensorData, TensorMut, TensorRef};
pub(crate) use tensor::{byte_len, elem_size, numel};
