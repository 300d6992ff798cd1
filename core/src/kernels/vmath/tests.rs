//! Every tier against the scalar functions (0 ulp: the bodies are the same IEEE operations), and
//! the approximations of `math` against f64 over dense ranges and the special values.

use super::math;
use super::*;
use crate::kernels::testing::{Rng, tiers};

/// Special and edge values every test feeds.
const EDGES: [f32; 22] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -3.0,
    3.0,
    6.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::MAX,
    f32::MIN,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    1e-45,
    -1e-45,
    88.72,
    -87.5,
    -103.9,
    9.0,
    -0.625,
];

/// Random floats: mostly moderate values, some arbitrary bit patterns (NaN, ∞, huge, tiny).
fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let r = rng.next();
            if i % 7 == 3 {
                f32::from_bits((r >> 32) as u32)
            } else {
                ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 40.0
            }
        })
        .collect()
}

/// Inputs of every length up to 2·LANES + 3 (all tails) and a long one, edges first.
fn inputs(seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    let mut all: Vec<Vec<f32>> = (0..=2 * LANES + 3).map(|n| random(&mut rng, n)).collect();
    let mut long = EDGES.to_vec();
    long.extend(random(&mut rng, 1000));
    all.push(long);
    all
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

const OPS: [UnaryOp; 16] = [
    UnaryOp::Relu,
    UnaryOp::LeakyRelu { alpha: 0.1 },
    UnaryOp::Clip { min: 0.0, max: 6.0 },
    UnaryOp::HardSigmoid {
        alpha: 0.2,
        beta: 0.5,
    },
    UnaryOp::HardSwish,
    UnaryOp::Sigmoid,
    UnaryOp::Tanh,
    UnaryOp::Exp,
    UnaryOp::GeluTanh,
    UnaryOp::Sqrt,
    UnaryOp::Square,
    UnaryOp::SqrtPow,
    UnaryOp::Abs,
    UnaryOp::Neg,
    UnaryOp::Reciprocal,
    UnaryOp::Softsign,
];

#[test]
fn unary_tiers_match_the_scalar_function_bit_for_bit() {
    let cases = inputs(1);
    let crossed = UnaryOp::Clip { min: 2.0, max: 1.0 };
    for k in tiers() {
        for op in OPS.into_iter().chain([crossed]) {
            for x in &cases {
                let mut y = x.clone();
                f32_vunary(k, op, &mut y);
                let mut z = vec![0.0; x.len()];
                f32_vunary_into(k, op, x, &mut z).unwrap();
                assert!(y.iter().zip(&z).all(|(&a, &b)| same(a, b)));
                for (i, (&v, &got)) in x.iter().zip(&y).enumerate() {
                    assert!(
                        same(got, op.apply(v)),
                        "{op:?} tier {} len {} [{i}]: f({v:e}) = {got:e}, scalar {:e}",
                        k.tier(),
                        x.len(),
                        op.apply(v)
                    );
                }
            }
        }
        assert!(f32_vunary_into(k, UnaryOp::Exp, &[1.0; 3], &mut [0.0; 2]).is_err());
    }
}

#[test]
fn binary_tiers_match_the_scalar_op_in_every_operand_shape() {
    let cases = inputs(2);
    for k in tiers() {
        for op in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Max,
            BinaryOp::Min,
        ] {
            for x in &cases {
                let n = x.len();
                let z: Vec<f32> = x.iter().rev().map(|v| v * 0.75 - 1.0).collect();
                let s = [x.first().copied().unwrap_or(2.5)];
                for (a, b) in [(&x[..], &z[..]), (&x[..], &s[..]), (&s[..], &z[..])] {
                    let mut y = vec![0.0; n];
                    f32_vbinary(k, op, a, b, &mut y).unwrap();
                    for (i, &got) in y.iter().enumerate() {
                        let want = op.apply(a[i % a.len()], b[i % b.len()]);
                        assert!(same(got, want), "{op:?} tier {} n {n} [{i}]", k.tier());
                    }
                }
            }
            let mut y = vec![0.0; 4];
            assert!(f32_vbinary(k, op, &[1.0; 3], &[1.0], &mut y).is_err());
            assert!(f32_vbinary(k, op, &[1.0], &[1.0; 2], &mut y).is_err());
        }
    }
}

#[test]
fn softmax_tiers_agree_and_match_f64() {
    let mut rng = Rng(3);
    let reference = crate::kernels::kernels_for(crate::kernels::Tier::Reference).unwrap();
    for n in (0..=2 * LANES + 3).chain([97, 1000]) {
        let x: Vec<f32> = (0..n)
            .map(|_| ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 30.0)
            .collect();
        let mut want = x.clone();
        f32_vsoftmax(reference, &mut want);
        let max = x
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = x.iter().map(|&v| (f64::from(v) - max).exp()).sum();
        for (i, (&v, &got)) in x.iter().zip(&want).enumerate() {
            let exact = (f64::from(v) - max).exp() / sum;
            let rel = (f64::from(got) - exact).abs() / exact;
            assert!(
                rel < 2e-6,
                "n {n} [{i}]: {got:e} vs {exact:e} (rel {rel:e})"
            );
        }
        for k in tiers() {
            let mut y = x.clone();
            f32_vsoftmax(k, &mut y);
            assert!(
                y.iter().zip(&want).all(|(&a, &b)| same(a, b)),
                "tier {} n {n}",
                k.tier()
            );
        }
    }
    // A NaN propagates to the whole row; −∞ entries give 0.
    for k in tiers() {
        let mut y = [1.0, f32::NAN, 2.0];
        f32_vsoftmax(k, &mut y);
        assert!(y.iter().all(|v| v.is_nan()), "tier {}: {y:?}", k.tier());
        let mut y = [0.0, f32::NEG_INFINITY];
        f32_vsoftmax(k, &mut y);
        assert_eq!(y, [1.0, 0.0], "tier {}", k.tier());
    }
}

#[test]
fn max_tiers_keep_the_largest_and_propagate_nan() {
    for k in tiers() {
        for x in inputs(4) {
            for stride in 1..=3 {
                let n = x.len().div_ceil(stride);
                let acc0: Vec<f32> = x.iter().rev().take(n).copied().collect();
                let mut acc = acc0.clone();
                f32_vmax(k, &mut acc, &x, stride).unwrap();
                for (i, (&a, &got)) in acc0.iter().zip(&acc).enumerate() {
                    let v = x[i * stride];
                    let want = if v > a || v.is_nan() { v } else { a };
                    assert!(same(got, want), "tier {}: max({a}, {v}) = {got}", k.tier());
                }
            }
        }
        assert!(f32_vmax(k, &mut [0.0; 2], &[0.0; 1], 1).is_err());
        assert!(f32_vmax(k, &mut [0.0; 2], &[0.0; 2], 2).is_err());
        assert!(f32_vmax(k, &mut [0.0; 2], &[0.0; 2], 0).is_err());
        assert!(f32_vmax(k, &mut [], &[], 0).is_ok());
    }
}

/// Distance from `got` to the f64 value `want` in units of the f32 spacing at `want`.
fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    if w.is_infinite() || got.is_infinite() {
        return if got == w { 0.0 } else { f64::INFINITY };
    }
    let a = w.abs();
    let spacing = f64::from(f32::from_bits(a.to_bits() + 1)) - f64::from(a);
    (f64::from(got) - want).abs() / spacing
}

/// The largest error in ulp of `f` against `exact` on every `step`-th float of [lo, hi] (by bit
/// pattern, so that dense ranges near zero are covered as well as large ones) plus the edges.
fn max_ulps(f: fn(f32) -> f32, exact: fn(f64) -> f64, lo: f32, hi: f32, step: u32) -> f64 {
    let mut worst = 0.0f64;
    let mut check = |x: f32| {
        let (got, want) = (f(x), exact(f64::from(x)));
        if want.is_nan() {
            assert!(got.is_nan(), "f({x:e}) = {got:e}, want NaN");
            return;
        }
        let e = ulps(got, want);
        assert!(e.is_finite(), "f({x:e}) = {got:e}, want {want:e}");
        worst = worst.max(e);
    };
    for range in [(0.0f32, hi), (0.0f32, -lo)] {
        let sign = if range.1 == hi { 1.0 } else { -1.0 };
        let mut bits = 0u32;
        while bits <= range.1.to_bits() {
            check(sign * f32::from_bits(bits));
            bits += step;
        }
    }
    EDGES.into_iter().for_each(check);
    worst
}

#[test]
fn exp_is_within_1_5_ulp_of_f64() {
    let worst = max_ulps(math::exp, f64::exp, -104.0, 89.0, 97);
    assert!(worst < 1.5, "exp: {worst} ulp");
    assert_eq!(math::exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(math::exp(f32::INFINITY), f32::INFINITY);
    assert_eq!(math::exp(88.8), f32::INFINITY);
    assert_eq!(math::exp(0.0), 1.0);
    assert!(math::exp(f32::NAN).is_nan());
    crate::kernels::testing::report(&format!("vmath exp: max error {worst:.3} ulp"));
}

#[test]
fn tanh_is_within_2_ulp_of_f64() {
    let worst = max_ulps(math::tanh, f64::tanh, -20.0, 20.0, 97);
    assert!(worst < 2.0, "tanh: {worst} ulp");
    assert_eq!(math::tanh(f32::INFINITY), 1.0);
    assert_eq!(math::tanh(f32::NEG_INFINITY), -1.0);
    assert!(math::tanh(-0.0).is_sign_negative());
    assert!(math::tanh(f32::NAN).is_nan());
    crate::kernels::testing::report(&format!("vmath tanh: max error {worst:.3} ulp"));
}

#[test]
fn sigmoid_is_within_3_ulp_of_f64() {
    let exact = |x: f64| 1.0 / (1.0 + (-x).exp());
    let worst = max_ulps(math::sigmoid, exact, -105.0, 40.0, 97);
    assert!(worst < 3.0, "sigmoid: {worst} ulp");
    assert_eq!(math::sigmoid(f32::NEG_INFINITY), 0.0);
    assert_eq!(math::sigmoid(f32::INFINITY), 1.0);
    assert!(math::sigmoid(f32::NAN).is_nan());
    crate::kernels::testing::report(&format!("vmath sigmoid: max error {worst:.3} ulp"));
}

#[test]
fn square_and_sqrt_are_bit_exact_with_powf() {
    let mut rng = Rng(5);
    let xs = EDGES
        .into_iter()
        .chain((0..200_000).map(|_| f32::from_bits((rng.next() >> 32) as u32)));
    for x in xs {
        for (op, e) in [(UnaryOp::Square, 2.0f32), (UnaryOp::SqrtPow, 0.5)] {
            let (got, want) = (op.apply(x), x.powf(e));
            assert!(same(got, want), "{op:?}({x:e}) = {got:e}, powf {want:e}");
        }
    }
}
