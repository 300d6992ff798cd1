//! f32 GEMM benchmark: GFLOPS (2 * M * N * K per second) of `f32_gemm` per supported tier on
//! square shapes and the GEMM shapes of MobileNetV2 at 224x224, and on x86 the measured FMA zmm
//! peak of this core.
//!
//! `cargo bench -p mobiquant-core --bench f32_gemm [-- --threads N]`
//! Shapes are M x K x N in the convolution's orientation: A = weights `[M = out channels, K]`
//! read in place, B = activations `[K, N = pixels]`. "gemm" has B packed beforehand (constant
//! weights of Gemm/MatMul); "pack+gemm" packs B on every call, as Conv does with its input.

use std::hint::black_box;
use std::time::Duration;

mod util;

use util::time_per_call;

use mobiquant_core::kernels::f32::{F32Epilogue, f32_gemm, pack_b, pack_b_into};
use mobiquant_core::kernels::{Kernels, Tier, kernels_for};

const SHAPES: [(usize, usize, usize, &str); 9] = [
    (512, 512, 512, "square"),
    (256, 256, 256, "square"),
    (32, 27, 12544, "mnv2 first conv (im2col)"),
    (96, 16, 12544, "mnv2 1x1 expand 112x112"),
    (32, 144, 784, "mnv2 1x1 project 28x28"),
    (96, 576, 196, "mnv2 1x1 project 14x14"),
    (160, 960, 49, "mnv2 1x1 project 7x7"),
    (1280, 320, 49, "mnv2 last 1x1"),
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

/// (gemm GFLOPS, pack+gemm GFLOPS) of one shape on one tier.
fn gflops(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    (m, k, n): (usize, usize, usize),
    budget: Duration,
) -> (f64, f64) {
    let a = values(m * k, 1);
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
            black_box(&a),
            (k, 1),
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
    (flops / gemm / 1e9, flops / both / 1e9)
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
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .and_then(|t| t.parse().ok())
        .unwrap_or(1usize);
    let pool = (threads > 1).then(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    });
    let budget = Duration::from_millis(400);
    if let Some(peak) = fma_peak_gflops() {
        println!("FMA zmm peak, one core: {peak:.1} GFLOPS");
    }
    println!("threads: {threads}");
    println!("| tier | kernel | M x K x N | shape | gemm GFLOPS | pack+gemm GFLOPS |");
    println!("|---|---|---|---|---|---|");
    for tier in Tier::ALL {
        let Ok(kernels) = kernels_for(tier) else {
            println!(
                "| {tier} | skipped (CPU lacks {}) | | | | |",
                tier.required_features()
            );
            continue;
        };
        for (m, k, n, what) in SHAPES {
            let (g, p) = gflops(kernels, pool.as_ref(), (m, k, n), budget);
            println!(
                "| {tier} | {} | {m}x{k}x{n} | {what} | {g:.1} | {p:.1} |",
                kernels.f32_gemm_name()
            );
        }
    }
}
