//! The packed layouts of the f32 GEMM.
//!
//! Packed B: B (`k × n`) cut into panels of [`NR`] = 16 columns;
//! panel `j` holds, for each `p < k`, the 16 values `B[p, 16j .. 16j + 16]` contiguously, so that
//! element `(p, c)` of the panel is at `j * 16 * k + 16 * p + c`. Columns past `n` are zero.
//!
//! The layout does not depend on the tier (AVX2 reads a panel row as two ymm, AVX-512F as one
//! zmm, NEON as four q registers, the reference as 16 scalars), so packed constant weights can be
//! stored once per model. Packing is a pure function of the values.
//!
//! Packed A ([`PackedA`]): A (`m × k`) cut into row tiles of the tier's `MR` rows; tile `t`
//! holds, for each `p < k`, the `MR` values `A[MR t .. MR t + MR, p]` contiguously, so that
//! element `(i, p)` is at `t * MR * k + MR * p + i` with `t = i / MR` (rows past `m` are zero).
//! A k block `k0..` of a tile is then one contiguous run, read by the tile kernel with one pointer.
//! The layout depends on the tier only through `MR`; constant weights are packed at convert time
//! and stored in the model (`Layout::PackedF32A`, parameters [`packed_a_layout`]) or, when the
//! stored packing does not match the running tier, once at build time; other left operands are
//! packed by [`f32_gemm`](super::f32_gemm) on each call. A [`PackedA`] owns its elements or
//! borrows them in place from the model ([`PackedA::from_packed`]).

use std::borrow::Cow;

use super::tile::KC;
use crate::error::{Error, Result};
use crate::kernels::{Kernels, Tier};
use crate::tensor::Layout;

/// Columns per packed panel, on every tier.
pub const NR: usize = 16;

/// f32 elements of B (`k × n`) once packed: `ceil(n / 16) * 16 * k`, or `None` on overflow.
pub fn packed_b_len(k: usize, n: usize) -> Option<usize> {
    n.div_ceil(NR).checked_mul(NR)?.checked_mul(k)
}

/// Packs B, element `(p, j)` read at `src[p * row_stride + j * col_stride]`, into `dst` (which must
/// hold exactly [`packed_b_len`] elements). Fails, without panicking, on short or wrong buffers.
pub fn pack_b_into(
    src: &[f32],
    row_stride: usize,
    col_stride: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
) -> Result<()> {
    let len = packed_b_len(k, n);
    if !check_packing(src, (row_stride, col_stride), (k, n), len, dst.len())? {
        return Ok(());
    }
    for (j, panel) in dst.chunks_exact_mut(NR * k).enumerate() {
        let first = j * NR;
        let cols = NR.min(n - first);
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            let start = p * row_stride + first * col_stride;
            if let (1, NR, Ok(full), Some(Ok(from))) = (
                col_stride,
                cols,
                <&mut [f32; NR]>::try_from(&mut *row),
                src.get(start..start + NR).map(<&[f32; NR]>::try_from),
            ) {
                // A whole panel row: a fixed-size copy the compiler inlines (no memmove call).
                *full = *from;
                continue;
            }
            if col_stride == 1 {
                row[..cols].copy_from_slice(&src[start..start + cols]);
            } else {
                for (c, d) in row[..cols].iter_mut().enumerate() {
                    *d = src[start + c * col_stride];
                }
            }
            row[cols..].fill(0.0);
        }
    }
    Ok(())
}

/// Checks a packing of a `rows × cols` matrix read at `src[r * rs + c * cs]` into a destination
/// of `dst_len` elements that must be `want` (`None`: the size overflows): errors on a wrong
/// destination or an element outside `src`; `Ok(false)` when the matrix is empty (nothing to do).
fn check_packing(
    src: &[f32],
    (rs, cs): (usize, usize),
    (rows, cols): (usize, usize),
    want: Option<usize>,
    dst_len: usize,
) -> Result<bool> {
    let want = want.ok_or_else(|| Error::invalid_argument("f32 pack: size overflows"))?;
    if dst_len != want {
        return Err(Error::invalid_argument(format!(
            "f32 pack: destination holds {dst_len} elements, {rows}x{cols} packs into {want}"
        )));
    }
    if rows == 0 || cols == 0 {
        return Ok(false);
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|x| x.checked_add((cols - 1).checked_mul(cs)?))
        .filter(|&last| last < src.len());
    match last {
        Some(_) => Ok(true),
        None => Err(Error::invalid_argument(format!(
            "f32 pack: {rows}x{cols} with strides ({rs}, {cs}) overruns {} elements",
            src.len()
        ))),
    }
}

/// Packs B (see [`pack_b_into`]) into a new vector: what an op does once with constant weights.
pub fn pack_b(
    src: &[f32],
    row_stride: usize,
    col_stride: usize,
    k: usize,
    n: usize,
) -> Result<Vec<f32>> {
    let len =
        packed_b_len(k, n).ok_or_else(|| Error::invalid_argument("f32 pack: size overflows"))?;
    let mut dst = vec![0.0; len];
    pack_b_into(src, row_stride, col_stride, k, n, &mut dst)?;
    Ok(dst)
}

/// A left operand (`m × k`) packed for the tile kernels of one `MR` (see the module docs), owned
/// or borrowed (from a model's stored packing).
#[derive(Clone)]
pub struct PackedA<'d> {
    data: Cow<'d, [f32]>,
    m: usize,
    k: usize,
    mr: usize,
}

/// The tile height of the f32 GEMM of `tier`, on every architecture (the converter packs for
/// tiers it does not run on); a test checks it against each available tier's kernel.
pub fn tier_mr(tier: Tier) -> usize {
    match tier {
        Tier::Reference => 4,
        Tier::Neon | Tier::Dotprod | Tier::I8mm | Tier::Avx2 | Tier::AvxVnni => 6,
        Tier::Avx512Vnni => 12,
    }
}

/// The stored layout (`Layout::PackedF32A`) of left operands packed for tiles of `mr` rows by
/// this build's kernels (its k-block depth and panel width), or `None` for an `mr` the layout
/// cannot describe.
pub fn packed_a_layout(mr: usize) -> Option<Layout> {
    Layout::from_tag(4, [mr.try_into().ok()?, KC as u32, NR as u32])
}

/// The stored layout (`Layout::PackedF32B`) of right operands packed by [`pack_b`]: one for
/// every tier.
pub fn packed_b_layout() -> Layout {
    Layout::PackedF32B { nr: NR as u8 }
}

/// Packs A (`m × k`, row-major) in tiles of `mr` rows: the bytes a model stores for one group
/// of a Conv's weights in `Layout::PackedF32A` (dims `[.., ceil(m / mr), k, mr]`).
pub fn pack_a(src: &[f32], m: usize, k: usize, mr: usize) -> Result<Vec<f32>> {
    let len = packed_a_len(m, k, mr)
        .filter(|_| mr > 0)
        .ok_or_else(|| Error::invalid_argument("f32 pack: size overflows"))?;
    let mut data = vec![0.0; len];
    pack_a_into(src, (k, 1), m, k, mr, &mut data)?;
    Ok(data)
}

impl PackedA<'static> {
    /// Packs A (`m × k`), element `(i, p)` read at `src[i * row_stride + p * col_stride]`, for the
    /// f32 GEMM of `kernels`. Fails, without panicking, on a short `src` or an overflowing size.
    pub fn new(
        kernels: &Kernels,
        src: &[f32],
        (row_stride, col_stride): (usize, usize),
        m: usize,
        k: usize,
    ) -> Result<PackedA<'static>> {
        let mr = kernels.f32_mr;
        let len = packed_a_len(m, k, mr)
            .ok_or_else(|| Error::invalid_argument("f32 pack: size overflows"))?;
        let mut data = vec![0.0; len];
        pack_a_into(src, (row_stride, col_stride), m, k, mr, &mut data)?;
        Ok(PackedA {
            data: Cow::Owned(data),
            m,
            k,
            mr,
        })
    }
}

impl<'d> PackedA<'d> {
    /// A (`m × k`) already packed for the f32 GEMM of `kernels` (a stored `Layout::PackedF32A`
    /// group), borrowed in place. Fails unless `data` holds exactly the packed length for the
    /// tier's MR; the values are used as they are (rows past `m` are never read).
    pub fn from_packed(
        kernels: &Kernels,
        data: &'d [f32],
        m: usize,
        k: usize,
    ) -> Result<PackedA<'d>> {
        let mr = kernels.f32_mr;
        if packed_a_len(m, k, mr) != Some(data.len()) {
            return Err(Error::invalid_argument(format!(
                "f32 pack: {} elements given, {m}x{k} in tiles of {mr} rows needs {:?}",
                data.len(),
                packed_a_len(m, k, mr)
            )));
        }
        Ok(PackedA {
            data: Cow::Borrowed(data),
            m,
            k,
            mr,
        })
    }

    /// `(m, k, MR)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.m, self.k, self.mr)
    }

    pub(crate) fn data(&self) -> &[f32] {
        &self.data
    }
}

impl std::fmt::Debug for PackedA<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedA {}x{} (MR {})", self.m, self.k, self.mr)
    }
}

/// f32 elements of A (`m × k`) packed in tiles of `mr` rows: `ceil(m / mr) * mr * k`.
pub(crate) fn packed_a_len(m: usize, k: usize, mr: usize) -> Option<usize> {
    m.div_ceil(mr.max(1)).checked_mul(mr)?.checked_mul(k)
}

/// Packs A (element `(i, p)` at `src[i * rs + p * cs]`) into `dst`, which must hold exactly
/// [`packed_a_len`] elements; rows past `m` of the last tile are zeroed. Fails, without
/// panicking, on short or wrong buffers.
pub(crate) fn pack_a_into(
    src: &[f32],
    (rs, cs): (usize, usize),
    m: usize,
    k: usize,
    mr: usize,
    dst: &mut [f32],
) -> Result<()> {
    let len = packed_a_len(m, k, mr).filter(|_| mr > 0);
    if !check_packing(src, (rs, cs), (m, k), len, dst.len())? {
        return Ok(());
    }
    for (t, tile) in dst.chunks_exact_mut(mr * k).enumerate() {
        for i in 0..mr {
            let slots = tile[i..].iter_mut().step_by(mr);
            let r = t * mr + i;
            if r >= m {
                slots.for_each(|d| *d = 0.0);
            } else if cs == 1 {
                slots
                    .zip(&src[r * rs..r * rs + k])
                    .for_each(|(d, &v)| *d = v);
            } else {
                for (d, p) in slots.zip(0..k) {
                    *d = src[r * rs + p * cs];
                }
            }
        }
    }
    Ok(())
}
