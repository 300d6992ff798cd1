//! Int8 activations by 256-entry lookup table: sigmoid, tanh, hard-swish and GELU (erf form) on
//! s8 or u8 tensors, with any input and output quantization.
//!
//! - [`build_lut`]: the table, a pure function in f64 (computed once, at convert or plan time).
//! - [`x8_lut`], [`x8_lut_in_place`]: apply a table with the tier's kernel (`x8_lut__<tier>`:
//!   reference loop, AVX2 VPSHUFB, AVX-512 VPERMI2B when the CPU has AVX-512 VBMI else VPSHUFB on
//!   zmm, NEON TBL/TBX on four q registers). A lookup has one answer, so every tier is bit-exact.
//!
//! Table entry for the raw byte `b` (its value `v` is `b` for u8, `b as i8` for s8):
//! `x = (v - zp_in) * s_in`, `y = f(x)`, `q = round_ties_even(y / s_out) + zp_out`, clamped to the
//! output type, all in f64 (`s_in`, `s_out` are the f32 scales widened exactly). The entry is within
//! half an output step of `f(x)` unless clamped.

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::tensor::DType;

use super::pack::{ActQuant, check_act};

/// A table lookup kernel (`x8_lut__<tier>`): `dst[i] = table[src[i]]` for `i < len`.
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes; they are equal or do not overlap; the
/// CPU has the kernel's tier.
pub(crate) type LutFn = unsafe fn(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize);

/// The functions a table can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LutFunction {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x * min(max(x + 3, 0), 6) / 6` (ONNX HardSwish).
    HardSwish,
    /// `x / 2 * (1 + erf(x / sqrt 2))` (ONNX Gelu, `approximate = "none"`).
    Gelu,
}

impl LutFunction {
    /// The function at `x`, in f64.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            LutFunction::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            LutFunction::Tanh => x.tanh(),
            LutFunction::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            LutFunction::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        }
    }
}

/// The error function, to about 1e-15 relative: for `|x| < 6`, the everywhere-convergent series
/// `erf x = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1 * 3 * ... * (2n+1))`, whose terms are all
/// of the sign of x (no cancellation); beyond, `erf x` is within 2e-17 of `±1`.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() >= 6.0 {
        return x.signum();
    }
    let x2 = x * x;
    let (mut term, mut sum) = (x, x);
    let mut n = 0.0;
    while term.abs() > sum.abs() * 1e-17 {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
    }
    sum * (-x2).exp() * std::f64::consts::FRAC_2_SQRT_PI
}

/// The value of raw byte `b` in `dtype` (i8 or u8).
fn byte_value(b: u8, dtype: DType) -> i32 {
    if dtype == DType::U8 {
        i32::from(b)
    } else {
        i32::from(b as i8)
    }
}

/// Builds the table of `f` for inputs quantized as `input` and outputs as `output` (i8 or u8
/// each; see the module doc for the rounding). Fails on a bad dtype, zero point or scale.
pub fn build_lut(f: LutFunction, input: ActQuant, output: ActQuant) -> Result<[u8; 256]> {
    check_act(&input)?;
    check_act(&output)?;
    let (lo, hi) = if output.dtype == DType::U8 {
        (0.0, 255.0)
    } else {
        (-128.0, 127.0)
    };
    let mut table = [0u8; 256];
    for (b, t) in (0..=255u8).zip(&mut table) {
        let x = f64::from(byte_value(b, input.dtype) - input.zero_point) * f64::from(input.scale);
        let q =
            (f.eval(x) / f64::from(output.scale)).round_ties_even() + f64::from(output.zero_point);
        // `clamp` keeps the value within the output type, where `as` is exact.
        *t = q.clamp(lo, hi) as i32 as u8;
    }
    Ok(table)
}

/// `dst[i] = table[src[i]]` with `kernels`' lookup kernel; the lengths must match.
pub fn x8_lut(kernels: &Kernels, table: &[u8; 256], src: &[u8], dst: &mut [u8]) -> Result<()> {
    if src.len() != dst.len() {
        return Err(Error::invalid_argument(format!(
            "table lookup of {} bytes into {}",
            src.len(),
            dst.len()
        )));
    }
    // SAFETY: both slices hold len bytes and, being a shared and a mutable borrow, do not
    // overlap; the table's tier is supported by this CPU (`Kernels` invariant).
    unsafe { (kernels.x8_lut)(table, src.as_ptr(), dst.as_mut_ptr(), src.len()) };
    Ok(())
}

/// `data[i] = table[data[i]]` with `kernels`' lookup kernel.
pub fn x8_lut_in_place(kernels: &Kernels, table: &[u8; 256], data: &mut [u8]) {
    let p = data.as_mut_ptr();
    // SAFETY: source and destination are the same `len` bytes (allowed); the tier is supported.
    unsafe { (kernels.x8_lut)(table, p, p, data.len()) };
}

/// The reference lookup, also the tail of the SIMD kernels.
///
/// # Safety
/// As [`LutFn`], without CPU requirements.
#[inline(always)]
pub(crate) unsafe fn lookup_scalar(table: &[u8; 256], src: *const u8, dst: *mut u8, len: usize) {
    for i in 0..len {
        // SAFETY: i < len; each byte is read before it is written (src may equal dst).
        unsafe { *dst.add(i) = table[usize::from(*src.add(i))] };
    }
}

/// The 16 tables of the VPSHUFB kernels: `[r]` (`r < 8`) serves bytes below 128 and `[8 + r]` the
/// others. Row `h` of the table is `table[16 h .. 16 h + 16]`; `[0]` is row 0, `[r]` is row `r` XOR
/// row `r - 1`, and the same for rows 8..16 in `[8..16]`. A kernel XORs `[r]` looked up at `x - 16 r`
/// (signed saturating, so the index stays negative, i.e. VPSHUFB gives 0, once it passes below 0)
/// for `r < 8`, which telescopes to row `x >> 4`; likewise for `x ^ 0x80` with `[8..16]`.
// Used by the x86 kernels only.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn shuffle_tables(table: &[u8; 256]) -> [[u8; 16]; 16] {
    std::array::from_fn(|r| {
        std::array::from_fn(|i| {
            let prev = if r % 8 == 0 {
                0
            } else {
                table[16 * (r - 1) + i]
            };
            table[16 * r + i] ^ prev
        })
    })
}
