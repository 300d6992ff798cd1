//! Times one ONNX model with tract (the Rust peer) on `.npy` inputs and prints one JSON line in
//! the format of `scripts/peer_bench.py`:
//! `{"model", "peer": "tract", "threads": 1, "p50_ms", "p90_ms", "p99_ms", "runs"}`.
//!
//! Usage: `mobiquant-peer-tract MODEL.onnx NAME SECONDS [INPUT_NAME=FILE.npy ...]`
//!
//! tract runs on one thread. A `state` input the command line does not give starts from zeros
//! of shape [2, 1, 128] (silero VAD's initial state), as in the onnxruntime peer.

use std::path::Path;
use std::time::{Duration, Instant};

use mobiquant_convert::npy::NpyArray;
use anyhow::{bail, format_err};
use mobiquant_core::DType;
use tract_onnx::prelude::*;

/// The elements of `bytes` (little-endian, `N` bytes each) as values of `T`.
fn elements<T, const N: usize>(bytes: &[u8], from_le: fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|c| from_le(c.try_into().expect("chunks of N bytes"))).collect()
}

fn tract_tensor(array: &NpyArray) -> TractResult<Tensor> {
    let (shape, bytes) = (&array.shape, &array.data);
    match array.dtype {
        DType::F32 => Tensor::from_shape(shape, &elements(bytes, f32::from_le_bytes)),
        DType::I64 => Tensor::from_shape(shape, &elements(bytes, i64::from_le_bytes)),
        DType::I32 => Tensor::from_shape(shape, &elements(bytes, i32::from_le_bytes)),
        DType::I8 => Tensor::from_shape(shape, &elements(bytes, i8::from_le_bytes)),
        DType::U8 => Tensor::from_shape(shape, bytes),
        other => bail!("the tract peer has no input conversion for {other:?}"),
    }
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        bail!("usage: {} MODEL.onnx NAME SECONDS [INPUT=FILE.npy ...]", args[0]);
    }
    let (path, name, seconds) = (&args[1], &args[2], args[3].parse::<f64>()?);
    let mut given = std::collections::HashMap::new();
    for spec in &args[4..] {
        let (input, file) = spec.split_once('=').ok_or_else(|| format_err!("bad input {spec}"))?;
        let array = NpyArray::read(Path::new(file)).map_err(|e| format_err!("{e}"))?;
        given.insert(input.to_string(), array);
    }

    let mut model = tract_onnx::onnx().model_for_path(path)?;
    let mut inputs = TVec::new();
    for (ix, outlet) in model.input_outlets()?.to_vec().into_iter().enumerate() {
        let input_name = model.node(outlet.node).name.clone();
        let tensor = match given.get(&input_name) {
            Some(array) => tract_tensor(array)?,
            None if input_name == "state" => Tensor::zero::<f32>(&[2, 1, 128])?,
            None => bail!("input {input_name} not given"),
        };
        model.set_input_fact(ix, InferenceFact::dt_shape(tensor.datum_type(), tensor.shape()))?;
        inputs.push(tensor.into_tvalue());
    }
    let plan = model.into_optimized()?.into_runnable()?;

    plan.run(inputs.clone())?;
    let mut times = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline || times.len() < 10 {
        let start = Instant::now();
        plan.run(inputs.clone())?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((q * times.len() as f64) as usize).min(times.len() - 1)];
    println!(
        "{{\"model\": \"{name}\", \"peer\": \"tract\", \"threads\": 1, \"p50_ms\": {:.4}, \"p90_ms\": {:.4}, \"p99_ms\": {:.4}, \"runs\": {}}}",
        pick(0.5),
        pick(0.9),
        pick(0.99),
        times.len()
    );
    Ok(())
}
