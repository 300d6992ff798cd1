//! The `c8` packed int8 weight layout shared by every tier of the full-int8 GEMM, and the pure
//! function that produces it (run by the converter; the bytes are stored in the model file).
//!
//! Layout (all integers little-endian; the exact byte map is in `docs/kernels.md`):
//! - a 64-byte header: magic `MQ8W`, version, NR = 16, KR = 8, N, K, mode, input dtype;
//! - then `ceil(N / 16)` panels of 16 output columns, each `256 + 16 * KP` bytes where
//!   `KP = round_up(K, 8)`: four 16-entry column arrays (`bias: i32`, `colsum: i32`, `scale: f32`,
//!   `fbias: f32`), then `KP / 8` k-blocks of 128 bytes, in which column `c` (0..16) owns bytes
//!   `8c .. 8c + 8` holding its weights for the 8 consecutive k of the block.
//!
//! Invariants kept by [`pack_qs8`] and checked by [`Qs8Packed::from_bytes`]:
//! - weights are within [-127, 127] (two s8 x s8 products then fit in i16, which the NEON
//!   SMULL/SMLAL path needs); columns past N and k past K are zero, with zero column data;
//! - `colsum[j]` is the exact sum of column j's weights;
//! - `bias`, `scale` and `fbias` fold the quantization so that the shared epilogue computes
//!   `((acc + bias + rz * colsum) as f32) * (rs * scale)` (then `+ fbias` for f32 output), where
//!   `acc` is the s8 x s8 dot product, `rs`/`rz` the per-row scale and negated zero point of
//!   dynamically quantized activations (1 and 0 otherwise).

use crate::error::{Error, Result};
use crate::tensor::DType;

/// Output columns per panel.
pub const NR: usize = 16;
/// Consecutive k stored together per column (the k-block).
pub const KR: usize = 8;
/// Bytes of the header before the first panel.
pub const HEADER_LEN: usize = 64;
/// Bytes of per-column data at the start of each panel (bias, colsum, scale, fbias).
pub(crate) const PANEL_HEADER_LEN: usize = 4 * NR * 4;
/// Offsets of the per-column arrays within a panel.
pub(crate) const BIAS_OFFSET: usize = 0;
pub(crate) const COLSUM_OFFSET: usize = NR * 4;
pub(crate) const SCALE_OFFSET: usize = 2 * NR * 4;
pub(crate) const FBIAS_OFFSET: usize = 3 * NR * 4;
/// Bytes of one k-block of one panel.
pub(crate) const KBLOCK_LEN: usize = NR * KR;

const MAGIC: &[u8; 4] = b"MQ8W";
const VERSION: u16 = 1;

/// How the activations and output of a packed weight matrix are quantized; decides what the
/// per-column data means. Stored in the header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Qs8Mode {
    /// Statically quantized activations, output requantized to s8 or u8 (zero point and clamp
    /// given at run time): `scale = s_in * s_w / s_out`, `bias = round(b / (s_in s_w)) - zp_in * colsum`.
    Requantized { input: ActQuant, output_scale: f32 },
    /// Statically quantized activations, f32 output (a last layer):
    /// `scale = s_in * s_w`, `bias = -zp_in * colsum`, `fbias = b`.
    Dequantized { input: ActQuant },
    /// f32 activations quantized per row at run time, f32 output: `scale = s_w`, `fbias = b`.
    Dynamic,
}

/// Quantization of statically quantized activations. `dtype` is [`DType::I8`] or [`DType::U8`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActQuant {
    pub dtype: DType,
    pub scale: f32,
    pub zero_point: i32,
}

/// Quantized weights to pack: `data` is `[n, k]` row-major (one row per output channel), values
/// in [-127, 127]; `scales` and `bias` (real-valued) have one entry per output channel.
#[derive(Clone, Copy, Debug)]
pub struct Qs8Weights<'a> {
    pub n: usize,
    pub k: usize,
    pub data: &'a [i8],
    pub scales: &'a [f32],
    pub bias: Option<&'a [f32]>,
}

/// The packed mode as read back from a header (the activation dtype, without scales).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackedMode {
    Requantized { input: DType },
    Dequantized { input: DType },
    Dynamic,
}

/// `K` rounded up to the k-block.
pub fn padded_k(k: usize) -> Option<usize> {
    k.checked_next_multiple_of(KR)
}

/// Bytes of a packed `[n, k]` weight matrix, `None` on overflow.
pub fn packed_len(n: usize, k: usize) -> Option<usize> {
    let panel = padded_k(k)?
        .checked_mul(NR)?
        .checked_add(PANEL_HEADER_LEN)?;
    n.div_ceil(NR).checked_mul(panel)?.checked_add(HEADER_LEN)
}

/// Checks an activation quantization; returns its zero point in the s8 view (`zp - 128` for u8).
pub(crate) fn check_act(act: &ActQuant) -> Result<i32> {
    let (lo, hi, shift) = match act.dtype {
        DType::I8 => (-128, 127, 0),
        DType::U8 => (0, 255, 128),
        other => {
            return Err(Error::invalid_argument(format!(
                "int8 GEMM activations must be i8 or u8, not {other}"
            )));
        }
    };
    if !(lo..=hi).contains(&act.zero_point) {
        return Err(Error::invalid_argument(format!(
            "activation zero point {} is outside the {} range",
            act.zero_point, act.dtype
        )));
    }
    check_scale("activation", act.scale)?;
    // The kernels see activations as s8: a u8 value v is the s8 value v - 128.
    Ok(act.zero_point - shift)
}

pub(crate) fn check_scale(what: &str, scale: f32) -> Result<()> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "{what} scale {scale} is not finite and positive"
        )))
    }
}

/// Checks shapes, the weight range [-127, 127], scales and biases of weights to pack.
pub(crate) fn check_weights(w: &Qs8Weights) -> Result<()> {
    if u32::try_from(w.n).is_err() || u32::try_from(w.k).is_err() || packed_len(w.n, w.k).is_none()
    {
        return Err(Error::invalid_argument(format!(
            "weight shape [{}, {}] is too large",
            w.n, w.k
        )));
    }
    if w.data.len() != w.n * w.k {
        return Err(Error::invalid_argument(format!(
            "weights have {} elements, shape [{}, {}] needs {}",
            w.data.len(),
            w.n,
            w.k,
            w.n * w.k
        )));
    }
    if let Some(i) = w.data.iter().position(|&v| v == i8::MIN) {
        return Err(Error::invalid_argument(format!(
            "weight {i} is -128: packed int8 weights must be symmetric, within [-127, 127]"
        )));
    }
    if w.scales.len() != w.n {
        return Err(Error::invalid_argument(format!(
            "{} weight scales for {} output channels",
            w.scales.len(),
            w.n
        )));
    }
    for &s in w.scales {
        check_scale("weight", s)?;
    }
    if let Some(bias) = w.bias {
        if bias.len() != w.n {
            return Err(Error::invalid_argument(format!(
                "{} biases for {} output channels",
                bias.len(),
                w.n
            )));
        }
        if bias.iter().any(|b| !b.is_finite()) {
            return Err(Error::invalid_argument("a bias is not finite"));
        }
    }
    Ok(())
}

/// Per-column data of one output channel, as stored in its panel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnData {
    pub bias: i32,
    pub colsum: i32,
    pub scale: f32,
    pub fbias: f32,
}

/// The per-column data of one output channel (see [`Qs8Mode`]) for weights summing to `colsum`.
pub(crate) fn column_data(
    mode: &Qs8Mode,
    colsum: i32,
    w_scale: f32,
    bias: f32,
) -> Result<ColumnData> {
    let col = match *mode {
        Qs8Mode::Requantized {
            input,
            output_scale,
        } => {
            let zp = check_act(&input)?;
            let in_scale = input.scale * w_scale;
            // `as i32` saturates: a bias beyond the i32 range is clamped to it.
            let bias_q = (f64::from(bias) / f64::from(in_scale)).round_ties_even() as i32;
            ColumnData {
                bias: bias_q.wrapping_sub(zp.wrapping_mul(colsum)),
                colsum,
                scale: in_scale / output_scale,
                fbias: 0.0,
            }
        }
        Qs8Mode::Dequantized { input } => ColumnData {
            bias: check_act(&input)?.wrapping_mul(colsum).wrapping_neg(),
            colsum,
            scale: input.scale * w_scale,
            fbias: bias,
        },
        Qs8Mode::Dynamic => ColumnData {
            bias: 0,
            colsum,
            scale: w_scale,
            fbias: bias,
        },
    };
    check_scale("combined requantization", col.scale)?;
    Ok(col)
}

fn mode_tags(mode: &Qs8Mode) -> Result<(u8, u8)> {
    let dtype_tag = |a: &ActQuant| -> Result<u8> {
        check_act(a)?;
        Ok(a.dtype.tag())
    };
    Ok(match mode {
        Qs8Mode::Requantized {
            input,
            output_scale,
        } => {
            check_scale("output", *output_scale)?;
            (0, dtype_tag(input)?)
        }
        Qs8Mode::Dequantized { input } => (1, dtype_tag(input)?),
        Qs8Mode::Dynamic => (2, 0),
    })
}

/// Packs quantized weights into the `c8` layout. A pure function: the same inputs give the same
/// bytes on every machine, so the result can be stored in a model file and used by every tier.
pub fn pack_qs8(w: &Qs8Weights, mode: Qs8Mode) -> Result<Vec<u8>> {
    check_weights(w)?;
    let (mode_tag, dtype_tag) = mode_tags(&mode)?;
    let kp = padded_k(w.k).unwrap_or(0);
    let mut out = vec![0u8; packed_len(w.n, w.k).unwrap_or(0)];
    out[..4].copy_from_slice(MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6] = NR as u8;
    out[7] = KR as u8;
    out[8..12].copy_from_slice(&(w.n as u32).to_le_bytes());
    out[12..16].copy_from_slice(&(w.k as u32).to_le_bytes());
    out[16] = mode_tag;
    out[17] = dtype_tag;
    let panel_len = PANEL_HEADER_LEN + NR * kp;
    for (p, panel) in out[HEADER_LEN..].chunks_exact_mut(panel_len).enumerate() {
        let (head, blocks) = panel.split_at_mut(PANEL_HEADER_LEN);
        for c in 0..NR.min(w.n - p * NR) {
            let j = p * NR + c;
            let row = &w.data[j * w.k..(j + 1) * w.k];
            let colsum = row.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)));
            let bias = w.bias.map_or(0.0, |b| b[j]);
            let col = column_data(&mode, colsum, w.scales[j], bias)?;
            let put = |head: &mut [u8], offset: usize, bytes: [u8; 4]| {
                head[offset + 4 * c..offset + 4 * c + 4].copy_from_slice(&bytes);
            };
            put(head, BIAS_OFFSET, col.bias.to_le_bytes());
            put(head, COLSUM_OFFSET, col.colsum.to_le_bytes());
            put(head, SCALE_OFFSET, col.scale.to_le_bytes());
            put(head, FBIAS_OFFSET, col.fbias.to_le_bytes());
            for (kk, &v) in row.iter().enumerate() {
                blocks[(kk / KR) * KBLOCK_LEN + c * KR + kk % KR] = v as u8;
            }
        }
    }
    Ok(out)
}

/// A validated view of packed weights (from [`pack_qs8`] or a model file); borrows the bytes.
#[derive(Clone, Copy, Debug)]
pub struct Qs8Packed<'a> {
    bytes: &'a [u8],
    n: usize,
    k: usize,
    mode: PackedMode,
}

impl<'a> Qs8Packed<'a> {
    /// Checks the header, the length, the weight range and the column sums. Any alignment.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Qs8Packed<'a>> {
        let bad = |what: String| Error::invalid_argument(format!("packed int8 weights: {what}"));
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(bad("missing the MQ8W header".into()));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION || usize::from(bytes[6]) != NR || usize::from(bytes[7]) != KR {
            return Err(bad(format!(
                "version {version}, NR {}, KR {} (this build reads version {VERSION}, NR {NR}, KR {KR})",
                bytes[6], bytes[7]
            )));
        }
        let (n, k) = (u32_at(8) as usize, u32_at(12) as usize);
        let input = DType::from_tag(bytes[17]).filter(|d| matches!(d, DType::I8 | DType::U8));
        let mode = match (bytes[16], input) {
            (0, Some(input)) => PackedMode::Requantized { input },
            (1, Some(input)) => PackedMode::Dequantized { input },
            (2, _) => PackedMode::Dynamic,
            (m, _) => {
                return Err(bad(format!(
                    "unknown mode {m} / input dtype tag {}",
                    bytes[17]
                )));
            }
        };
        if packed_len(n, k) != Some(bytes.len()) {
            return Err(bad(format!(
                "{} bytes, shape [{n}, {k}] needs {:?}",
                bytes.len(),
                packed_len(n, k)
            )));
        }
        let packed = Qs8Packed { bytes, n, k, mode };
        packed.check_columns().map_err(bad)?;
        Ok(packed)
    }

    /// Checks weights, column sums, scales and biases, so that hostile bytes cannot break the kernels' i16
    /// arithmetic (weights of -128) or the dynamic-quantization correction.
    fn check_columns(&self) -> std::result::Result<(), String> {
        for p in 0..self.panels() {
            let panel = self.panel(p);
            let blocks = &panel[PANEL_HEADER_LEN..];
            for c in 0..NR {
                let mut sum = 0i32;
                for kk in 0..self.kp() {
                    let v = blocks[(kk / KR) * KBLOCK_LEN + c * KR + kk % KR] as i8;
                    let pad = p * NR + c >= self.n || kk >= self.k;
                    if v == i8::MIN || (pad && v != 0) {
                        return Err(format!("weight ({}, {kk}) is {v}", p * NR + c));
                    }
                    sum = sum.wrapping_add(i32::from(v));
                }
                let (j, col) = (p * NR + c, self.column_at(p * NR + c));
                let valid = if j < self.n {
                    col.scale.is_finite() && col.scale > 0.0 && col.fbias.is_finite()
                } else {
                    col == ColumnData {
                        bias: 0,
                        colsum: 0,
                        scale: 0.0,
                        fbias: 0.0,
                    }
                };
                if sum != col.colsum || !valid {
                    return Err(format!("column {j} has a wrong column sum, scale or bias"));
                }
            }
        }
        Ok(())
    }

    /// Output channels.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Reduction length.
    pub fn k(&self) -> usize {
        self.k
    }

    /// K rounded up to the k-block.
    pub fn kp(&self) -> usize {
        self.k.next_multiple_of(KR)
    }

    /// The mode the weights were packed for.
    pub fn mode(&self) -> PackedMode {
        self.mode
    }

    /// All the bytes, in the stored `c8` order.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of 16-column panels.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Bytes of one panel.
    pub(crate) fn panel_len(&self) -> usize {
        PANEL_HEADER_LEN + NR * self.kp()
    }

    /// The bytes of panel `p` (< `panels()`).
    pub(crate) fn panel(&self, p: usize) -> &'a [u8] {
        let start = HEADER_LEN + p * self.panel_len();
        &self.bytes[start..start + self.panel_len()]
    }

    /// The per-column data of output channel `j`, or `None` when `j >= n`.
    pub fn column(&self, j: usize) -> Option<ColumnData> {
        (j < self.n).then(|| self.column_at(j))
    }

    /// The weight of output channel `j` at reduction index `kk`, or `None` outside `[n, k]`.
    pub fn weight(&self, j: usize, kk: usize) -> Option<i8> {
        (j < self.n && kk < self.k).then(|| self.weight_at(j, kk))
    }

    /// The per-column data of column `j < 16 * panels()` (zero for padding columns).
    fn column_at(&self, j: usize) -> ColumnData {
        let head = &self.panel(j / NR)[..PANEL_HEADER_LEN];
        let at = |offset: usize| {
            let o = offset + 4 * (j % NR);
            [head[o], head[o + 1], head[o + 2], head[o + 3]]
        };
        ColumnData {
            bias: i32::from_le_bytes(at(BIAS_OFFSET)),
            colsum: i32::from_le_bytes(at(COLSUM_OFFSET)),
            scale: f32::from_le_bytes(at(SCALE_OFFSET)),
            fbias: f32::from_le_bytes(at(FBIAS_OFFSET)),
        }
    }

    /// The weight of column `j < 16 * panels()` at `kk < kp()` (zero for padding).
    fn weight_at(&self, j: usize, kk: usize) -> i8 {
        self.panel(j / NR)[PANEL_HEADER_LEN + (kk / KR) * KBLOCK_LEN + (j % NR) * KR + kk % KR]
            as i8
    }
}
