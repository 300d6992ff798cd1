//! Element types: ONNX's to MobiQuant's, and the dtype of each node output where the ONNX file
//! does not declare it.
//!
//! Invariant: [`output_dtype`] follows the ONNX operator definitions; an op it does not know
//! keeps its first input's dtype, which is right for every elementwise, shape-preserving and
//! layout op.

use mobiquant_core::DType;

use crate::onnx::{AttributeValue, DataType, Node};

/// The MobiQuant dtype that holds values of an ONNX element type (float16 and double become f32
/// in a float model; int16 is not supported).
pub fn from_onnx(ty: DataType) -> Option<DType> {
    Some(match ty {
        DataType::Float | DataType::Float16 | DataType::Double => DType::F32,
        DataType::Int8 => DType::I8,
        DataType::Uint8 => DType::U8,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Bool => DType::Bool,
        _ => return None,
    })
}

/// The dtype of output `index` of `node`, given the dtypes of its inputs (`None` for absent
/// ones) and of its subgraphs' outputs (for `If`).
pub fn output_dtype(
    node: &Node,
    index: usize,
    inputs: &[Option<DType>],
    body_outputs: &[DType],
) -> Option<DType> {
    let input = |i: usize| inputs.get(i).copied().flatten();
    let int_attr = |name: &str| {
        node.attributes
            .iter()
            .find_map(|a| match (&a.name, &a.value) {
                (n, AttributeValue::Int(v)) if n == name => Some(*v),
                _ => None,
            })
    };
    let onnx_code = |code: i64| {
        i32::try_from(code)
            .ok()
            .map(DataType::from_code)
            .and_then(from_onnx)
    };
    match node.op_type.as_str() {
        "Shape" | "Size" | "ArgMax" | "ArgMin" | "NonZero" => Some(DType::I64),
        "TopK" if index == 1 => Some(DType::I64),
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or"
        | "Xor" | "IsNaN" | "IsInf" => Some(DType::Bool),
        "Cast" => onnx_code(int_attr("to")?),
        "CastLike" => input(1),
        "Where" => input(1),
        "ConstantOfShape" => Some(
            node.attributes
                .iter()
                .find_map(|a| match &a.value {
                    AttributeValue::Tensor(t) if a.name == "value" => from_onnx(t.data_type),
                    _ => None,
                })
                .unwrap_or(DType::F32),
        ),
        "QuantizeLinear" => Some(input(2).unwrap_or(DType::U8)),
        "DequantizeLinear" => Some(DType::F32),
        "DynamicQuantizeLinear" => Some(if index == 1 { DType::F32 } else { DType::U8 }),
        "MatMulInteger" | "ConvInteger" => Some(DType::I32),
        "QLinearConv" | "QLinearMatMul" => input(7).or(input(2)),
        "If" | "Loop" | "Scan" => body_outputs.get(index).copied(),
        "EyeLike" | "RandomNormalLike" | "RandomUniformLike" => {
            int_attr("dtype").and_then(onnx_code).or(input(0))
        }
        _ => inputs.iter().flatten().next().copied(),
    }
}
