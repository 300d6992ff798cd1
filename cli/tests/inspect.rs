//! `mobiquant inspect` end to end: a valid model prints its tables; an invalid one fails with a
//! clear message and a non-zero exit code.

use std::process::Command;

use mobiquant_core::tensor::Layout;
use mobiquant_core::*;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn small_model() -> Vec<u8> {
    let mut b = ModelBuilder::new(ModelInfo::new("tiny-linear", QuantMode::FullStatic));
    let scales = b
        .add_tensor(
            "fc.w.scales",
            DType::F32,
            &[2],
            Layout::RowMajor,
            Quantization::None,
            &[0.5f32, 0.25]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
        .unwrap();
    let w = b
        .add_tensor(
            "fc.w",
            DType::I8,
            &[2, 3],
            Layout::RowMajor,
            Quantization::PerChannel {
                axis: 0,
                scales,
                zero_points: None,
            },
            &[1, 2, 3, 4, 5, 6],
        )
        .unwrap();
    let x = b.add_value(ValueInfo {
        name: "x".into(),
        dtype: DType::F32,
        shape: Some(Shape(vec![Dim::Symbol("batch".into()), Dim::Fixed(3)])),
        initializer: None,
    });
    let wv = b.add_value(ValueInfo {
        name: "fc.w".into(),
        dtype: DType::I8,
        shape: None,
        initializer: Some(w),
    });
    let y = b.add_value(ValueInfo {
        name: "y".into(),
        dtype: DType::F32,
        shape: None,
        initializer: None,
    });
    b.add_graph(Graph {
        name: "main".into(),
        inputs: vec![x],
        outputs: vec![y],
        nodes: vec![Node {
            name: "fc".into(),
            op: "MatMul".into(),
            inputs: vec![Some(x), Some(wv)],
            outputs: vec![y],
            attributes: vec![],
        }],
    });
    b.finish().unwrap()
}

fn inspect(path: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mobiquant"))
        .arg("inspect")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn prints_the_tables_of_a_valid_model() {
    let path = temp("tiny.mq");
    std::fs::write(&path, small_model()).unwrap();
    let (ok, stdout, stderr) = inspect(&path);
    assert!(ok, "{stderr}");
    for needle in [
        "name       tiny-linear",
        "quantized  full-static",
        "input      x f32 [batch,3]",
        "output     y f32 [?]",
        "ops        MatMul x1",
        "tensors    2 tensors",
        "per-channel axis=0",
    ] {
        assert!(stdout.contains(needle), "missing '{needle}' in:\n{stdout}");
    }
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("fc.w "))
        .unwrap();
    assert!(
        row.contains("i8") && row.contains("[2,3]") && row.contains("row-major"),
        "{row}"
    );
}

#[test]
fn fails_clearly_on_an_invalid_model() {
    let mut bytes = small_model();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF; // inside the weights: the tensor checksum catches it
    let path = temp("corrupt.mq");
    std::fs::write(&path, &bytes).unwrap();
    let (ok, stdout, stderr) = inspect(&path);
    assert!(!ok);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("checksum mismatch in tensor 'fc.w'"),
        "{stderr}"
    );
}
