//! The activation arena: one 64-byte aligned byte buffer per session, grown only when a plan
//! needs more than any plan before.
//!
//! Invariant: the buffer starts on a 64-byte boundary, so a value at a 64-aligned offset can be
//! read as any element type the runtime uses.

/// A 64-byte unit of the arena, which gives the buffer its alignment.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

// SAFETY: `Line` is `repr(C)` over `[u8; 64]`: 64 bytes, alignment 64, so no padding, and every
// bit pattern (including all zeros) is a valid value.
unsafe impl bytemuck::Zeroable for Line {}
// SAFETY: as above; it is `Copy` and `'static`.
unsafe impl bytemuck::Pod for Line {}

#[derive(Default)]
pub(crate) struct Arena {
    lines: Vec<Line>,
}

impl Arena {
    /// Makes the arena at least `bytes` long (allocating only when it grows); an allocation
    /// the system refuses is an error, not an abort.
    pub fn reserve(&mut self, bytes: usize) -> Result<(), std::collections::TryReserveError> {
        let lines = bytes.div_ceil(64);
        if self.lines.len() < lines {
            self.lines.try_reserve_exact(lines - self.lines.len())?;
            self.lines.resize(lines, Line([0; 64]));
        }
        Ok(())
    }

    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.lines)
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.lines)
    }
}
