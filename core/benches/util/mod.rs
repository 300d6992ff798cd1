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
