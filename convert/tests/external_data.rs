//! A model whose initializers live in an external file, written by the `onnx` Python package
//! (`tests/data/make_external.py`): `load` finds the file beside the model; `from_bytes` has no
//! directory and says so.

use std::path::PathBuf;

use mobiquant_convert::ConvertError;
use mobiquant_convert::onnx::{self, DataLocation, TensorData};
use proptest::prelude::*;

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/external/model.onnx")
}

#[test]
fn load_reads_external_initializers() {
    let m = onnx::load(model_path()).unwrap();
    assert_eq!(m.graph.initializers.len(), 2);
    assert!(
        m.graph
            .initializers
            .iter()
            .all(|t| t.data_location == DataLocation::External)
    );
    let tensors: Vec<_> = m.initializers().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        (tensors[0].name.as_str(), tensors[0].dims.as_slice()),
        ("w", [3, 4].as_slice())
    );
    let expected: Vec<f32> = (0..12).map(|i| i as f32 / 4.0).collect();
    assert_eq!(tensors[0].data, TensorData::F32(expected));
    assert_eq!(
        (tensors[1].name.as_str(), tensors[1].dims.as_slice()),
        ("b", [3].as_slice())
    );
    assert_eq!(tensors[1].data, TensorData::I64(vec![-1, 2, -3]));
}

#[test]
fn from_bytes_cannot_resolve_external_data() {
    let bytes = std::fs::read(model_path()).unwrap();
    let m = onnx::from_bytes(&bytes).unwrap();
    let err = m.initializers().next().unwrap().unwrap_err();
    assert!(
        matches!(&err, ConvertError::ExternalData { tensor, location, .. } if tensor == "w" && location == "weights.bin"),
        "{err}"
    );
}

#[test]
fn a_missing_external_file_is_named() {
    let dir =
        std::env::temp_dir().join(format!("mobiquant-external-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("model.onnx");
    std::fs::copy(model_path(), &copy).unwrap();
    let m = onnx::load(&copy).unwrap();
    let err = m.initializers().next().unwrap().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("tensor \"w\": external data \"weights.bin\": "),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_names_an_unreadable_model() {
    let err = onnx::load("/nonexistent/model.onnx").unwrap_err();
    assert!(matches!(err, ConvertError::Io { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Mutated copies of the real model, loaded beside the real weights file: any outcome but a
    /// panic is acceptable (reads outside the folder are refused by the path checks).
    #[test]
    fn mutated_external_models_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let dir = std::env::temp_dir().join(format!("mobiquant-external-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(model_path().with_file_name("weights.bin"), dir.join("weights.bin")).unwrap();
        let mut bytes = std::fs::read(model_path()).unwrap();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        std::fs::write(dir.join("model.onnx"), &bytes).unwrap();
        if let Ok(m) = onnx::load(dir.join("model.onnx")) {
            for t in m.initializers() {
                let _ = t;
            }
        }
    }
}
