//! Weight orders other than the stored `c8` one, made once when the weights are prepared for a
//! tier (plan or build time, never per run), and the prepared weights the GEMM reads.
//!
//! The `c4` order (the AVX-512 VNNI tier): the file header and each panel's column data are the
//! stored bytes unchanged; within each 128-byte k-block, bytes `0..64` hold k 0-3 of columns
//! 0-15 (column `c` at `4c`) and bytes `64..128` hold k 4-7 (column `c` at `64 + 4c`), so that
//! one VPDPBUSD multiplies a broadcast dword of 4 activations by 16 columns and each column
//! owns one accumulator lane.
//!
//! Invariants: a [`Qs8Prepared`] in an order other than `c8` owns its bytes in a 64-byte
//! aligned buffer (k-blocks start 64-byte aligned, as in a model file); the repack is a byte
//! permutation within each k-block, so everything [`Qs8Packed::from_bytes`] checked still holds.

use crate::format::Storage;
use crate::kernels::Kernels;

use super::pack::{HEADER_LEN, KBLOCK_LEN, KR, NR, PANEL_HEADER_LEN, Qs8Packed};

/// The byte order of the weights inside each k-block of a panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WeightOrder {
    /// Column `c` owns bytes `8c .. 8c + 8` (its 8 k): the stored order.
    C8,
    /// k 0-3 of the 16 columns, then k 4-7 (see the module docs).
    // Only the AVX-512 VNNI tier asks for it; other builds never construct it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    C4,
}

/// Offset in a `c4` k-block of column `c`'s weight at k `j` of the block (`c < 16`, `j < 8`).
pub(crate) fn c4_offset(c: usize, j: usize) -> usize {
    (j / 4) * (KBLOCK_LEN / 2) + 4 * c + j % 4
}

/// The `c8` bytes of `w` in the `c4` order: the same length, header and column data; each
/// k-block's 128 bytes permuted. A pure function of the bytes.
pub(crate) fn repack_c4(w: &Qs8Packed) -> Vec<u8> {
    let c8 = w.bytes();
    let mut out = c8.to_vec();
    for panel in out[HEADER_LEN..].chunks_exact_mut(w.panel_len()) {
        let blocks = &mut panel[PANEL_HEADER_LEN..];
        for block in blocks.chunks_exact_mut(KBLOCK_LEN) {
            let stored: [u8; KBLOCK_LEN] = (&*block).try_into().expect("one k-block");
            for c in 0..NR {
                for j in 0..KR {
                    block[c4_offset(c, j)] = stored[c * KR + j];
                }
            }
        }
    }
    out
}

/// Packed weights prepared for one tier: the stored bytes when the tier reads the `c8` order,
/// else an owned, 64-byte aligned copy in the tier's order.
pub struct Qs8Prepared<'a> {
    packed: Qs8Packed<'a>,
    order: WeightOrder,
    repacked: Option<Storage>,
}

impl<'a> Qs8Prepared<'a> {
    /// Prepares `packed` for `kernels`' tier; repacks (time and memory: `docs/performance.md`)
    /// only when that tier reads another order.
    pub fn new(kernels: &Kernels, packed: Qs8Packed<'a>) -> Qs8Prepared<'a> {
        let order = kernels.qs8_weight_order;
        let repacked = match order {
            WeightOrder::C8 => None,
            WeightOrder::C4 => Some(Storage::copy_from(&repack_c4(&packed))),
        };
        Qs8Prepared {
            packed,
            order,
            repacked,
        }
    }

    /// The validated view of the stored bytes (shape, mode, column data).
    pub fn packed(&self) -> &Qs8Packed<'a> {
        &self.packed
    }

    /// Bytes held besides the stored weights (0 when the tier reads them in place).
    pub fn extra_bytes(&self) -> usize {
        self.repacked.as_ref().map_or(0, |s| s.bytes().len())
    }

    /// The order of [`Qs8Prepared::panel`]'s k-blocks.
    pub(crate) fn order(&self) -> WeightOrder {
        self.order
    }

    /// The bytes of panel `p` (< `panels()`) in this preparation's order.
    pub(crate) fn panel(&self, p: usize) -> &[u8] {
        match &self.repacked {
            None => self.packed.panel(p),
            Some(storage) => {
                let len = self.packed.panel_len();
                let start = HEADER_LEN + p * len;
                &storage.bytes()[start..start + len]
            }
        }
    }
}
