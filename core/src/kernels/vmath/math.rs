//! Scalar element functions written to vectorize: branch-free selects, integer bit tricks instead
//! of `round`/`ldexp`, no calls into libm. Each is `#[inline(always)]` so that a loop over a lane
//! array in a tier's `#[target_feature]` kernel compiles it to vector instructions of that tier.
//!
//! Invariant: only IEEE-754 correctly rounded operations (`+ - * /`, `sqrt`, comparisons, sign
//! and bit manipulation), each written out separately (Rust never contracts `a * b + c` into a
//! fused multiply-add), so every tier and the scalar call compute the same bits.
//!
//! Accuracy against f64 (measured by the tests of this family over dense ranges; see
//! `docs/kernels.md`):
//! - [`exp`]: < 1.5 ulp (0.96 measured) for normal results (Cody-Waite reduction by ln 2 in two parts, a degree-6
//!   polynomial on [-ln2/2, ln2/2], 2ⁿ applied in two exact halves so that subnormal results are
//!   rounded once); overflow gives +∞ (x > 88.72), underflow 0 (x < -103.98); NaN stays NaN.
//! - [`tanh`]: < 2 ulp (1.27 measured); odd (tanh(-0) = -0), ±1 beyond |x| ≈ 9.01, NaN stays NaN.
//! - [`sigmoid`]: < 3 ulp (2.28 measured) over the whole range, including subnormal results for x < -87.

/// 1.5 · 2²³: adding it to |t| < 2²² rounds t to an integer (ties to even) in the low mantissa
/// bits.
const ROUND: f32 = 12_582_912.0;
/// ln 2 split so that `n · LN2_HI` is exact for |n| ≤ 2¹⁵ (9 significant bits).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Inputs are clamped to [EXP_MIN, EXP_MAX] first: below, the result rounds to 0; above, to +∞.
const EXP_MIN: f32 = -104.0;
const EXP_MAX: f32 = 89.0;

/// `eˣ`, see the module doc for its accuracy.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Comparisons are false for NaN, which therefore passes and poisons the polynomial.
    let x = if x < EXP_MIN { EXP_MIN } else { x };
    let x = if x > EXP_MAX { EXP_MAX } else { x };
    let k = x * std::f32::consts::LOG2_E + ROUND;
    let n = (k.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let nf = k - ROUND;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    // e^r on [-ln2/2, ln2/2] (minimax coefficients of the classic single-precision fit).
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * (r * r) + r + 1.0;
    // 2ⁿ for n in [-150, 129] as two normal powers of two (each exponent in [-75, 65]).
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) << 23) as u32);
    let s2 = f32::from_bits((n2.wrapping_add(127) << 23) as u32);
    p * s1 * s2
}

/// `tanh x`, see the module doc for its accuracy.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Small |x|: an odd polynomial (the classic single-precision fit on [0, 0.625]).
    let z = a * a;
    let p = -5.704_988_7e-3;
    let p = p * z + 2.063_909e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 1.333_144_2e-1;
    let p = p * z - 3.333_328e-1;
    let small = p * z * a + a;
    // Elsewhere 1 - 2 / (e^{2|x|} + 1), which saturates to 1 (e^{2|x|} = +∞ included).
    let large = 1.0 - 2.0 / (exp(a + a) + 1.0);
    let r = if a < 0.625 { small } else { large };
    r.copysign(x)
}

/// `1 / (1 + e⁻ˣ)`, written as `e / (1 + e)` with `e = e^{-|x|}` for x < 0 so that tiny results
/// keep their relative precision.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let num = if x < 0.0 { e } else { 1.0 };
    num / (1.0 + e)
}
