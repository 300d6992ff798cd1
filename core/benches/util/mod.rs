//! Timing and test data shared by the benchmark binaries.

// Each benchmark binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mobiquant_core::kernels::{Kernels, Tier, kernels_for};

/// Best-of-batches seconds per call of `f`, over about `budget` of wall time.
pub fn time_per_call(mut f: impl FnMut(), budget: Duration) -> f64 {
    f(); // warm-up (page faults, caches)
    let start = Instant::now();
    f();
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let per_batch = ((budget.as_secs_f64() / 5.0 / once) as usize).max(1);
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_secs_f64() / per_batch as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Deterministic pseudo-random bytes (xorshift64).
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// The kernels of `tier`, or `None` after printing (unless `quiet`) that the CPU lacks it.
pub fn tier_kernels(tier: Tier, quiet: bool) -> Option<&'static Kernels> {
    let kernels = kernels_for(tier).ok();
    if kernels.is_none() && !quiet {
        println!(
            "tier {tier}: skipped (CPU lacks {})",
            tier.required_features()
        );
    }
    kernels
}

/// The options every benchmark takes: `--csv` (machine-readable rows) and `--threads N` (1).
pub fn options(args: &[String]) -> (bool, usize) {
    let csv = args.iter().any(|a| a == "--csv");
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    (csv, threads)
}

/// The value after `--flag`, if any.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

/// `MxKxN` as numbers.
pub fn parse_shape(text: &str) -> (usize, usize, usize) {
    let dims: Vec<usize> = text
        .split('x')
        .map(|d| d.parse().expect("shape MxKxN"))
        .collect();
    assert!(dims.len() == 3, "shape MxKxN, got {text}");
    (dims[0], dims[1], dims[2])
}

/// The options of the GEMM benchmarks: `--csv`, `--threads N` (1), `--ms N` (time budget per
/// measurement, 400), `--shapes MxKxN,...` (else the bench's list), `--tiers a,b` (else all).
pub struct GemmArgs {
    pub csv: bool,
    pub threads: usize,
    pub budget: Duration,
    pub shapes: Vec<(usize, usize, usize)>,
    pub tiers: Vec<Tier>,
}

impl GemmArgs {
    pub fn parse(
        args: &[String],
        default_shapes: impl Iterator<Item = (usize, usize, usize)>,
    ) -> Self {
        GemmArgs {
            csv: args.iter().any(|a| a == "--csv"),
            threads: flag(args, "--threads").map_or(1, |t| t.parse().expect("--threads N")),
            budget: Duration::from_millis(
                flag(args, "--ms").map_or(400, |t| t.parse().expect("--ms N")),
            ),
            shapes: match flag(args, "--shapes") {
                Some(list) => list.split(',').map(parse_shape).collect(),
                None => default_shapes.collect(),
            },
            tiers: match flag(args, "--tiers") {
                Some(list) => list
                    .split(',')
                    .map(|t| Tier::from_name(t).expect("--tiers: unknown tier"))
                    .collect(),
                None => Tier::ALL.to_vec(),
            },
        }
    }
}
