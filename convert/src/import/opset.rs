//! The opset policy: which ONNX operator versions the importer takes.
//!
//! A node's op resolves, by the model's default-domain opset, to the ONNX version in force (the
//! newest `since_version` not above the opset). The generated table [`super::op_versions`]
//! (`scripts/gen_op_versions.py`, from the `onnx` package's schemas, every change reviewed)
//! says for each version whether MobiQuant runs it with its ONNX meaning, runs it after a
//! rewrite by the importer, or refuses it.
//!
//! Invariants: a model's opset is at most [`NEWEST_OPSET`], the newest opset the table covers,
//! so every version a node can resolve to has a verdict; an op missing from the table is one the
//! runtime does not implement (a unit test holds the table to `op_support`) and is left to the
//! runtime support check, which refuses it by name.

pub use super::op_versions::NEWEST_OPSET;
use super::op_versions::{OP_VERSIONS, Verdict};

/// How the importer takes a node of a supported op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// As it is (after the attribute-to-input moves of `normalize`).
    AsIs,
    /// Rewritten into ops of their newest meaning (Softmax-11 and kin: see `one_axis_form`).
    Rewrite,
    /// Not in the table: an op the runtime does not implement, which the runtime support check
    /// refuses by name.
    Unknown,
}

/// The version `op` has at `opset` and how the importer takes it, or why it is refused.
pub fn resolve(op: &str, opset: i64) -> Result<Take, String> {
    let Some((_, versions)) = OP_VERSIONS.iter().find(|(name, _)| *name == op) else {
        return Ok(Take::Unknown);
    };
    let Some(&(version, verdict)) = versions.iter().rev().find(|(since, _)| *since <= opset) else {
        let first = versions.first().map_or(0, |v| v.0);
        return Err(format!(
            "{op} does not exist in opset {opset} (it was added in opset {first})"
        ));
    };
    match verdict {
        Verdict::Accepted => Ok(Take::AsIs),
        Verdict::Rewritten => Ok(Take::Rewrite),
        Verdict::Refused(why) => Err(format!("opset {opset} gives {op} version {version}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::op_versions::OTHER_OPS;
    use super::*;
    use mobiquant_core::{Support, op_support};

    #[test]
    fn table_matches_the_runtime() {
        for (op, versions) in OP_VERSIONS {
            assert!(!versions.is_empty(), "{op}");
            assert!(versions.windows(2).all(|w| w[0].0 < w[1].0), "{op}");
            assert!(
                op_support(op, &[], &[]) == Support::Supported,
                "{op}: in the table, but op_support says {:?}",
                op_support(op, &[], &[])
            );
        }
        for op in OTHER_OPS {
            assert!(
                matches!(op_support(op, &[], &[]), Support::Unsupported(_)),
                "{op} runs on the runtime but is missing from scripts/gen_op_versions.py's OPS"
            );
        }
    }

    #[test]
    fn resolves_by_the_model_opset() {
        // Conv: versions 11 and 22 (bfloat16 only), both accepted.
        assert_eq!(resolve("Conv", 11), Ok(Take::AsIs));
        assert_eq!(resolve("Conv", NEWEST_OPSET), Ok(Take::AsIs));
        // Softmax flattens to 2-D before opset 13.
        assert_eq!(resolve("Softmax", 12), Ok(Take::Rewrite));
        assert_eq!(resolve("Softmax", 13), Ok(Take::AsIs));
        // Gelu was added in opset 20.
        let err = resolve("Gelu", 19).unwrap_err();
        assert!(err.contains("added in opset 20"), "{err}");
        assert_eq!(resolve("Gelu", 20), Ok(Take::AsIs));
        assert_eq!(resolve("NoSuchOp", 22), Ok(Take::Unknown));
    }
}
