//! Timing shared by the benchmark binaries.

use std::time::{Duration, Instant};

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
#[allow(dead_code)] // not every benchmark uses it
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

/// The options every benchmark takes: `--csv` (machine-readable rows) and `--threads N` (1).
#[allow(dead_code)] // not every benchmark uses it
pub fn options(args: &[String]) -> (bool, usize) {
    let csv = args.iter().any(|a| a == "--csv");
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    (csv, threads)
}
