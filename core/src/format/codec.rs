//! Little-endian byte encoding of the metadata section: an append-only [`Encoder`] for the writer
//! and a bounds-checked cursor, [`Decoder`], for the reader.
//!
//! Invariants: the decoder never reads past its slice, never allocates more elements than the
//! remaining bytes could hold, and reports every failure as [`Error::InvalidModel`] carrying the
//! offset where reading stopped. Strings are UTF-8, prefixed by a u32 byte length, at most
//! [`MAX_STRING_LEN`] bytes.

use crate::error::{Error, Result};

/// Longest string (name, op type, attribute string) accepted, in bytes.
pub const MAX_STRING_LEN: usize = 64 * 1024;

/// Appends little-endian fields to a buffer.
#[derive(Default)]
pub struct Encoder {
    pub bytes: Vec<u8>,
}

impl Encoder {
    pub fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f32(&mut self, v: f32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    /// A count or index that the model builder has already checked to fit in u32.
    pub fn len(&mut self, n: usize) {
        self.u32(
            u32::try_from(n).expect("counts are checked against format limits before encoding"),
        );
    }
    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.bytes.extend_from_slice(s.as_bytes());
    }
    /// An optional index, with `u32::MAX` for "none".
    pub fn opt_index(&mut self, v: Option<u32>) {
        self.u32(v.unwrap_or(NONE_INDEX));
    }
}

/// The stored value of an absent optional index.
pub const NONE_INDEX: u32 = u32::MAX;

/// Reads little-endian fields from a slice, checking every bound.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    section: &'static str,
    /// Offset of `bytes[0]` within its section, for error messages.
    base: u64,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8], section: &'static str, base: u64) -> Self {
        Decoder {
            bytes,
            pos: 0,
            section,
            base,
        }
    }

    /// The error for a problem found at the current position.
    pub fn error(&self, what: impl Into<String>) -> Error {
        Error::InvalidModel {
            section: self.section,
            offset: Some(self.base + self.pos as u64),
            what: what.into(),
        }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.error(format!(
                "truncated: {field} needs {n} bytes, {} remain",
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub fn u8(&mut self, field: &str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }
    pub fn u16(&mut self, field: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    pub fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    pub fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    pub fn i32(&mut self, field: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }
    pub fn i64(&mut self, field: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    pub fn f32(&mut self, field: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(field)?))
    }

    /// A UTF-8 string of at most [`MAX_STRING_LEN`] bytes.
    pub fn str(&mut self, field: &str) -> Result<String> {
        let len = self.u32(field)? as usize;
        if len > MAX_STRING_LEN {
            return Err(self.error(format!(
                "{field} is {len} bytes long, the limit is {MAX_STRING_LEN}"
            )));
        }
        let start = self.pos;
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|e| Error::InvalidModel {
                section: self.section,
                offset: Some(self.base + (start + e.valid_up_to()) as u64),
                what: format!("{field} is not valid UTF-8"),
            })
    }

    /// An optional index stored with `u32::MAX` for "none".
    pub fn opt_index(&mut self, field: &str) -> Result<Option<u32>> {
        let v = self.u32(field)?;
        Ok((v != NONE_INDEX).then_some(v))
    }

    /// A u32 element count, checked against `limit` and against the bytes left (each element
    /// takes at least `min_elem_bytes`), so that a hostile count cannot force a huge allocation.
    pub fn count(&mut self, field: &str, limit: usize, min_elem_bytes: usize) -> Result<usize> {
        let n = self.u32(field)? as usize;
        if n > limit {
            return Err(self.error(format!("{field}: {n} exceeds the limit of {limit}")));
        }
        if n.saturating_mul(min_elem_bytes) > self.remaining() {
            return Err(self.error(format!(
                "{field}: {n} entries cannot fit in the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// `count` elements, each decoded by `item`.
    pub fn list<T>(
        &mut self,
        field: &str,
        limit: usize,
        min_elem_bytes: usize,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.count(field, limit, min_elem_bytes)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, field: &str) -> Result<()> {
        self.take(n, field).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field_kind() {
        let mut e = Encoder::default();
        e.u8(7);
        e.u16(0xBEEF);
        e.u32(0xDEAD_BEEF);
        e.u64(u64::MAX - 1);
        e.i32(-5);
        e.i64(i64::MIN);
        e.f32(-1.5);
        e.str("conv/weight");
        e.opt_index(None);
        e.opt_index(Some(3));
        let mut d = Decoder::new(&e.bytes, "metadata", 0);
        assert_eq!(d.u8("a").unwrap(), 7);
        assert_eq!(d.u16("a").unwrap(), 0xBEEF);
        assert_eq!(d.u32("a").unwrap(), 0xDEAD_BEEF);
        assert_eq!(d.u64("a").unwrap(), u64::MAX - 1);
        assert_eq!(d.i32("a").unwrap(), -5);
        assert_eq!(d.i64("a").unwrap(), i64::MIN);
        assert_eq!(d.f32("a").unwrap(), -1.5);
        assert_eq!(d.str("a").unwrap(), "conv/weight");
        assert_eq!(d.opt_index("a").unwrap(), None);
        assert_eq!(d.opt_index("a").unwrap(), Some(3));
        assert_eq!(d.remaining(), 0);
    }

    #[test]
    fn truncation_names_the_field_and_offset() {
        let mut d = Decoder::new(&[1, 2, 3], "metadata", 100);
        d.u8("tag").unwrap();
        let err = d.u32("tensor count").unwrap_err().to_string();
        assert!(err.contains("tensor count"), "{err}");
        assert!(err.contains("byte 101"), "{err}");
    }

    #[test]
    fn rejects_invalid_utf8_and_oversized_strings() {
        let mut e = Encoder::default();
        e.u32(2);
        e.bytes.extend_from_slice(&[0xC3, 0x28]);
        assert!(Decoder::new(&e.bytes, "metadata", 0).str("name").is_err());
        let mut e = Encoder::default();
        e.u32((MAX_STRING_LEN + 1) as u32);
        let err = Decoder::new(&e.bytes, "metadata", 0)
            .str("name")
            .unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        let mut e = Encoder::default();
        e.u32(u32::MAX);
        let mut d = Decoder::new(&e.bytes, "metadata", 0);
        assert!(d.list("values", usize::MAX, 1, |d| d.u8("v")).is_err());
    }
}
