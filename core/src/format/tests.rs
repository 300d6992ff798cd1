//! Validation tests: a valid model, then one broken rule at a time, each written with correct
//! checksums (a hostile file, not a damaged one) and each expected to fail with a message that
//! names the problem.

use super::header::{DATA_ALIGN, HEADER_LEN, Header, VERSION_MAJOR};
use super::metadata::{self, Metadata, ModelInfo};
use super::*;
use crate::error::Error;
use crate::graph::{AttrValue, Attribute, Graph, Node, StatePair, ValueInfo};
use crate::quant::{QuantMode, Quantization};
use crate::tensor::{DType, Dim, Layout, Shape, TensorInfo};

/// Lays out metadata and data as a file without any validation, with correct checksums.
fn assemble_unchecked(meta: &Metadata, data: &[u8]) -> Vec<u8> {
    assemble_encoded(&metadata::encode(meta), data)
}

/// [`assemble_unchecked`] of metadata already encoded (and possibly patched).
fn assemble_encoded(meta_bytes: &[u8], data: &[u8]) -> Vec<u8> {
    let data_offset = (HEADER_LEN + meta_bytes.len() as u64).next_multiple_of(DATA_ALIGN);
    let header = Header {
        version_major: VERSION_MAJOR,
        version_minor: 0,
        required_flags: 0,
        optional_flags: 0,
        metadata_offset: HEADER_LEN,
        metadata_len: meta_bytes.len() as u64,
        data_offset,
        data_len: data.len() as u64,
        metadata_crc32: crc32fast::hash(meta_bytes),
    };
    let mut file = header.encode().to_vec();
    file.extend_from_slice(meta_bytes);
    file.resize(data_offset as usize, 0);
    file.extend_from_slice(data);
    file
}

fn tensor(name: &str, dtype: DType, dims: &[u64], offset: u64, data: &[u8]) -> TensorInfo {
    let byte_len = Layout::RowMajor.byte_len(dtype, dims).unwrap();
    TensorInfo {
        name: name.into(),
        dtype,
        dims: dims.to_vec(),
        layout: Layout::RowMajor,
        quantization: Quantization::None,
        offset,
        byte_len,
        crc32: crc32fast::hash(&data[offset as usize..(offset + byte_len) as usize]),
    }
}

fn value(name: &str, dtype: DType, dims: Option<Vec<Dim>>, init: Option<u32>) -> ValueInfo {
    ValueInfo {
        name: name.into(),
        dtype,
        shape: dims.map(Shape),
        initializer: init,
    }
}

/// x[batch,4] -> MatMul(w: i8 [4,2] per-channel) -> y; an If whose bodies read y.
fn sample() -> (Metadata, Vec<u8>) {
    let mut data = vec![0u8; 256];
    // w: 8 x i8 at 0; scales: 2 x f32 at 64; zero points: 2 x i8 at 128; cond: bool at 192
    data[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    data[64..68].copy_from_slice(&0.5f32.to_le_bytes());
    data[68..72].copy_from_slice(&0.25f32.to_le_bytes());
    data[128..130].copy_from_slice(&[0, 3]);
    data[192] = 1;
    let mut w = tensor("w", DType::I8, &[4, 2], 0, &data);
    w.quantization = Quantization::PerChannel {
        axis: 1,
        scales: 1,
        zero_points: Some(2),
    };
    let tensors = vec![
        w,
        tensor("w.scales", DType::F32, &[2], 64, &data),
        tensor("w.zero_points", DType::I8, &[2], 128, &data),
        tensor("cond", DType::Bool, &[], 192, &data),
    ];
    let batch = || Dim::Symbol("batch".into());
    let values = vec![
        value("x", DType::F32, Some(vec![batch(), Dim::Fixed(4)]), None), // 0
        value(
            "w",
            DType::I8,
            Some(vec![Dim::Fixed(4), Dim::Fixed(2)]),
            Some(0),
        ), // 1
        value("y", DType::F32, Some(vec![batch(), Dim::Fixed(2)]), None), // 2
        value("cond", DType::Bool, None, Some(3)),                        // 3
        value("then_out", DType::F32, None, None),                        // 4
        value("else_out", DType::F32, None, None),                        // 5
        value("z", DType::F32, None, None),                               // 6
        value("h_in", DType::F32, None, None),                            // 7
        value("h_out", DType::F32, None, None),                           // 8
    ];
    let node =
        |name: &str, op: &str, inputs: Vec<Option<u32>>, outputs: Vec<u32>, attributes| Node {
            name: name.into(),
            op: op.into(),
            inputs,
            outputs,
            attributes,
        };
    let main = Graph {
        name: "main".into(),
        inputs: vec![0, 7],
        outputs: vec![6, 8],
        nodes: vec![
            node("mm", "MatMul", vec![Some(0), Some(1)], vec![2], vec![]),
            node("state", "Identity", vec![Some(7)], vec![8], vec![]),
            node(
                "branch",
                "If",
                vec![Some(3)],
                vec![6],
                vec![
                    Attribute {
                        name: "then_branch".into(),
                        value: AttrValue::Graph(1),
                    },
                    Attribute {
                        name: "else_branch".into(),
                        value: AttrValue::Graph(2),
                    },
                ],
            ),
        ],
    };
    let body = |name: &str, out: u32| Graph {
        name: name.into(),
        inputs: vec![],
        outputs: vec![out],
        nodes: vec![node(name, "Relu", vec![Some(2)], vec![out], vec![])],
    };
    let meta = Metadata {
        info: ModelInfo::new("sample", QuantMode::WeightOnly),
        tensors,
        values,
        graphs: vec![main, body("then", 4), body("else", 5)],
        states: vec![StatePair {
            input: 7,
            output: 8,
        }],
    };
    (meta, data)
}

fn load(meta: &Metadata, data: &[u8]) -> Result<Model, Error> {
    Model::from_bytes(&assemble_unchecked(meta, data))
}

/// Asserts that loading fails and that the message mentions `needle`.
fn assert_rejected(meta: &Metadata, data: &[u8], needle: &str) {
    match load(meta, data) {
        Ok(_) => panic!("model accepted; expected an error mentioning '{needle}'"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(needle),
                "error '{msg}' does not mention '{needle}'"
            );
        }
    }
}

#[test]
fn the_sample_is_valid_and_round_trips() {
    let (meta, data) = sample();
    let model = load(&meta, &data).unwrap();
    assert_eq!(model.tensors(), &meta.tensors[..]);
    assert_eq!(model.values(), &meta.values[..]);
    assert_eq!(model.graphs(), &meta.graphs[..]);
    assert_eq!(model.states(), &meta.states[..]);
    assert_eq!(model.tensor(1).unwrap().as_f32().unwrap(), &[0.5, 0.25]);
}

#[test]
fn rejects_wrong_byte_length() {
    let (mut meta, data) = sample();
    meta.tensors[0].byte_len = 7;
    assert_rejected(&meta, &data, "needs 8");
}

/// The sample with a `packed-f32-a` tensor (MR 2, dims `dims`, `len` bytes) added at offset 256.
fn with_packed_f32a(dims: &[u64], len: u64) -> (Metadata, Vec<u8>) {
    let (mut meta, mut data) = sample();
    data.resize(320, 0);
    let layout = Layout::PackedF32A {
        mr: 2,
        kc: 256,
        nr: 16,
    };
    meta.tensors.push(TensorInfo {
        name: "packed".into(),
        dtype: DType::F32,
        dims: dims.to_vec(),
        layout,
        quantization: Quantization::None,
        offset: 256,
        byte_len: len,
        crc32: crc32fast::hash(&data[256..256 + len.min(64) as usize]),
    });
    (meta, data)
}

#[test]
fn packed_f32a_tensors_are_validated() {
    let (meta, data) = with_packed_f32a(&[1, 2, 4, 2], 64);
    let model = load(&meta, &data).unwrap();
    assert_eq!(model.tensor(4).unwrap().bytes().len(), 64);
    let (meta, data) = with_packed_f32a(&[1, 2, 4, 2], 60);
    assert_rejected(&meta, &data, "needs 64");
    // The last dim is not the params' MR.
    let (meta, data) = with_packed_f32a(&[1, 2, 2, 4], 64);
    assert_rejected(&meta, &data, "does not fit the packed-f32-a layout");
    let (meta, data) = with_packed_f32a(&[2, 16, 2], 64);
    assert_rejected(&meta, &data, "does not fit the packed-f32-a layout");
    let (meta, data) = with_packed_f32a(&[u64::MAX, 2, 1, 2], 64);
    assert_rejected(&meta, &data, "overflows");
    // Past the end of the data section.
    let (mut meta, data) = with_packed_f32a(&[1, 2, 4, 2], 64);
    meta.tensors[4].dims = vec![1, 4, 4, 2];
    meta.tensors[4].byte_len = 128;
    assert_rejected(&meta, &data, "outside");
    // A quantized packed-f32-a tensor.
    let (mut meta, data) = with_packed_f32a(&[1, 2, 4, 2], 64);
    meta.tensors[4].quantization = Quantization::PerTensor {
        scale: 1.0,
        zero_point: 0,
    };
    assert!(load(&meta, &data).is_err());
}

#[test]
fn packed_f32a_with_unknown_params_is_unsupported() {
    let (meta, data) = with_packed_f32a(&[1, 2, 4, 2], 64);
    let encoded = metadata::encode(&meta);
    // name "packed", dtype, rank, 4 dims, then the u16 tag, u16 reserved and u32 params.
    let name = b"\x06\x00\x00\x00packed";
    let at = encoded.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let tag = at + 2 + 4 * 8;
    assert_eq!(&encoded[tag..tag + 2], &4u16.to_le_bytes());
    for (param, bad) in [(0, 0u32), (0, 33), (1, 0), (1, 5000), (2, 0), (2, 65)] {
        let mut patched = encoded.clone();
        let p = tag + 4 + 4 * param;
        patched[p..p + 4].copy_from_slice(&bad.to_le_bytes());
        match Model::from_bytes(&assemble_encoded(&patched, &data)) {
            Err(Error::UnsupportedModel { .. }) => {}
            other => panic!("param {param} = {bad}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn rejects_misaligned_and_out_of_bounds_data() {
    let (mut meta, data) = sample();
    meta.tensors[1].offset = 65;
    assert_rejected(&meta, &data, "not a multiple of 64");
    let (mut meta, data) = sample();
    meta.tensors[1].offset = 256;
    assert_rejected(&meta, &data, "outside the 256-byte data section");
    let (mut meta, data) = sample();
    meta.tensors[1].offset = u64::MAX - 63;
    assert_rejected(&meta, &data, "outside");
}

#[test]
fn rejects_overlapping_tensors_and_duplicate_names() {
    let (mut meta, data) = sample();
    meta.tensors[2].offset = 64;
    assert_rejected(&meta, &data, "overlap");
    let (mut meta, data) = sample();
    meta.tensors[2].name = "w".into();
    assert_rejected(&meta, &data, "used twice");
    let (mut meta, data) = sample();
    meta.values[2].name = "x".into();
    assert_rejected(&meta, &data, "used twice");
}

#[test]
fn rejects_shape_overflow() {
    let (mut meta, data) = sample();
    meta.tensors[0].dims = vec![u64::MAX, 3];
    assert_rejected(&meta, &data, "overflows");
}

#[test]
fn rejects_bad_quantization_parameters() {
    let set = |q: Quantization| {
        let (mut meta, data) = sample();
        meta.tensors[0].quantization = q;
        (meta, data)
    };
    let (m, d) = set(Quantization::PerChannel {
        axis: 2,
        scales: 1,
        zero_points: None,
    });
    assert_rejected(&m, &d, "axis 2 is out of range");
    let (m, d) = set(Quantization::PerChannel {
        axis: 0,
        scales: 1,
        zero_points: None,
    });
    assert_rejected(&m, &d, "expected 4 elements");
    let (m, d) = set(Quantization::PerChannel {
        axis: 1,
        scales: 9,
        zero_points: None,
    });
    assert_rejected(&m, &d, "does not exist");
    let (m, d) = set(Quantization::PerChannel {
        axis: 1,
        scales: 2,
        zero_points: None,
    });
    assert_rejected(&m, &d, "must be an unquantized row-major f32/f16");
    let (m, d) = set(Quantization::PerGroup {
        axis: 0,
        group_size: 0,
        scales: 1,
        zero_points: None,
    });
    assert_rejected(&m, &d, "group size is 0");
    // Groups of 2 along axis 0 of [4,2] need a [2,2] scale tensor; the stored one is [2].
    let (m, d) = set(Quantization::PerGroup {
        axis: 0,
        group_size: 2,
        scales: 1,
        zero_points: None,
    });
    assert_rejected(&m, &d, "expected [2, 2]");
    let (m, d) = set(Quantization::PerTensor {
        scale: f32::NAN,
        zero_point: 0,
    });
    assert_rejected(&m, &d, "not finite and positive");
    let (m, d) = set(Quantization::PerTensor {
        scale: 1.0,
        zero_point: 128,
    });
    assert_rejected(&m, &d, "outside the i8 range");
    let (mut meta, data) = sample();
    meta.tensors[3].quantization = Quantization::PerTensor {
        scale: 1.0,
        zero_point: 0,
    };
    assert_rejected(&meta, &data, "bool tensors cannot be quantized");
    let (mut meta, data) = sample();
    meta.tensors[1].quantization = Quantization::PerTensor {
        scale: 1.0,
        zero_point: 0,
    };
    assert_rejected(&meta, &data, "not quantized f32");
}

#[test]
fn rejects_bad_quantization_values() {
    let (meta, mut data) = sample();
    data[64..68].copy_from_slice(&(-0.5f32).to_le_bytes());
    let mut meta = meta;
    meta.tensors[1].crc32 = crc32fast::hash(&data[64..72]);
    assert_rejected(&meta, &data, "holds -0.5");
    let (mut meta, mut data) = sample();
    meta.tensors[0].dtype = DType::U8;
    meta.values[1].dtype = DType::U8;
    data[128] = 0xFF; // -1 as i8: outside u8
    meta.tensors[2].crc32 = crc32fast::hash(&data[128..130]);
    assert_rejected(&meta, &data, "zero point -1 is outside the u8 range");
}

#[test]
fn checksums_are_verified_unless_disabled() {
    let (meta, mut data) = sample();
    data[0] ^= 0x10;
    let file = assemble_unchecked(&meta, &data);
    let err = Model::from_bytes(&file).unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("tensor 'w'"), "{err}");
    let relaxed = LoadOptions {
        verify_tensor_checksums: false,
    };
    assert!(Model::from_bytes_with(&file, relaxed).is_ok());
}

#[test]
fn rejects_bad_value_references() {
    let (mut meta, data) = sample();
    meta.values[1].initializer = Some(40);
    assert_rejected(&meta, &data, "initializer tensor 40 does not exist");
    let (mut meta, data) = sample();
    meta.values[1].dtype = DType::U8;
    assert_rejected(&meta, &data, "is u8 but its tensor 'w' is i8");
    let (mut meta, data) = sample();
    meta.values[1].shape = Some(Shape::fixed(&[2, 4]));
    assert_rejected(&meta, &data, "has shape [2,4]");
}

#[test]
fn rejects_bad_graphs() {
    let (mut meta, data) = sample();
    meta.graphs[0].nodes[0].inputs[0] = Some(99);
    assert_rejected(&meta, &data, "refers to value 99");
    let (mut meta, data) = sample();
    meta.graphs[0].nodes.swap(0, 2);
    assert_rejected(&meta, &data, "before it is defined");
    let (mut meta, data) = sample();
    meta.graphs[0].nodes[1].outputs = vec![2];
    assert_rejected(&meta, &data, "already");
    let (mut meta, data) = sample();
    meta.graphs[0].nodes[0].outputs = vec![1];
    assert_rejected(&meta, &data, "already a constant");
    let (mut meta, data) = sample();
    meta.graphs[0].outputs.push(5);
    assert_rejected(&meta, &data, "output 'else_out' is never defined");
    let (mut meta, data) = sample();
    meta.graphs.clear();
    assert_rejected(&meta, &data, "no main graph");
    let (mut meta, data) = sample();
    meta.graphs[0].nodes[0].attributes.push(Attribute {
        name: "w".into(),
        value: AttrValue::Tensor(77),
    });
    assert_rejected(&meta, &data, "tensor 77");
    let (mut meta, data) = sample();
    meta.graphs[0].nodes[2].attributes[1].value = AttrValue::Graph(1);
    assert_rejected(&meta, &data, "each used once");
    let (mut meta, data) = sample();
    meta.graphs[1].nodes[0].attributes.push(Attribute {
        name: "loop".into(),
        value: AttrValue::Graph(0),
    });
    assert_rejected(&meta, &data, "bodies must be later graphs");
    let (mut meta, data) = sample();
    meta.graphs[0].nodes[2].attributes.pop();
    assert_rejected(&meta, &data, "graph 2 ('else') is not the body of any node");
    let (mut meta, data) = sample();
    let dup = meta.graphs[0].nodes[2].attributes[0].clone();
    meta.graphs[0].nodes[2].attributes.push(dup);
    assert_rejected(&meta, &data, "attribute 'then_branch' twice");
}

#[test]
fn body_values_are_not_visible_outside_their_body() {
    let (mut meta, data) = sample();
    // The main graph reads "then_out", which only the then-body defines.
    meta.graphs[0].nodes.push(Node {
        name: "leak".into(),
        op: "Relu".into(),
        inputs: vec![Some(4)],
        outputs: vec![5],
        attributes: vec![],
    });
    assert_rejected(&meta, &data, "reads value 'then_out' before it is defined");
}

#[test]
fn rejects_bad_state_pairs() {
    let (mut meta, data) = sample();
    meta.states[0] = StatePair {
        input: 2,
        output: 8,
    };
    assert_rejected(&meta, &data, "must join");
    let (mut meta, data) = sample();
    meta.values[8].dtype = DType::F16;
    assert_rejected(&meta, &data, "is f32 but 'h_out' feeding it is f16");
    let (mut meta, data) = sample();
    meta.states.push(meta.states[0]);
    assert_rejected(&meta, &data, "two state pairs");
}

#[test]
fn builder_rejects_what_the_reader_would() {
    let (meta, data) = sample();
    let mut b = ModelBuilder::new(meta.info.clone());
    let err = b
        .add_tensor(
            "t",
            DType::F32,
            &[3],
            Layout::RowMajor,
            Quantization::None,
            &data[..8],
        )
        .unwrap_err();
    assert!(err.to_string().contains("needs Some(12)"), "{err}");
    let x = b.add_value(value("x", DType::F32, None, None));
    b.add_graph(Graph {
        name: "main".into(),
        inputs: vec![],
        outputs: vec![x],
        nodes: vec![],
    });
    let err = b.finish().unwrap_err();
    assert!(err.to_string().contains("never defined"), "{err}");
}
