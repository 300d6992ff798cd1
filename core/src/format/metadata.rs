//! Encoding and decoding of the metadata section: model info, tensor table, value table, graphs,
//! state pairs and extensions, in that order (byte layout in `docs/format.md`).
//!
//! Decoding checks syntax only (tags, lengths, UTF-8, limits) and consumes the section exactly;
//! the cross-references between tables are checked by `validate`.

use super::codec::{Decoder, Encoder};
use crate::error::Result;
use crate::graph::{AttrValue, Attribute, Graph, Node, StatePair, ValueInfo};
use crate::quant::{QuantMode, Quantization};
use crate::tensor::{DType, Dim, Layout, Shape, TensorInfo};

/// Limits on table sizes; a file over any of them is rejected before allocating.
pub mod limits {
    pub const MAX_TENSORS: usize = 1 << 20;
    pub const MAX_VALUES: usize = 1 << 22;
    pub const MAX_GRAPHS: usize = 4096;
    pub const MAX_NODES_PER_GRAPH: usize = 1 << 20;
    pub const MAX_NODE_INPUTS: usize = 4096;
    pub const MAX_NODE_OUTPUTS: usize = 4096;
    pub const MAX_ATTRIBUTES: usize = 1024;
    pub const MAX_ATTRIBUTE_ELEMENTS: usize = 1 << 24;
    pub const MAX_RANK: usize = 8;
    pub const MAX_PROPERTIES: usize = 4096;
    pub const MAX_STATES: usize = 4096;
    pub const MAX_EXTENSIONS: usize = 4096;
    /// Deepest nesting of control-flow bodies.
    pub const MAX_GRAPH_DEPTH: usize = 16;
}
use limits::*;

/// Who produced the model and how it is quantized.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The tool that wrote the file, e.g. "mobiquant-convert".
    pub producer: String,
    pub producer_version: String,
    /// The model's own name (e.g. the source graph's name).
    pub name: String,
    pub quant_mode: QuantMode,
    /// Free-form key/value properties (source file, preprocessing, labels, sample rate, ...).
    pub properties: Vec<(String, String)>,
}

impl ModelInfo {
    /// Info for a model written by this build of MobiQuant.
    pub fn new(name: impl Into<String>, quant_mode: QuantMode) -> ModelInfo {
        ModelInfo {
            producer: "mobiquant".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            name: name.into(),
            quant_mode,
            properties: Vec::new(),
        }
    }
}

/// Everything the metadata section holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub info: ModelInfo,
    pub tensors: Vec<TensorInfo>,
    pub values: Vec<ValueInfo>,
    /// Graph 0 is the main graph.
    pub graphs: Vec<Graph>,
    pub states: Vec<StatePair>,
}

mod tag {
    pub const QUANT_NONE: u8 = 0;
    pub const QUANT_PER_TENSOR: u8 = 1;
    pub const QUANT_PER_CHANNEL: u8 = 2;
    pub const QUANT_PER_GROUP: u8 = 3;
    pub const DIM_FIXED: u8 = 0;
    pub const DIM_SYMBOL: u8 = 1;
    pub const ATTR_INT: u8 = 0;
    pub const ATTR_FLOAT: u8 = 1;
    pub const ATTR_STRING: u8 = 2;
    pub const ATTR_INTS: u8 = 3;
    pub const ATTR_FLOATS: u8 = 4;
    pub const ATTR_STRINGS: u8 = 5;
    pub const ATTR_TENSOR: u8 = 6;
    pub const ATTR_GRAPH: u8 = 7;
}

// ---------------------------------------------------------------------------------------------
// Encoding

pub fn encode(meta: &Metadata) -> Vec<u8> {
    let mut e = Encoder::default();
    let info = &meta.info;
    e.str(&info.producer);
    e.str(&info.producer_version);
    e.str(&info.name);
    e.u8(info.quant_mode as u8);
    e.len(info.properties.len());
    for (k, v) in &info.properties {
        e.str(k);
        e.str(v);
    }
    e.len(meta.tensors.len());
    for t in &meta.tensors {
        encode_tensor(&mut e, t);
    }
    e.len(meta.values.len());
    for v in &meta.values {
        encode_value(&mut e, v);
    }
    e.len(meta.graphs.len());
    for g in &meta.graphs {
        encode_graph(&mut e, g);
    }
    e.len(meta.states.len());
    for s in &meta.states {
        e.u32(s.input);
        e.u32(s.output);
    }
    e.len(0); // extensions: none written by version 1.0
    e.bytes
}

fn encode_tensor(e: &mut Encoder, t: &TensorInfo) {
    e.str(&t.name);
    e.u8(t.dtype.tag());
    e.u8(t.dims.len() as u8);
    for &d in &t.dims {
        e.u64(d);
    }
    e.u16(t.layout.tag());
    e.u16(0);
    for p in t.layout.params() {
        e.u32(p);
    }
    match t.quantization {
        Quantization::None => e.u8(tag::QUANT_NONE),
        Quantization::PerTensor { scale, zero_point } => {
            e.u8(tag::QUANT_PER_TENSOR);
            e.f32(scale);
            e.i32(zero_point);
        }
        Quantization::PerChannel {
            axis,
            scales,
            zero_points,
        } => {
            e.u8(tag::QUANT_PER_CHANNEL);
            e.u32(axis);
            e.u32(scales);
            e.opt_index(zero_points);
        }
        Quantization::PerGroup {
            axis,
            group_size,
            scales,
            zero_points,
        } => {
            e.u8(tag::QUANT_PER_GROUP);
            e.u32(axis);
            e.u32(group_size);
            e.u32(scales);
            e.opt_index(zero_points);
        }
    }
    e.u64(t.offset);
    e.u64(t.byte_len);
    e.u32(t.crc32);
}

fn encode_value(e: &mut Encoder, v: &ValueInfo) {
    e.str(&v.name);
    e.u8(v.dtype.tag());
    match &v.shape {
        None => e.u8(0),
        Some(shape) => {
            e.u8(1);
            e.u8(shape.rank() as u8);
            for d in &shape.0 {
                match d {
                    Dim::Fixed(n) => {
                        e.u8(tag::DIM_FIXED);
                        e.u64(*n);
                    }
                    Dim::Symbol(s) => {
                        e.u8(tag::DIM_SYMBOL);
                        e.str(s);
                    }
                }
            }
        }
    }
    e.opt_index(v.initializer);
}

fn encode_graph(e: &mut Encoder, g: &Graph) {
    e.str(&g.name);
    e.len(g.inputs.len());
    g.inputs.iter().for_each(|&v| e.u32(v));
    e.len(g.outputs.len());
    g.outputs.iter().for_each(|&v| e.u32(v));
    e.len(g.nodes.len());
    for n in &g.nodes {
        e.str(&n.name);
        e.str(&n.op);
        e.len(n.inputs.len());
        n.inputs.iter().for_each(|&v| e.opt_index(v));
        e.len(n.outputs.len());
        n.outputs.iter().for_each(|&v| e.u32(v));
        e.len(n.attributes.len());
        for a in &n.attributes {
            e.str(&a.name);
            encode_attr(e, &a.value);
        }
    }
}

fn encode_attr(e: &mut Encoder, v: &AttrValue) {
    match v {
        AttrValue::Int(i) => {
            e.u8(tag::ATTR_INT);
            e.i64(*i);
        }
        AttrValue::Float(f) => {
            e.u8(tag::ATTR_FLOAT);
            e.f32(*f);
        }
        AttrValue::String(s) => {
            e.u8(tag::ATTR_STRING);
            e.str(s);
        }
        AttrValue::Ints(xs) => {
            e.u8(tag::ATTR_INTS);
            e.len(xs.len());
            xs.iter().for_each(|&x| e.i64(x));
        }
        AttrValue::Floats(xs) => {
            e.u8(tag::ATTR_FLOATS);
            e.len(xs.len());
            xs.iter().for_each(|&x| e.f32(x));
        }
        AttrValue::Strings(xs) => {
            e.u8(tag::ATTR_STRINGS);
            e.len(xs.len());
            xs.iter().for_each(|x| e.str(x));
        }
        AttrValue::Tensor(t) => {
            e.u8(tag::ATTR_TENSOR);
            e.u32(*t);
        }
        AttrValue::Graph(g) => {
            e.u8(tag::ATTR_GRAPH);
            e.u32(*g);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decodes a whole metadata section; `bytes` must be exactly the section.
pub fn decode(bytes: &[u8], base: u64) -> Result<Metadata> {
    let mut d = Decoder::new(bytes, "metadata", base);
    let info = ModelInfo {
        producer: d.str("producer")?,
        producer_version: d.str("producer version")?,
        name: d.str("model name")?,
        quant_mode: {
            let t = d.u8("quantization mode")?;
            QuantMode::from_tag(t)
                .ok_or_else(|| d.error(format!("unknown quantization mode {t}")))?
        },
        properties: d.list("property count", MAX_PROPERTIES, 8, |d| {
            Ok((d.str("property key")?, d.str("property value")?))
        })?,
    };
    let mut index = 0usize;
    let tensors = d.list("tensor count", MAX_TENSORS, 4 + 2 + 16 + 1 + 20, |d| {
        let t = decode_tensor(d).map_err(|e| in_context(e, &format!("tensor {index}")));
        index += 1;
        t
    })?;
    index = 0;
    let values = d.list("value count", MAX_VALUES, 4 + 2 + 4, |d| {
        let v = decode_value(d).map_err(|e| in_context(e, &format!("value {index}")));
        index += 1;
        v
    })?;
    index = 0;
    let graphs = d.list("graph count", MAX_GRAPHS, 16, |d| {
        let g = decode_graph(d).map_err(|e| in_context(e, &format!("graph {index}")));
        index += 1;
        g
    })?;
    let states = d.list("state count", MAX_STATES, 8, |d| {
        Ok(StatePair {
            input: d.u32("state input")?,
            output: d.u32("state output")?,
        })
    })?;
    let extensions = d.count("extension count", MAX_EXTENSIONS, 8)?;
    for _ in 0..extensions {
        // Version 1.0 defines no extension: later minor versions may add some, and readers skip
        // the ones they do not know.
        d.str("extension name")?;
        let len = d.u32("extension length")? as usize;
        d.skip(len, "extension payload")?;
    }
    if d.remaining() != 0 {
        return Err(d.error(format!(
            "{} unexpected bytes after the last field",
            d.remaining()
        )));
    }
    Ok(Metadata {
        info,
        tensors,
        values,
        graphs,
        states,
    })
}

/// Prefixes an error's description with the object being read.
pub(crate) fn in_context(err: crate::Error, context: &str) -> crate::Error {
    match err {
        crate::Error::InvalidModel {
            section,
            offset,
            what,
        } => crate::Error::InvalidModel {
            section,
            offset,
            what: format!("{context}: {what}"),
        },
        other => other,
    }
}

fn decode_dtype(d: &mut Decoder) -> Result<DType> {
    let t = d.u8("dtype")?;
    DType::from_tag(t).ok_or_else(|| d.error(format!("unknown dtype tag {t}")))
}

fn decode_rank(d: &mut Decoder) -> Result<usize> {
    let rank = d.u8("rank")? as usize;
    if rank > MAX_RANK {
        return Err(d.error(format!("rank {rank} exceeds the limit of {MAX_RANK}")));
    }
    Ok(rank)
}

fn decode_tensor(d: &mut Decoder) -> Result<TensorInfo> {
    let name = d.str("name")?;
    let dtype = decode_dtype(d)?;
    let rank = decode_rank(d)?;
    let dims = (0..rank)
        .map(|_| d.u64("dimension"))
        .collect::<Result<Vec<_>>>()?;
    let layout_tag = d.u16("layout tag")?;
    if d.u16("layout reserved")? != 0 {
        return Err(d.error("reserved layout field is not zero"));
    }
    let params = [
        d.u32("layout parameter")?,
        d.u32("layout parameter")?,
        d.u32("layout parameter")?,
    ];
    let layout = Layout::from_tag(layout_tag, params).ok_or_else(|| crate::Error::UnsupportedModel {
        what: format!(
            "tensor '{name}' uses layout {layout_tag} with parameters {params:?}, unknown to this build"
        ),
    })?;
    let quantization = match d.u8("quantization kind")? {
        tag::QUANT_NONE => Quantization::None,
        tag::QUANT_PER_TENSOR => Quantization::PerTensor {
            scale: d.f32("scale")?,
            zero_point: d.i32("zero point")?,
        },
        tag::QUANT_PER_CHANNEL => Quantization::PerChannel {
            axis: d.u32("axis")?,
            scales: d.u32("scale tensor")?,
            zero_points: d.opt_index("zero-point tensor")?,
        },
        tag::QUANT_PER_GROUP => Quantization::PerGroup {
            axis: d.u32("axis")?,
            group_size: d.u32("group size")?,
            scales: d.u32("scale tensor")?,
            zero_points: d.opt_index("zero-point tensor")?,
        },
        k => return Err(d.error(format!("unknown quantization kind {k}"))),
    };
    Ok(TensorInfo {
        name,
        dtype,
        dims,
        layout,
        quantization,
        offset: d.u64("data offset")?,
        byte_len: d.u64("byte length")?,
        crc32: d.u32("checksum")?,
    })
}

fn decode_value(d: &mut Decoder) -> Result<ValueInfo> {
    let name = d.str("name")?;
    let dtype = decode_dtype(d)?;
    let shape = match d.u8("shape presence")? {
        0 => None,
        1 => {
            let rank = decode_rank(d)?;
            let dims = (0..rank)
                .map(|_| match d.u8("dimension kind")? {
                    tag::DIM_FIXED => Ok(Dim::Fixed(d.u64("dimension")?)),
                    tag::DIM_SYMBOL => {
                        let s = d.str("dimension symbol")?;
                        if s.is_empty() {
                            return Err(d.error("empty dimension symbol"));
                        }
                        Ok(Dim::Symbol(s))
                    }
                    k => Err(d.error(format!("unknown dimension kind {k}"))),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Shape(dims))
        }
        k => return Err(d.error(format!("shape presence flag is {k}, not 0 or 1"))),
    };
    Ok(ValueInfo {
        name,
        dtype,
        shape,
        initializer: d.opt_index("initializer")?,
    })
}

fn decode_graph(d: &mut Decoder) -> Result<Graph> {
    let name = d.str("name")?;
    let inputs = d.list("graph input count", MAX_VALUES, 4, |d| d.u32("graph input"))?;
    let outputs = d.list("graph output count", MAX_VALUES, 4, |d| {
        d.u32("graph output")
    })?;
    let mut index = 0usize;
    let nodes = d.list("node count", MAX_NODES_PER_GRAPH, 4 * 5, |d| {
        let n = decode_node(d).map_err(|e| in_context(e, &format!("node {index}")));
        index += 1;
        n
    })?;
    Ok(Graph {
        name,
        inputs,
        outputs,
        nodes,
    })
}

fn decode_node(d: &mut Decoder) -> Result<Node> {
    let name = d.str("name")?;
    let op = d.str("op type")?;
    if op.is_empty() {
        return Err(d.error("empty op type"));
    }
    let inputs = d.list("input count", MAX_NODE_INPUTS, 4, |d| d.opt_index("input"))?;
    let outputs = d.list("output count", MAX_NODE_OUTPUTS, 4, |d| d.u32("output"))?;
    let attributes = d.list("attribute count", MAX_ATTRIBUTES, 5, |d| {
        let name = d.str("attribute name")?;
        let value = decode_attr(d).map_err(|e| in_context(e, &format!("attribute '{name}'")))?;
        Ok(Attribute { name, value })
    })?;
    Ok(Node {
        name,
        op,
        inputs,
        outputs,
        attributes,
    })
}

fn decode_attr(d: &mut Decoder) -> Result<AttrValue> {
    Ok(match d.u8("attribute kind")? {
        tag::ATTR_INT => AttrValue::Int(d.i64("int")?),
        tag::ATTR_FLOAT => AttrValue::Float(d.f32("float")?),
        tag::ATTR_STRING => AttrValue::String(d.str("string")?),
        tag::ATTR_INTS => {
            AttrValue::Ints(d.list("ints", MAX_ATTRIBUTE_ELEMENTS, 8, |d| d.i64("int"))?)
        }
        tag::ATTR_FLOATS => {
            AttrValue::Floats(d.list("floats", MAX_ATTRIBUTE_ELEMENTS, 4, |d| d.f32("float"))?)
        }
        tag::ATTR_STRINGS => {
            AttrValue::Strings(d.list("strings", MAX_ATTRIBUTE_ELEMENTS, 4, |d| d.str("string"))?)
        }
        tag::ATTR_TENSOR => AttrValue::Tensor(d.u32("tensor")?),
        tag::ATTR_GRAPH => AttrValue::Graph(d.u32("graph")?),
        k => return Err(d.error(format!("unknown attribute kind {k}"))),
    })
}
