#!/usr/bin/env python3
"""Writes convert/src/import/op_versions.rs: which ONNX versions of each op MobiQuant runs.

For every op the converter and runtime implement (OPS, mirroring core's `ops::build`), this walks
the op's versions (`since_version`) from the one in force at MIN_OPSET up to the newest opset the
installed `onnx` package defines, and compares each version with the one before it: attributes
(name, type, required, default), inputs and outputs (name, optional/variadic, type), their counts,
and the documentation text. A version that differs from its predecessor only in its type
constraints (new or dropped element types: dtypes are refused separately by the runtime's
`op_support`) keeps the predecessor's verdict. Any other difference needs a decision in DECISIONS,
made by reading the two versions' docs (`onnx.defs.get_schema(op, v).doc`); the script stops when
one is missing or stale, so a newer `onnx` cannot slip an unreviewed version in.

Usage: python3 scripts/gen_op_versions.py [--check]   (--check: fail if the file would change)
"""

import sys
from pathlib import Path

import onnx
import onnx.defs as defs

MIN_OPSET = 11
OUT = Path(__file__).resolve().parent.parent / "convert/src/import/op_versions.rs"

# The ops MobiQuant implements (core/src/ops/mod.rs `build`, plus `If`, which the planner runs).
# A convert unit test checks this list against the runtime's `op_support`.
OPS = """
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast
CastLike Ceil Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum Div Dropout
Equal Erf Exp Expand Flatten Floor GRU Gather GatherElements Gelu Gemm GlobalAveragePool Greater
GreaterOrEqual HardSigmoid HardSwish Hardmax Identity If IsInf IsNaN LSTM LayerNormalization
LeakyRelu Less LessOrEqual Log LogSoftmax MatMul Max MaxPool Mean Min Mul Neg Not Or Pad Pow Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd
ReduceSum ReduceSumSquare Relu Reshape Resize Round Shape Sigmoid Sign Sin Sinh Size Slice Softmax
Softplus Softsign Split Sqrt Squeeze Sub Sum Tan Tanh Tile Transpose Trilu Unsqueeze Where Xor
Elu Selu Celu ThresholdedRelu Mish Swish PRelu Mod DepthToSpace SpaceToDepth GroupNormalization
InstanceNormalization GatherND ScatterND ScatterElements TopK GlobalMaxPool LpNormalization
""".split()

ACCEPT, REWRITE, REFUSE = "accept", "rewrite", "refuse"
AXES_MOVED = (ACCEPT, "`axes` moved from attribute to input; the importer moves it (normalize.rs)")
REDUCE_18 = AXES_MOVED
ONE_AXIS = (
    REWRITE,
    "this version flattens the input to 2-D at `axis` (default 1); the importer rewrites it as "
    "Flatten, the opset-13 op over the last axis, and Reshape back",
)

# (op, since_version) -> (verdict, reason), for every version that changes more than types.
DECISIONS = {
    ("ArgMax", 12): (ACCEPT, "adds select_last_index (default 0, the version-11 behaviour); implemented"),
    ("ArgMin", 12): (ACCEPT, "adds select_last_index (default 0, the version-11 behaviour); implemented"),
    ("Hardmax", 13): (ACCEPT, "one axis, default -1: the form MobiQuant implements"),
    ("Softmax", 13): (ACCEPT, "one axis, default -1: the form MobiQuant implements"),
    ("LogSoftmax", 13): (ACCEPT, "one axis, default -1: the form MobiQuant implements"),
    ("Pow", 12): (ACCEPT, "the exponent gets its own type constraint; mixed dtypes are implemented"),
    ("Cast", 19): (ACCEPT, "adds saturate, which only applies to float8 targets (MobiQuant has none)"),
    ("CastLike", 19): (ACCEPT, "adds saturate, which only applies to float8 targets (MobiQuant has none)"),
    ("Cast", 24): (
        ACCEPT,
        "adds round_mode for float8e8m0 targets and changes Inf for float8 *FNUZ targets only "
        "(MobiQuant has no float8 types)",
    ),
    ("CastLike", 24): (ACCEPT, "adds round_mode, which only applies to float8e8m0 targets (MobiQuant has none)"),
    ("ReduceSum", 13): AXES_MOVED,
    ("ReduceMean", 18): REDUCE_18,
    ("ReduceMax", 18): REDUCE_18,
    ("ReduceMin", 18): REDUCE_18,
    ("ReduceProd", 18): REDUCE_18,
    ("ReduceL1", 18): REDUCE_18,
    ("ReduceL2", 18): REDUCE_18,
    ("ReduceLogSum", 18): REDUCE_18,
    ("ReduceLogSumExp", 18): REDUCE_18,
    ("ReduceSumSquare", 18): REDUCE_18,
    ("Squeeze", 13): AXES_MOVED,
    ("Unsqueeze", 13): AXES_MOVED,
    ("Split", 13): (ACCEPT, "`split` moved from attribute to input; the importer moves it (normalize.rs)"),
    ("Split", 18): (ACCEPT, "adds num_outputs (uneven last part); implemented"),
    ("Mod", 13): (
        ACCEPT,
        "doc rewritten: fmod 0 is Python's % (integers), fmod 1 is C fmod (floats), as version 10 "
        "and as implemented",
    ),
    ("Mod", 28): (
        ACCEPT,
        "defines fmod 0 on floats as A - floor(A/B)*B with signed-zero and infinity cases; "
        "implemented (also for earlier versions, where it was undefined)",
    ),
    ("DepthToSpace", 13): (ACCEPT, "doc formatting only"),
    ("SpaceToDepth", 28): (ACCEPT, "adds `mode` (DCR default, CRD), as DepthToSpace's; implemented"),
    ("GroupNormalization", 21): (
        ACCEPT,
        "scale and bias per channel instead of per group, and `stash_type`; both lengths are "
        "implemented (told apart by length), statistics in f64",
    ),
    ("GatherND", 12): (ACCEPT, "adds batch_dims (default 0, the version-11 behaviour); implemented"),
    ("GatherND", 13): (ACCEPT, "doc formatting of the examples only"),
    ("ScatterND", 16): (ACCEPT, "adds reduction none (default), add, mul; implemented (f32 for add, mul)"),
    ("ScatterND", 18): (ACCEPT, "adds reductions max and min; implemented (f32)"),
    ("ScatterElements", 16): (
        ACCEPT,
        "adds reduction none (default), add, mul; implemented (f32 for add, mul)",
    ),
    ("ScatterElements", 18): (ACCEPT, "adds reductions max and min; implemented (f32)"),
    ("PRelu", 16): (ACCEPT, "doc whitespace only"),
    ("Pad", 18): (ACCEPT, "adds the optional `axes` input; implemented"),
    ("Pad", 19): (ACCEPT, "adds mode `wrap`; implemented"),
    ("LSTM", 14): (ACCEPT, "adds layout (default 0, the version-7 behaviour); layout 1 is refused by the builder"),
    ("GRU", 14): (ACCEPT, "adds layout (default 0, the version-7 behaviour); layouts 0 and 1 are implemented"),
    ("Resize", 13): (
        ACCEPT,
        "roi and scales become optional (version 11 passes empty tensors, which the builder "
        "takes as absent); tf_half_pixel_for_nn is dropped (the builder refuses it as unknown)",
    ),
    ("Resize", 18): (
        ACCEPT,
        "adds antialias, axes and keep_aspect_ratio_policy: axes implemented, the others refused "
        "by the builder unless default",
    ),
    ("Resize", 19): (ACCEPT, "adds coordinate mode half_pixel_symmetric; implemented"),
    ("BatchNormalization", 14): (ACCEPT, "adds training_mode (default 0); the builder refuses 1"),
    ("BatchNormalization", 15): (ACCEPT, "scale/bias and mean/var get separate type constraints"),
    ("AveragePool", 19): (ACCEPT, "adds dilations (default 1, the version-11 behaviour); implemented"),
    ("MaxPool", 22): (
        ACCEPT,
        "the doc now says a ceil-mode window that would start in the end padding is dropped, "
        "which the runtime already does (core/src/ops/window.rs)",
    ),
    ("AveragePool", 22): (
        ACCEPT,
        "the doc now says a ceil-mode window that would start in the end padding is dropped, "
        "which the runtime already does (core/src/ops/window.rs)",
    ),
    ("Reshape", 14): (ACCEPT, "adds allowzero (default 0, the version-13 behaviour); implemented"),
    ("Identity", 14): (ACCEPT, "the type parameter is renamed to admit sequences and optionals (types only)"),
    ("Shape", 15): (ACCEPT, "adds start and end (defaults: the whole shape); implemented"),
    ("Constant", 12): (
        ACCEPT,
        "adds value_float(s), value_int(s), value_string(s): the importer reads the numeric ones "
        "and refuses the others by name",
    ),
    ("Dropout", 12): (
        ACCEPT,
        "ratio and training_mode become inputs; inference (training_mode false, or ratio 0) is the "
        "identity with an all-true mask, implemented (the converter removes Dropout when the mask "
        "is unread); training-mode Dropout with a ratio above 0 is random and refused",
    ),
    ("Range", 27): (
        ACCEPT,
        "adds stash_type, the accumulation precision for float16/bfloat16 inputs only; the "
        "importer computes float16 in f32 (the default stash_type 1)",
    ),
}
# Versions whose doc text changed but whose meaning did not (read diff by diff).
REWORDED = (ACCEPT, "doc reworded or given examples; same meaning")
EMPTY_REDUCTION = (
    ACCEPT,
    "doc reworded; states that rank-0 inputs are valid and what an empty reduction yields (the "
    "identity element, as implemented)",
)
DECISIONS.update(
    {
        ("Abs", 13): REWORDED,
        ("Gather", 13): REWORDED,
        ("GatherElements", 13): REWORDED,
        ("Gemm", 13): REWORDED,
        ("ArgMax", 13): REWORDED,
        ("ArgMin", 13): REWORDED,
        ("Slice", 13): (ACCEPT, "doc spells out the clamping of starts/ends the runtime implements"),
        ("Ceil", 13): (ACCEPT, "doc states integral, signed zero, NaN and infinite inputs are returned as is"),
        ("Floor", 13): (ACCEPT, "doc states integral, signed zero, NaN and infinite inputs are returned as is"),
        ("Clip", 13): (ACCEPT, "doc states min > max gives max, i.e. Min(max, Max(x, min)) as implemented"),
        ("Cast", 13): (ACCEPT, "doc spells out the C conversion rules the runtime follows"),
        ("Add", 14): (ACCEPT, "adds 8- and 16-bit integer types (doc notes it)"),
        ("Sub", 14): (ACCEPT, "adds 8- and 16-bit integer types (doc notes it)"),
        ("Mul", 14): (ACCEPT, "adds 8- and 16-bit integer types (doc notes it)"),
        ("Div", 14): (ACCEPT, "adds 8- and 16-bit integer types (doc notes it)"),
        ("MaxPool", 12): (ACCEPT, "adds int8/uint8; doc spells out the output-size formulas the runtime uses"),
        ("Pad", 13): (ACCEPT, "adds bool and string types; doc names their default constant"),
        ("ReduceMax", 12): (ACCEPT, "adds int8/uint8; doc reworded"),
        ("ReduceMin", 12): (ACCEPT, "adds int8/uint8; doc reworded"),
        ("ReduceMax", 20): (ACCEPT, "adds bool (False < True); f32 unchanged"),
        ("ReduceMin", 20): (ACCEPT, "adds bool (False < True); f32 unchanged"),
    }
)
for _op in ["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
            "ReduceMin", "ReduceProd", "ReduceSumSquare"]:
    DECISIONS[(_op, 13)] = EMPTY_REDUCTION
# Versions in force at MIN_OPSET that MobiQuant does not implement as specified.
DECISIONS.update({("Softmax", 11): ONE_AXIS, ("LogSoftmax", 11): ONE_AXIS, ("Hardmax", 11): ONE_AXIS})


def versions(op, newest):
    found = set()
    for opset in range(1, newest + 1):
        try:
            found.add(defs.get_schema(op, opset).since_version)
        except defs.SchemaError:
            pass
    first = max((v for v in found if v <= MIN_OPSET), default=min(found))
    return sorted(v for v in found if v >= first)


def signature(s):
    """Everything of a schema but its type constraints."""
    formal = lambda ps: [(p.name, str(p.option), p.type_str) for p in ps]
    return {
        "attributes": {
            k: (str(a.type), a.required, str(a.default_value)) for k, a in s.attributes.items()
        },
        "inputs": formal(s.inputs),
        "outputs": formal(s.outputs),
        "counts": (s.min_input, s.max_input, s.min_output, s.max_output),
        "doc": s.doc,
    }


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    newest = defs.onnx_opset_version()
    used, rows, problems = set(), [], []
    for op in sorted(OPS):
        vs = versions(op, newest)
        entries = []
        for i, v in enumerate(vs):
            s = defs.get_schema(op, v)
            if i == 0:
                changed = []
            else:
                before = signature(defs.get_schema(op, vs[i - 1]))
                now = signature(s)
                changed = [k for k in now if now[k] != before[k]]
            if (op, v) in DECISIONS:
                used.add((op, v))
                verdict, reason = DECISIONS[(op, v)]
            elif changed:
                problems.append(f"{op} {vs[i - 1]} -> {v}: {', '.join(changed)} changed; decide")
                continue
            elif i == 0:
                verdict, reason = ACCEPT, "implemented"
            else:
                verdict, reason = entries[-1][1], "type constraints only"
                if verdict != ACCEPT:
                    reason = entries[-1][2]
            entries.append((v, verdict, reason))
        rows.append((op, entries))
    problems += [f"decision for {k} matches no version" for k in sorted(set(DECISIONS) - used)]
    if problems:
        sys.exit("\n".join(problems))

    other = sorted(
        {s.name for s in defs.get_all_schemas_with_history() if s.domain == ""} - set(OPS)
    )
    out = [
        f"//! GENERATED by scripts/gen_op_versions.py from the operator schemas of onnx {onnx.__version__}",
        "//! (opsets up to {newest}): do not edit; change the script's decisions and rerun it.".format(newest=newest),
        "//!",
        "//! For each op MobiQuant implements: every version (`since_version`) from the one in force at",
        f"//! opset {MIN_OPSET} up to opset {newest}, and whether MobiQuant runs that version with its",
        "//! ONNX meaning. A version that only changes type constraints keeps its predecessor's verdict",
        "//! (dtypes are judged by the runtime's `op_support`); every other change was reviewed by hand",
        "//! from the ONNX docs (the reason says what changed).",
        "",
        "/// The newest default-domain opset whose operator versions this table covers.",
        f"pub const NEWEST_OPSET: i64 = {newest};",
        "",
        "/// Whether MobiQuant runs one version of an op with its ONNX meaning.",
        "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
        "pub enum Verdict {",
        "    Accepted,",
        "    /// The importer rewrites the node into ops MobiQuant runs with their newest meaning.",
        "    Rewritten,",
        "    /// Why this version's meaning differs from what MobiQuant implements.",
    ]
    if not any(v == REFUSE for _, entries in rows for _, v, _ in entries):
        out.append("    #[allow(dead_code)] // no reviewed version is refused today")
    out += [
        "    Refused(&'static str),",
        "}",
        "",
        "/// (op, [(since_version, verdict)]), ops sorted by name, versions ascending.",
        "#[rustfmt::skip] // one line per version and its reason, as generated",
        "pub const OP_VERSIONS: &[(&str, &[(i64, Verdict)])] = &[",
    ]
    for op, entries in rows:
        out.append(f"    ({rust_str(op)}, &[")
        for v, verdict, reason in entries:
            if verdict in (ACCEPT, REWRITE):
                out.append(f"        // {reason}")
                out.append(f"        ({v}, Verdict::{'Accepted' if verdict == ACCEPT else 'Rewritten'}),")
            else:
                out.append(f"        ({v}, Verdict::Refused({rust_str(reason)})),")
        out.append("    ]),")
    out.append("];")
    out.append("")
    out.append("/// The other default-domain ONNX ops (MobiQuant implements none of them).")
    out.append("#[cfg(test)]")
    out.append("#[rustfmt::skip] // packed lines, as generated")
    out.append("pub const OTHER_OPS: &[&str] = &[")
    line = "   "
    for name in other:
        item = f" {rust_str(name)},"
        if len(line) + len(item) > 100:
            out.append(line)
            line = "   "
        line += item
    out.append(line)
    out.append("];")
    text = "\n".join(out) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            sys.exit(f"{OUT} is stale: rerun scripts/gen_op_versions.py")
        return
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(rows)} ops, opsets {MIN_OPSET}-{newest})")


if __name__ == "__main__":
    main()
