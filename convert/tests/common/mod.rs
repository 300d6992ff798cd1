//! Where the tests find data that is not stored in the repository, and what happens without it.
//!
//! Without the data a test prints that it is skipped and passes, so that `cargo test` works on
//! a bare checkout; `scripts/test.sh` (and so CI) sets `MOBIQUANT_REQUIRE_TEST_DATA=1` and
//! generates the data first, and then a missing folder fails the test instead.

#![allow(dead_code)] // each test binary uses part of this module

use std::fs;
use std::path::{Path, PathBuf};

/// `path` if it exists; otherwise `None` after saying so (or a panic when data is required).
pub fn test_data(path: PathBuf, how_to_get_it: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let message = format!("{} is absent; {how_to_get_it}", path.display());
    assert!(
        std::env::var_os("MOBIQUANT_REQUIRE_TEST_DATA").is_none(),
        "{message}"
    );
    eprintln!("skipped: {message}");
    None
}

/// The generated ONNX node test suite (`<root>/node/test_*`).
pub fn node_suite_dir() -> Option<PathBuf> {
    let root = match std::env::var_os("ONNX_NODE_TESTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/onnx-node-tests"),
    };
    test_data(
        root.join("node"),
        "run scripts/onnx-node-tests.sh to generate it",
    )
}

/// The MobileNetV2 ONNX model kept in the repository (`models/mobilenet_v2`, provenance there).
pub fn mobilenet_onnx() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/mobilenet_v2/mobilenet_v2_imagenet.onnx");
    test_data(
        path,
        "it is kept in the repository under models/mobilenet_v2",
    )
}

/// The entries of `dir`, sorted by path.
pub fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    entries
}
