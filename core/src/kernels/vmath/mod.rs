//! Vectorized f32 element-wise work (`f32_v*__<tier>`): the activations, the binary arithmetic
//! ops (and Max/Min) with a scalar or same-shape operand, a softmax row, and window maxima for pooling.
//!
//! Each kernel is plain Rust over fixed-size lane arrays ([`LANES`] = 16 elements; the tail is
//! computed element by element by the same function), compiled once per tier inside a
//! `#[target_feature]` function by [`vmath_kernels!`] (zmm on AVX-512F, ymm on AVX2, q registers
//! on NEON; the reference tier is the same code for the target's baseline). The element
//! functions of [`math`] use only correctly rounded IEEE operations written out one by one, so
//! **every tier computes bit-identical results** to the reference and to the scalar
//! [`UnaryOp::apply`] (the tests check this with a tolerance of 0 ulp). Reductions (the softmax
//! sum) accumulate in [`LANES`] partial sums combined in a fixed order, the same on every tier.
//!
//! Accuracy of the transcendental functions against f64: see [`math`].

pub(crate) mod math;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};

use super::Kernels;

/// Elements per lane array: one zmm, two ymm, four q registers.
pub const LANES: usize = 16;

/// An element-wise function the unary kernel computes, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `max(x, 0)` (NaN gives 0, as `f32::max`).
    Relu,
    /// `x < 0 ? alpha · x : x`.
    LeakyRelu {
        alpha: f32,
    },
    /// `min(max(x, min), max)` by comparisons: NaN passes, crossed bounds give `max`.
    Clip {
        min: f32,
        max: f32,
    },
    /// `clamp(alpha · x + beta, 0, 1)` (NaN passes).
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x · clamp(x · (1/6) + 1/2, 0, 1)` (onnxruntime's form: HardSigmoid with alpha = 1/6).
    HardSwish,
    Sigmoid,
    Tanh,
    Exp,
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    GeluTanh,
    Sqrt,
    /// `x · x` (ONNX `Pow(x, 2)`, bit-exact with `powf`).
    Square,
    /// `√x` with `√-0 = +0` and `√-∞ = +∞` (ONNX `Pow(x, 0.5)`, as `powf`).
    SqrtPow,
    Abs,
    Neg,
    Reciprocal,
    /// `x / (1 + |x|)`.
    Softsign,
}

impl UnaryOp {
    /// The value at `x`: the same bits as the kernels of every tier.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::LeakyRelu { alpha } => {
                if x < 0.0 {
                    alpha * x
                } else {
                    x
                }
            }
            UnaryOp::Clip { min, max } => clip(x, min, max),
            UnaryOp::HardSigmoid { alpha, beta } => clip(alpha * x + beta, 0.0, 1.0),
            UnaryOp::HardSwish => x * clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0),
            UnaryOp::Sigmoid => math::sigmoid(x),
            UnaryOp::Tanh => math::tanh(x),
            UnaryOp::Exp => math::exp(x),
            UnaryOp::GeluTanh => {
                const SQRT_2_OVER_PI: f32 = 0.797_884_6;
                let inner = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
                0.5 * x * (1.0 + math::tanh(inner))
            }
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Square => x * x,
            UnaryOp::SqrtPow => {
                // + 0.0 turns -0 into +0 and leaves every other value alone.
                if x == f32::NEG_INFINITY {
                    f32::INFINITY
                } else {
                    x.sqrt() + 0.0
                }
            }
            UnaryOp::Abs => x.abs(),
            UnaryOp::Neg => -x,
            UnaryOp::Reciprocal => 1.0 / x,
            UnaryOp::Softsign => x / (1.0 + x.abs()),
        }
    }
}

/// `min(max(x, lo), hi)` by comparisons (NaN passes; `lo > hi` gives `hi`).
#[inline(always)]
fn clip(x: f32, lo: f32, hi: f32) -> f32 {
    let y = if x < lo { lo } else { x };
    if y > hi { hi } else { y }
}

/// A binary op of the binary kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// ONNX Max: `a` when it is NaN or greater, else `b` (so a NaN in either propagates).
    Max,
    /// ONNX Min: `a` when it is NaN or less, else `b`.
    Min,
}

impl BinaryOp {
    /// The value at `(a, b)`.
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => {
                if a.is_nan() || a > b {
                    a
                } else {
                    b
                }
            }
            BinaryOp::Min => {
                if a.is_nan() || a < b {
                    a
                } else {
                    b
                }
            }
        }
    }
}

/// The unary kernel (`f32_vunary__<tier>`): `dst[i] = op(src[i])` for `i < len`, in place when
/// `src == dst`.
///
/// # Safety
/// The CPU has the kernel's tier; `src` is valid for reading and `dst` for writing `len`
/// elements, and the two ranges are either the same or disjoint.
pub(crate) type VUnaryFn = unsafe fn(op: UnaryOp, src: *const f32, dst: *mut f32, len: usize);

/// The binary kernel (`f32_vbinary__<tier>`): `out[i] = op(a[i or 0], b[i or 0])`, an operand of
/// length 1 being broadcast; does nothing unless each operand has length 1 or `out.len()`.
///
/// # Safety
/// The CPU has the kernel's tier.
pub(crate) type VBinaryFn = unsafe fn(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]);

/// The softmax row kernel (`f32_vsoftmax__<tier>`): `row[i] = e^{row[i] - max} / Σ e^{row[j] - max}`.
///
/// # Safety
/// The CPU has the kernel's tier.
pub(crate) type VSoftmaxFn = unsafe fn(row: &mut [f32]);

/// The window-maximum kernel (`f32_vmax__<tier>`): `acc[i] = max(acc[i], x[i · stride])`, a
/// larger value or a NaN replacing `acc[i]` (MaxPool's update); does nothing unless `stride > 0`
/// and `x` reaches `(acc.len() - 1) · stride + 1` elements.
///
/// # Safety
/// The CPU has the kernel's tier.
pub(crate) type VMaxFn = unsafe fn(acc: &mut [f32], x: &[f32], stride: usize);

/// The kernels of this family for one tier.
#[derive(Debug)]
pub(crate) struct Vmath {
    pub unary: VUnaryFn,
    pub binary: VBinaryFn,
    pub softmax: VSoftmaxFn,
    pub max: VMaxFn,
}

/// Applies `op` to `len` elements from `src` to `dst`, [`LANES`] at a time: each lane array is
/// read whole before it is written, so `src == dst` works in place. Callers pass an `op` whose
/// variant is a constant, so that after inlining the loop body is that variant's code alone.
///
/// # Safety
/// As [`VUnaryFn`] (without the CPU requirement).
#[inline(always)]
unsafe fn map(op: UnaryOp, src: *const f32, dst: *mut f32, len: usize) {
    let mut i = 0;
    while i + LANES <= len {
        // SAFETY: `i + LANES <= len`, so both arrays lie inside the caller's ranges; unaligned
        // reads and writes of `[f32; LANES]`; the read completes before the write.
        unsafe {
            let mut v = src.add(i).cast::<[f32; LANES]>().read_unaligned();
            for x in v.iter_mut() {
                *x = op.apply(*x);
            }
            dst.add(i).cast::<[f32; LANES]>().write_unaligned(v);
        }
        i += LANES;
    }
    while i < len {
        // SAFETY: `i < len`.
        unsafe { *dst.add(i) = op.apply(*src.add(i)) };
        i += 1;
    }
}

/// The unary kernel's body (see [`VUnaryFn`]): one loop per op, so that no loop branches on it.
///
/// # Safety
/// As [`VUnaryFn`] (without the CPU requirement).
#[inline(always)]
pub(crate) unsafe fn unary(op: UnaryOp, src: *const f32, dst: *mut f32, len: usize) {
    // SAFETY: the caller's contract is `map`'s.
    unsafe {
        match op {
            UnaryOp::Relu => map(UnaryOp::Relu, src, dst, len),
            UnaryOp::LeakyRelu { alpha } => map(UnaryOp::LeakyRelu { alpha }, src, dst, len),
            UnaryOp::Clip { min, max } => map(UnaryOp::Clip { min, max }, src, dst, len),
            UnaryOp::HardSigmoid { alpha, beta } => {
                map(UnaryOp::HardSigmoid { alpha, beta }, src, dst, len)
            }
            UnaryOp::HardSwish => map(UnaryOp::HardSwish, src, dst, len),
            UnaryOp::Sigmoid => map(UnaryOp::Sigmoid, src, dst, len),
            UnaryOp::Tanh => map(UnaryOp::Tanh, src, dst, len),
            UnaryOp::Exp => map(UnaryOp::Exp, src, dst, len),
            UnaryOp::GeluTanh => map(UnaryOp::GeluTanh, src, dst, len),
            UnaryOp::Sqrt => map(UnaryOp::Sqrt, src, dst, len),
            UnaryOp::Square => map(UnaryOp::Square, src, dst, len),
            UnaryOp::SqrtPow => map(UnaryOp::SqrtPow, src, dst, len),
            UnaryOp::Abs => map(UnaryOp::Abs, src, dst, len),
            UnaryOp::Neg => map(UnaryOp::Neg, src, dst, len),
            UnaryOp::Reciprocal => map(UnaryOp::Reciprocal, src, dst, len),
            UnaryOp::Softsign => map(UnaryOp::Softsign, src, dst, len),
        }
    }
}

/// The binary kernel's body (see [`VBinaryFn`]).
#[inline(always)]
pub(crate) fn binary(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    match op {
        BinaryOp::Add => zip(BinaryOp::Add, a, b, out),
        BinaryOp::Sub => zip(BinaryOp::Sub, a, b, out),
        BinaryOp::Mul => zip(BinaryOp::Mul, a, b, out),
        BinaryOp::Div => zip(BinaryOp::Div, a, b, out),
        BinaryOp::Max => zip(BinaryOp::Max, a, b, out),
        BinaryOp::Min => zip(BinaryOp::Min, a, b, out),
    }
}

/// [`binary`] for one op (a constant after inlining).
#[inline(always)]
fn zip(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    let n = out.len();
    match (a.len(), b.len()) {
        (la, lb) if la == n && lb == n => {
            for ((y, &x), &z) in out.iter_mut().zip(a).zip(b) {
                *y = op.apply(x, z);
            }
        }
        (la, 1) if la == n => {
            let z = b[0];
            for (y, &x) in out.iter_mut().zip(a) {
                *y = op.apply(x, z);
            }
        }
        (1, lb) if lb == n => {
            let x = a[0];
            for (y, &z) in out.iter_mut().zip(b) {
                *y = op.apply(x, z);
            }
        }
        _ => {}
    }
}

/// The softmax kernel's body (see [`VSoftmaxFn`]): the maximum (NaN ignored, as `f32::max`),
/// then `e^{x - max}` stored and summed in [`LANES`] partial sums, then a division by the sum.
#[inline(always)]
pub(crate) fn softmax(row: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    let mut max = f32::NEG_INFINITY;
    for &m in lanes.iter().chain(chunks.remainder()) {
        max = max.max(m);
    }
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (s, x) in sums.iter_mut().zip(chunk.iter_mut()) {
            *x = math::exp(*x - max);
            *s += *x;
        }
    }
    for (s, x) in sums.iter_mut().zip(chunks.into_remainder()) {
        *x = math::exp(*x - max);
        *s += *x;
    }
    let mut sum = 0.0f32;
    for s in sums {
        sum += s;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}

/// The window-maximum kernel's body (see [`VMaxFn`]), with strides 1 and 2 (pooling 2 wide)
/// as loops of their own.
#[inline(always)]
pub(crate) fn max(acc: &mut [f32], x: &[f32], stride: usize) {
    let Some(last) = acc.len().checked_sub(1) else {
        return;
    };
    if stride == 0 || last.checked_mul(stride).is_none_or(|end| end >= x.len()) {
        return;
    }
    match stride {
        1 => max_strided::<1>(acc, x, 1),
        2 => max_strided::<2>(acc, x, 2),
        _ => max_strided::<0>(acc, x, stride),
    }
}

/// [`max`] with the stride `S` a constant (or, for `S = 0`, `stride`); the caller has checked
/// that `x` reaches `(acc.len() - 1) · stride + 1` elements. With a constant stride, whole
/// chunks of [`LANES`] accumulators read a fixed-size window of `x` (so a short row, as in
/// pooling, is one vector step rather than a scalar tail); the rest goes element by element.
#[inline(always)]
fn max_strided<const S: usize>(acc: &mut [f32], x: &[f32], stride: usize) {
    let stride = if S == 0 { stride } else { S };
    let mut done = 0;
    if S > 0 {
        let span = (LANES - 1) * S + 1;
        let mut chunks = acc.chunks_exact_mut(LANES);
        for (c, a) in chunks.by_ref().enumerate() {
            let Some(w) = x.get(c * LANES * S..).and_then(|w| w.get(..span)) else {
                break;
            };
            for (l, a) in a.iter_mut().enumerate() {
                let v = w[l * S];
                *a = if v > *a || v.is_nan() { v } else { *a };
            }
            done += LANES;
        }
    }
    for (i, a) in acc.iter_mut().enumerate().skip(done) {
        let v = x[i * stride];
        *a = if v > *a || v.is_nan() { v } else { *a };
    }
}

/// Defines `const $name: Vmath` for a tier: this family's bodies compiled with `$features`
/// (without a feature list: the reference tier, compiled for the target's baseline).
macro_rules! vmath_kernels {
    ($name:ident) => {
        $crate::kernels::vmath::vmath_kernels!(@ $name, []);
    };
    ($name:ident, $features:literal) => {
        $crate::kernels::vmath::vmath_kernels!(@ $name, [#[target_feature(enable = $features)]]);
    };
    (@ $name:ident, [$($attr:tt)*]) => {
        const $name: $crate::kernels::vmath::Vmath = {
            use $crate::kernels::vmath::{BinaryOp, UnaryOp};
            /// This family's unary body compiled for the tier.
            ///
            /// # Safety
            /// The CPU has the features this function is compiled with.
            $($attr)*
            unsafe fn f32_vunary(op: UnaryOp, src: *const f32, dst: *mut f32, len: usize) {
                // SAFETY: the caller's contract is the body's.
                unsafe { $crate::kernels::vmath::unary(op, src, dst, len) }
            }
            /// This family's binary body compiled for the tier.
            ///
            /// # Safety
            /// The CPU has the features this function is compiled with.
            $($attr)*
            unsafe fn f32_vbinary(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
                $crate::kernels::vmath::binary(op, a, b, out)
            }
            /// This family's softmax body compiled for the tier.
            ///
            /// # Safety
            /// The CPU has the features this function is compiled with.
            $($attr)*
            unsafe fn f32_vsoftmax(row: &mut [f32]) {
                $crate::kernels::vmath::softmax(row)
            }
            /// This family's window-maximum body compiled for the tier.
            ///
            /// # Safety
            /// The CPU has the features this function is compiled with.
            $($attr)*
            unsafe fn f32_vmax(acc: &mut [f32], x: &[f32], stride: usize) {
                $crate::kernels::vmath::max(acc, x, stride)
            }
            $crate::kernels::vmath::Vmath {
                unary: f32_vunary,
                binary: f32_vbinary,
                softmax: f32_vsoftmax,
                max: f32_vmax,
            }
        };
    };
}
pub(crate) use vmath_kernels;

/// `xs[i] = op(xs[i])` with `kernels`' tier.
pub fn f32_vunary(kernels: &Kernels, op: UnaryOp, xs: &mut [f32]) {
    let p = xs.as_mut_ptr();
    // SAFETY: a `Kernels` table only exists for a tier the CPU supports; `xs` is `len`
    // elements, read and written in place.
    unsafe { (kernels.vmath.unary)(op, p, p, xs.len()) }
}

/// `dst[i] = op(src[i])` with `kernels`' tier (one pass, no copy). Fails when the lengths differ.
pub fn f32_vunary_into(kernels: &Kernels, op: UnaryOp, src: &[f32], dst: &mut [f32]) -> Result<()> {
    if src.len() != dst.len() {
        return Err(Error::invalid_argument(format!(
            "f32_vunary_into: {} inputs for {} outputs",
            src.len(),
            dst.len()
        )));
    }
    // SAFETY: a `Kernels` table only exists for a tier the CPU supports; both slices hold
    // `len` elements and, being a shared and a mutable borrow, do not overlap.
    unsafe { (kernels.vmath.unary)(op, src.as_ptr(), dst.as_mut_ptr(), src.len()) };
    Ok(())
}

/// `out[i] = op(a[i], b[i])`, an operand of length 1 being broadcast, with `kernels`' tier.
/// Fails unless each operand has length 1 or `out.len()`.
pub fn f32_vbinary(
    kernels: &Kernels,
    op: BinaryOp,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) -> Result<()> {
    let n = out.len();
    if ![1, n].contains(&a.len()) || ![1, n].contains(&b.len()) {
        return Err(Error::invalid_argument(format!(
            "f32_vbinary: operands of {} and {} elements for {n} outputs",
            a.len(),
            b.len()
        )));
    }
    // SAFETY: a `Kernels` table only exists for a tier the CPU supports; lengths checked above.
    unsafe { (kernels.vmath.binary)(op, a, b, out) };
    Ok(())
}

/// Softmax of one contiguous row in place, with `kernels`' tier.
pub fn f32_vsoftmax(kernels: &Kernels, row: &mut [f32]) {
    // SAFETY: a `Kernels` table only exists for a tier the CPU supports; any slice is valid.
    unsafe { (kernels.vmath.softmax)(row) }
}

/// `acc[i] = max(acc[i], x[i · stride])` (a larger value or a NaN replaces `acc[i]`), with
/// `kernels`' tier. Fails when `x` is too short or `stride` is 0.
pub fn f32_vmax(kernels: &Kernels, acc: &mut [f32], x: &[f32], stride: usize) -> Result<()> {
    let fits = match acc.len().checked_sub(1) {
        None => true,
        Some(last) => stride > 0 && last.checked_mul(stride).is_some_and(|end| end < x.len()),
    };
    if !fits {
        return Err(Error::invalid_argument(format!(
            "f32_vmax: {} accumulators read {} inputs {stride} apart",
            acc.len(),
            x.len()
        )));
    }
    // SAFETY: a `Kernels` table only exists for a tier the CPU supports; the kernel checks the
    // lengths itself (and they were checked above).
    unsafe { (kernels.vmath.max)(acc, x, stride) };
    Ok(())
}
