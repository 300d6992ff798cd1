//! MobiQuant, the shippable library.
//!
//! This crate is what apps link: the Rust API re-exported from `mobiquant-core` today, and the
//! uniffi surface for Kotlin and Swift once the bindings land. It holds no engine logic itself.

pub use mobiquant_core::*;
