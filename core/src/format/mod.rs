//! The `.mq` model container, version 1: a 64-byte header, a metadata section (model info,
//! tensor table, value table, graphs, state pairs) and a 16 KiB-aligned data section holding
//! every tensor at a 64-byte aligned offset. The byte layout and the validation a reader must
//! perform are specified in `docs/format.md`; this module is its reference implementation.
//!
//! Invariants: [`Model`] values exist only for inputs that passed the whole validation
//! ([`Model::open`], [`Model::from_bytes`]); no input, however hostile, makes loading panic; and
//! [`ModelBuilder`] writes only files that the reader accepts.

mod codec;
pub mod header;
mod metadata;
mod model;
mod storage;
mod validate;
mod writer;

pub use header::Header;
pub use metadata::{ModelInfo, limits};
pub use model::{LoadOptions, Model};
pub use writer::ModelBuilder;

pub(crate) use storage::Storage;

#[cfg(test)]
mod tests;
