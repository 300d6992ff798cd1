//! ONNX element types (`TensorProto.DataType`), with their ONNX names for messages.
//!
//! Invariant: every code defined by the installed onnx.proto maps to a named variant; any other
//! code is kept as [`DataType::Unknown`] rather than rejected, so that decoding the structure of a
//! model never depends on the element types it uses (decoding the *data* does).

use std::fmt;

/// An ONNX tensor element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum DataType {
    #[default]
    Undefined,
    Float,
    Uint8,
    Int8,
    Uint16,
    Int16,
    Int32,
    Int64,
    String,
    Bool,
    Float16,
    Double,
    Uint32,
    Uint64,
    Complex64,
    Complex128,
    Bfloat16,
    Float8E4M3Fn,
    Float8E4M3Fnuz,
    Float8E5M2,
    Float8E5M2Fnuz,
    Uint4,
    Int4,
    Float4E2M1,
    Float8E8M0,
    Uint2,
    Int2,
    Float6E2M3,
    Float6E3M2,
    /// A code this reader does not know.
    Unknown(i32),
}

/// (code, variant, ONNX name), in code order.
const TABLE: [(i32, DataType, &str); 29] = [
    (0, DataType::Undefined, "UNDEFINED"),
    (1, DataType::Float, "FLOAT"),
    (2, DataType::Uint8, "UINT8"),
    (3, DataType::Int8, "INT8"),
    (4, DataType::Uint16, "UINT16"),
    (5, DataType::Int16, "INT16"),
    (6, DataType::Int32, "INT32"),
    (7, DataType::Int64, "INT64"),
    (8, DataType::String, "STRING"),
    (9, DataType::Bool, "BOOL"),
    (10, DataType::Float16, "FLOAT16"),
    (11, DataType::Double, "DOUBLE"),
    (12, DataType::Uint32, "UINT32"),
    (13, DataType::Uint64, "UINT64"),
    (14, DataType::Complex64, "COMPLEX64"),
    (15, DataType::Complex128, "COMPLEX128"),
    (16, DataType::Bfloat16, "BFLOAT16"),
    (17, DataType::Float8E4M3Fn, "FLOAT8E4M3FN"),
    (18, DataType::Float8E4M3Fnuz, "FLOAT8E4M3FNUZ"),
    (19, DataType::Float8E5M2, "FLOAT8E5M2"),
    (20, DataType::Float8E5M2Fnuz, "FLOAT8E5M2FNUZ"),
    (21, DataType::Uint4, "UINT4"),
    (22, DataType::Int4, "INT4"),
    (23, DataType::Float4E2M1, "FLOAT4E2M1"),
    (24, DataType::Float8E8M0, "FLOAT8E8M0"),
    (25, DataType::Uint2, "UINT2"),
    (26, DataType::Int2, "INT2"),
    (27, DataType::Float6E2M3, "FLOAT6E2M3"),
    (28, DataType::Float6E3M2, "FLOAT6E3M2"),
];

impl DataType {
    /// The type for an ONNX `data_type` / `elem_type` code.
    pub fn from_code(code: i32) -> Self {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(DataType::Unknown(code), |(_, t, _)| *t)
    }

    /// The ONNX code of this type.
    pub fn code(self) -> i32 {
        match self {
            DataType::Unknown(code) => code,
            known => TABLE
                .iter()
                .find(|(_, t, _)| *t == known)
                .map_or(0, |(c, _, _)| *c),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match TABLE.iter().find(|(_, t, _)| t == self) {
            Some((_, _, name)) => f.write_str(name),
            None => write!(f, "unknown ({})", self.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in -2..40 {
            assert_eq!(DataType::from_code(code).code(), code);
        }
        assert_eq!(DataType::from_code(10), DataType::Float16);
        assert_eq!(DataType::Float16.to_string(), "FLOAT16");
        assert_eq!(DataType::from_code(99).to_string(), "unknown (99)");
    }
}
