//! Tensor descriptions and borrowed tensor data.
//!
//! Invariants: a [`TensorInfo`] obtained from a loaded [`crate::Model`] has been validated: its
//! shape is fully known, its byte length equals what dtype, shape and layout imply, and its data
//! is 64-byte aligned inside the model's storage. A [`TensorView`] borrows that storage; typed
//! accessors never copy.

mod dtype;
mod shape;

pub use dtype::DType;
pub use shape::{Dim, Shape};

use crate::error::{Error, Result};
use crate::quant::Quantization;

/// How a tensor's elements are arranged in its bytes.
///
/// `RowMajor` is the dense C order of the shape. Kernel-packed layouts (added with the kernels
/// that read them) store weights already arranged for one kernel family, so that loading never
/// repacks; each one defines its own byte length as a function of shape and parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Dense, row-major (C order), no padding.
    RowMajor,
    /// Int8 GEMM weights `[N, K]` (dtype i8) packed for every tier of `qs8_gemm_4x16c8`: a 64-byte
    /// header, then panels of 16 output columns holding per-column data and k-blocks of 8
    /// (`docs/kernels.md`; [`crate::kernels::qs8::pack`]). Params: `[16, 8, 0]` (NR, KR).
    PackedQs8C8,
    /// Weight-only GEMM weights `[N, K]` (dtype u8: unsigned codes of `bits` bits) packed for
    /// every tier of the weight-only kernels: a 64-byte header, then panels of 16 output columns
    /// holding, per group of `group` rows of K (0 = per-channel), 16 f32 scales, 16 u8 zero
    /// points and the codes in blocks of 4 rows, int4 two per byte (`docs/kernels.md`;
    /// [`crate::kernels::wo::pack`]). Params: `[16, bits, group]`, bits 4 or 8, group 0, 32, 64
    /// or 128.
    PackedWoC4 { bits: u8, group: u8 },
    /// Int8 depthwise-convolution weights `[C, 1, K, K]` (dtype i8, K = 3 or 5) packed for every
    /// tier of `qs8_dwconv`: a 64-byte header, then per channel a folded i32 bias and an f32
    /// requantization scale, then the taps (`docs/kernels.md`; [`crate::kernels::qs8::dwconv::pack`]).
    /// Params: `[0, 0, 0]`.
    PackedQs8Dw,
    /// f32 GEMM left operands (the constant weights of Conv) packed for the f32 tile kernels of
    /// one tile height: dims `[G, T, K, MR]` (dtype f32) are the packed array itself, per group
    /// `g` the `T = ceil(M / MR)` row tiles of [`crate::kernels::f32::PackedA`] (tile `t`, k step
    /// `p`, row `i` at `((g T + t) K + p) MR + i`; rows past `M` zero). Params `[MR, KC, NR]`:
    /// the tile height, k-block depth and panel width of the kernel it was packed for, which an
    /// op compares with the running tier's before using the bytes in place (it packs from the
    /// row-major weights otherwise). MR 1..=32, KC 1..=4096, NR 1..=64.
    PackedF32A { mr: u8, kc: u16, nr: u8 },
    /// f32 GEMM right operands (the constant weights of Gemm) packed in the panels every tier's
    /// f32 tile reads: dims `[P, K, NR]` (dtype f32) are the packed array itself, panel `j`
    /// holding for each k step `p` the `NR` values `B[p, NR j ..]` (columns past `N` zero; see
    /// [`crate::kernels::f32::pack_b`]). Params `[NR, 0, 0]`, NR 1..=64.
    PackedF32B { nr: u8 },
}

impl Layout {
    /// The tag stored in the file.
    pub fn tag(self) -> u16 {
        match self {
            Layout::RowMajor => 0,
            Layout::PackedQs8C8 => 1,
            Layout::PackedWoC4 { .. } => 2,
            Layout::PackedQs8Dw => 3,
            Layout::PackedF32A { .. } => 4,
            Layout::PackedF32B { .. } => 5,
        }
    }

    /// The layout for a stored tag and parameters, or `None` when this build does not know it.
    pub fn from_tag(tag: u16, params: [u32; 3]) -> Option<Layout> {
        match (tag, params) {
            (0, [0, 0, 0]) => Some(Layout::RowMajor),
            (1, [16, 8, 0]) => Some(Layout::PackedQs8C8),
            (2, [16, bits @ (4 | 8), group @ (0 | 32 | 64 | 128)]) => Some(Layout::PackedWoC4 {
                bits: bits as u8,
                group: group as u8,
            }),
            (3, [0, 0, 0]) => Some(Layout::PackedQs8Dw),
            (4, [mr @ 1..=32, kc @ 1..=4096, nr @ 1..=64]) => Some(Layout::PackedF32A {
                mr: mr as u8,
                kc: kc as u16,
                nr: nr as u8,
            }),
            (5, [nr @ 1..=64, 0, 0]) => Some(Layout::PackedF32B { nr: nr as u8 }),
            _ => None,
        }
    }

    /// The three parameters stored beside the tag.
    pub fn params(self) -> [u32; 3] {
        match self {
            Layout::RowMajor => [0, 0, 0],
            Layout::PackedQs8C8 => [16, 8, 0],
            Layout::PackedWoC4 { bits, group } => [16, bits.into(), group.into()],
            Layout::PackedQs8Dw => [0, 0, 0],
            Layout::PackedF32A { mr, kc, nr } => [mr.into(), kc.into(), nr.into()],
            Layout::PackedF32B { nr } => [nr.into(), 0, 0],
        }
    }

    /// Bytes that a tensor of `dtype` and `dims` occupies in this layout, or `None` on overflow.
    pub fn byte_len(self, dtype: DType, dims: &[u64]) -> Option<u64> {
        match self {
            Layout::RowMajor => dtype.byte_len(Shape::numel_of(dims)?),
            // 64 + ceil(N / 16) * (256 + 16 * round_up(K, 8)); only for i8 [N, K].
            Layout::PackedQs8C8 => match (dtype, dims) {
                (DType::I8, &[n, k]) => {
                    let len =
                        crate::kernels::qs8::packed_len(n.try_into().ok()?, k.try_into().ok()?)?;
                    len.try_into().ok()
                }
                _ => None,
            },
            // 64 + ceil(N / 16) * (80 * groups + 2 * bits * round_up(K, 4)); only for u8 [N, K].
            Layout::PackedWoC4 { bits, group } => match (dtype, dims) {
                (DType::U8, &[n, k]) => {
                    let bits = crate::kernels::wo::WoBits::from_bits(bits.into())?;
                    let len = crate::kernels::wo::packed_len(
                        bits,
                        n.try_into().ok()?,
                        k.try_into().ok()?,
                        group.into(),
                    )?;
                    len.try_into().ok()
                }
                _ => None,
            },
            // 64 + C * (8 + K * K); only for i8 [C, 1, K, K] with K = 3 or 5.
            Layout::PackedQs8Dw => match (dtype, dims) {
                (DType::I8, &[c, 1, kh, kw]) if kh == kw && (kh == 3 || kh == 5) => {
                    let len = crate::kernels::qs8::dwconv::dw_packed_len(
                        c.try_into().ok()?,
                        kh.try_into().ok()?,
                    )?;
                    len.try_into().ok()
                }
                _ => None,
            },
            // 4 * G * T * K * MR; only for f32 [G, T, K, MR] whose last dim is the params' MR.
            Layout::PackedF32A { mr, .. } => match (dtype, dims) {
                (DType::F32, &[_, _, _, r]) if r == u64::from(mr) => {
                    dtype.byte_len(Shape::numel_of(dims)?)
                }
                _ => None,
            },
            // 4 * P * K * NR; only for f32 [P, K, NR] whose last dim is the params' NR.
            Layout::PackedF32B { nr } => match (dtype, dims) {
                (DType::F32, &[_, _, r]) if r == u64::from(nr) => {
                    dtype.byte_len(Shape::numel_of(dims)?)
                }
                _ => None,
            },
        }
    }

    /// A short human-readable name, for `inspect`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::RowMajor => "row-major",
            Layout::PackedQs8C8 => "packed-qs8-c8",
            Layout::PackedWoC4 { bits: 4, .. } => "packed-wo4-c4",
            Layout::PackedWoC4 { .. } => "packed-wo8-c4",
            Layout::PackedQs8Dw => "packed-qs8-dw",
            Layout::PackedF32A { .. } => "packed-f32-a",
            Layout::PackedF32B { .. } => "packed-f32-b",
        }
    }
}

/// A stored tensor: name, element type, fixed shape, layout, quantization and where its bytes are.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    /// Fixed dimensions (stored tensors never have symbolic ones).
    pub dims: Vec<u64>,
    pub layout: Layout,
    pub quantization: Quantization,
    /// Offset of the first byte, relative to the start of the data section (a multiple of 64).
    pub offset: u64,
    /// Number of bytes.
    pub byte_len: u64,
    /// CRC-32 (IEEE) of the bytes.
    pub crc32: u32,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        // Validated on load: the product does not overflow.
        Shape::numel_of(&self.dims).unwrap_or(0)
    }
}

/// A tensor's metadata and its bytes, borrowed from the model storage (memory map or buffer).
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub info: &'a TensorInfo,
    bytes: &'a [u8],
}

impl<'a> TensorView<'a> {
    pub(crate) fn new(info: &'a TensorInfo, bytes: &'a [u8]) -> Self {
        debug_assert_eq!(bytes.len() as u64, info.byte_len);
        TensorView { info, bytes }
    }

    /// The raw bytes, exactly `info.byte_len` of them, 64-byte aligned.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The elements as `f32`, borrowed. Fails unless the dtype is f32 in row-major layout.
    pub fn as_f32(&self) -> Result<&'a [f32]> {
        self.typed(DType::F32)
    }

    /// The elements as `half::f16`, borrowed.
    pub fn as_f16(&self) -> Result<&'a [half::f16]> {
        self.typed(DType::F16)
    }

    /// The elements as `i8`, borrowed.
    pub fn as_i8(&self) -> Result<&'a [i8]> {
        self.typed(DType::I8)
    }

    /// The elements as `u8`, borrowed.
    pub fn as_u8(&self) -> Result<&'a [u8]> {
        self.typed(DType::U8)
    }

    /// The elements as `i32`, borrowed.
    pub fn as_i32(&self) -> Result<&'a [i32]> {
        self.typed(DType::I32)
    }

    /// The elements as `i64`, borrowed.
    pub fn as_i64(&self) -> Result<&'a [i64]> {
        self.typed(DType::I64)
    }

    fn typed<T: dtype::Element>(&self, want: DType) -> Result<&'a [T]> {
        if self.info.dtype != want || T::DTYPE != want {
            return Err(Error::invalid_argument(format!(
                "tensor '{}' has dtype {}, not {}",
                self.info.name, self.info.dtype, want
            )));
        }
        if self.info.layout != Layout::RowMajor {
            return Err(Error::invalid_argument(format!(
                "tensor '{}' is stored in the {} layout, not row-major",
                self.info.name,
                self.info.layout.name()
            )));
        }
        dtype::cast_slice(self.bytes).ok_or_else(|| {
            Error::invalid_argument(format!("tensor '{}' data is misaligned", self.info.name))
        })
    }
}
