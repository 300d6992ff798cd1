//! Dynamic quantization of f32 activations, one row at a time, fused into activation packing.
//!
//! Invariants: a row's range always contains 0 (so 0.0 is exact), its scale is positive and
//! finite, its zero point within [-128, 127]; every quantized value is within [-128, 127]. The
//! arithmetic is scalar IEEE f32 shared by all tiers, so every tier sees the same bytes.

use crate::error::{Error, Result};

use super::tile::{RowQuant, quantize};

/// Scale and zero point of one row: `x ≈ scale * (q - zero_point)`, from the row's min and max.
#[inline(always)]
pub(crate) fn row_params(row: &[f32]) -> Result<(f32, i32)> {
    // Lane-wise minima and maxima with plain compare-and-select (MINPS/MAXPS shapes; NaN is
    // caught by the finiteness test), so that the loop vectorizes without reassociation.
    const LANES: usize = 16;
    let (mut lo, mut hi, mut finite) = ([0f32; LANES], [0f32; LANES], [true; LANES]);
    let step = |lo: &mut [f32; LANES],
                hi: &mut [f32; LANES],
                finite: &mut [bool; LANES],
                i: usize,
                x: f32| {
        lo[i] = if x < lo[i] { x } else { lo[i] };
        hi[i] = if x > hi[i] { x } else { hi[i] };
        finite[i] &= x.is_finite();
    };
    let chunks = row.chunks_exact(LANES);
    for (i, &x) in chunks.remainder().iter().enumerate() {
        step(&mut lo, &mut hi, &mut finite, i, x);
    }
    for chunk in chunks {
        for (i, &x) in chunk.iter().enumerate() {
            step(&mut lo, &mut hi, &mut finite, i, x);
        }
    }
    let finite = finite.iter().all(|&f| f);
    if !finite {
        let i = row.iter().position(|x| !x.is_finite()).unwrap_or(0);
        return Err(Error::invalid_argument(format!(
            "activation {i} of a row is {}: dynamic quantization needs finite values",
            row[i]
        )));
    }
    let lo = lo.iter().fold(0f32, |a, &b| a.min(b));
    let hi = hi.iter().fold(0f32, |a, &b| a.max(b));
    // Dividing first keeps the difference finite even for ±f32::MAX.
    let mut scale = hi / 255.0 - lo / 255.0;
    if scale < f32::MIN_POSITIVE {
        scale = 1.0;
    }
    let zero_point = quantize(-128.0 - lo / scale, 0, -128, 127);
    Ok((scale, zero_point))
}

/// The epilogue's view of a row quantized with `(scale, zero_point)`.
pub(crate) fn row_quant((scale, zero_point): (f32, i32)) -> RowQuant {
    RowQuant {
        scale,
        neg_zero_point: -zero_point,
    }
}

/// A tier's row quantizer (`qs8_quantize_row__<tier>`): [`quantize_row`] compiled with the tier's
/// features.
pub(crate) type QuantizeRowFn = unsafe fn(&[f32], (f32, i32), u8, &mut [u8]);

/// A tier's row range analysis (`qs8_row_params__<tier>`): [`row_params`] compiled with the
/// tier's features.
pub(crate) type RowParamsFn = unsafe fn(&[f32]) -> Result<(f32, i32)>;

/// Defines `unsafe fn $quantize` (a [`QuantizeRowFn`]) and `unsafe fn $params` (a
/// [`RowParamsFn`]): [`quantize_row`] and [`row_params`] compiled with `$features`.
macro_rules! quantize_row_kernel {
    ($quantize:ident, $params:ident, $features:literal) => {
        /// [`quantize_row`](crate::kernels::qs8::dynamic::quantize_row) vectorized for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled for.
        #[target_feature(enable = $features)]
        #[allow(non_snake_case)]
        pub(crate) unsafe fn $quantize(row: &[f32], params: (f32, i32), xor: u8, dst: &mut [u8]) {
            $crate::kernels::qs8::dynamic::quantize_row(row, params, xor, dst)
        }

        /// [`row_params`](crate::kernels::qs8::dynamic::row_params) vectorized for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled for.
        #[target_feature(enable = $features)]
        #[allow(non_snake_case)]
        pub(crate) unsafe fn $params(row: &[f32]) -> $crate::Result<(f32, i32)> {
            $crate::kernels::qs8::dynamic::row_params(row)
        }
    };
}
pub(crate) use quantize_row_kernel;

/// Quantizes `row` into `dst` (same length) as s8 bytes, XOR-ed with `xor` (0x80 turns them into
/// the u8 view for tiers that want unsigned activations).
#[inline(always)]
pub(crate) fn quantize_row(row: &[f32], (scale, zero_point): (f32, i32), xor: u8, dst: &mut [u8]) {
    debug_assert_eq!(row.len(), dst.len());
    for (d, &x) in dst.iter_mut().zip(row) {
        let q = quantize(x / scale, zero_point, -128, 127);
        *d = (q as u8) ^ xor;
    }
}
