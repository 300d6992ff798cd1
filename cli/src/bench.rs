//! `mobiquant bench`: load time, first-run time and steady latency percentiles of one model.
//!
//! Times are wall-clock on whatever else the machine is doing: compare ratios against a peer
//! measured in the same run (scripts/peer_bench.py), not absolute numbers across runs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mobiquant_core::{Model, Session, SessionOptions, StepTime};

use crate::run::{Inputs, read_inputs, views};

pub struct BenchOptions {
    pub threads: usize,
    /// Measure steady runs for at least this long (and at least 10 runs).
    pub seconds: f64,
    /// Print one JSON line instead of a table row.
    pub json: bool,
    /// Time every node and print where the time goes (see [`print_profile`]).
    pub profile: bool,
}

pub fn run(
    model_path: &Path,
    inputs: &Inputs,
    o: &BenchOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let arrays = read_inputs(inputs)?;
    let start = Instant::now();
    let model = Arc::new(Model::open(model_path)?);
    let load = start.elapsed();
    let start = Instant::now();
    let mut session = Session::new(
        model,
        SessionOptions {
            threads: o.threads,
            profile: o.profile,
            ..SessionOptions::default()
        },
    )?;
    let inputs = views(&mut session, &arrays)?;
    session.run_in_place(&inputs)?;
    let first = start.elapsed();
    session.reset_profile();
    let mut times = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(o.seconds);
    while Instant::now() < deadline || times.len() < 10 {
        let start = Instant::now();
        session.run_in_place(&inputs)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((q * times.len() as f64) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let name = model_path
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let arena = session.last_plan().map_or(0, |p| p.arena_bytes());
    if o.json {
        println!(
            "{{\"model\": \"{name}\", \"threads\": {}, \"load_ms\": {:.4}, \"first_ms\": {:.4}, \"p50_ms\": {:.4}, \"p90_ms\": {:.4}, \"p99_ms\": {:.4}, \"runs\": {}, \"arena_bytes\": {arena}}}",
            o.threads,
            ms(load),
            ms(first),
            pick(0.5),
            pick(0.9),
            pick(0.99),
            times.len()
        );
    } else {
        println!(
            "{name}: {} thread(s), load {:.3} ms, first run {:.3} ms, steady p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms ({} runs), arena {arena} bytes",
            o.threads,
            ms(load),
            ms(first),
            pick(0.5),
            pick(0.9),
            pick(0.99),
            times.len()
        );
    }
    if o.profile {
        print_profile(&session.profile(), times.len());
    }
    Ok(())
}

/// Nodes listed by [`print_profile`].
const TOP_NODES: usize = 15;

/// Prints the share of the profiled time per op type, then the slowest nodes (mean ms per run).
fn print_profile(steps: &[StepTime], runs: usize) {
    let total: f64 = steps.iter().map(|s| s.total.as_secs_f64()).sum();
    let per_run = |secs: f64| secs * 1e3 / runs.max(1) as f64;
    let share = |secs: f64| 100.0 * secs / total.max(f64::MIN_POSITIVE);
    let mut by_type: Vec<(&str, f64, usize)> = Vec::new();
    for s in steps {
        let secs = s.total.as_secs_f64();
        match by_type.iter_mut().find(|(t, ..)| *t == s.op_type) {
            Some(entry) => {
                entry.1 += secs;
                entry.2 += 1;
            }
            None => by_type.push((&s.op_type, secs, 1)),
        }
    }
    by_type.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("| op type | nodes | ms per run | share |");
    println!("|---|---|---|---|");
    for (op, secs, nodes) in &by_type {
        println!(
            "| {op} | {nodes} | {:.3} | {:.1} % |",
            per_run(*secs),
            share(*secs)
        );
    }
    let mut slowest: Vec<&StepTime> = steps.iter().collect();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.total));
    println!("\n| node | op type | ms per run | share |");
    println!("|---|---|---|---|");
    for s in slowest.iter().take(TOP_NODES) {
        let secs = s.total.as_secs_f64();
        println!(
            "| {} | {} | {:.3} | {:.1} % |",
            s.node,
            s.op_type,
            per_run(secs),
            share(secs)
        );
    }
}
