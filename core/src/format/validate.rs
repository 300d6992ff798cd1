//! Semantic validation of a decoded model: everything that relates one object to another.
//!
//! [`check_metadata`] runs on every load and on every write, before any tensor byte is used:
//! tensors (byte lengths against dtype, shape and layout; 64-byte aligned, in-bounds,
//! non-overlapping data; unique names; quantization parameter shapes), values (initializer
//! references, dtypes and shapes), graphs (references, single producers, topological order,
//! scoping of control-flow bodies, a tree of bodies) and state pairs.
//! [`check_data`] then checks what needs the bytes: per-tensor checksums (optional) and
//! quantization parameter values (scales finite and positive, zero points in range).

use std::collections::HashSet;

use super::header::TENSOR_ALIGN;
use super::metadata::{Metadata, limits::MAX_GRAPH_DEPTH};
use crate::error::{Error, Result};
use crate::graph::{AttrValue, GraphId, ValueId};
use crate::quant::Quantization;
use crate::tensor::{DType, Layout, Shape, TensorInfo};

fn invalid(what: String) -> Error {
    Error::InvalidModel {
        section: "metadata",
        offset: None,
        what,
    }
}

/// Checks every cross-reference and size in `meta` for a data section of `data_len` bytes.
pub fn check_metadata(meta: &Metadata, data_len: u64) -> Result<()> {
    check_tensors(&meta.tensors, data_len)?;
    check_values(meta)?;
    check_graphs(meta)?;
    check_states(meta)
}

fn check_tensors(tensors: &[TensorInfo], data_len: u64) -> Result<()> {
    let mut names = HashSet::with_capacity(tensors.len());
    for (id, t) in tensors.iter().enumerate() {
        if !names.insert(t.name.as_str()) {
            return Err(invalid(format!(
                "tensor {id}: the name '{}' is used twice",
                t.name
            )));
        }
        let expected = t.layout.byte_len(t.dtype, &t.dims).ok_or_else(|| {
            invalid(format!(
                "tensor '{}': shape {:?} of {} overflows or does not fit the {} layout",
                t.name,
                t.dims,
                t.dtype,
                t.layout.name()
            ))
        })?;
        if t.byte_len != expected {
            return Err(invalid(format!(
                "tensor '{}': {} bytes stored, but {} {:?} in the {} layout needs {expected}",
                t.name,
                t.byte_len,
                t.dtype,
                t.dims,
                t.layout.name()
            )));
        }
        if t.offset % TENSOR_ALIGN != 0 {
            return Err(invalid(format!(
                "tensor '{}': data offset {} is not a multiple of {TENSOR_ALIGN}",
                t.name, t.offset
            )));
        }
        if t.offset
            .checked_add(t.byte_len)
            .is_none_or(|end| end > data_len)
        {
            return Err(invalid(format!(
                "tensor '{}': bytes [{} + {}] lie outside the {data_len}-byte data section",
                t.name, t.offset, t.byte_len
            )));
        }
        check_quantization(tensors, id, t)?;
    }
    let mut spans: Vec<(u64, u64, &str)> = tensors
        .iter()
        .filter(|t| t.byte_len > 0)
        .map(|t| (t.offset, t.offset + t.byte_len, t.name.as_str()))
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(invalid(format!(
                "tensors '{}' and '{}' overlap in the data section",
                pair[0].2, pair[1].2
            )));
        }
    }
    Ok(())
}

fn check_quantization(tensors: &[TensorInfo], id: usize, t: &TensorInfo) -> Result<()> {
    let q = &t.quantization;
    if *q == Quantization::None {
        return Ok(());
    }
    let ctx = |what: String| invalid(format!("tensor '{}' quantization: {what}", t.name));
    if !t.dtype.is_quantizable() {
        return Err(ctx(format!("{} tensors cannot be quantized", t.dtype)));
    }
    let (axis, group_size, scales, zero_points) = match *q {
        Quantization::None => unreachable!("handled above"),
        Quantization::PerTensor { scale, zero_point } => {
            if !(scale.is_finite() && scale > 0.0) {
                return Err(ctx(format!("scale {scale} is not finite and positive")));
            }
            check_zero_point_range(t.dtype, i64::from(zero_point)).map_err(ctx)?;
            return Ok(());
        }
        Quantization::PerChannel {
            axis,
            scales,
            zero_points,
        } => (axis, None, scales, zero_points),
        Quantization::PerGroup {
            axis,
            group_size,
            scales,
            zero_points,
        } => (axis, Some(group_size), scales, zero_points),
    };
    let axis = axis as usize;
    if axis >= t.dims.len() {
        return Err(ctx(format!(
            "axis {axis} is out of range for rank {}",
            t.dims.len()
        )));
    }
    let mut param_dims = t.dims.clone();
    if let Some(g) = group_size {
        if g == 0 {
            return Err(ctx("group size is 0".into()));
        }
        param_dims[axis] = t.dims[axis].div_ceil(u64::from(g));
    }
    let want_numel = match group_size {
        None => t.dims[axis],
        Some(_) => Shape::numel_of(&param_dims).unwrap_or(u64::MAX),
    };
    for (role, pid, allowed) in [
        ("scale", Some(scales), &[DType::F32, DType::F16][..]),
        (
            "zero-point",
            zero_points,
            &[DType::I8, DType::U8, DType::I32][..],
        ),
    ] {
        let Some(pid) = pid else { continue };
        let p = tensors.get(pid as usize).ok_or_else(|| {
            ctx(format!(
                "{role} tensor {pid} does not exist ({} tensors)",
                tensors.len()
            ))
        })?;
        if pid as usize == id {
            return Err(ctx(format!("{role} tensor refers to the tensor itself")));
        }
        if !allowed.contains(&p.dtype)
            || p.layout != Layout::RowMajor
            || p.quantization != Quantization::None
        {
            return Err(ctx(format!(
                "{role} tensor '{}' must be an unquantized row-major {}, not {}{} {}",
                p.name,
                allowed
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join("/"),
                if p.quantization == Quantization::None {
                    ""
                } else {
                    "quantized "
                },
                p.dtype,
                p.layout.name()
            )));
        }
        let shape_ok = match group_size {
            None => p.numel() == want_numel,
            Some(_) => p.dims == param_dims,
        };
        if !shape_ok {
            return Err(ctx(format!(
                "{role} tensor '{}' has shape {:?}, expected {}",
                p.name,
                p.dims,
                match group_size {
                    None => format!("{want_numel} elements"),
                    Some(_) => format!("{param_dims:?}"),
                }
            )));
        }
    }
    Ok(())
}

fn check_zero_point_range(dtype: DType, zp: i64) -> Result<(), String> {
    match dtype.int_range() {
        Some((lo, hi)) if zp < lo || zp > hi => Err(format!(
            "zero point {zp} is outside the {dtype} range [{lo}, {hi}]"
        )),
        _ => Ok(()),
    }
}

fn check_values(meta: &Metadata) -> Result<()> {
    let mut names = HashSet::with_capacity(meta.values.len());
    for (id, v) in meta.values.iter().enumerate() {
        if v.name.is_empty() {
            return Err(invalid(format!("value {id} has an empty name")));
        }
        if !names.insert(v.name.as_str()) {
            return Err(invalid(format!(
                "value {id}: the name '{}' is used twice",
                v.name
            )));
        }
        let Some(tid) = v.initializer else { continue };
        let t = meta.tensors.get(tid as usize).ok_or_else(|| {
            invalid(format!(
                "value '{}': initializer tensor {tid} does not exist",
                v.name
            ))
        })?;
        if t.dtype != v.dtype {
            return Err(invalid(format!(
                "value '{}' is {} but its tensor '{}' is {}",
                v.name, v.dtype, t.name, t.dtype
            )));
        }
        if let Some(shape) = &v.shape
            && shape.as_fixed().as_deref() != Some(&t.dims[..])
        {
            return Err(invalid(format!(
                "value '{}' has shape {shape} but its tensor '{}' has shape {:?}",
                v.name, t.name, t.dims
            )));
        }
    }
    Ok(())
}

/// Walks graphs from the main graph, checking references, producers, order and scoping.
struct GraphWalk<'a> {
    meta: &'a Metadata,
    /// Whether each value is visible at the current point of the walk.
    visible: Vec<bool>,
    /// Whether each value has been defined (graph input or node output) anywhere.
    defined: Vec<bool>,
    /// Whether each graph has been reached through an attribute (graph 0 is the root).
    reached: Vec<bool>,
}

fn check_graphs(meta: &Metadata) -> Result<()> {
    if meta.graphs.is_empty() {
        return Err(invalid("the model has no main graph".into()));
    }
    let n = meta.values.len();
    let mut walk = GraphWalk {
        meta,
        visible: meta
            .values
            .iter()
            .map(|v| v.initializer.is_some())
            .collect(),
        defined: vec![false; n],
        reached: vec![false; meta.graphs.len()],
    };
    walk.reached[0] = true;
    walk.graph(0, 0)?;
    if let Some(g) = walk.reached.iter().position(|r| !r) {
        return Err(invalid(format!(
            "graph {g} ('{}') is not the body of any node",
            meta.graphs[g].name
        )));
    }
    Ok(())
}

impl GraphWalk<'_> {
    fn value_name(&self, v: ValueId) -> &str {
        &self.meta.values[v as usize].name
    }

    fn check_ref(&self, v: ValueId, what: &dyn Fn() -> String) -> Result<()> {
        if v as usize >= self.meta.values.len() {
            return Err(invalid(format!(
                "{} refers to value {v}, but there are {} values",
                what(),
                self.meta.values.len()
            )));
        }
        Ok(())
    }

    /// Defines `v` in the current scope; `added` records it for removal when the scope ends.
    fn define(
        &mut self,
        v: ValueId,
        added: &mut Vec<ValueId>,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        self.check_ref(v, what)?;
        let i = v as usize;
        if self.defined[i] || self.meta.values[i].initializer.is_some() {
            return Err(invalid(format!(
                "{} defines value '{}', which is already a constant, a graph input or another node's output",
                what(),
                self.value_name(v)
            )));
        }
        self.defined[i] = true;
        self.visible[i] = true;
        added.push(v);
        Ok(())
    }

    fn graph(&mut self, gid: GraphId, depth: usize) -> Result<()> {
        if depth > MAX_GRAPH_DEPTH {
            return Err(invalid(format!(
                "graph {gid}: control-flow bodies nest deeper than {MAX_GRAPH_DEPTH}"
            )));
        }
        let meta = self.meta;
        let g = &meta.graphs[gid as usize];
        let gname = |what: String| format!("graph {gid} ('{}') {what}", g.name);
        let mut added = Vec::new();
        for &v in &g.inputs {
            self.define(v, &mut added, &|| gname("input".into()))?;
        }
        for (ni, node) in g.nodes.iter().enumerate() {
            let here = || gname(format!("node {ni} ('{}', {})", node.name, node.op));
            for v in node.inputs.iter().flatten() {
                self.check_ref(*v, &here)?;
                if !self.visible[*v as usize] {
                    return Err(invalid(format!(
                        "{} reads value '{}' before it is defined (nodes must be in topological order)",
                        here(),
                        self.value_name(*v)
                    )));
                }
            }
            let mut attr_names = HashSet::with_capacity(node.attributes.len());
            for a in &node.attributes {
                if !attr_names.insert(a.name.as_str()) {
                    return Err(invalid(format!(
                        "{} has attribute '{}' twice",
                        here(),
                        a.name
                    )));
                }
                match a.value {
                    AttrValue::Tensor(t) if t as usize >= meta.tensors.len() => {
                        return Err(invalid(format!(
                            "{} attribute '{}' refers to tensor {t}, which does not exist",
                            here(),
                            a.name
                        )));
                    }
                    AttrValue::Graph(sub) => {
                        if sub <= gid
                            || sub as usize >= meta.graphs.len()
                            || self.reached[sub as usize]
                        {
                            return Err(invalid(format!(
                                "{} attribute '{}' refers to graph {sub}: bodies must be later graphs, each used once",
                                here(),
                                a.name
                            )));
                        }
                        self.reached[sub as usize] = true;
                        self.graph(sub, depth + 1)?;
                    }
                    _ => {}
                }
            }
            for &v in &node.outputs {
                self.define(v, &mut added, &here)?;
            }
        }
        for &v in &g.outputs {
            self.check_ref(v, &|| gname("output".into()))?;
            if !self.visible[v as usize] {
                return Err(invalid(gname(format!(
                    "output '{}' is never defined",
                    self.value_name(v)
                ))));
            }
        }
        // A body's values are not visible outside it.
        if gid != 0 {
            for v in added {
                self.visible[v as usize] = false;
            }
        }
        Ok(())
    }
}

fn check_states(meta: &Metadata) -> Result<()> {
    let main = &meta.graphs[0];
    let mut seen = HashSet::new();
    for s in &meta.states {
        let name = |v: ValueId| meta.values.get(v as usize).map_or("?", |v| v.name.as_str());
        if !main.inputs.contains(&s.input) || !main.outputs.contains(&s.output) {
            return Err(invalid(format!(
                "state pair ({} -> {}) must join a main-graph output to a main-graph input",
                s.output, s.input
            )));
        }
        let (i, o) = (
            &meta.values[s.input as usize],
            &meta.values[s.output as usize],
        );
        if i.dtype != o.dtype {
            return Err(invalid(format!(
                "state '{}' is {} but '{}' feeding it is {}",
                i.name, i.dtype, o.name, o.dtype
            )));
        }
        if !seen.insert(s.input) || !seen.insert(s.output | 0x8000_0000) {
            return Err(invalid(format!(
                "state value '{}' or '{}' appears in two state pairs",
                name(s.input),
                name(s.output)
            )));
        }
    }
    Ok(())
}

/// Checks what needs the tensor bytes: checksums (when `verify_checksums`) and quantization
/// parameter values. `data` is the whole data section; `check_metadata` must have passed.
pub fn check_data(meta: &Metadata, data: &[u8], verify_checksums: bool) -> Result<()> {
    let bytes = |t: &TensorInfo| &data[t.offset as usize..(t.offset + t.byte_len) as usize];
    for t in &meta.tensors {
        if verify_checksums {
            let computed = crc32fast::hash(bytes(t));
            if computed != t.crc32 {
                return Err(Error::ChecksumMismatch {
                    what: format!("tensor '{}'", t.name),
                    stored: t.crc32,
                    computed,
                });
            }
        }
        let Some((scales, zero_points)) = t.quantization.parameter_tensors() else {
            continue;
        };
        let ctx = |what: String| invalid(format!("tensor '{}' quantization: {what}", t.name));
        let s = &meta.tensors[scales as usize];
        let bad_scale = match s.dtype {
            DType::F32 => bytes(s)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .find(|v| !(v.is_finite() && *v > 0.0)),
            _ => bytes(s)
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .find(|v| !(v.is_finite() && *v > 0.0)),
        };
        if let Some(v) = bad_scale {
            return Err(ctx(format!(
                "scale tensor '{}' holds {v}, not finite and positive",
                s.name
            )));
        }
        if let Some(zid) = zero_points {
            let z = &meta.tensors[zid as usize];
            let zb = bytes(z);
            let values: Box<dyn Iterator<Item = i64>> = match z.dtype {
                DType::I8 => Box::new(zb.iter().map(|&b| i64::from(b as i8))),
                DType::U8 => Box::new(zb.iter().map(|&b| i64::from(b))),
                _ => Box::new(
                    zb.chunks_exact(4)
                        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
                ),
            };
            for zp in values {
                check_zero_point_range(t.dtype, zp)
                    .map_err(|e| ctx(format!("zero-point tensor '{}': {e}", z.name)))?;
            }
        }
    }
    Ok(())
}
