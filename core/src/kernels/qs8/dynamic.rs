//! Dynamic quantization of f32 activations, one row at a time, fused into activation packing.
//!
//! Invariants: a row's range always contains 0 (so 0.0 is exact), its scale is positive and
//! finite, its zero point within [-128, 127]; every quantized value is within [-128, 127]. The
//! arithmetic is scalar IEEE f32 shared by all tiers, so every tier sees the same bytes.

use crate::error::{Error, Result};

use super::tile::{RowQuant, quantize};

/// Scale and zero point of one row: `x ≈ scale * (q - zero_point)`, from the row's min and max.
pub(crate) fn row_params(row: &[f32]) -> Result<(f32, i32)> {
    let (mut lo, mut hi) = (0f32, 0f32);
    for (i, &x) in row.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::invalid_argument(format!(
                "activation {i} of a row is {x}: dynamic quantization needs finite values"
            )));
        }
        lo = lo.min(x);
        hi = hi.max(x);
    }
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

/// Quantizes `row` into `dst` (same length) as s8 bytes, XOR-ed with `xor` (0x80 turns them into
/// the u8 view for tiers that want unsigned activations).
pub(crate) fn quantize_row(row: &[f32], (scale, zero_point): (f32, i32), xor: u8, dst: &mut [u8]) {
    debug_assert_eq!(row.len(), dst.len());
    for (d, &x) in dst.iter_mut().zip(row) {
        let q = quantize(x / scale, zero_point, -128, 127);
        *d = (q as u8) ^ xor;
    }
}
