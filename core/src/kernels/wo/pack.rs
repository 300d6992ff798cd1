//! The `c4` packed weight-only layout (int8 or int4 codes, per-group scale and zero point) shared
//! by every tier, and the pure function that produces it (run by the converter; the bytes are
//! stored in the model file, so loading never repacks).
//!
//! Layout (integers little-endian; byte map in `docs/kernels.md`):
//! - a 64-byte header: magic `MQWO`, version, NR = 16, bits (4 or 8), N, K, group (0 = one group
//!   per column, i.e. per-channel);
//! - then `ceil(N / 16)` panels of 16 output columns. With `KP = round_up(K, 4)` and `G` the group
//!   length (`KP` for per-channel), a panel is `ceil(KP / G)` groups; group `g` covers rows
//!   `gG .. min(gG + G, KP)` and holds 16 `f32` scales, 16 `u8` zero points, then its rows in
//!   blocks of 4 (KR): for int8, 64 bytes, row `r` of the block at `16 r + c`; for int4, 32
//!   bytes, byte `16 h + c` holding row `2h` in its low nibble and row `2h + 1` in its high one.
//!
//! The weight of column `c`, row `k` in group `g` is `scale[g, c] * (code[k, c] - zero[g, c])`.
//!
//! Invariants kept by [`pack_wo`] and checked by [`WoPacked::from_bytes`]: codes and zero points
//! are below `2^bits`; scales are finite; rows past K hold the column's zero point (so they
//! dequantize to exactly 0); columns past N are all zero (scale, zero point and codes).

use crate::error::{Error, Result};

/// Output columns per panel (the f32 GEMM's NR, so a dequantized panel is its packed-B panel).
pub const NR: usize = 16;
/// Rows per block: padding of K, and the unit of the kernels' inner loop.
pub const KR: usize = 4;
/// Bytes of the header before the first panel.
pub const HEADER_LEN: usize = 64;
/// Bytes of per-column data at the start of each group (16 f32 scales, 16 u8 zero points).
pub(crate) const GROUP_HEAD_LEN: usize = NR * 4 + NR;
/// Group lengths the layout accepts besides per-channel (0).
pub const GROUP_SIZES: [usize; 3] = [32, 64, 128];

const MAGIC: &[u8; 4] = b"MQWO";
const VERSION: u16 = 1;

/// Width of the weight codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WoBits {
    /// Codes 0..=15, two per byte.
    Int4,
    /// Codes 0..=255, one per byte.
    Int8,
}

impl WoBits {
    /// Bits per code.
    pub fn bits(self) -> usize {
        match self {
            WoBits::Int4 => 4,
            WoBits::Int8 => 8,
        }
    }

    /// The width with `bits` bits per code (4 or 8).
    pub fn from_bits(bits: usize) -> Option<WoBits> {
        match bits {
            4 => Some(WoBits::Int4),
            8 => Some(WoBits::Int8),
            _ => None,
        }
    }

    /// Bytes of one block of [`KR`] rows of a panel.
    pub(crate) fn block_len(self) -> usize {
        NR * KR * self.bits() / 8
    }
}

/// The shape of a packed matrix, as the kernels need it. Only [`WoShape::new`] makes one, so
/// `group_len` is a positive multiple of [`KR`] (or KP) and `kp` a multiple of [`KR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WoShape {
    pub bits: WoBits,
    /// Output columns N and reduction length K.
    pub n: usize,
    pub k: usize,
    /// The stored group parameter: 0 (per-channel) or one of [`GROUP_SIZES`].
    pub group: usize,
}

impl WoShape {
    /// Checks the group parameter and that every size fits.
    pub fn new(bits: WoBits, n: usize, k: usize, group: usize) -> Result<WoShape> {
        let shape = WoShape { bits, n, k, group };
        if group != 0 && !GROUP_SIZES.contains(&group) {
            return Err(Error::invalid_argument(format!(
                "weight-only group size {group} is not 0 (per-channel), 32, 64 or 128"
            )));
        }
        if u32::try_from(n).is_err() || u32::try_from(k).is_err() || shape.packed_len().is_none() {
            return Err(Error::invalid_argument(format!(
                "weight-only shape [{n}, {k}] is too large"
            )));
        }
        Ok(shape)
    }

    /// K rounded up to [`KR`].
    pub fn kp(&self) -> usize {
        self.k.next_multiple_of(KR)
    }

    /// Rows per group (KP for per-channel; at least [`KR`]).
    pub fn group_len(&self) -> usize {
        if self.group == 0 {
            self.kp().max(KR)
        } else {
            self.group
        }
    }

    /// Groups per column.
    pub fn groups(&self) -> usize {
        self.kp().div_ceil(self.group_len())
    }

    /// Number of 16-column panels.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Bytes of one panel, `None` on overflow.
    pub fn panel_len(&self) -> Option<usize> {
        let codes = self.kp().checked_mul(NR * self.bits.bits() / 8)?;
        self.groups()
            .checked_mul(GROUP_HEAD_LEN)?
            .checked_add(codes)
    }

    /// Bytes of the whole packed matrix, `None` on overflow.
    pub fn packed_len(&self) -> Option<usize> {
        self.panels()
            .checked_mul(self.panel_len()?)?
            .checked_add(HEADER_LEN)
    }
}

/// Bytes of a packed `[n, k]` matrix, `None` on overflow or an unknown group size.
pub fn packed_len(bits: WoBits, n: usize, k: usize, group: usize) -> Option<usize> {
    WoShape::new(bits, n, k, group).ok()?.packed_len()
}

/// Quantized weights to pack. `codes` is `[n, k]` row-major (one output channel per row), one
/// code per byte, each below `2^bits`; `scales` and `zero_points` are `[n, groups]` (`groups =
/// ceil(k / group)`, 1 for per-channel); `zero_points` `None` means symmetric (`2^(bits-1)`).
#[derive(Clone, Copy, Debug)]
pub struct WoWeights<'a> {
    pub bits: WoBits,
    pub n: usize,
    pub k: usize,
    /// 0 for per-channel, else 32, 64 or 128 rows of K per scale.
    pub group: usize,
    pub codes: &'a [u8],
    pub scales: &'a [f32],
    pub zero_points: Option<&'a [u8]>,
}

fn check_weights(w: &WoWeights) -> Result<WoShape> {
    let shape = WoShape::new(w.bits, w.n, w.k, w.group)?;
    let groups = if w.k == 0 { 0 } else { shape.groups() };
    let limit = 1u16 << w.bits.bits();
    let bad = |what: String| Err(Error::invalid_argument(format!("weight-only pack: {what}")));
    if w.n.checked_mul(w.k) != Some(w.codes.len()) {
        return bad(format!(
            "{} codes for shape [{}, {}]",
            w.codes.len(),
            w.n,
            w.k
        ));
    }
    if let Some(i) = w.codes.iter().position(|&c| u16::from(c) >= limit) {
        return bad(format!("code {i} is {}, not below {limit}", w.codes[i]));
    }
    if w.n.checked_mul(groups) != Some(w.scales.len()) {
        return bad(format!(
            "{} scales, [{}, {groups}] needed",
            w.scales.len(),
            w.n
        ));
    }
    if let Some(s) = w.scales.iter().find(|s| !s.is_finite()) {
        return bad(format!("scale {s} is not finite"));
    }
    if let Some(z) = w.zero_points {
        if w.n.checked_mul(groups) != Some(z.len()) {
            return bad(format!(
                "{} zero points, [{}, {groups}] needed",
                z.len(),
                w.n
            ));
        }
        if let Some(z) = z.iter().find(|&&z| u16::from(z) >= limit) {
            return bad(format!("zero point {z} is not below {limit}"));
        }
    }
    Ok(shape)
}

/// Packs quantized weights into the `c4` layout. A pure function: the same inputs give the same
/// bytes on every machine, so the result can be stored in a model file and used by every tier.
pub fn pack_wo(w: &WoWeights) -> Result<Vec<u8>> {
    let shape = check_weights(w)?;
    let mut out = vec![0u8; shape.packed_len().unwrap_or(0)];
    out[..4].copy_from_slice(MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6] = NR as u8;
    out[7] = w.bits.bits() as u8;
    out[8..12].copy_from_slice(&(w.n as u32).to_le_bytes());
    out[12..16].copy_from_slice(&(w.k as u32).to_le_bytes());
    out[16..20].copy_from_slice(&(w.group as u32).to_le_bytes());
    let (g_len, groups, kp) = (shape.group_len(), shape.groups(), shape.kp());
    let symmetric = 1u8 << (w.bits.bits() - 1);
    let panel_len = shape.panel_len().unwrap_or(0);
    for (p, panel) in out[HEADER_LEN..]
        .chunks_exact_mut(panel_len.max(1))
        .enumerate()
    {
        let mut at = 0;
        for g in 0..groups {
            let rows = g_len.min(kp - g * g_len);
            let (head, rest) = panel[at..].split_at_mut(GROUP_HEAD_LEN);
            for c in 0..NR.min(w.n - p * NR) {
                let j = p * NR + c;
                // k = 0 has no groups, so `g < groups` implies w.k > 0 and index j * groups + g.
                let ng = w.k.div_ceil(g_len);
                let scale = w.scales[j * ng + g];
                let zero = w.zero_points.map_or(symmetric, |z| z[j * ng + g]);
                head[4 * c..4 * c + 4].copy_from_slice(&scale.to_le_bytes());
                head[4 * NR + c] = zero;
                for r in 0..rows {
                    let kk = g * g_len + r;
                    let code = if kk < w.k {
                        w.codes[j * w.k + kk]
                    } else {
                        zero
                    };
                    put_code(w.bits, rest, r, c, code);
                }
            }
            at += GROUP_HEAD_LEN + rows * NR * w.bits.bits() / 8;
        }
    }
    Ok(out)
}

/// Byte index and shift of the code of row `r` (within its group), column `c`.
fn code_position(bits: WoBits, r: usize, c: usize) -> (usize, u32) {
    let block = (r / KR) * bits.block_len();
    match bits {
        WoBits::Int8 => (block + NR * (r % KR) + c, 0),
        WoBits::Int4 => (block + NR * (r % KR / 2) + c, 4 * (r % 2) as u32),
    }
}

fn put_code(bits: WoBits, codes: &mut [u8], r: usize, c: usize, code: u8) {
    let (i, shift) = code_position(bits, r, c);
    codes[i] |= code << shift;
}

/// A validated view of packed weights (from [`pack_wo`] or a model file); borrows the bytes.
#[derive(Clone, Copy, Debug)]
pub struct WoPacked<'a> {
    bytes: &'a [u8],
    shape: WoShape,
}

impl<'a> WoPacked<'a> {
    /// Checks the header, the length, the zero points, scales and padding. Any alignment.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<WoPacked<'a>> {
        let bad = |what: String| Error::invalid_argument(format!("packed weight-only: {what}"));
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(bad("missing the MQWO header".into()));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let bits = WoBits::from_bits(usize::from(bytes[7]));
        let (Some(bits), VERSION, NR) = (bits, version, usize::from(bytes[6])) else {
            return Err(bad(format!(
                "version {version}, NR {}, bits {} (this build reads version {VERSION}, NR {NR}, bits 4 or 8)",
                bytes[6], bytes[7]
            )));
        };
        let shape = WoShape::new(
            bits,
            u32_at(8) as usize,
            u32_at(12) as usize,
            u32_at(16) as usize,
        )?;
        if shape.packed_len() != Some(bytes.len()) || bytes[20..HEADER_LEN].iter().any(|&b| b != 0)
        {
            return Err(bad(format!(
                "{} bytes or a nonzero reserved header byte; [{}, {}] needs {:?}",
                bytes.len(),
                shape.n,
                shape.k,
                shape.packed_len()
            )));
        }
        let packed = WoPacked { bytes, shape };
        packed.check_panels().map_err(bad)?;
        Ok(packed)
    }

    /// Checks scales (finite), zero points (below `2^bits`), padding rows (the zero point) and
    /// padding columns (all zero).
    fn check_panels(&self) -> std::result::Result<(), String> {
        let s = self.shape;
        let limit = 1u16 << s.bits.bits();
        for p in 0..s.panels() {
            for c in 0..NR {
                let j = p * NR + c;
                for g in 0..s.groups() {
                    let (scale, zero) = self.group_data(j, g).unwrap_or_default();
                    let pad_col = j >= s.n;
                    if !scale.is_finite()
                        || u16::from(zero) >= limit
                        || pad_col && (scale != 0.0 || zero != 0)
                    {
                        return Err(format!(
                            "column {j}, group {g}: scale {scale}, zero point {zero}"
                        ));
                    }
                    for kk in g * s.group_len()..s.kp().min((g + 1) * s.group_len()) {
                        let code = self.code_at(j, kk).unwrap_or_default();
                        if (pad_col || kk >= s.k) && code != zero {
                            return Err(format!("padding code ({j}, {kk}) is {code}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The shape the bytes describe.
    pub fn shape(&self) -> WoShape {
        self.shape
    }

    /// The bytes of panels `range` (each [`WoShape::panel_len`] long).
    pub(crate) fn panels(&self, range: std::ops::Range<usize>) -> &'a [u8] {
        let len = self.shape.panel_len().unwrap_or(0);
        &self.bytes[HEADER_LEN + range.start * len..HEADER_LEN + range.end * len]
    }

    /// Offset, within a panel, of group `g`'s head.
    fn group_offset(&self, g: usize) -> usize {
        g * (GROUP_HEAD_LEN + self.shape.group_len() * NR * self.shape.bits.bits() / 8)
    }

    /// Scale and zero point of column `j`, group `g`, or `None` outside `16 * panels × groups`
    /// (padding columns read as zero).
    pub fn group_data(&self, j: usize, g: usize) -> Option<(f32, u8)> {
        if j >= self.shape.panels() * NR || g >= self.shape.groups() {
            return None;
        }
        let head = &self.panels(j / NR..j / NR + 1)[self.group_offset(g)..];
        let c = j % NR;
        let scale = f32::from_le_bytes([
            head[4 * c],
            head[4 * c + 1],
            head[4 * c + 2],
            head[4 * c + 3],
        ]);
        Some((scale, head[4 * NR + c]))
    }

    /// The code of column `j`, row `kk`, or `None` outside `16 * panels × KP` (padding holds the
    /// zero point, or zero in padding columns).
    pub fn code_at(&self, j: usize, kk: usize) -> Option<u8> {
        if j >= self.shape.panels() * NR || kk >= self.shape.kp() {
            return None;
        }
        let g_len = self.shape.group_len();
        let (g, r) = (kk / g_len, kk % g_len);
        let panel = self.panels(j / NR..j / NR + 1);
        let (i, shift) = code_position(self.shape.bits, r, j % NR);
        let byte = panel[self.group_offset(g) + GROUP_HEAD_LEN + i];
        Some((byte >> shift) & ((1u16 << self.shape.bits.bits()) - 1) as u8)
    }
}
