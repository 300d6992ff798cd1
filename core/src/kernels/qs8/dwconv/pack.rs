//! The `dw` packed layout of int8 depthwise-convolution weights (`Layout::PackedQs8Dw`) and the
//! pure function that produces it at convert time. One layout serves every tier.
//!
//! Bytes (little-endian; the byte map is in `docs/kernels.md`): a 64-byte header (magic `MQDW`,
//! version, kernel size K, channels C, input dtype, input zero point), then `bias: [i32; C]`,
//! `scale: [f32; C]`, and the taps `[C][K][K]` as i8. Total `64 + C * (8 + K * K)`.
//!
//! Invariants kept by [`pack_qs8_dw`] and checked by [`Qs8DwPacked::from_bytes`]:
//! - K is 3 or 5; the input dtype is i8 or u8 and its zero point within that type;
//! - taps are within [-127, 127] (the NEON kernel sums two products in i16);
//! - `scale[c] = s_in * s_w[c] / s_out` is finite and positive, and
//!   `bias[c] = round(b[c] / (s_in s_w[c])) - zp_s8 * sum(taps of c)` (wrapping), with `zp_s8` the
//!   input zero point in the s8 view: exactly the GEMM's requantized column data
//!   ([`column_data`]), so that the kernel's `sum(w * x_s8) + bias` is the GEMM's `t`.

use crate::error::{Error, Result};
use crate::tensor::DType;

use super::super::pack::{
    ActQuant, Qs8Mode, Qs8Weights, check_act, check_scale, check_weights, column_data,
};

/// Bytes of the header.
pub const HEADER_LEN: usize = 64;
/// The kernel sizes the depthwise kernels support.
pub const KERNEL_SIZES: [usize; 2] = [3, 5];

const MAGIC: &[u8; 4] = b"MQDW";
const VERSION: u16 = 1;

/// Bytes of `channels` packed `k x k` kernels, `None` on overflow.
pub fn dw_packed_len(channels: usize, k: usize) -> Option<usize> {
    k.checked_mul(k)?
        .checked_add(8)?
        .checked_mul(channels)?
        .checked_add(HEADER_LEN)
}

/// The kernel size of `taps` taps per channel, if supported.
fn kernel_size(taps: usize) -> Option<usize> {
    KERNEL_SIZES.into_iter().find(|k| k * k == taps)
}

/// Packs depthwise weights: `w.n` channels of `w.k = K * K` taps (row-major `[C, K, K]`, i.e. the
/// ONNX weight `[C, 1, K, K]`), per-channel scales and optional real biases, for activations
/// quantized as `input` and an output of scale `output_scale`. A pure function: the bytes can be
/// stored in a model file and serve every tier.
pub fn pack_qs8_dw(w: &Qs8Weights, input: ActQuant, output_scale: f32) -> Result<Vec<u8>> {
    let k = kernel_size(w.k).ok_or_else(|| {
        Error::invalid_argument(format!(
            "depthwise weights have {} taps per channel; supported kernels are 3x3 and 5x5",
            w.k
        ))
    })?;
    check_weights(w)?;
    check_act(&input)?;
    check_scale("output", output_scale)?;
    let c = w.n;
    let mut out = vec![0u8; dw_packed_len(c, k).unwrap_or(0)];
    out[..4].copy_from_slice(MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6] = k as u8;
    out[8..12].copy_from_slice(&(c as u32).to_le_bytes());
    out[12] = input.dtype.tag();
    out[16..20].copy_from_slice(&input.zero_point.to_le_bytes());
    let mode = Qs8Mode::Requantized {
        input,
        output_scale,
    };
    for ch in 0..c {
        let taps = &w.data[ch * w.k..(ch + 1) * w.k];
        let sum = taps.iter().map(|&v| i32::from(v)).sum();
        let col = column_data(&mode, sum, w.scales[ch], w.bias.map_or(0.0, |b| b[ch]))?;
        let at = HEADER_LEN + 4 * ch;
        out[at..at + 4].copy_from_slice(&col.bias.to_le_bytes());
        out[at + 4 * c..at + 4 * c + 4].copy_from_slice(&col.scale.to_le_bytes());
        let t = HEADER_LEN + 8 * c + ch * w.k;
        for (d, &v) in out[t..t + w.k].iter_mut().zip(taps) {
            *d = v as u8;
        }
    }
    Ok(out)
}

/// A validated view of packed depthwise weights (from [`pack_qs8_dw`] or a model file).
#[derive(Clone, Copy, Debug)]
pub struct Qs8DwPacked<'a> {
    bytes: &'a [u8],
    k: usize,
    channels: usize,
    input: ActQuant,
}

impl<'a> Qs8DwPacked<'a> {
    /// Checks the header, the length, the taps and the scales. Any alignment.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Qs8DwPacked<'a>> {
        let bad = |what: String| {
            Error::invalid_argument(format!("packed depthwise int8 weights: {what}"))
        };
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(bad("missing the MQDW header".into()));
        }
        let word = |o: usize| [bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]];
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let k = usize::from(bytes[6]);
        if version != VERSION || !KERNEL_SIZES.contains(&k) {
            return Err(bad(format!(
                "version {version}, kernel size {k} (this build reads version {VERSION}, 3 or 5)"
            )));
        }
        let channels = u32::from_le_bytes(word(8)) as usize;
        let dtype = DType::from_tag(bytes[12])
            .filter(|d| matches!(d, DType::I8 | DType::U8))
            .ok_or_else(|| bad(format!("input dtype tag {} is not i8 or u8", bytes[12])))?;
        let input = ActQuant {
            dtype,
            scale: 1.0,
            zero_point: i32::from_le_bytes(word(16)),
        };
        check_act(&input).map_err(|e| bad(e.to_string()))?;
        if dw_packed_len(channels, k) != Some(bytes.len()) {
            return Err(bad(format!(
                "{} bytes, {channels} channels of {k}x{k} need {:?}",
                bytes.len(),
                dw_packed_len(channels, k)
            )));
        }
        let packed = Qs8DwPacked {
            bytes,
            k,
            channels,
            input,
        };
        for ch in 0..channels {
            let scale = packed.scale(ch);
            if !(scale.is_finite() && scale > 0.0) {
                return Err(bad(format!("channel {ch} has scale {scale}")));
            }
            if packed.taps(ch).contains(&i8::MIN) {
                return Err(bad(format!("channel {ch} has a tap of -128")));
            }
        }
        Ok(packed)
    }

    /// Kernel size K (3 or 5).
    pub fn kernel_size(&self) -> usize {
        self.k
    }

    /// Channels C.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The input dtype (i8 or u8) the weights were packed for.
    pub fn input_dtype(&self) -> DType {
        self.input.dtype
    }

    /// The input zero point (in the input dtype's own range) the weights were packed for.
    pub fn input_zero_point(&self) -> i32 {
        self.input.zero_point
    }

    /// The input zero point in the s8 view the kernels use (`zp - 128` for u8).
    pub(crate) fn zero_point_s8(&self) -> i32 {
        match self.input.dtype {
            DType::U8 => self.input.zero_point - 128,
            _ => self.input.zero_point,
        }
    }

    /// Folded integer bias of channel `ch < channels()`.
    pub fn bias(&self, ch: usize) -> i32 {
        let o = HEADER_LEN + 4 * ch;
        i32::from_le_bytes([
            self.bytes[o],
            self.bytes[o + 1],
            self.bytes[o + 2],
            self.bytes[o + 3],
        ])
    }

    /// Requantization scale of channel `ch < channels()`.
    pub fn scale(&self, ch: usize) -> f32 {
        let o = HEADER_LEN + 4 * (self.channels + ch);
        f32::from_le_bytes([
            self.bytes[o],
            self.bytes[o + 1],
            self.bytes[o + 2],
            self.bytes[o + 3],
        ])
    }

    /// The `K * K` taps of channel `ch < channels()`, row-major.
    pub fn taps(&self, ch: usize) -> &'a [i8] {
        let kk = self.k * self.k;
        let o = HEADER_LEN + 8 * self.channels + ch * kk;
        bytemuck::cast_slice(&self.bytes[o..o + kk])
    }
}
