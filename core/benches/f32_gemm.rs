//! f32 GEMM benchmark: GFLOPS (2 * M * N * K per second) of `f32_gemm` per supported tier on
//! square shapes and the GEMM shapes of MobileNetV2 at 224x224, and on x86 the measured FMA zmm
//! peak of this core.
//!
//! `cargo bench -p mobiquant-core --bench f32_gemm [-- --threads N] [--csv] [--tiers a,b]
//! [--shapes MxKxN,...] [--ms N] [--no-peak]` (`scripts/bench_f32_vs_onnxruntime.py` runs it
//! interleaved with onnxruntime's f32 MatMul).
//! Shapes are M x K x N in the convolution's orientation: A = weights `[M = out channels, K]`
//! packed once beforehand (as Conv packs constant weights at build time), B = activations
//! `[K, N = pixels]`. "gemm" has B packed beforehand too (constant weights of Gemm/MatMul);
//! "pack+gemm" packs B on every call, as Conv's im2col path does with its input; "in place"
//! reads B where it is (`f32_gemm_rows`), as a pointwise Conv does. The shapes include
//! MobileNetV2's pointwise layers, its first convolution (im2col), the openWakeWord mel model's
//! STFT convolution (kernel 512, stride 160, 257 filters) and a GEMV.

use std::hint::black_box;
use std::time::Duration;

mod util;

use util::{GemmArgs, tier_kernels, time_per_call};

use mobiquant_core::kernels::f32::{
    F32Epilogue, F32Lhs, PackedA, f32_gemm, f32_gemm_rows, pack_b, pack_b_into,
};
use mobiquant_core::kernels::{Kernels, Tier};

const SHAPES: [(usize, usize, usize, &str); 15] = [
    (512, 512, 512, "square"),
    (256, 256, 256, "square"),
    (32, 27, 12544, "mnv2 first conv (im2col)"),
    (96, 16, 12544, "mnv2 1x1 expand 112x112"),
    (24, 96, 3136, "mnv2 1x1 project 56x56"),
    (144, 24, 3136, "mnv2 1x1 expand 56x56"),
    (24, 144, 3136, "mnv2 1x1 project 56x56"),
    (32, 144, 784, "mnv2 1x1 project 28x28"),
    (576, 96, 196, "mnv2 1x1 expand 14x14"),
    (96, 576, 196, "mnv2 1x1 project 14x14"),
    (960, 160, 49, "mnv2 1x1 expand 7x7"),
    (160, 960, 49, "mnv2 1x1 project 7x7"),
    (1280, 320, 49, "mnv2 last 1x1"),
    (257, 512, 97, "oww mel STFT conv (k 512, s 160)"),
    (1, 1280, 1000, "mnv2 classifier (GEMV)"),
];

fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect()
}

/// (gemm, pack+gemm, in place) GFLOPS of one shape on one tier.
fn gflops(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, k, n): (usize, usize, usize),
    budget: Duration,
) -> (f64, f64, f64) {
    // A = constant weights, packed once (as Conv does at build time).
    let a = PackedA::new(kernels, &values(m * k, 1), (k, 1), m, k).expect("pack A");
    let b = values(k * n, 2);
    let bias = values(m, 3);
    let mut packed = pack_b(&b, n, 1, k, n).expect("pack");
    let mut c = vec![0.0f32; m * n];
    let epilogue = F32Epilogue {
        bias: Some(&bias),
        min: 0.0,
        max: 6.0,
    };
    let flops = 2.0 * (m * n * k) as f64;
    let run = |packed: &[f32], c: &mut [f32]| {
        f32_gemm(
            kernels,
            pool,
            (m, n, k),
            F32Lhs::Packed(black_box(&a)),
            packed,
            (c, n),
            epilogue,
            None,
        )
        .expect("gemm");
    };
    let gemm = time_per_call(|| run(&packed, &mut c), budget);
    let both = time_per_call(
        || {
            pack_b_into(black_box(&b), n, 1, k, n, &mut packed).expect("pack");
            run(&packed, &mut c);
        },
        budget,
    );
    let in_place = time_per_call(
        || {
            f32_gemm_rows(
                kernels,
                pool,
                (m, n, k),
                F32Lhs::Packed(black_box(&a)),
                (black_box(&b), n),
                (&mut c, n),
                epilogue,
                None,
            )
            .expect("gemm");
        },
        budget,
    );
    (
        flops / gemm / 1e9,
        flops / both / 1e9,
        flops / in_place / 1e9,
    )
}

/// GFLOPS of independent VFMADD231PS zmm chains (2 FLOPs x 16 lanes each), if the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
fn fma_peak_gflops() -> Option<f64> {
    use std::arch::x86_64::*;
    if !is_x86_feature_detected!("avx512f") {
        return None;
    }
    #[target_feature(enable = "avx512f")]
    fn chains(iters: usize) -> f32 {
        let x = _mm512_set1_ps(black_box(0.999));
        let y = _mm512_set1_ps(black_box(1e-3));
        let mut acc = [_mm512_setzero_ps(); 16];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        acc.iter().map(|a| _mm512_reduce_add_ps(*a)).sum()
    }
    let iters = 2_000_000;
    let t = time_per_call(
        || {
            // SAFETY: AVX-512F was detected above.
            black_box(unsafe { chains(iters) });
        },
        Duration::from_millis(300),
    );
    Some(2.0 * (iters * 16 * 16) as f64 / t / 1e9)
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_peak_gflops() -> Option<f64> {
    None
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opts = GemmArgs::parse(&args, SHAPES.iter().map(|&(m, k, n, _)| (m, k, n)));
    let (csv, threads, budget) = (opts.csv, opts.threads, opts.budget);
    let pool = (threads > 1).then(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    });
    let peak = if args.iter().any(|a| a == "--no-peak") {
        None
    } else {
        fma_peak_gflops()
    };
    match (peak, csv) {
        (Some(peak), true) => println!("peak,vfmadd231ps_zmm,0,0,0,{peak:.1},{peak:.1},{peak:.1},"),
        (Some(peak), false) => println!("FMA zmm peak, one core: {peak:.1} GFLOPS"),
        (None, _) => {}
    }
    if !csv {
        println!("threads: {threads}");
        println!(
            "| tier | kernel | M x K x N | shape | gemm GFLOPS | pack+gemm GFLOPS | in place GFLOPS |"
        );
        println!("|---|---|---|---|---|---|---|");
    }
    for tier in opts.tiers {
        let Some(kernels) = tier_kernels(tier, csv) else {
            continue;
        };
        for &(m, k, n) in &opts.shapes {
            // The scalar reference is only worth one short look.
            let budget = if tier == Tier::Reference {
                budget / 4
            } else {
                budget
            };
            let (g, p, r) = gflops(kernels, pool.as_ref(), (m, k, n), budget);
            let what = SHAPES
                .iter()
                .find(|s| (s.0, s.1, s.2) == (m, k, n))
                .map_or("", |s| s.3);
            let name = kernels.f32_gemm_name();
            if csv {
                println!("{tier},{name},{m},{k},{n},{g:.1},{p:.1},{r:.1},{what}");
            } else {
                println!("| {tier} | {name} | {m}x{k}x{n} | {what} | {g:.1} | {p:.1} | {r:.1} |");
            }
        }
    }
}
