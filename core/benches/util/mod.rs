//! Timing and test data shared by the benchmark binaries.

// Each benchmark binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mobiquant_core::kernels::{Kernels, Tier, kernels_for};

/// Best-of-batches seconds per call of `f`, over about `budget` of wall time.
pub fn time_per_call(f: impl FnMut(), budget: Duration) -> f64 {
    let start = Instant::now();
    time_per_call_on(|| start.elapsed().as_secs_f64(), f, budget)
}

/// [`time_per_call`] measured with `clock` (seconds from any origin), e.g.
/// [`thread_cpu_seconds`].
pub fn time_per_call_on(clock: impl Fn() -> f64, mut f: impl FnMut(), budget: Duration) -> f64 {
    f(); // warm-up (page faults, caches)
    let start = clock();
    f();
    let once = (clock() - start).max(1e-7);
    let per_batch = ((budget.as_secs_f64() / 5.0 / once) as usize).max(1);
    (0..5)
        .map(|_| {
            let t = clock();
            for _ in 0..per_batch {
                f();
            }
            (clock() - t) / per_batch as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// CPU time of the calling thread in seconds (Linux `CLOCK_THREAD_CPUTIME_ID`, 64-bit): time the thread
/// spent off the CPU while other processes ran is not counted, so one-thread measurements on a
/// loaded machine keep their meaning. `None` elsewhere.
pub fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        unsafe extern "C" {
            fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        }
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec (two 64-bit fields on 64-bit Linux).
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then_some(ts.sec as f64 + ts.nsec as f64 * 1e-9)
    }
    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    None
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

/// The kernels of every tier this CPU has, in `Tier::ALL` order.
pub fn supported_kernels() -> Vec<&'static Kernels> {
    Tier::ALL
        .into_iter()
        .filter_map(|t| kernels_for(t).ok())
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
    /// `--cpu-time`: time the measuring thread's CPU time instead of the wall clock.
    pub cpu: bool,
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
            cpu: args.iter().any(|a| a == "--cpu-time"),
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
