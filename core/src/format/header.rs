//! The fixed 64-byte header at the start of every `.mq` file.
//!
//! Invariants of a parsed [`Header`]: magic and major version match, no unknown required flag is
//! set, the header checksum matches, the metadata section starts right after the header, the data
//! section starts at a multiple of [`DATA_ALIGN`] at or after the metadata's end, and the file
//! ends exactly where the data section ends.

use super::codec::{Decoder, Encoder};
use crate::error::{Error, Result};

/// The first eight bytes of every `.mq` file. The high byte and CR LF / ^Z catch text-mode
/// transfers that would corrupt the file.
pub const MAGIC: [u8; 8] = *b"\x89MQF\r\n\x1a\n";
/// Size of the header in bytes.
pub const HEADER_LEN: u64 = 64;
/// Major version: readers reject any other. Minor versions only add optional features.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version written by this build.
pub const VERSION_MINOR: u16 = 0;
/// Alignment of the data section's file offset: 16 KiB, the largest page size of current
/// Android and iOS devices, so the section can be mapped page-aligned everywhere.
pub const DATA_ALIGN: u64 = 16 * 1024;
/// Alignment of every tensor's offset within the data section.
pub const TENSOR_ALIGN: u64 = 64;
/// Required feature flags this build understands (none are defined in version 1.0).
pub const KNOWN_REQUIRED_FLAGS: u32 = 0;
/// Largest metadata section accepted.
pub const MAX_METADATA_LEN: u64 = 256 * 1024 * 1024;

/// The decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version_major: u16,
    pub version_minor: u16,
    /// Features a reader must understand to read the file; unknown bits are rejected.
    pub required_flags: u32,
    /// Features a reader may ignore.
    pub optional_flags: u32,
    pub metadata_offset: u64,
    pub metadata_len: u64,
    pub data_offset: u64,
    pub data_len: u64,
    pub metadata_crc32: u32,
}

impl Header {
    /// Encodes the header, computing its checksum.
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut e = Encoder::default();
        e.bytes.extend_from_slice(&MAGIC);
        e.u16(self.version_major);
        e.u16(self.version_minor);
        e.u32(self.required_flags);
        e.u32(self.optional_flags);
        e.u32(HEADER_LEN as u32);
        e.u64(self.metadata_offset);
        e.u64(self.metadata_len);
        e.u64(self.data_offset);
        e.u64(self.data_len);
        e.u32(self.metadata_crc32);
        let crc = crc32fast::hash(&e.bytes);
        e.u32(crc);
        e.bytes.try_into().expect("the header layout is 64 bytes")
    }

    /// Decodes and validates the header of a file of `file_len` bytes.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Header> {
        let mut d = Decoder::new(bytes, "header", 0);
        if (bytes.len() as u64) < HEADER_LEN {
            return Err(d.error(format!(
                "file is {} bytes long, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let mut magic = [0u8; 8];
        for b in &mut magic {
            *b = d.u8("magic")?;
        }
        if magic != MAGIC {
            return Err(Error::InvalidModel {
                section: "header",
                offset: Some(0),
                what: "not a MobiQuant model (bad magic bytes)".into(),
            });
        }
        let version_major = d.u16("major version")?;
        let version_minor = d.u16("minor version")?;
        if version_major != VERSION_MAJOR {
            return Err(Error::UnsupportedModel {
                what: format!(
                    "format version {version_major}.{version_minor}; this build reads version {VERSION_MAJOR}.x"
                ),
            });
        }
        let required_flags = d.u32("required flags")?;
        let optional_flags = d.u32("optional flags")?;
        let header_len = d.u32("header length")?;
        let header = Header {
            version_major,
            version_minor,
            required_flags,
            optional_flags,
            metadata_offset: d.u64("metadata offset")?,
            metadata_len: d.u64("metadata length")?,
            data_offset: d.u64("data offset")?,
            data_len: d.u64("data length")?,
            metadata_crc32: d.u32("metadata checksum")?,
        };
        let stored_crc = d.u32("header checksum")?;
        let computed = crc32fast::hash(&bytes[..60]);
        if stored_crc != computed {
            return Err(Error::ChecksumMismatch {
                what: "header".into(),
                stored: stored_crc,
                computed,
            });
        }
        if u64::from(header_len) != HEADER_LEN {
            return Err(Error::InvalidModel {
                section: "header",
                offset: Some(20),
                what: format!("header length is {header_len}, expected {HEADER_LEN}"),
            });
        }
        let unknown = required_flags & !KNOWN_REQUIRED_FLAGS;
        if unknown != 0 {
            return Err(Error::UnsupportedModel {
                what: format!("required feature flags {unknown:#x} are unknown to this build"),
            });
        }
        header.check_sections(file_len)?;
        Ok(header)
    }

    fn check_sections(&self, file_len: u64) -> Result<()> {
        let bad = |offset: u64, what: String| Error::InvalidModel {
            section: "header",
            offset: Some(offset),
            what,
        };
        if self.metadata_offset != HEADER_LEN {
            return Err(bad(
                24,
                format!(
                    "metadata offset is {}, expected {HEADER_LEN}",
                    self.metadata_offset
                ),
            ));
        }
        if self.metadata_len > MAX_METADATA_LEN {
            return Err(bad(
                32,
                format!(
                    "metadata length {} exceeds the limit of {MAX_METADATA_LEN}",
                    self.metadata_len
                ),
            ));
        }
        let metadata_end = HEADER_LEN + self.metadata_len;
        if !self.data_offset.is_multiple_of(DATA_ALIGN) || self.data_offset < metadata_end {
            return Err(bad(
                40,
                format!(
                    "data offset {} must be a multiple of {DATA_ALIGN} at or after the metadata end {metadata_end}",
                    self.data_offset
                ),
            ));
        }
        let data_end = self.data_offset.checked_add(self.data_len);
        if data_end != Some(file_len) {
            return Err(bad(
                48,
                format!(
                    "data section [{} + {}] does not end at the end of the {file_len}-byte file",
                    self.data_offset, self.data_len
                ),
            ));
        }
        Ok(())
    }
}
