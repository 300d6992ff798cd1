//! Conformance: the ONNX node test suite (scripts/onnx-node-tests.sh), each case converted to a
//! `.mq` model and run by a session, outputs compared with the suite's within its default
//! tolerance (|ours - expected| <= 1e-7 + 1e-3 |expected|, NaN where NaN is expected).
//!
//! Each case is passed, failed (ran, wrong result or runtime error) or unsupported (refused by
//! the converter, an op/dtype the runtime does not implement, or an empty input tensor, which
//! the runtime's input policy refuses). The lists of expected failures
//! and unsupported cases live in `tests/data/conformance/`; the test fails when a case leaves
//! or joins a list, so regressions and progress both show. `MOBIQUANT_UPDATE_CONFORMANCE=1`
//! rewrites the lists from the current results.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use mobiquant_convert::onnx::{self, DataType};
use mobiquant_convert::{ConvertError, import};
use mobiquant_core::{Error, Model, Session, SessionOptions, TensorRef};

const ATOL: f64 = 1e-7;
const RTOL: f64 = 1e-3;

enum Outcome {
    Passed,
    Failed(String),
    Unsupported(String),
}

fn decode_pb(path: &Path) -> Result<(mobiquant_core::DType, Vec<usize>, Vec<u8>), ConvertError> {
    let proto = onnx::decode_tensor_proto(&std::fs::read(path).unwrap())?;
    let t = onnx::decode_tensor(&proto, None)?;
    let (dtype, bytes) = import::tensor_bytes(&t.name, &t)?;
    if matches!(proto.data_type, DataType::Double | DataType::Float16) {
        // Stored as f32 by MobiQuant: a float64 or float16 case tests a different dtype.
        return Err(ConvertError::UnsupportedDataType {
            tensor: t.name,
            data_type: proto.data_type,
        });
    }
    Ok((dtype, t.dims, bytes))
}

fn compare(
    name: &str,
    ours: TensorRef<'_>,
    expected: &(mobiquant_core::DType, Vec<usize>, Vec<u8>),
) -> Result<(), String> {
    let (dtype, shape, bytes) = expected;
    if ours.dtype() != *dtype || ours.shape() != shape.as_slice() {
        return Err(format!(
            "{name}: {} {:?}, expected {dtype} {shape:?}",
            ours.dtype(),
            ours.shape()
        ));
    }
    if *dtype != mobiquant_core::DType::F32 {
        return (ours.bytes() == bytes.as_slice())
            .then_some(())
            .ok_or(format!("{name}: values differ"));
    }
    let want = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    for (i, (a, b)) in ours.as_f32().unwrap().iter().zip(want).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else {
            ((a - b).abs() as f64) <= ATOL + RTOL * (b.abs() as f64) || a == &b
        };
        if !ok {
            return Err(format!("{name}[{i}]: {a}, expected {b}"));
        }
    }
    Ok(())
}

fn run_case(case: &Path) -> Outcome {
    let model = match onnx::load(case.join("model.onnx")) {
        Ok(m) => m,
        Err(e) => return Outcome::Unsupported(e.to_string()),
    };
    let builder = match mobiquant_convert::convert(&model, &Default::default()) {
        Ok((b, _)) => b,
        Err(e) => return Outcome::Unsupported(e.to_string()),
    };
    let model = match builder.finish().and_then(|bytes| Model::from_bytes(&bytes)) {
        Ok(m) => Arc::new(m),
        Err(e) => return Outcome::Failed(format!("written model rejected: {e}")),
    };
    let mut session = match Session::new(model, SessionOptions::default()) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    for set in common::sorted_entries(case)
        .into_iter()
        .filter(|p| p.is_dir())
    {
        let files = common::sorted_entries(&set);
        let load = |prefix: &str| -> Result<Vec<_>, ConvertError> {
            files
                .iter()
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
                .map(|p| decode_pb(p))
                .collect()
        };
        let (inputs, outputs) = match (load("input_"), load("output_")) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => return Outcome::Unsupported(e.to_string()),
        };
        // The runtime's input policy refuses empty tensors (docs/runtime.md): a case that feeds
        // one tests something the runtime does not support, not a wrong result.
        if let Some((_, shape, _)) = inputs.iter().find(|(_, s, _)| s.contains(&0)) {
            return Outcome::Unsupported(format!("an empty input {shape:?}"));
        }
        let names = session.input_names().to_vec();
        if names.len() != inputs.len() {
            return Outcome::Unsupported(format!(
                "{} inputs given, the model takes {}",
                inputs.len(),
                names.len()
            ));
        }
        let views: Vec<(&str, TensorRef<'_>)> = names
            .iter()
            .zip(&inputs)
            .map(|(n, (dtype, shape, bytes))| {
                (
                    n.as_str(),
                    TensorRef::from_bytes(*dtype, shape, bytes).unwrap(),
                )
            })
            .collect();
        match session.run(&views) {
            Ok(ours) => {
                for ((name, ours), expected) in
                    session.output_names().iter().zip(&ours).zip(&outputs)
                {
                    if let Err(e) = compare(name, ours.view(), expected) {
                        return Outcome::Failed(e);
                    }
                }
            }
            Err(e @ Error::UnsupportedOp { .. }) => return Outcome::Unsupported(e.to_string()),
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    }
    Outcome::Passed
}

fn read_list(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn onnx_node_tests() {
    let Some(root) = common::node_suite_dir() else {
        return;
    };
    let (mut passed, mut failed, mut unsupported) = (BTreeSet::new(), Vec::new(), Vec::new());
    for case in common::sorted_entries(&root) {
        if !case.join("model.onnx").is_file() {
            continue;
        }
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match std::panic::catch_unwind(|| run_case(&case)) {
            Ok(Outcome::Passed) => {
                passed.insert(name);
            }
            Ok(Outcome::Failed(why)) => failed.push((name, why)),
            Ok(Outcome::Unsupported(why)) => unsupported.push((name, why)),
            Err(_) => failed.push((name, "PANIC".into())),
        }
    }
    println!(
        "ONNX node tests: {} passed / {} failed / {} unsupported",
        passed.len(),
        failed.len(),
        unsupported.len()
    );

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let lists = [
        ("expected-failures.txt", &failed),
        ("expected-unsupported.txt", &unsupported),
    ];
    if std::env::var_os("MOBIQUANT_UPDATE_CONFORMANCE").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (file, cases) in lists {
            let text: String = cases
                .iter()
                .map(|(n, why)| format!("{n}  {}\n", why.replace('\n', " ")))
                .collect();
            std::fs::write(
                dir.join(file),
                format!("# case  reason (rewritten by MOBIQUANT_UPDATE_CONFORMANCE=1)\n{text}"),
            )
            .unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    for (file, cases) in lists {
        let expected = read_list(&dir.join(file));
        let actual: BTreeSet<String> = cases.iter().map(|(n, _)| n.clone()).collect();
        for (n, why) in cases.iter().filter(|(n, _)| !expected.contains(n)) {
            problems.push(format!("{n}: newly in {file}: {why}"));
        }
        for n in expected.difference(&actual) {
            let now = if passed.contains(n) {
                "passes"
            } else {
                "moved to the other list"
            };
            problems.push(format!(
                "{n}: listed in {file} but now {now}: update the list"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} change(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The suite's GRU cases, stamped opset 22 there (which only added bfloat16 to GRU), copied with
/// opset 21 by `scripts/make_gru_cases.py` (inputs and expected outputs are the suite's), so GRU
/// version 14 stays covered, and one
/// case of linear_before_reset = 1 that the suite lacks, computed by onnxruntime.
#[test]
fn gru_node_cases_at_opset_21() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gru");
    let cases = common::sorted_entries(&dir);
    assert_eq!(cases.len(), 7, "expected the seven GRU cases in {dir:?}");
    for case in cases {
        match run_case(&case) {
            Outcome::Passed => {}
            Outcome::Failed(why) | Outcome::Unsupported(why) => panic!("{case:?}: {why}"),
        }
    }
}
