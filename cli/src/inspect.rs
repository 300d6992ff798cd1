//! `mobiquant inspect`: validates a model and prints what it holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use mobiquant_core::graph::ValueInfo;
use mobiquant_core::{LoadOptions, Model};

pub fn run(path: &Path, verify_tensor_checksums: bool) -> Result<(), mobiquant_core::Error> {
    let model = Model::open_with(
        path,
        LoadOptions {
            verify_tensor_checksums,
        },
    )?;
    print!("{}", report(&model, &path.display().to_string()));
    Ok(())
}

/// The whole report as text.
fn report(model: &Model, path: &str) -> String {
    let mut out = String::new();
    let h = model.header();
    let info = model.info();
    let _ = writeln!(
        out,
        "model      {path} ({} bytes, memory-mapped)",
        model.file_bytes().len()
    );
    let _ = writeln!(
        out,
        "format     .mq {}.{}, required flags {:#x}, optional flags {:#x}",
        h.version_major, h.version_minor, h.required_flags, h.optional_flags
    );
    let _ = writeln!(
        out,
        "sections   metadata {} bytes at {}, data {} bytes at {}",
        h.metadata_len, h.metadata_offset, h.data_len, h.data_offset
    );
    let _ = writeln!(out, "name       {}", info.name);
    let _ = writeln!(
        out,
        "producer   {} {}",
        info.producer, info.producer_version
    );
    let _ = writeln!(out, "quantized  {}", info.quant_mode.name());
    for (k, v) in &info.properties {
        let _ = writeln!(out, "property   {k} = {v}");
    }
    let value_line = |v: &ValueInfo| {
        let shape = v
            .shape
            .as_ref()
            .map_or("[?]".to_string(), |s| s.to_string());
        format!("{} {} {}", v.name, v.dtype, shape)
    };
    for v in model.inputs() {
        let _ = writeln!(out, "input      {}", value_line(v));
    }
    for v in model.outputs() {
        let _ = writeln!(out, "output     {}", value_line(v));
    }
    for s in model.states() {
        let name = |id| model.value(id).map_or("?", |v| v.name.as_str());
        let _ = writeln!(out, "state      {} -> {}", name(s.output), name(s.input));
    }

    let graphs = model.graphs();
    let nodes: usize = graphs.iter().map(|g| g.nodes.len()).sum();
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for n in graphs.iter().flat_map(|g| &g.nodes) {
        *ops.entry(n.op.as_str()).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "graph      {nodes} nodes in {} graph(s), {} values",
        graphs.len(),
        model.values().len()
    );
    let ops_line: Vec<String> = ops.iter().map(|(op, n)| format!("{op} x{n}")).collect();
    let _ = writeln!(out, "ops        {}", ops_line.join(", "));

    let tensors = model.tensors();
    let total: u64 = tensors.iter().map(|t| t.byte_len).sum();
    let _ = writeln!(out, "tensors    {} tensors, {total} bytes", tensors.len());
    let name_width = tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    let _ = writeln!(
        out,
        "  {:<name_width$}  {:<5} {:<18} {:<10} {:<28} {:>10}  {:>10}",
        "name", "dtype", "shape", "layout", "quantization", "bytes", "offset"
    );
    for t in tensors {
        let dims: Vec<String> = t.dims.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "  {:<name_width$}  {:<5} {:<18} {:<10} {:<28} {:>10}  {:>10}",
            t.name,
            t.dtype.name(),
            format!("[{}]", dims.join(",")),
            t.layout.name(),
            t.quantization.summary(),
            t.byte_len,
            t.offset
        );
    }
    out
}
