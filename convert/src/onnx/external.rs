//! Reading a tensor's bytes from an external data file.
//!
//! Invariants: `location` must be a relative path made of plain components only (no root, no
//! `..`), and after resolving symbolic links it must still lie inside the model's directory;
//! `offset` and `length` are decimal, their sum is checked against the file size, and the length
//! must equal what the tensor's dims need before any buffer is allocated. The `checksum` key is
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
    let size = file.metadata().map_err(io)?.len();
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
