//! Protobuf wire-format reader: the only code that touches undecoded bytes.
//!
//! Invariants:
//! - Nothing here indexes a slice without a bounds check or does unchecked arithmetic: a length
//!   prefix is compared with the bytes left before anything is sliced, so truncated or hostile
//!   input yields a [`ProtoError`], never a panic or an out-of-bounds read.
//! - A varint is at most 10 bytes and must fit in 64 bits; field number 0, numbers above
//!   2^29 - 1 and the group wire types (3, 4) and reserved ones (6, 7) are errors.
//! - Sub-messages are read through [`Field::message`], which refuses nesting deeper than
//!   [`MAX_DEPTH`], so recursive messages (graphs in attributes, types in types) cannot exhaust
//!   the stack.
//! - Repeated scalar fields accept both the packed and the unpacked encoding, as protobuf requires.
//! - Every error carries the absolute byte offset in the outermost buffer and, as decoders unwind,
//!   the path of fields that led to it (see [`Context`]).
//! - Memory: every decoded element consumes at least one input byte, so what is allocated grows
//!   linearly with the input.

use std::fmt;

/// How deeply messages may nest. Real models need about 3 levels per nested `If`/`Loop` body.
pub const MAX_DEPTH: u32 = 64;

/// Largest field number protobuf allows.
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Why bytes are not a valid encoding of the expected ONNX message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    #[error("truncated: the data ends inside a value")]
    Truncated,
    #[error("varint longer than 10 bytes or above 2^64 - 1")]
    VarintOverflow,
    #[error("invalid field number {0}")]
    InvalidFieldNumber(u64),
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
    #[error("wire type {found}, but this field is {expected}")]
    WrongWireType {
        found: &'static str,
        expected: &'static str,
    },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("value {value} is out of range for {target}")]
    OutOfRange { value: i64, target: &'static str },
    #[error("packed field of {len} bytes is not a multiple of {width}")]
    PackedLength { len: usize, width: usize },
    #[error("messages nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("required field '{0}' is missing")]
    MissingField(&'static str),
    #[error("attribute type {declared} does not match its value ({reason})")]
    AttributeType { declared: i64, reason: &'static str },
}

/// A [`ProtoError`] with where it happened: absolute byte offset and field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the outermost buffer.
    pub offset: usize,
    /// What is wrong.
    pub kind: ProtoError,
    /// Field path segments, innermost first (reversed on display).
    segments: Vec<String>,
}

impl DecodeError {
    pub fn new(offset: usize, kind: ProtoError) -> Self {
        Self {
            offset,
            kind,
            segments: Vec::new(),
        }
    }

    /// The field path from the outermost message, for example `graph.node[3] "conv1".input`.
    pub fn path(&self) -> String {
        let mut parts: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        parts.reverse();
        parts.join(".")
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} in {}",
            self.kind,
            self.offset,
            self.path()
        )
    }
}

/// Adds a field-path segment to errors as they propagate out of a decoder.
pub trait Context<T> {
    fn ctx(self, segment: &str) -> Result<T, DecodeError>;
}

impl<T> Context<T> for Result<T, DecodeError> {
    fn ctx(self, segment: &str) -> Result<T, DecodeError> {
        self.map_err(|mut e| {
            e.segments.push(segment.to_owned());
            e
        })
    }
}

/// One field value as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl Value<'_> {
    fn wire_name(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64(_) => "fixed64",
            Value::Len(_) => "length-delimited",
            Value::Fixed32(_) => "fixed32",
        }
    }
}

/// A cursor over the fields of one message.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the outermost buffer.
    base: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader over a whole top-level message.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
            depth: 0,
        }
    }

    fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// An error located at the reader's current position.
    pub fn error_here(&self, kind: ProtoError) -> DecodeError {
        DecodeError::new(self.offset(), kind)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.error_here(ProtoError::Truncated))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.offset();
        let mut value = 0u64;
        for index in 0..10u32 {
            let b = self.byte()?;
            // The tenth byte carries bit 63 only.
            if index == 9 && b > 1 {
                break;
            }
            value |= u64::from(b & 0x7f) << (7 * index);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new(start, ProtoError::VarintOverflow))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.error_here(ProtoError::Truncated))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.error_here(ProtoError::Truncated))?;
        self.pos = end;
        Ok(bytes)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let start = self.offset();
        self.take(N)?
            .try_into()
            .map_err(|_| DecodeError::new(start, ProtoError::Truncated))
    }

    /// The next field, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>, DecodeError> {
        if self.at_end() {
            return Ok(None);
        }
        let key_offset = self.offset();
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(DecodeError::new(
                key_offset,
                ProtoError::InvalidFieldNumber(number),
            ));
        }
        let mut offset = self.offset();
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            2 => {
                let len = self.varint()?;
                let len =
                    usize::try_from(len).map_err(|_| self.error_here(ProtoError::Truncated))?;
                // A length-delimited value is located by its payload, which sub-readers index.
                offset = self.offset();
                Value::Len(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            // The mask keeps the wire type below 8.
            other => {
                return Err(DecodeError::new(
                    key_offset,
                    ProtoError::UnsupportedWireType(other as u8),
                ));
            }
        };
        Ok(Some(Field {
            // `number` is at most 2^29 - 1, checked above.
            number: number as u32,
            value,
            offset,
            depth: self.depth,
        }))
    }
}

/// One decoded field: its number, its wire value and where the value starts.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    offset: usize,
    depth: u32,
}

impl<'a> Field<'a> {
    /// An error located at this field's value.
    pub fn error(&self, kind: ProtoError) -> DecodeError {
        DecodeError::new(self.offset, kind)
    }

    fn wrong_type(&self, expected: &'static str) -> DecodeError {
        self.error(ProtoError::WrongWireType {
            found: self.value.wire_name(),
            expected,
        })
    }

    /// A reader over a length-delimited value, for packed elements or a sub-message.
    fn inner(&self, expected: &'static str) -> Result<Reader<'a>, DecodeError> {
        match self.value {
            Value::Len(buf) => Ok(Reader {
                buf,
                pos: 0,
                base: self.offset,
                depth: self.depth,
            }),
            _ => Err(self.wrong_type(expected)),
        }
    }

    /// `uint64` (and the raw bits of any varint).
    pub fn u64(&self) -> Result<u64, DecodeError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(self.wrong_type("varint")),
        }
    }

    /// `int64`: the varint's bits as two's complement.
    pub fn i64(&self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }

    /// `int32` and enums: an `int64` that must fit in 32 bits.
    pub fn i32(&self) -> Result<i32, DecodeError> {
        let v = self.i64()?;
        i32::try_from(v).map_err(|_| {
            self.error(ProtoError::OutOfRange {
                value: v,
                target: "int32",
            })
        })
    }

    /// `float`.
    pub fn f32(&self) -> Result<f32, DecodeError> {
        match self.value {
            Value::Fixed32(v) => Ok(f32::from_bits(v)),
            _ => Err(self.wrong_type("fixed32")),
        }
    }

    /// `bytes`.
    pub fn bytes(&self) -> Result<&'a [u8], DecodeError> {
        match self.value {
            Value::Len(b) => Ok(b),
            _ => Err(self.wrong_type("length-delimited")),
        }
    }

    /// `string`: bytes that must be UTF-8.
    pub fn string(&self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| self.error(ProtoError::InvalidUtf8))
    }

    /// A sub-message, one level deeper than this field's message.
    pub fn message(&self) -> Result<Reader<'a>, DecodeError> {
        let mut r = self.inner("a message")?;
        r.depth = self
            .depth
            .checked_add(1)
            .filter(|&d| d <= MAX_DEPTH)
            .ok_or_else(|| self.error(ProtoError::TooDeep))?;
        Ok(r)
    }

    /// Decodes a singular sub-message with `decode`, labelling errors with `label`.
    pub fn decode_message<T>(
        &self,
        label: &str,
        decode: impl FnOnce(Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        self.message().and_then(decode).ctx(label)
    }

    /// Decodes one element of a repeated message field into `out`. Errors are labelled
    /// `label[index]`, followed by the element's name (string field `name_field`, if the message
    /// has one) when it can be read.
    pub fn push_message<T>(
        &self,
        out: &mut Vec<T>,
        label: &str,
        name_field: Option<u32>,
        decode: impl FnOnce(Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<(), DecodeError> {
        match self.message().and_then(decode) {
            Ok(item) => {
                out.push(item);
                Ok(())
            }
            Err(e) => {
                let segment = match name_field.and_then(|n| self.peek_string(n)) {
                    Some(name) => format!("{label}[{}] {name:?}", out.len()),
                    None => format!("{label}[{}]", out.len()),
                };
                Err(e).ctx(&segment)
            }
        }
    }

    /// Best effort, for error messages: the first string field `number` of this sub-message,
    /// read up to the first malformed byte.
    fn peek_string(&self, number: u32) -> Option<String> {
        let Value::Len(buf) = self.value else {
            return None;
        };
        let mut r = Reader::new(buf);
        while let Ok(Some(f)) = r.next_field() {
            if f.number == number {
                return f.string().ok();
            }
        }
        None
    }

    /// Calls `push` for each varint element; its errors are located at that element.
    fn each_varint(
        &self,
        mut push: impl FnMut(u64) -> Result<(), ProtoError>,
    ) -> Result<(), DecodeError> {
        match self.value {
            Value::Varint(v) => push(v).map_err(|kind| self.error(kind)),
            Value::Len(_) => {
                let mut r = self.inner("varint")?;
                while !r.at_end() {
                    let at = r.offset();
                    let v = r.varint()?;
                    push(v).map_err(|kind| DecodeError::new(at, kind))?;
                }
                Ok(())
            }
            _ => Err(self.wrong_type("varint (packed or not)")),
        }
    }

    fn each_fixed<const N: usize>(
        &self,
        expected: &'static str,
        mut push: impl FnMut([u8; N]),
    ) -> Result<(), DecodeError> {
        // A lone element must have the width this field expects.
        let single: Option<[u8; N]> = match self.value {
            Value::Fixed32(v) => v.to_le_bytes().as_slice().try_into().ok(),
            Value::Fixed64(v) => v.to_le_bytes().as_slice().try_into().ok(),
            Value::Len(b) => {
                if b.len() % N != 0 {
                    return Err(self.error(ProtoError::PackedLength {
                        len: b.len(),
                        width: N,
                    }));
                }
                for chunk in b.chunks_exact(N) {
                    if let Ok(element) = chunk.try_into() {
                        push(element);
                    }
                }
                return Ok(());
            }
            Value::Varint(_) => None,
        };
        let element = single.ok_or_else(|| self.wrong_type(expected))?;
        push(element);
        Ok(())
    }

    /// Repeated `int64`, packed or not.
    pub fn push_i64(&self, out: &mut Vec<i64>) -> Result<(), DecodeError> {
        self.each_varint(|v| {
            out.push(v as i64);
            Ok(())
        })
    }

    /// Repeated `int32`, packed or not.
    pub fn push_i32(&self, out: &mut Vec<i32>) -> Result<(), DecodeError> {
        self.each_varint(|v| {
            let v = v as i64;
            let target = "int32";
            out.push(i32::try_from(v).map_err(|_| ProtoError::OutOfRange { value: v, target })?);
            Ok(())
        })
    }

    /// Repeated `uint64`, packed or not.
    pub fn push_u64(&self, out: &mut Vec<u64>) -> Result<(), DecodeError> {
        self.each_varint(|v| {
            out.push(v);
            Ok(())
        })
    }

    /// Repeated `float`, packed or not.
    pub fn push_f32(&self, out: &mut Vec<f32>) -> Result<(), DecodeError> {
        self.each_fixed::<4>("fixed32 (packed or not)", |b| {
            out.push(f32::from_le_bytes(b))
        })
    }

    /// Repeated `double`, packed or not.
    pub fn push_f64(&self, out: &mut Vec<f64>) -> Result<(), DecodeError> {
        self.each_fixed::<8>("fixed64 (packed or not)", |b| {
            out.push(f64::from_le_bytes(b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::test_encoder::{Enc, varint_bytes};

    fn fields(buf: &[u8]) -> Result<Vec<(u32, String)>, DecodeError> {
        let mut r = Reader::new(buf);
        let mut out = Vec::new();
        while let Some(f) = r.next_field()? {
            out.push((f.number, format!("{:?}", f.value)));
        }
        Ok(out)
    }

    fn one_varint(bytes: &[u8]) -> Result<u64, DecodeError> {
        let mut buf = vec![0x08];
        buf.extend_from_slice(bytes);
        let mut r = Reader::new(&buf);
        r.next_field()?
            .map_or(Err(DecodeError::new(0, ProtoError::Truncated)), |f| f.u64())
    }

    #[test]
    fn varints_decode_up_to_64_bits() {
        assert_eq!(one_varint(&[0]).unwrap(), 0);
        assert_eq!(one_varint(&[0x96, 0x01]).unwrap(), 150);
        assert_eq!(one_varint(&varint_bytes(u64::MAX)).unwrap(), u64::MAX);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(one_varint(&max).unwrap(), u64::MAX);
    }

    #[test]
    fn overlong_or_overflowing_varints_are_refused() {
        let above = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            one_varint(&above).unwrap_err().kind,
            ProtoError::VarintOverflow
        );
        let eleven = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ];
        assert_eq!(
            one_varint(&eleven).unwrap_err().kind,
            ProtoError::VarintOverflow
        );
        let err = one_varint(&[0x80, 0x80]).unwrap_err();
        assert_eq!((err.kind, err.offset), (ProtoError::Truncated, 3));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            fields(&[0x00, 0x01]).unwrap_err().kind,
            ProtoError::InvalidFieldNumber(0)
        );
        for wire in [3u8, 4, 6, 7] {
            let err = fields(&[0x08 | wire, 0x00]).unwrap_err();
            assert_eq!(err.kind, ProtoError::UnsupportedWireType(wire));
        }
        let huge = varint_bytes((1u64 << 29) << 3);
        assert!(matches!(
            fields(&huge).unwrap_err().kind,
            ProtoError::InvalidFieldNumber(_)
        ));
    }

    #[test]
    fn truncated_values_are_refused() {
        for buf in [
            &[0x0a, 0x05, 1, 2][..], // length 5, 2 bytes left
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..], // length 2^64-1
            &[0x0d, 1, 2, 3][..],    // fixed32 with 3 bytes
            &[0x09, 1, 2, 3, 4, 5, 6, 7][..], // fixed64 with 7 bytes
            &[0x08][..],             // key without value
        ] {
            assert_eq!(
                fields(buf).unwrap_err().kind,
                ProtoError::Truncated,
                "{buf:?}"
            );
        }
    }

    #[test]
    fn every_wire_type_decodes() {
        let buf = Enc::new()
            .varint(1, 7)
            .fixed64(2, 9)
            .bytes(3, b"ab")
            .fixed32(4, 5)
            .0;
        let got = fields(&buf).unwrap();
        let numbers: Vec<u32> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert_eq!(got[2].1, "Len([97, 98])");
    }

    fn first_field(buf: &[u8]) -> Field<'_> {
        Reader::new(buf).next_field().unwrap().unwrap()
    }

    #[test]
    fn repeated_scalars_accept_packed_and_unpacked() {
        let packed = Enc::new().packed(1, &[1, -2, 300]).0;
        let unpacked = Enc::new().int(1, 1).int(1, -2).int(1, 300).0;
        for buf in [packed, unpacked] {
            let mut r = Reader::new(&buf);
            let mut out = Vec::new();
            while let Some(f) = r.next_field().unwrap() {
                f.push_i64(&mut out).unwrap();
            }
            assert_eq!(out, [1, -2, 300]);
        }
        let floats = Enc::new().bytes(1, &[0, 0, 128, 63, 0, 0, 0, 64]).0;
        let mut out = Vec::new();
        first_field(&floats).push_f32(&mut out).unwrap();
        assert_eq!(out, [1.0, 2.0]);
        let single = Enc::new().fixed32(1, 3.5f32.to_bits()).0;
        first_field(&single).push_f32(&mut out).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.5]);
        let doubles = Enc::new().fixed64(1, 2.5f64.to_bits()).0;
        let mut d = Vec::new();
        first_field(&doubles).push_f64(&mut d).unwrap();
        assert_eq!(d, [2.5]);
    }

    #[test]
    fn packed_errors_are_typed() {
        let ragged = Enc::new().bytes(1, &[0, 0, 128]).0;
        let err = first_field(&ragged).push_f32(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ProtoError::PackedLength { len: 3, width: 4 });
        let fixed64_as_float = Enc::new().fixed64(1, 0).0;
        let err = first_field(&fixed64_as_float)
            .push_f32(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            err.kind,
            ProtoError::WrongWireType {
                found: "fixed64",
                ..
            }
        ));
        let big = Enc::new().packed(1, &[1, 1 << 40]).0;
        let err = first_field(&big).push_i32(&mut Vec::new()).unwrap_err();
        assert_eq!(
            err.kind,
            ProtoError::OutOfRange {
                value: 1 << 40,
                target: "int32"
            }
        );
        let cut = Enc::new().bytes(1, &[0x80]).0;
        assert_eq!(
            first_field(&cut)
                .push_i64(&mut Vec::new())
                .unwrap_err()
                .kind,
            ProtoError::Truncated
        );
    }

    #[test]
    fn negative_int32_uses_ten_bytes() {
        let buf = Enc::new().int(1, -5).0;
        assert_eq!(buf.len(), 11);
        assert_eq!(first_field(&buf).i32().unwrap(), -5);
        let mut out = Vec::new();
        first_field(&buf).push_i32(&mut out).unwrap();
        assert_eq!(out, [-5]);
    }

    #[test]
    fn strings_must_be_utf8() {
        let buf = Enc::new().bytes(1, &[0xff, 0xfe]).0;
        assert_eq!(
            first_field(&buf).string().unwrap_err().kind,
            ProtoError::InvalidUtf8
        );
        assert_eq!(first_field(&buf).bytes().unwrap(), [0xff, 0xfe]);
    }

    fn nest(levels: u32, r: Reader<'_>) -> Result<u32, DecodeError> {
        let mut r = r;
        let mut deepest = levels;
        while let Some(f) = r.next_field()? {
            deepest = nest(levels + 1, f.message()?)?;
        }
        Ok(deepest)
    }

    #[test]
    fn nesting_is_limited() {
        let build = |levels: u32| {
            (0..levels)
                .fold(Enc::new(), |inner, _| Enc::new().msg(1, inner))
                .0
        };
        assert_eq!(nest(0, Reader::new(&build(MAX_DEPTH))).unwrap(), MAX_DEPTH);
        let err = nest(0, Reader::new(&build(MAX_DEPTH + 1))).unwrap_err();
        assert_eq!(err.kind, ProtoError::TooDeep);
    }

    #[test]
    fn offsets_are_absolute() {
        // Field 1 holds a message whose second field is a truncated varint.
        let inner = Enc::new().bytes(2, b"").raw(&[0x18, 0x80]).0;
        let outer = Enc::new().bytes(1, &inner).0;
        let err = nest(0, Reader::new(&outer)).unwrap_err();
        assert_eq!(err.kind, ProtoError::Truncated);
        assert_eq!(err.offset, outer.len());
    }
}
