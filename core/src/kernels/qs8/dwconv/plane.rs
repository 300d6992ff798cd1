//! The contract between the depthwise driver and the per-tier plane kernels, and the part every
//! tier shares: walking a channel plane by output rows, cutting each into chunks of `V` outputs,
//! and the requantization.
//!
//! A plane job is one channel of one image: its input plane, already copied by the driver into rows
//! padded with the zero point on the left (the left padding) and on the right (up to the last
//! chunk's reach), so that every chunk reads in place; taps (and tap pairs, computed once per
//! plane), stride, top padding, bias and requantization. Per output row, the kernel rows with an input
//! row under them form a range `ky0..ky1` (`n <= K` rows); the others only correct the bias. A
//! tier only supplies `chunk::<K, S, U>`, which computes for `j < V` the raw dot products
//! `acc[j] = sum_r sum_kx taps[r][kx] * x_r[S j + kx]` from `n` row pointers (bytes read as u8
//! when `U`, else as i8); everything else is [`run`], compiled inside each tier's
//! `#[target_feature]` function, so requantization is vectorized by that tier and stays the same
//! IEEE operations as the GEMM epilogue (`tile::quantize`): all tiers are bit-exact.
//!
//! Narrow planes (at most [`FLAT_MAX_OW`] outputs wide) use the flat layout instead ([`FlatLayout`]):
//! the driver lays the padded rows side by side at a pitch just wide enough for one output row
//! (top and bottom padding rows included), so that a run of `V` consecutive flat positions covers
//! several output rows and the per-row work disappears: the same chunk kernels, given the `K` row
//! pointers `ky * pitch` apart, compute every output row of the plane in `ceil(flat / V)` chunks,
//! and the few positions between rows (the `K - 1` columns that wrap into the next row) are
//! computed and dropped. Stride 2 keeps even and odd padded rows in two regions, so that the
//! output pitch is half the input pitch (`ow + (K - 1) / 2`) instead of the whole.
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

/// Planes with at most this many outputs per row use the flat layout ([`FlatLayout`]).
pub(crate) const FLAT_MAX_OW: usize = 28;

/// Where the driver puts a narrow plane's padded rows (the flat layout, see the module doc), for
/// a `k x k` kernel at `stride` with `oh x ow` outputs. Padded row `r` (input row `r - pad_top`,
/// for `r < rows`) starts at [`FlatLayout::row`]`(r)` and holds input column `c - pad_left` at
/// `c < pitch`; every other byte holds the zero point. Output `(oy, ox)` is flat position
/// `f = oy * out_pitch + ox`, computed from the `k` row pointers [`FlatLayout::row`]`(ky)` at
/// offset `stride * f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlatLayout {
    /// Bytes between padded rows of the same region: `ow + k - 1` at stride 1, `2 ow + k - 1`
    /// (even) at stride 2.
    pub pitch: usize,
    /// 1 or 2.
    pub stride: usize,
    /// Output rows.
    pub oh: usize,
    /// Offset of the odd padded rows' region at stride 2 (0 at stride 1).
    pub odd: usize,
    /// Padded rows any output reads: `(oh - 1) * stride + k`.
    pub rows: usize,
    /// Flat positions up to the last output: `(oh - 1) * out_pitch + ow`.
    pub flat: usize,
    /// Total bytes (every chunk of up to [`MAX_V`] outputs reads inside them).
    pub len: usize,
}

impl FlatLayout {
    /// The layout for `k` (3 or 5), `stride` (1 or 2) and `oh, ow > 0` (sizes that fit a valid
    /// geometry: no overflow).
    pub(crate) fn new(k: usize, stride: usize, oh: usize, ow: usize) -> FlatLayout {
        // K is odd, so 2 ow + k - 1 is even.
        let pitch = stride * ow + k - 1;
        let rows = (oh - 1) * stride + k;
        let flat = (oh - 1) * (pitch / stride) + ow;
        // Rows of a region, and the reach of the last chunk from the last row pointer.
        let region_rows = rows.div_ceil(stride);
        let reach = (k - 1) / stride * pitch + stride * (flat + MAX_V - 1) + k - 1;
        let region = (region_rows * pitch).max(reach);
        FlatLayout {
            pitch,
            stride,
            oh,
            odd: if stride == 2 { region } else { 0 },
            rows,
            flat,
            len: region * stride,
        }
    }

    /// Where padded row `r < rows` starts.
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> usize {
        if self.stride == 1 {
            r * self.pitch
        } else {
            (r & 1) * self.odd + r / 2 * self.pitch
        }
    }
}

/// Bytes a chunk kernel may read from each row pointer for `v` outputs of a `k`-wide kernel at
/// stride `s`: `s * v + k - 1` (the taps of the last output reach `s (v - 1) + k - 1`; a tier may
/// read up to `s - 1` bytes past them).
pub(crate) const fn span(v: usize, k: usize, s: usize) -> usize {
    s * v + k - 1
}

/// One channel plane (see the module doc). Valid when: `k` is 3 or 5, `stride` 1 or 2, `ow > 0`;
/// the destination holds `oh > 0` whole output rows of `ow`; without `flat`, `x` holds `height`
/// padded input rows of `row_len` bytes, each starting at input column `-pad_left` (the padding
/// holding the zero point) and long enough for every chunk,
/// `row_len >= stride * (ow + MAX_V - 1) + k - 1`; with `flat`, it is
/// `FlatLayout::new(k, stride, oh, ow)` and `x` holds its `len` bytes as it describes;
/// `taps[ky][..k]` are the kernel rows (zero past `k`) and `pairs[ky] = tap_pairs(&taps[ky], k)`.
pub(crate) struct DwPlaneJob<'a> {
    pub k: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub height: usize,
    pub ow: usize,
    pub x: &'a [u8],
    pub row_len: usize,
    /// The flat layout of a narrow plane (then `row_len` and `height` are unused).
    pub flat: Option<FlatLayout>,
    pub taps: [[i8; MAX_K]; MAX_K],
    pub pairs: [TapPairs; MAX_K],
    /// Input bytes are u8 (else i8).
    pub unsigned: bool,
    /// The input zero point in the s8 view.
    pub zp: i32,
    /// The channel's packed bias (`t = dot + bias`, corrected per row, see the module doc).
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

/// A tier's plane kernel (`qs8_dwconv_<V>w__<tier>`): computes `dst` (one byte per output, whole
/// rows of `ow`) from a valid job.
///
/// # Safety
/// The job is valid (see [`DwPlaneJob`]) and the CPU has the kernel's tier.
pub(crate) type Qs8DwPlaneFn = unsafe fn(job: &DwPlaneJob, dst: &mut [u8]);

/// The arguments of a chunk kernel: `n` row pointers (each readable for `span(V, K, S)` bytes)
/// and the taps and tap pairs of their kernel rows (`n` entries each).
pub(crate) struct Chunk<'a> {
    pub rows: [*const u8; MAX_K],
    pub taps: &'a [[i8; MAX_K]],
    // Read by the x86 kernels (VPMADDWD / VPDPWSSD); NEON multiplies by single taps.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub pairs: &'a [TapPairs],
    pub n: usize,
}

/// Computes a plane job in padded rows (no `flat`) with `chunk(&Chunk, &mut [i32; V])` as the
/// tier's chunk kernel for the job's `(K, S, U)` (the caller dispatches on them; see
/// `dwconv_plane_kernel!`, which calls [`run_flat`] for flat jobs: one call site per closure, so
/// that the chunk kernel is inlined into each loop).
///
/// # Safety
/// The job is valid and `chunk`, given a [`Chunk`] whose pointers are readable for
/// `span(V, k, stride)` bytes, reads only those bytes.
#[inline(always)]
pub(crate) unsafe fn run<const V: usize>(
    job: &DwPlaneJob,
    dst: &mut [u8],
    mut chunk: impl FnMut(&Chunk, &mut [i32; V]),
) {
    const { assert!(V <= MAX_V && V > 0) };
    debug_assert!(matches!(job.k, 3 | 5) && matches!(job.stride, 1 | 2));
    let Some((zp, min, max)) = job.out.byte_params() else {
        return;
    };
    debug_assert!(job.flat.is_none());
    let k = job.k;
    let span = span(V, k, job.stride);
    debug_assert!(job.row_len >= job.stride * (job.ow + MAX_V - 1) + k - 1);
    debug_assert!(job.x.len() >= job.height * job.row_len);
    let row_sum: [i32; MAX_K] =
        std::array::from_fn(|ky| job.taps[ky][..k].iter().map(|&t| i32::from(t)).sum());
    for (oy, drow) in dst.chunks_exact_mut(job.ow).enumerate() {
        // Kernel rows ky0..ky1 have an input row under them (input row top + ky).
        let top = (oy * job.stride) as isize - job.pad_top as isize;
        let ky0 = (-top).clamp(0, k as isize) as usize;
        let ky1 = (job.height as isize - top).clamp(ky0 as isize, k as isize) as usize;
        let mut bias = job.bias;
        for (ky, &sum) in row_sum.iter().enumerate().take(k) {
            if !(ky0..ky1).contains(&ky) {
                // A kernel row in the padding adds zp * taps, which the packed bias took away.
                bias = bias.wrapping_add(job.zp.wrapping_mul(sum));
            } else if job.unsigned {
                // The kernel sums taps * u8; the s8 view is 128 less per tap.
                bias = bias.wrapping_sub(128 * sum);
            }
        }
        let n = ky1 - ky0;
        let rows: [&[u8]; MAX_K] = std::array::from_fn(|r| {
            let iy = (top + (ky0 + r) as isize) as usize;
            if r < n {
                &job.x[iy * job.row_len..(iy + 1) * job.row_len]
            } else {
                &[]
            }
        });
        for (c, out) in drow.chunks_mut(V).enumerate() {
            let mut acc = [0i32; V];
            if n > 0 {
                let start = c * V * job.stride;
                let ptrs: [*const u8; MAX_K] = std::array::from_fn(|r| {
                    if r < n {
                        rows[r][start..start + span].as_ptr()
                    } else {
                        std::ptr::null()
                    }
                });
                let args = Chunk {
                    rows: ptrs,
                    taps: &job.taps[ky0..ky1],
                    pairs: &job.pairs[ky0..ky1],
                    n,
                };
                chunk(&args, &mut acc);
            }
            let q = requantize(&acc, bias, job.scale, (zp, min, max));
            copy_short(out, &q[..out.len()]);
        }
    }
}

/// The GEMM epilogue's requantization of a chunk of raw sums (`tile::quantize`).
#[inline(always)]
pub(crate) fn requantize<const V: usize>(
    acc: &[i32; V],
    bias: i32,
    scale: f32,
    (zp, min, max): (i32, i32, i32),
) -> [u8; V] {
    let mut q = [0u8; V];
    for (q, &a) in q.iter_mut().zip(acc) {
        *q = quantize(a.wrapping_add(bias) as f32 * scale, zp, min, max) as u8;
    }
    q
}

/// [`run`] for a job in the flat layout: chunks of `V` flat positions, all `k` kernel rows each
/// (the padding rows are in the layout), outputs scattered to their rows.
///
/// # Safety
/// As for [`run`], with `job.flat` set.
#[inline(always)]
pub(crate) unsafe fn run_flat<const V: usize>(
    job: &DwPlaneJob,
    dst: &mut [u8],
    mut chunk: impl FnMut(&Chunk, &mut [i32; V]),
) {
    const { assert!(V <= MAX_V && V > 0) };
    debug_assert!(matches!(job.k, 3 | 5) && matches!(job.stride, 1 | 2));
    let (Some(params), Some(flat)) = (job.out.byte_params(), &job.flat) else {
        return;
    };
    let (k, stride, ow) = (job.k, job.stride, job.ow);
    let oh = flat.oh;
    let out_pitch = flat.pitch / stride;
    debug_assert_eq!(*flat, FlatLayout::new(k, stride, dst.len() / ow, ow));
    debug_assert!(job.x.len() >= flat.len);
    let mut bias = job.bias;
    if job.unsigned {
        // Every kernel row is read (see `run`); taps past k are zero.
        let sum: i32 = job.taps.iter().flatten().map(|&t| i32::from(t)).sum();
        bias = bias.wrapping_sub(128 * sum);
    }
    let span = span(V, k, stride);
    let (mut oy, mut ox) = (0, 0);
    for start in (0..flat.flat).step_by(V) {
        let ptrs: [*const u8; MAX_K] = std::array::from_fn(|r| {
            if r < k {
                let at = flat.row(r) + stride * start;
                job.x[at..at + span].as_ptr()
            } else {
                std::ptr::null()
            }
        });
        let args = Chunk {
            rows: ptrs,
            taps: &job.taps[..k],
            pairs: &job.pairs[..k],
            n: k,
        };
        let mut acc = [0i32; V];
        chunk(&args, &mut acc);
        let q = requantize(&acc, bias, job.scale, params);
        // Flat position start + j is output (oy, ox) while ox < ow; the rest of a row wraps.
        let mut j = 0;
        while j < V && oy < oh {
            let n = if ox < ow {
                let n = (ow - ox).min(V - j);
                copy_short(&mut dst[oy * ow + ox..][..n], &q[j..j + n]);
                n
            } else {
                (out_pitch - ox).min(V - j)
            };
            j += n;
            ox += n;
            if ox == out_pitch {
                (oy, ox) = (oy + 1, 0);
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short copies of this module (a row of a plane, a chunk of
/// outputs) with fixed-size, possibly overlapping moves instead of a call to `memcpy`, whose call
/// cost dominates copies of a few dozen bytes. Lengths must match.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    fn fixed<const N: usize>(dst: &mut [u8], src: &[u8], at: usize) {
        let s: &[u8; N] = src[at..at + N].try_into().unwrap_or(&[0; N]);
        if let Ok(d) = <&mut [u8; N]>::try_from(&mut dst[at..at + N]) {
            *d = *s;
        }
    }
    let n = src.len().min(dst.len());
    match n {
        0 => {}
        // Bytes 0, n / 2 and n - 1 cover lengths 1 to 3.
        1..4 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..8 => {
            fixed::<4>(dst, src, 0);
            fixed::<4>(dst, src, n - 4);
        }
        8..16 => {
            fixed::<8>(dst, src, 0);
            fixed::<8>(dst, src, n - 8);
        }
        _ => {
            let mut i = 0;
            while i + 16 < n {
                fixed::<16>(dst, src, i);
                i += 16;
            }
            fixed::<16>(dst, src, n - 16);
        }
    }
}

/// Defines a tier's plane kernel `$name` (a [`Qs8DwPlaneFn`]) compiled with `$features` (none for the
/// reference), running (with `narrow: $vn, $narrow`, planes at most `$vn` wide, or at most `$vn`
/// flat positions in the flat layout, run `$narrow::<K, S, U>` on chunks of `$vn` instead),
/// [`run`] with `$chunk::<K, S, U>` on chunks of `$v` outputs. `$chunk(c: &Chunk, acc: &mut [i32;
/// $v])` must be an `unsafe fn` whose `# Safety` is implied by `run`'s promise plus the features.
macro_rules! dwconv_plane_kernel {
    ($(#[$doc:meta])* $name:ident, features: [$($features:literal)?], v: $v:expr,
     $($chunk:ident)::+ $(, narrow: $vn:expr, $($narrow:ident)::+)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The job is valid (`DwPlaneJob`) and the CPU has the features this function is compiled
        /// for.
        #[allow(non_snake_case)]
        $(#[target_feature(enable = $features)])?
        pub(crate) unsafe fn $name(
            job: &$crate::kernels::qs8::dwconv::plane::DwPlaneJob,
            dst: &mut [u8],
        ) {
            $(
                if job.flat.map_or(job.ow, |f| f.flat) <= $vn {
                    // SAFETY: as below, with the narrow chunk kernel.
                    unsafe {
                        if job.flat.is_some() {
                            $crate::kernels::qs8::dwconv::plane::dispatch!(run_flat, job, dst, $vn, $($narrow)::+)
                        } else {
                            $crate::kernels::qs8::dwconv::plane::dispatch!(run, job, dst, $vn, $($narrow)::+)
                        }
                    };
                    return;
                }
            )?
            // SAFETY: the job is valid (this function's contract); `run` and `run_flat` hand the
            // chunk kernel pointers readable for the span its (K, S) reads; K is 3 or 5 and S 1
            // or 2.
            unsafe {
                if job.flat.is_some() {
                    $crate::kernels::qs8::dwconv::plane::dispatch!(run_flat, job, dst, $v, $($chunk)::+)
                } else {
                    $crate::kernels::qs8::dwconv::plane::dispatch!(run, job, dst, $v, $($chunk)::+)
                }
            }
        }
    };
}
/// `$run::<$v>` (`run` or `run_flat`) with `$chunk::<K, S, U>` for the job's kernel size, stride
/// and signedness (an unsafe expression).
macro_rules! dispatch {
    ($run:ident, $job:expr, $dst:expr, $v:expr, $($chunk:ident)::+) => {
        $crate::kernels::qs8::dwconv::plane::$run::<{ $v }>($job, $dst, |c, acc| {
            match ($job.k == 3, $job.stride == 1, $job.unsigned) {
                (true, true, false) => $($chunk)::+::<3, 1, false>(c, acc),
                (true, true, true) => $($chunk)::+::<3, 1, true>(c, acc),
                (true, false, false) => $($chunk)::+::<3, 2, false>(c, acc),
                (true, false, true) => $($chunk)::+::<3, 2, true>(c, acc),
                (false, true, false) => $($chunk)::+::<5, 1, false>(c, acc),
                (false, true, true) => $($chunk)::+::<5, 1, true>(c, acc),
                (false, false, false) => $($chunk)::+::<5, 2, false>(c, acc),
                (false, false, true) => $($chunk)::+::<5, 2, true>(c, acc),
            }
        })
    };
}
pub(crate) use dispatch;
pub(crate) use dwconv_plane_kernel;
