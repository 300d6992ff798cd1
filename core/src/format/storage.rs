//! Where a loaded model's bytes live: a read-only memory map of the file, or an owned buffer
//! aligned to 64 bytes (for models handed over as bytes, e.g. app assets).
//!
//! Invariant: the bytes start at an address aligned to at least 64 bytes (a page for maps), so
//! that a tensor at a 64-aligned offset of the 16 KiB-aligned data section is 64-byte aligned in
//! memory, and never change while the storage lives.

use std::fs::File;

/// A 64-byte block: the unit of the owned buffer, which gives it its alignment.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Block([u8; 64]);

pub enum Storage {
    Mapped(memmap2::Mmap),
    Owned { blocks: Vec<Block>, len: usize },
}

impl Storage {
    /// Maps `file` read-only.
    ///
    /// The caller promises what the OS cannot: nobody truncates or rewrites the file while the
    /// model is loaded (see `Model::open`).
    pub fn map(file: &File) -> std::io::Result<Storage> {
        // SAFETY: the mapping is read-only and private; this module never writes through it. The
        // remaining hazard, another process changing or truncating the file while it is mapped,
        // is excluded by the documented contract of `Model::open`, the only caller.
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        Ok(Storage::Mapped(map))
    }

    /// Copies `bytes` into a new 64-byte aligned buffer.
    pub fn copy_from(bytes: &[u8]) -> Storage {
        let mut blocks = vec![Block([0; 64]); bytes.len().div_ceil(64)];
        for (block, chunk) in blocks.iter_mut().zip(bytes.chunks(64)) {
            block.0[..chunk.len()].copy_from_slice(chunk);
        }
        Storage::Owned {
            blocks,
            len: bytes.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(map) => map,
            Storage::Owned { blocks, len } => {
                // SAFETY: `blocks` is a live, initialized allocation of `blocks.len() * 64` bytes
                // (`Block` is `repr(C)` over `[u8; 64]`, so it has no padding), `len` is at most
                // that, and the returned borrow is tied to `self`, which owns the allocation.
                unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), *len) }
            }
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Storage::Mapped(_))
    }
}
