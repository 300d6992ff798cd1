//! Weight-only GEMM/GEMV benchmark: GOPS (2 * M * N * K per second) of `wo_gemm` per supported
//! tier, for int8 per-channel and groupwise (32) and int4 groupwise (32, 64, 128) weights, next to the f32 GEMM of
//! the same tier on the same shapes.
//!
//! `cargo bench -p mobiquant-core --bench wo_gemm [-- --threads N] [--csv] [--tier T|best]`
//! CSV rows: `tier,m,k,n,` then GOPS of q8c, q8g32, q4g32, q4g64, q4g128 and f32.
//! Shapes are M x K x N (activations [M, K], weights [K, N]).

use std::hint::black_box;
use std::time::Duration;

mod util;

use mobiquant_core::kernels::f32::{F32Epilogue, F32Lhs, f32_gemm, pack_b};
use mobiquant_core::kernels::wo::{WoBits, WoEpilogue, WoPacked, WoWeights, pack_wo, wo_gemm};
use mobiquant_core::kernels::{Kernels, Tier};
use util::{bytes, tier_kernels, time_per_call};

const SHAPES: [(usize, usize, usize); 7] = [
    (1, 512, 512),
    (1, 1280, 1000),
    (1, 2048, 2048),
    (1, 4096, 4096),
    (64, 512, 512),
    (196, 576, 96),
    (512, 512, 512),
];

/// (label, bits, group): the weight formats measured.
const FORMATS: [(&str, WoBits, usize); 5] = [
    ("q8c", WoBits::Int8, 0),
    ("q8g32", WoBits::Int8, 32),
    ("q4g32", WoBits::Int4, 32),
    ("q4g64", WoBits::Int4, 64),
    ("q4g128", WoBits::Int4, 128),
];

struct Problem {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    packed: Vec<Vec<u8>>,
    f32_b: Vec<f32>,
}

impl Problem {
    fn new((m, k, n): (usize, usize, usize)) -> Problem {
        let a = bytes(m * k, 3)
            .iter()
            .map(|&b| f32::from(b) / 64.0 - 1.5)
            .collect();
        let raw = bytes(n * k, 1);
        let packed = FORMATS
            .iter()
            .map(|&(_, bits, group)| {
                let mask = ((1u16 << bits.bits()) - 1) as u8;
                let codes: Vec<u8> = raw.iter().map(|&b| b & mask).collect();
                let groups = if group == 0 { 1 } else { k.div_ceil(group) };
                let scales = vec![0.01f32; n * groups];
                let zeros = vec![mask / 2 + 1; n * groups];
                let w = WoWeights {
                    bits,
                    n,
                    k,
                    group,
                    codes: &codes,
                    scales: &scales,
                    zero_points: Some(&zeros),
                };
                pack_wo(&w).expect("pack")
            })
            .collect();
        let f32_b: Vec<f32> = raw.iter().map(|&b| f32::from(b) / 128.0 - 1.0).collect();
        // f32_b is [n, k]: B = transpose, element (p, j) at j * k + p.
        let f32_b = pack_b(&f32_b, 1, k, k, n).expect("pack f32");
        Problem {
            m,
            k,
            n,
            a,
            packed,
            f32_b,
        }
    }

    /// GOPS of each weight format, then of the f32 GEMM.
    fn gops(&self, kernels: &Kernels, threads: usize, budget: Duration) -> Vec<f64> {
        let ops = 2.0 * (self.m * self.n * self.k) as f64;
        let mut out = vec![0f32; self.m * self.n];
        let bias = vec![0.25f32; self.n];
        let epilogue = WoEpilogue {
            bias: Some(&bias),
            min: f32::NEG_INFINITY,
            max: f32::INFINITY,
        };
        let mut result: Vec<f64> = self
            .packed
            .iter()
            .map(|bytes| {
                let w = WoPacked::from_bytes(bytes).expect("packed");
                let t = time_per_call(
                    || {
                        wo_gemm(
                            kernels,
                            self.m,
                            black_box(&self.a),
                            self.k,
                            &w,
                            &mut out,
                            epilogue,
                            threads,
                        )
                        .expect("gemm")
                    },
                    budget,
                );
                ops / t / 1e9
            })
            .collect();
        let pool = (threads > 1).then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
        });
        let t = time_per_call(
            || {
                f32_gemm(
                    kernels,
                    pool.as_ref(),
                    (self.m, self.n, self.k),
                    F32Lhs::Strided {
                        data: black_box(&self.a),
                        strides: (self.k, 1),
                    },
                    &self.f32_b,
                    (&mut out, self.n),
                    F32Epilogue::NONE,
                    None,
                )
                .expect("f32 gemm")
            },
            budget,
        );
        result.push(ops / t / 1e9);
        result
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let csv = args.iter().any(|a| a == "--csv");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let threads = value("--threads").and_then(|t| t.parse().ok()).unwrap_or(1);
    // `--tier best` = the best tier this CPU supports.
    let only = value("--tier").and_then(|t| match t.as_str() {
        "best" => Some(Tier::best()),
        name => Tier::from_name(name),
    });
    let budget = Duration::from_millis(300);
    if !csv {
        println!(
            "threads: {threads}; GOPS = 2*M*N*K / s; weights packed once, f32 activations and output"
        );
        let mut header = format!("{:<12} {:>14}", "tier", "MxKxN");
        for (label, ..) in FORMATS {
            header += &format!(" {label:>8}");
        }
        println!("{header} {:>8}", "f32");
    }
    let problems: Vec<Problem> = SHAPES.iter().map(|&s| Problem::new(s)).collect();
    for tier in Tier::ALL
        .into_iter()
        .filter(|t| only.is_none_or(|o| o == *t))
    {
        let Some(kernels) = tier_kernels(tier, csv) else {
            continue;
        };
        for p in &problems {
            let budget = if tier == Tier::Reference {
                budget / 4
            } else {
                budget
            };
            let gops = p.gops(kernels, threads, budget);
            let cells: Vec<String> = gops.iter().map(|g| format!("{g:.1}")).collect();
            if csv {
                println!("{tier},{},{},{},{}", p.m, p.k, p.n, cells.join(","));
            } else {
                let shape = format!("{}x{}x{}", p.m, p.k, p.n);
                let cells: Vec<String> = gops.iter().map(|g| format!("{g:>8.1}")).collect();
                println!("{tier:<12} {shape:>14} {}", cells.join(" "));
            }
        }
    }
}
