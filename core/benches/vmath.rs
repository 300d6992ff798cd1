//! f32 element-wise kernel benchmark: nanoseconds per element of each `vmath` function per
//! supported tier, on 16 Ki elements (in L1/L2, so the functions' arithmetic, not memory, is
//! measured), next to `libm`: the per-element loop the ops ran before this family (std's
//! `exp`/`tanh`, the same Rust expressions for the rest, compiled for the target's baseline).
//!
//! `cargo bench -p mobiquant-core --bench vmath [-- --csv]`
//! CSV rows: `<function>,<tier or libm>,elements,ns_per_element`.

use std::hint::black_box;
use std::time::Duration;

mod util;

use util::time_per_call;

use mobiquant_core::kernels::vmath::{
    BinaryOp, UnaryOp, f32_vbinary, f32_vmax, f32_vsoftmax, f32_vunary,
};
use mobiquant_core::kernels::{Kernels, Tier, kernels_for};

const N: usize = 16 * 1024;

/// The pre-vmath scalar form of each unary function.
fn libm(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Sigmoid => {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        UnaryOp::GeluTanh => 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044_715 * x * x * x)).tanh()),
        UnaryOp::Square => x.powf(2.0),
        other => other.apply(x),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (csv, _) = util::options(&args);
    let budget = Duration::from_millis(200);
    let tiers: Vec<&Kernels> = Tier::ALL
        .into_iter()
        .filter_map(|t| kernels_for(t).ok())
        .collect();
    if !csv {
        println!("f32 element-wise kernels, {N} elements, 1 thread: ns per element");
        let mut head = format!("{:>14} {:>9}", "function", "libm");
        for k in &tiers {
            head += &format!(" {:>10}", k.tier().name());
        }
        println!("{head}   best vs libm");
    }
    let x: Vec<f32> = util::bytes(N * 4, 7)
        .chunks_exact(4)
        .map(|b| {
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / u32::MAX as f32 - 0.5) * 16.0
        })
        .collect();
    let mut y = x.clone();
    let per_elem = |s: f64| s * 1e9 / N as f64;
    let row = |name: &str, base: Option<f64>, per_tier: &mut dyn FnMut(&Kernels) -> f64| {
        let times: Vec<f64> = tiers.iter().map(|k| per_elem(per_tier(k))).collect();
        if csv {
            if let Some(b) = base {
                println!("{name},libm,{N},{:.4}", per_elem(b));
            }
            for (k, t) in tiers.iter().zip(&times) {
                println!("{name},{},{N},{t:.4}", k.tier().name());
            }
            return;
        }
        let mut line = format!("{name:>14}");
        line += &match base {
            Some(b) => format!(" {:>9.3}", per_elem(b)),
            None => format!(" {:>9}", "-"),
        };
        for t in &times {
            line += &format!(" {t:>10.3}");
        }
        if let Some(b) = base {
            let best = times.iter().copied().fold(f64::INFINITY, f64::min);
            line += &format!("   {:.1}x", per_elem(b) / best);
        }
        println!("{line}");
    };
    let unary = [
        ("relu", UnaryOp::Relu),
        ("clip", UnaryOp::Clip { min: 0.0, max: 6.0 }),
        (
            "hardsigmoid",
            UnaryOp::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
        ),
        ("hardswish", UnaryOp::HardSwish),
        ("sigmoid", UnaryOp::Sigmoid),
        ("tanh", UnaryOp::Tanh),
        ("exp", UnaryOp::Exp),
        ("gelu_tanh", UnaryOp::GeluTanh),
        ("square(pow 2)", UnaryOp::Square),
    ];
    for (name, op) in unary {
        let mut z = x.clone();
        let base = time_per_call(
            || {
                z.iter_mut().for_each(|v| *v = libm(op, *v));
                black_box(&mut z);
                z.copy_from_slice(&x);
            },
            budget,
        );
        row(name, Some(base), &mut |k| {
            time_per_call(
                || {
                    f32_vunary(k, op, black_box(&mut y));
                    y.copy_from_slice(&x);
                },
                budget,
            )
        });
    }
    let b: Vec<f32> = x.iter().rev().map(|v| v + 0.5).collect();
    for (name, op) in [("mul", BinaryOp::Mul), ("add_scalar", BinaryOp::Add)] {
        let operand: &[f32] = if op == BinaryOp::Mul { &b } else { &b[..1] };
        let base = time_per_call(
            || {
                for ((o, &p), i) in y.iter_mut().zip(&x).zip(0..) {
                    *o = op.apply(p, operand[i % operand.len()]);
                }
                black_box(&mut y);
            },
            budget,
        );
        let mut out = vec![0.0f32; N];
        row(name, Some(base), &mut |k| {
            time_per_call(
                || {
                    f32_vbinary(k, op, &x, operand, black_box(&mut out)).unwrap();
                },
                budget,
            )
        });
    }
    row("softmax", None, &mut |k| {
        time_per_call(
            || {
                f32_vsoftmax(k, black_box(&mut y));
                y.copy_from_slice(&x);
            },
            budget,
        )
    });
    let mut acc = vec![0.0f32; N / 2];
    row("max stride 2", None, &mut |k| {
        time_per_call(|| f32_vmax(k, black_box(&mut acc), &x, 2).unwrap(), budget)
    });
}
