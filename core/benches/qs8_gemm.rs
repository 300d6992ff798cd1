//! Int8 GEMM benchmark: GOPS (2 * M * N * K per second) of `qs8_gemm` per supported tier on square
//! 1024/512/256, MobileNetV2-class and speech-model (openWakeWord, Silero VAD) shapes, and on x86
//! the measured VPDPBUSD zmm peak of this core.
//!
//! `cargo bench -p mobiquant-core --bench qs8_gemm [-- --threads N] [--csv] [--tiers a,b]
//! [--shapes MxKxN,...] [--ms BUDGET] [--no-peak | --peak-only] [--cpu-time]`
//! Shapes are M x K x N (activations [M, K], weights [N, K]); static s8 activations, requantized
//! s8 output (the full-int8 path), plus the dynamic path (f32 in, f32 out) for the same shapes.
//! Times are wall time, or with `--cpu-time` (one thread only) the CPU time of the measuring
//! thread, which a loaded machine disturbs far less (time spent preempted is not counted).
//! Weights are measured from a 64-byte aligned copy, as a model file stores them.

use std::hint::black_box;

mod util;

use std::time::Duration;
use util::{
    GemmArgs, bytes, parse_shape, thread_cpu_seconds, tier_kernels, time_per_call, time_per_call_on,
};

use mobiquant_core::DType;
use mobiquant_core::kernels::qs8::{
    ActQuant, QInput, QOutput, Qs8Mode, Qs8Packed, Qs8Prepared, Qs8Weights, pack_qs8, qs8_gemm,
};
use mobiquant_core::kernels::{Kernels, Tier, kernels_for};

/// Seconds per call of `f`: wall time, or the thread's CPU time when `cpu`.
fn timed(cpu: bool, f: impl FnMut(), budget: Duration) -> f64 {
    if cpu {
        let clock = || thread_cpu_seconds().expect("--cpu-time needs 64-bit Linux");
        time_per_call_on(clock, f, budget)
    } else {
        time_per_call(f, budget)
    }
}

/// `bytes` copied to a 64-byte aligned start inside `buffer` (as in a model file).
fn aligned<'a>(buffer: &'a mut Vec<u8>, bytes: &[u8]) -> &'a [u8] {
    buffer.clear();
    buffer.resize(bytes.len() + 63, 0);
    let offset = buffer.as_ptr().align_offset(64);
    let dst = &mut buffer[offset..offset + bytes.len()];
    dst.copy_from_slice(bytes);
    dst
}

/// The default shapes, M x K x N, and where they come from.
const SHAPES: [(usize, usize, usize, &str); 13] = [
    (1024, 1024, 1024, "square"),
    (512, 512, 512, "square"),
    (256, 256, 256, "square"),
    (784, 144, 32, "mnv2 1x1 project 28x28"),
    (196, 576, 96, "mnv2 1x1 project 14x14"),
    (49, 960, 160, "mnv2 1x1 project 7x7"),
    (1, 1280, 1000, "mnv2 classifier (GEMV)"),
    (2368, 72, 24, "oww embedding 1x3 conv 24ch"),
    (544, 144, 48, "oww embedding 3x1 conv 48ch"),
    (240, 216, 72, "oww embedding 3x1 conv 72ch"),
    (48, 288, 96, "oww embedding 3x1 conv 96ch"),
    (4, 387, 128, "silero vad first conv (16 kHz)"),
    (1, 128, 512, "silero vad LSTM gates (GEMV)"),
];

struct Problem {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<i8>,
    af: Vec<f32>,
    static_w: Vec<u8>,
    dynamic_w: Vec<u8>,
}

impl Problem {
    fn new((m, k, n): (usize, usize, usize)) -> Problem {
        let w: Vec<i8> = bytes(n * k, 1)
            .iter()
            .map(|&b| (b as i8).max(-127))
            .collect();
        let scales = vec![0.01f32; n];
        let bias = vec![0.5f32; n];
        let weights = Qs8Weights {
            n,
            k,
            data: &w,
            scales: &scales,
            bias: Some(&bias),
        };
        let input = ActQuant {
            dtype: DType::I8,
            scale: 0.02,
            zero_point: -3,
        };
        let mode = Qs8Mode::Requantized {
            input,
            output_scale: 0.5,
        };
        let a = bytes(m * k, 2).iter().map(|&b| b as i8).collect();
        let af = bytes(m * k, 3)
            .iter()
            .map(|&b| f32::from(b) / 64.0 - 1.5)
            .collect();
        Problem {
            m,
            k,
            n,
            a,
            af,
            static_w: pack_qs8(&weights, mode).expect("pack"),
            dynamic_w: pack_qs8(&weights, Qs8Mode::Dynamic).expect("pack"),
        }
    }

    /// One static (s8 -> s8) GEMM into `out`.
    fn run_static(&self, kernels: &Kernels, threads: usize, w: &Qs8Prepared, out: &mut [i8]) {
        let input = QInput::S8 {
            data: black_box(&self.a),
            stride: self.k,
        };
        let output = QOutput::S8 {
            data: out,
            stride: self.n,
            zero_point: 0,
            min: -128,
            max: 127,
        };
        qs8_gemm(kernels, self.m, input, w, output, threads).expect("gemm");
    }

    /// GOPS of the static (s8 -> s8) and dynamic (f32 -> f32) paths.
    fn gops(&self, kernels: &Kernels, threads: usize, budget: Duration, cpu: bool) -> (f64, f64) {
        let ops = 2.0 * (self.m * self.n * self.k) as f64;
        let mut buffer = Vec::new();
        let w = Qs8Packed::from_bytes(aligned(&mut buffer, &self.static_w)).expect("packed");
        let w = Qs8Prepared::new(kernels, w);
        let mut out = vec![0i8; self.m * self.n];
        let t_static = timed(
            cpu,
            || self.run_static(kernels, threads, &w, &mut out),
            budget,
        );
        let mut buffer = Vec::new();
        let w = Qs8Packed::from_bytes(aligned(&mut buffer, &self.dynamic_w)).expect("packed");
        let w = Qs8Prepared::new(kernels, w);
        let mut out = vec![0f32; self.m * self.n];
        let t_dynamic = timed(
            cpu,
            || {
                let input = QInput::F32 {
                    data: black_box(&self.af),
                    stride: self.k,
                };
                let output = QOutput::F32 {
                    data: &mut out,
                    stride: self.n,
                    min: f32::MIN,
                    max: f32::MAX,
                };
                qs8_gemm(kernels, self.m, input, &w, output, threads).expect("gemm");
            },
            budget,
        );
        (ops / t_static / 1e9, ops / t_dynamic / 1e9)
    }
}

/// Peak VPDPBUSD zmm throughput of one core in GOPS (2 ops per multiply-add), or None.
#[cfg(target_arch = "x86_64")]
fn vnni_peak_gops(cpu: bool) -> Option<f64> {
    use std::arch::x86_64::*;
    if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")) {
        return None;
    }
    /// 24 independent VPDPBUSD chains, `iters` times.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and VNNI (checked by the caller).
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn chains(iters: usize) -> i32 {
        let x = _mm512_set1_epi32(black_box(0x0101_0101));
        let w = _mm512_set1_epi32(black_box(0x0102_0304));
        let mut acc = [_mm512_setzero_si512(); 24];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_dpbusd_epi32(*a, x, w);
            }
        }
        acc.iter()
            .fold(0, |s, a| s.wrapping_add(_mm512_reduce_add_epi32(*a)))
    }
    let iters = 2_000_000;
    let t = timed(
        cpu,
        || {
            // SAFETY: the features were detected above.
            black_box(unsafe { chains(iters) });
        },
        Duration::from_millis(300),
    );
    Some(2.0 * (iters * 24 * 64) as f64 / t / 1e9)
}

#[cfg(not(target_arch = "x86_64"))]
fn vnni_peak_gops(_cpu: bool) -> Option<f64> {
    None
}

/// `--trace TIER MxKxN`: one static GEMM on one tier and nothing else, for counting the
/// instructions qemu executes in the kernel (`scripts/neon_kernel_quality.py`).
fn trace(args: &[String]) {
    let tier = args
        .first()
        .and_then(|t| Tier::from_name(t))
        .expect("--trace TIER MxKxN");
    let dims = parse_shape(args.get(1).expect("--trace TIER MxKxN"));
    let problem = Problem::new(dims);
    let kernels = kernels_for(tier).expect("tier");
    let w = Qs8Prepared::new(
        kernels,
        Qs8Packed::from_bytes(&problem.static_w).expect("packed"),
    );
    let mut out = vec![0i8; problem.m * problem.n];
    problem.run_static(kernels, 1, &w, &mut out);
    println!(
        "{} {}x{}x{} checksum {}",
        kernels.qs8_gemm_name(),
        dims.0,
        dims.1,
        dims.2,
        out.iter().map(|&v| i64::from(v)).sum::<i64>()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--trace") {
        return trace(&args[i + 1..]);
    }
    let opts = GemmArgs::parse(&args, SHAPES.iter().map(|&(m, k, n, _)| (m, k, n)));
    let (csv, threads, budget) = (opts.csv, opts.threads, opts.budget);
    let cpu = opts.cpu;
    assert!(!cpu || threads == 1, "--cpu-time measures one thread");
    let peak = if args.iter().any(|a| a == "--no-peak") {
        None
    } else {
        vnni_peak_gops(cpu)
    };
    if let Some(peak) = peak {
        if csv {
            println!("peak,vpdpbusd_zmm,0,0,0,{peak:.1},{peak:.1},");
        } else {
            println!("VPDPBUSD zmm peak (1 core): {peak:.1} GOPS");
        }
    }
    if args.iter().any(|a| a == "--peak-only") {
        return;
    }
    // `threads = 1` runs on the calling thread; more run as tasks on a pool of that size.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    if !csv {
        println!(
            "threads: {threads}; GOPS = 2*M*N*K / s; static = s8 in, s8 out; dynamic = f32 in, f32 out"
        );
        println!(
            "{:<30} {:>16} {:>10} {:>10}  shape",
            "kernel", "MxKxN", "static", "dynamic"
        );
    }
    let problems: Vec<Problem> = opts.shapes.iter().map(|&s| Problem::new(s)).collect();
    for tier in opts.tiers {
        let Some(kernels) = tier_kernels(tier, csv) else {
            continue;
        };
        for p in &problems {
            // The scalar reference is only worth one short look.
            let budget = if tier == Tier::Reference {
                budget / 4
            } else {
                budget
            };
            let (gs, gd) = pool.install(|| p.gops(kernels, threads, budget, cpu));
            let shape = format!("{}x{}x{}", p.m, p.k, p.n);
            let what = SHAPES
                .iter()
                .find(|s| (s.0, s.1, s.2) == (p.m, p.k, p.n))
                .map_or("", |s| s.3);
            if csv {
                println!(
                    "{tier},{},{},{},{},{gs:.1},{gd:.1},{what}",
                    kernels.qs8_gemm_name(),
                    p.m,
                    p.k,
                    p.n
                );
            } else {
                println!(
                    "{:<30} {shape:>16} {gs:>10.1} {gd:>10.1}  {what}",
                    kernels.qs8_gemm_name()
                );
            }
        }
    }
}
