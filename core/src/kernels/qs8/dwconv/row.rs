//! The contract between the depthwise driver and the per-tier row kernels, and the part every tier
//! shares: cutting an output row into chunks of `V` outputs, feeding chunks that touch the padding
//! from a zero-point-filled copy, and the requantization.
//!
//! A row job is one output row of one channel: the input rows under the kernel rows that are not
//! in the vertical padding (`n <= K` of them, with their taps), the stride, the left padding, the
//! channel's bias (already corrected for the kernel rows in the padding) and requantization. A tier
//! only supplies `chunk::<K, S, U>`, which computes for `j < V` the raw dot products
//! `acc[j] = sum_r sum_kx taps[r][kx] * x_r[S j + kx]` from `n` row pointers (bytes read as u8
//! when `U`, else as i8); everything else is [`run`], compiled inside each tier's
//! `#[target_feature]` function, so requantization is vectorized by that tier and stays the same
//! IEEE operations as the GEMM epilogue (`tile::quantize`): all tiers are bit-exact.
//!
//! Arithmetic: with `x_s8` the s8 view of the input (`x - 128` for u8) and padding positions
//! holding the input zero point, `t = sum taps * x_s8 + bias` (i32, wrapping) where the packed
//! bias already holds `-zp_s8 * sum(all taps)`: padding taps then cancel exactly. For u8 the
//! kernel's sum of `taps * x` exceeds the s8 view by `128 * sum(taps of the valid rows)`, which
//! the job's bias subtracts. Output: `quantize((t as f32) * scale, zp, min, max)`.

use crate::kernels::qs8::tile::{OutKind, quantize};

/// The largest kernel size.
pub(crate) const MAX_K: usize = 5;
/// The largest chunk (outputs per kernel call) of any tier.
pub(crate) const MAX_V: usize = 32;
/// Bytes of a zero-point-filled copy of a chunk's input: the span of the largest chunk.
const EDGE_LEN: usize = span(MAX_V, MAX_K, 2);

/// Bytes a chunk kernel may read from each row pointer for `v` outputs of a `k`-wide kernel at
/// stride `s`: `s * v + k - 1` (the taps of the last output reach `s (v - 1) + k - 1`; a tier may
/// read up to `s - 1` bytes past them).
pub(crate) const fn span(v: usize, k: usize, s: usize) -> usize {
    s * v + k - 1
}

/// One output row of one channel (see the module doc). Valid when: `k` is 3 or 5, `stride` 1 or 2,
/// `n <= k`, the first `n` rows all have the same length, and the first `k` taps of each of the
/// first `n` rows are set (the rest zero).
pub(crate) struct DwRowJob<'a> {
    pub k: usize,
    pub stride: usize,
    pub pad_left: usize,
    pub rows: [&'a [u8]; MAX_K],
    pub taps: [[i8; MAX_K]; MAX_K],
    pub n: usize,
    /// Input bytes are u8 (else i8).
    pub unsigned: bool,
    /// The raw input byte of the zero point (what padding positions hold).
    pub fill: u8,
    /// `t = dot + bias` (see the module doc).
    pub bias: i32,
    pub scale: f32,
    /// `S8` or `U8` (never `F32`).
    pub out: OutKind,
}

/// Precomputed tap pairs of one kernel row for tiers that multiply pairs of i16 (`VPMADDWD`):
/// `[0..3]` = `(w0, w1), (w2, w3), (w4, 0)` (low half first) and `[3..6]` = `(w0, w1), (w2, w3)`
/// for the first `K / 2` pairs then `(0, w[K-1])`.
pub(crate) type TapPairs = [i32; 6];

/// The tap pairs of `w` (a kernel row of `k` taps, zero past `k`).
#[inline(always)]
pub(crate) fn tap_pairs(w: &[i8; MAX_K], k: usize) -> TapPairs {
    let pair = |a: i8, b: i8| i32::from(a as i16 as u16) | (i32::from(b as i16 as u16) << 16);
    let mut p = [0; 6];
    for i in 0..3 {
        let hi = if 2 * i + 1 < k { w[2 * i + 1] } else { 0 };
        p[i] = if 2 * i < k { pair(w[2 * i], hi) } else { 0 };
    }
    for i in 0..k / 2 {
        p[3 + i] = pair(w[2 * i], w[2 * i + 1]);
    }
    p[3 + k / 2] = pair(0, w[k - 1]);
    p
}

/// A tier's row kernel (`qs8_dwconv_<V>w__<tier>`): computes `dst` (one byte per output) from a
/// valid job.
///
/// # Safety
/// The job is valid (see [`DwRowJob`]) and the CPU has the kernel's tier.
pub(crate) type Qs8DwRowFn = unsafe fn(job: &DwRowJob, dst: &mut [u8]);

/// The arguments of a chunk kernel: `n` row pointers (each readable for `span(V, K, S)` bytes),
/// their taps and tap pairs.
pub(crate) struct Chunk<'a> {
    pub rows: [*const u8; MAX_K],
    pub taps: &'a [[i8; MAX_K]; MAX_K],
    pub pairs: &'a [TapPairs; MAX_K],
    pub n: usize,
}

/// Computes a row job with `chunk(&Chunk, &mut [i32; V])` as the tier's chunk kernel for the
/// job's `(K, S, U)` (the caller dispatches on them; see `dwconv_row_kernel!`).
///
/// # Safety
/// The job is valid and `chunk`, given a [`Chunk`] whose pointers are readable for
/// `span(V, k, stride)` bytes, reads only those bytes.
#[inline(always)]
pub(crate) unsafe fn run<const V: usize>(
    job: &DwRowJob,
    dst: &mut [u8],
    mut chunk: impl FnMut(&Chunk, &mut [i32; V]),
) {
    const { assert!(V <= MAX_V && V > 0) };
    debug_assert!(matches!(job.k, 3 | 5) && matches!(job.stride, 1 | 2) && job.n <= job.k);
    let (zp, min, max) = match job.out {
        OutKind::S8 {
            zero_point,
            min,
            max,
        }
        | OutKind::U8 {
            zero_point,
            min,
            max,
        } => (zero_point, min, max),
        OutKind::F32 { .. } => return,
    };
    let width = job.rows[0].len();
    let span = span(V, job.k, job.stride);
    let mut pairs = [[0; 6]; MAX_K];
    for (p, w) in pairs.iter_mut().zip(&job.taps).take(job.n) {
        *p = tap_pairs(w, job.k);
    }
    let mut edge = [[0u8; EDGE_LEN]; MAX_K];
    for (c, out) in dst.chunks_mut(V).enumerate() {
        let mut acc = [0i32; V];
        if job.n > 0 {
            let start = (c * V * job.stride) as isize - job.pad_left as isize;
            let inside = start >= 0 && start as usize + span <= width;
            let mut rows = [std::ptr::null(); MAX_K];
            for ((ptr, row), e) in rows.iter_mut().zip(&job.rows).zip(&mut edge).take(job.n) {
                *ptr = if inside {
                    row[start as usize..].as_ptr()
                } else {
                    for (i, b) in e[..span].iter_mut().enumerate() {
                        let ix = start + i as isize;
                        *b = if ix >= 0 && (ix as usize) < width {
                            row[ix as usize]
                        } else {
                            job.fill
                        };
                    }
                    e.as_ptr()
                };
            }
            let args = Chunk {
                rows,
                taps: &job.taps,
                pairs: &pairs,
                n: job.n,
            };
            chunk(&args, &mut acc);
        }
        let mut q = [0u8; V];
        for (q, &a) in q.iter_mut().zip(&acc) {
            *q = quantize(a.wrapping_add(job.bias) as f32 * job.scale, zp, min, max) as u8;
        }
        out.copy_from_slice(&q[..out.len()]);
    }
}

/// Defines a tier's row kernel `$name` (a [`Qs8DwRowFn`]) compiled with `$features` (none for the
/// reference), running
/// [`run`] with `$chunk::<K, S, U>` on chunks of `$v` outputs. `$chunk(c: &Chunk, acc: &mut [i32;
/// $v])` must be an `unsafe fn` whose `# Safety` is implied by `run`'s promise plus the features.
macro_rules! dwconv_row_kernel {
    ($(#[$doc:meta])* $name:ident, features: [$($features:literal)?], v: $v:expr, $chunk:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The job is valid (`DwRowJob`) and the CPU has the features this function is compiled
        /// for.
        #[allow(non_snake_case)]
        $(#[target_feature(enable = $features)])?
        pub(crate) unsafe fn $name(
            job: &$crate::kernels::qs8::dwconv::row::DwRowJob,
            dst: &mut [u8],
        ) {
            // SAFETY: the job is valid (this function's contract); `run` hands the chunk kernel
            // pointers readable for the span its (K, S) reads; K is 3 or 5 and S 1 or 2.
            unsafe {
                $crate::kernels::qs8::dwconv::row::run::<{ $v }>(job, dst, |c, acc| {
                    match (job.k == 3, job.stride == 1, job.unsigned) {
                        (true, true, false) => $chunk::<3, 1, false>(c, acc),
                        (true, true, true) => $chunk::<3, 1, true>(c, acc),
                        (true, false, false) => $chunk::<3, 2, false>(c, acc),
                        (true, false, true) => $chunk::<3, 2, true>(c, acc),
                        (false, true, false) => $chunk::<5, 1, false>(c, acc),
                        (false, true, true) => $chunk::<5, 1, true>(c, acc),
                        (false, false, false) => $chunk::<5, 2, false>(c, acc),
                        (false, false, true) => $chunk::<5, 2, true>(c, acc),
                    }
                })
            }
        }
    };
}
pub(crate) use dwconv_row_kernel;
