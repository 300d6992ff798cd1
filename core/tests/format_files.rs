//! The writer and the loader through the public API: round trips from files and buffers,
//! alignment, zero-copy views, and the header checks that damaged files trip.

mod common;

use common::rich_model;
use mobiquant_core::format::header::{DATA_ALIGN, MAGIC};
use mobiquant_core::*;

fn write_temp(bytes: &[u8], name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mq-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn file_and_buffer_loads_agree_and_views_are_zero_copy() {
    let bytes = rich_model(100_000).finish().unwrap();
    let path = write_temp(&bytes, "rich.mq");
    let mapped = Model::open(&path).unwrap();
    let owned = Model::from_bytes(&bytes).unwrap();
    assert!(mapped.is_memory_mapped() && !owned.is_memory_mapped());
    assert_eq!(mapped.tensors(), owned.tensors());
    assert_eq!(mapped.values(), owned.values());
    assert_eq!(mapped.graphs(), owned.graphs());
    assert_eq!(mapped.states(), owned.states());
    assert_eq!(mapped.info(), owned.info());
    assert_eq!(mapped.header().data_offset % DATA_ALIGN, 0);
    for model in [&mapped, &owned] {
        let file = model.file_bytes().as_ptr_range();
        for (id, info) in model.tensors().iter().enumerate() {
            let view = model.tensor(id as u32).unwrap();
            let ptr = view.bytes().as_ptr();
            assert_eq!(
                ptr as usize % 64,
                0,
                "tensor {} is not 64-byte aligned",
                info.name
            );
            assert!(
                file.contains(&ptr) || info.byte_len == 0,
                "tensor {} was copied",
                info.name
            );
            assert_eq!(view.bytes().len() as u64, info.byte_len);
        }
    }
    let big = mapped.tensor_by_name("big").unwrap();
    assert!(big.as_u8().unwrap().iter().all(|&b| b == 0xA5));
    assert_eq!(
        mapped
            .tensor_by_name("w8.scales")
            .unwrap()
            .as_f32()
            .unwrap(),
        &[0.5, 0.25, 0.125]
    );
    assert!(mapped.tensor_by_name("w8").unwrap().as_f32().is_err());
    let inputs: Vec<_> = mapped.inputs().map(|v| v.name.as_str()).collect();
    assert_eq!(inputs, ["x", "h_in", "f16_in"]);
    assert_eq!(
        mapped
            .inputs()
            .next()
            .unwrap()
            .shape
            .as_ref()
            .unwrap()
            .to_string(),
        "[batch,5]"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn writer_output_is_deterministic() {
    assert_eq!(
        rich_model(10).finish().unwrap(),
        rich_model(10).finish().unwrap()
    );
}

#[test]
fn damaged_headers_are_rejected_with_typed_errors() {
    let good = rich_model(0).finish().unwrap();
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "empty",
            Box::new(|f| f.clear()),
            "shorter than the 64-byte header",
        ),
        ("bad magic", Box::new(|f| f[0] = b'P'), "bad magic"),
        (
            "truncated",
            Box::new(|f| f.truncate(f.len() - 1)),
            "does not end at the end",
        ),
        (
            "extended",
            Box::new(|f| f.push(0)),
            "does not end at the end",
        ),
        (
            "header bit flip",
            Box::new(|f| f[33] ^= 1),
            "checksum mismatch in header",
        ),
        (
            "metadata bit flip",
            Box::new(|f| f[100] ^= 1),
            "checksum mismatch in metadata",
        ),
    ];
    for (name, damage, needle) in cases {
        let mut file = good.clone();
        damage(&mut file);
        let err = Model::from_bytes(&file).expect_err(name).to_string();
        assert!(
            err.contains(needle),
            "{name}: '{err}' does not mention '{needle}'"
        );
    }
    assert_eq!(&good[..8], &MAGIC);
}

#[test]
fn newer_versions_and_unknown_required_flags_are_unsupported() {
    let good = rich_model(0).finish().unwrap();
    let reseal = |f: &mut Vec<u8>| {
        let crc = crc32fast::hash(&f[..60]);
        f[60..64].copy_from_slice(&crc.to_le_bytes());
    };
    let mut v2 = good.clone();
    v2[8] = 2;
    reseal(&mut v2);
    let err = Model::from_bytes(&v2).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedModel { .. }) && err.to_string().contains("version 2.0"),
        "{err}"
    );
    let mut minor = good.clone();
    minor[10] = 7;
    reseal(&mut minor);
    assert_eq!(Model::from_bytes(&minor).unwrap().header().version_minor, 7);
    let mut flags = good.clone();
    flags[12] = 0x4;
    reseal(&mut flags);
    let err = Model::from_bytes(&flags).unwrap_err();
    assert!(
        err.to_string().contains("required feature flags 0x4"),
        "{err}"
    );
    let mut optional = good;
    optional[16] = 0x4;
    reseal(&mut optional);
    assert!(Model::from_bytes(&optional).is_ok());
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let err = Model::open("/nonexistent/model.mq").unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/model.mq"), "{err}");
}
