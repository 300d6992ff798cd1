//! Element types and their storage sizes.

use std::fmt;

/// Element type of a tensor or graph value. The discriminant is the tag stored in `.mq` files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    F32 = 1,
    F16 = 2,
    I8 = 3,
    U8 = 4,
    I32 = 5,
    /// Signed 4-bit integers, two per byte: element `2i` in the low nibble of byte `i`.
    I4 = 6,
    I64 = 7,
    /// One byte per element, 0 or 1.
    Bool = 8,
}

impl DType {
    /// Every dtype, in tag order.
    pub const ALL: [DType; 8] = [
        DType::F32,
        DType::F16,
        DType::I8,
        DType::U8,
        DType::I32,
        DType::I4,
        DType::I64,
        DType::Bool,
    ];

    /// The dtype for a stored tag.
    pub fn from_tag(tag: u8) -> Option<DType> {
        DType::ALL.into_iter().find(|d| *d as u8 == tag)
    }

    /// The tag stored in the file.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// Lower-case name, as printed by `inspect` and used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I4 => "i4",
            DType::I64 => "i64",
            DType::Bool => "bool",
        }
    }

    /// Bytes taken by `numel` dense elements (i4 rounds up to whole bytes), `None` on overflow.
    pub fn byte_len(self, numel: u64) -> Option<u64> {
        match self {
            DType::I4 => Some(numel.div_ceil(2)),
            DType::F32 | DType::I32 => numel.checked_mul(4),
            DType::F16 => numel.checked_mul(2),
            DType::I64 => numel.checked_mul(8),
            DType::I8 | DType::U8 | DType::Bool => Some(numel),
        }
    }

    /// Whether quantization parameters may describe values of this dtype.
    pub fn is_quantizable(self) -> bool {
        matches!(self, DType::I8 | DType::U8 | DType::I4 | DType::I32)
    }

    /// The representable range of an integer dtype, `None` for floats and bool.
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            DType::I8 => Some((i8::MIN as i64, i8::MAX as i64)),
            DType::U8 => Some((0, u8::MAX as i64)),
            DType::I4 => Some((-8, 7)),
            DType::I32 => Some((i32::MIN as i64, i32::MAX as i64)),
            DType::I64 => Some((i64::MIN, i64::MAX)),
            DType::F32 | DType::F16 | DType::Bool => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type whose values are stored as one dtype, and every bit pattern of which is valid.
///
/// # Safety
/// Implementors must be plain-old-data: no padding, no invalid bit patterns, size equal to the
/// dtype's element size.
pub(crate) unsafe trait Element: Copy {
    const DTYPE: DType;
}

// SAFETY: each of these is plain-old-data of the dtype's element size with every bit pattern valid.
unsafe impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
// SAFETY: as above; `half::f16` is `repr(transparent)` over `u16`.
unsafe impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}
// SAFETY: as above.
unsafe impl Element for i8 {
    const DTYPE: DType = DType::I8;
}
// SAFETY: as above.
unsafe impl Element for u8 {
    const DTYPE: DType = DType::U8;
}
// SAFETY: as above.
unsafe impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
// SAFETY: as above.
unsafe impl Element for i64 {
    const DTYPE: DType = DType::I64;
}

/// Reinterprets bytes as elements without copying; `None` if misaligned or not a whole number.
pub(crate) fn cast_slice<T: Element>(bytes: &[u8]) -> Option<&[T]> {
    // SAFETY: `T: Element` is plain-old-data with every bit pattern valid, so any aligned run of
    // its size in bytes is a valid `T`; `align_to` only returns properly aligned middles.
    let (head, body, tail) = unsafe { bytes.align_to::<T>() };
    (head.is_empty() && tail.is_empty()).then_some(body)
}
