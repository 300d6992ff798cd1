//! Reading a tensor's bytes from an external data file.
//!
//! Invariants: `location` must be a relative path made of plain components only (no root, no
//! `..`), and after resolving symbolic links it must still lie inside the model's directory;
//! `offset` and `length` are decimal, their sum is checked against the file size, and the length
//! must equal what the tensor's dims need before any buffer is allocated. Only regular files are
//! read (a FIFO or device could block or never end). The `checksum` key is
//! not verified; other unknown keys are ignored.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use super::tensor::label;
use super::tensor_proto::TensorProto;
use crate::ConvertError;

/// Reads exactly `expected_len` bytes for `proto` from the file its `external_data` names,
/// relative to `dir`.
pub(crate) fn read(
    proto: &TensorProto,
    dir: Option<&Path>,
    expected_len: usize,
) -> Result<Vec<u8>, ConvertError> {
    let key = |name: &str| -> Result<Option<&str>, ConvertError> {
        let mut values = proto.external_data.iter().filter(|(k, _)| k == name);
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(error(
                proto,
                "",
                format!("key {name:?} appears more than once"),
            )),
            (first, _) => Ok(first.map(|(_, v)| v.as_str())),
        }
    };
    let location = key("location")?
        .ok_or_else(|| error(proto, "", "the required key \"location\" is missing"))?;
    let fail = |reason: String| error(proto, location, reason);
    let number = |name: &str| -> Result<Option<u64>, ConvertError> {
        key(name)?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| fail(format!("{name} {v:?} is not a non-negative integer")))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?;

    let dir = dir.ok_or_else(|| {
        fail("the model was not loaded from a file, so there is no directory to read external data from".to_owned())
    })?;
    let relative = Path::new(location);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if location.is_empty() || !plain {
        return Err(fail(
            "the location must be a relative path inside the model's directory".to_owned(),
        ));
    }
    let io = |e: std::io::Error| fail(e.to_string());
    let root = dir.canonicalize().map_err(io)?;
    let path = root.join(relative).canonicalize().map_err(io)?;
    if !path.starts_with(&root) {
        return Err(fail(
            "the location resolves outside the model's directory".to_owned(),
        ));
    }
    let mut file = File::open(&path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(fail("not a regular file".to_owned()));
    }
    let size = meta.len();
    let available = size.checked_sub(offset).ok_or_else(|| {
        fail(format!(
            "offset {offset} is beyond the end of the {size}-byte file"
        ))
    })?;
    let length = length.unwrap_or(available);
    if length > available {
        return Err(fail(format!(
            "offset {offset} + length {length} exceeds the {size}-byte file"
        )));
    }
    if u64::try_from(expected_len).ok() != Some(length) {
        return Err(fail(format!(
            "holds {length} bytes, the tensor's dims need {expected_len}"
        )));
    }
    let mut bytes = vec![0u8; expected_len];
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    file.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}

fn error(proto: &TensorProto, location: &str, reason: impl Into<String>) -> ConvertError {
    ConvertError::ExternalData {
        tensor: label(proto),
        location: location.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A fresh directory `<tmp>/mobiquant-external-<pid>-<name>/model` with `weights.bin`
    /// (bytes 0..=15) inside, and `secret.bin` beside `model`.
    fn fixture(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("mobiquant-external-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("model");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("weights.bin"), (0u8..16).collect::<Vec<_>>()).unwrap();
        std::fs::write(root.join("secret.bin"), [7u8; 16]).unwrap();
        dir
    }

    fn proto(entries: &[(&str, &str)]) -> TensorProto {
        TensorProto {
            name: "w".into(),
            external_data: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..TensorProto::default()
        }
    }

    fn reason(r: Result<Vec<u8>, ConvertError>) -> String {
        match r {
            Err(ConvertError::ExternalData { tensor, reason, .. }) if tensor == "w" => reason,
            other => panic!("expected an external-data error, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_named_range() {
        let dir = fixture("range");
        let p = proto(&[
            ("location", "weights.bin"),
            ("offset", "4"),
            ("length", "8"),
        ]);
        assert_eq!(
            read(&p, Some(&dir), 8).unwrap(),
            (4u8..12).collect::<Vec<_>>()
        );
        let whole = proto(&[("location", "./weights.bin"), ("checksum", "ignored")]);
        assert_eq!(read(&whole, Some(&dir), 16).unwrap().len(), 16);
        let rest = proto(&[("location", "weights.bin"), ("offset", "12")]);
        assert_eq!(read(&rest, Some(&dir), 4).unwrap(), [12, 13, 14, 15]);
    }

    #[test]
    fn refuses_paths_outside_the_model_directory() {
        let dir = fixture("escape");
        for location in ["../secret.bin", "/etc/passwd", "", "sub/../../secret.bin"] {
            let r = read(&proto(&[("location", location)]), Some(&dir), 16);
            assert!(reason(r).contains("relative path inside"), "{location}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("../secret.bin"), dir.join("link.bin")).unwrap();
            let r = read(&proto(&[("location", "link.bin")]), Some(&dir), 16);
            assert!(reason(r).contains("outside the model's directory"));
        }
    }

    #[test]
    fn refuses_bad_ranges_and_keys() {
        let dir = fixture("ranges");
        // (external_data entries, bytes the tensor needs, expected reason)
        type Case<'a> = (&'a [(&'a str, &'a str)], usize, &'a str);
        let cases: [Case<'_>; 7] = [
            (
                &[("location", "weights.bin"), ("offset", "17")],
                0,
                "beyond the end",
            ),
            (
                &[
                    ("location", "weights.bin"),
                    ("offset", "8"),
                    ("length", "9"),
                ],
                9,
                "exceeds",
            ),
            (
                &[("location", "weights.bin"), ("length", "8")],
                4,
                "holds 8 bytes",
            ),
            (
                &[("location", "weights.bin"), ("offset", "-1")],
                4,
                "not a non-negative integer",
            ),
            (
                &[("location", "weights.bin"), ("location", "x")],
                4,
                "more than once",
            ),
            (&[("offset", "0")], 4, "\"location\" is missing"),
            (&[("location", "missing.bin")], 4, "No such file"),
        ];
        for (entries, expected, why) in cases {
            let got = reason(read(&proto(entries), Some(&dir), expected));
            assert!(got.contains(why), "{entries:?}: {got}");
        }
        std::fs::create_dir(dir.join("sub")).unwrap();
        let folder = reason(read(&proto(&[("location", "sub")]), Some(&dir), 0));
        assert!(folder.contains("not a regular file"), "{folder}");
        let no_dir = reason(read(&proto(&[("location", "weights.bin")]), None, 16));
        assert!(no_dir.contains("not loaded from a file"));
    }
}
