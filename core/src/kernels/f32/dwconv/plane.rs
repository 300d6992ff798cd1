//! The plane kernel: every output sums all its taps in registers, starting from the bias, then is
//! clamped (a fused `Clip`/`Relu`), and is stored once. Output `(oy, ox)` of a plane of `width`
//! outputs per row is `clamp(bias + Σ_t w[t] · src[oy · src_row + taps[t] + ox])`, `t` in tap
//! order (see `layout` for the input copy that makes this hold for every stride and dilation).
//!
//! The body is shared Rust generic over a tier's vector type ([`F32Vec`]: splat, load,
//! multiply-add, clamp, store in the tier's intrinsics, or [`Scalar`]); each tier compiles it
//! inside its own `#[target_feature]` function. A row is cut into chunks of `L` (the vector's
//! lanes) outputs (a row's tail is
//! recomputed by an overlapping chunk ending at the row's end, which writes the same values); the
//! plane's chunks, numbered row by row, are computed `G` at a time (the last group overlaps the one
//! before it), taps outermost: each weight is broadcast once per group and the `G` accumulators
//! are independent, so no single chain's add latency limits the loop. Rows narrower than `L` take a narrower vector, then scalars.
//!
//! Invariant: per output, products are added in tap order, as `acc + w · x` rounded twice
//! (reference tier) or once (fused tiers); a tier's result does not depend on the grouping.

use std::marker::PhantomData;

use super::layout::{CopyRow, DwLayout};
use crate::kernels::f32::madd;

/// One plane's arguments for a depthwise kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DwPlane<'a> {
    /// The input plane and its layout, which the kernel first copies into `src` (compiled with the
    /// tier's features, so the copy is vectorized too); `None` when `src` already holds it.
    pub input: Option<(&'a DwLayout, &'a [f32])>,
    /// Elements between the inputs of two consecutive output rows (`DwLayout::pitch`).
    pub src_row: usize,
    /// Per tap, its offset (`DwLayout::tap`); the same length as `weights`.
    pub taps: &'a [usize],
    pub weights: &'a [f32],
    pub bias: f32,
    /// Clamp bounds (ONNX `Clip`: NaN passes through; crossed bounds give `max`; infinite bounds
    /// clamp nothing).
    pub min: f32,
    pub max: f32,
}

/// A plane kernel (`f32_dwconv_plane__<tier>`); see [`dwconv_plane`].
///
/// # Safety
/// The CPU has the kernel's tier (the arguments are checked like [`dwconv_plane`]'s).
pub(crate) type F32DwPlaneFn =
    unsafe fn(p: &DwPlane<'_>, src: &mut [f32], run: &mut [f32], dst: &mut [f32], width: usize);

/// A tier's f32 vector of `LANES` floats, the operations the plane body needs.
///
/// # Safety
/// Implementations may use instructions of their tier: their methods are only called inside
/// functions compiled with the tier's features (the kernels `dwconv_plane_kernel!` defines).
pub(crate) unsafe trait F32Vec: Copy {
    const LANES: usize;
    /// Every lane `v`.
    ///
    /// # Safety
    /// The CPU has the implementation's tier.
    unsafe fn splat(v: f32) -> Self;
    /// `LANES` floats from `p`.
    ///
    /// # Safety
    /// `p` is readable for `LANES` floats; the CPU has the tier.
    unsafe fn load(p: *const f32) -> Self;
    /// `acc + w · x` per lane, fused or not as the tier does (see the module doc).
    ///
    /// # Safety
    /// The CPU has the tier.
    unsafe fn madd(acc: Self, w: Self, x: Self) -> Self;
    /// Per lane `v = if a < min { min } else { a }; if v > max { max } else { v }` (ONNX `Clip`:
    /// NaN passes, crossed bounds give `max`).
    ///
    /// # Safety
    /// The CPU has the tier.
    unsafe fn clamp(self, min: Self, max: Self) -> Self;
    /// Stores the lanes at `p`.
    ///
    /// # Safety
    /// `p` is writable for `LANES` floats; the CPU has the tier.
    unsafe fn store(self, p: *mut f32);
    /// Whether [`F32Vec::copy_part`] and [`F32Vec::split_part`] are masked vector instructions:
    /// then short rows take them rather than narrower vectors and scalars.
    const MASKED: bool = false;
    /// Copies `n` floats (`n <= LANES`) from `from` to `to`; one at a time unless the tier
    /// has masks.
    ///
    /// # Safety
    /// `from` is readable and `to` writable for `n` floats, not overlapping; the CPU has the tier.
    #[inline(always)]
    unsafe fn copy_part(from: *const f32, to: *mut f32, n: usize) {
        for i in 0..n {
            // SAFETY: `i < n` (the contract).
            unsafe { to.add(i).write_unaligned(from.add(i).read_unaligned()) }
        }
    }
    /// `even[i] = from[2 i]`, `odd[i] = from[2 i + 1]` for `i < n` (`n <= LANES`); one pair at
    /// a time unless the tier has masks.
    ///
    /// # Safety
    /// `from` is readable for `2 n` floats, `even` and `odd` writable for `n`, none overlapping;
    /// the CPU has the tier.
    #[inline(always)]
    unsafe fn split_part(from: *const f32, even: *mut f32, odd: *mut f32, n: usize) {
        for i in 0..n {
            // SAFETY: `i < n` (the contract).
            unsafe {
                even.add(i)
                    .write_unaligned(from.add(2 * i).read_unaligned());
                odd.add(i)
                    .write_unaligned(from.add(2 * i + 1).read_unaligned());
            }
        }
    }
}

/// One lane in a scalar, multiply-add fused when `FUSED` (the tails of the SIMD tiers, and the
/// reference tier's vector).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar<const FUSED: bool>(f32);

// SAFETY: plain Rust, no CPU requirement.
unsafe impl<const FUSED: bool> F32Vec for Scalar<FUSED> {
    const LANES: usize = 1;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Scalar(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: `p` is readable for one float (the caller's contract).
        Scalar(unsafe { p.read_unaligned() })
    }
    #[inline(always)]
    unsafe fn madd(acc: Self, w: Self, x: Self) -> Self {
        Scalar(madd::<FUSED>(w.0, x.0, acc.0))
    }
    #[inline(always)]
    unsafe fn clamp(self, min: Self, max: Self) -> Self {
        let v = if self.0 < min.0 { min.0 } else { self.0 };
        Scalar(if v > max.0 { max.0 } else { v })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: `p` is writable for one float (the caller's contract).
        unsafe { p.write_unaligned(self.0) }
    }
}

/// Copies `p.input` (if any) into `src`, then computes the rows of `width` outputs in `dst` (see
/// the module doc): directly when `run` is empty, else as one flat run of `run.len()` positions
/// into `run` (which must be `(rows - 1) · src_row + width` long) whose rows are then copied out; `G` chunks at a time, with
/// vector `V`, or `N` for rows narrower than `V`, or `S` for rows narrower than `N`. Does nothing
/// (never panics) when `dst` is not whole rows, `taps` and `weights` differ in length, or a tap
/// of the last output would read past `src` (the copy checks its own lengths).
///
/// # Safety
/// The CPU has the tiers of `V`, `N` and `S`.
#[inline(always)]
pub(crate) unsafe fn dwconv_plane<V: F32Vec, N: F32Vec, S: F32Vec, const G: usize>(
    p: &DwPlane<'_>,
    src: &mut [f32],
    run: &mut [f32],
    dst: &mut [f32],
    width: usize,
) {
    if width == 0
        || dst.is_empty()
        || !dst.len().is_multiple_of(width)
        || p.taps.len() != p.weights.len()
    {
        return;
    }
    let rows = dst.len() / width;
    let max_tap = p.taps.iter().copied().max().unwrap_or(0);
    let end = (rows - 1)
        .checked_mul(p.src_row)
        .and_then(|x| x.checked_add(max_tap)?.checked_add(width));
    if end.is_none_or(|end| end > src.len())
        || !(run.is_empty() || end.is_some_and(|end| end - max_tap == run.len()))
    {
        return;
    }
    if let Some((layout, x)) = p.input {
        layout.fill_with::<VecCopy<V, N, S>>(x, src);
    }
    let src = &*src;
    // SAFETY: `dst` is whole rows and every tap of the last row is inside `src` (checked above);
    // a flat run is `(rows - 1) src_row + width` long (checked above), so every tap of its last
    // position is inside `src` too, and so is each row copied out of it; the CPU has the tiers
    // (the caller's contract).
    unsafe {
        if run.is_empty() {
            rows_of::<V, N, S, G>(p, src, dst, width);
            return;
        }
        let len = run.len();
        rows_of::<V, N, S, G>(p, src, run, len);
        for (oy, row) in dst.chunks_exact_mut(width).enumerate() {
            copy::<V, N, S>(run.as_ptr().add(oy * p.src_row), row);
        }
    }
}

/// [`CopyRow`] with [`copy`]'s vectors.
struct VecCopy<V, N, S>(PhantomData<(V, N, S)>);

impl<V: F32Vec, N: F32Vec, S: F32Vec> CopyRow for VecCopy<V, N, S> {
    /// Only reached from [`dwconv_plane`], whose caller guarantees the CPU has the tiers.
    #[inline(always)]
    fn copy(from: &[f32], to: &mut [f32]) {
        if from.len() >= to.len() {
            // SAFETY: `from` is readable for `to.len()` floats and a distinct buffer; the CPU has
            // the tiers (`dwconv_plane`'s contract, the only user).
            unsafe { copy::<V, N, S>(from.as_ptr(), to) }
        }
    }

    /// With masks, `V::LANES` pairs per [`F32Vec::split_part`] (rows of a stride-2 plane are
    /// often shorter than a vector); without, the compiler's vector loop, then the tail.
    #[inline(always)]
    fn split(from: &[f32], even: &mut [f32], odd: &mut [f32]) {
        let pairs = (from.len() / 2).min(even.len()).min(odd.len());
        let body = if V::MASKED {
            0
        } else {
            pairs - pairs % V::LANES
        };
        for ((e, o), pair) in even[..body]
            .iter_mut()
            .zip(&mut odd[..body])
            .zip(from.chunks_exact(2))
        {
            (*e, *o) = (pair[0], pair[1]);
        }
        // Then at most `LANES` pairs per call (once without masks: fewer than `LANES` are left).
        for i in (body..pairs).step_by(V::LANES) {
            let n = (pairs - i).min(V::LANES);
            // SAFETY: `i + n <= pairs`: `from` holds `2 (i + n)` floats, `even` and `odd`
            // `i + n`, distinct buffers; the CPU has the tiers (`dwconv_plane`'s contract, the
            // only user).
            unsafe {
                V::split_part(
                    from.as_ptr().add(2 * i),
                    even.as_mut_ptr().add(i),
                    odd.as_mut_ptr().add(i),
                    n,
                );
            }
        }
    }
}

/// The plane's rows of `width` outputs in `dst` with the widest vector that fits a row.
///
/// # Safety
/// `dst` is whole rows and every tap of the last row is inside `src`; the CPU has the tiers.
#[inline(always)]
unsafe fn rows_of<V: F32Vec, N: F32Vec, S: F32Vec, const G: usize>(
    p: &DwPlane<'_>,
    src: &[f32],
    dst: &mut [f32],
    width: usize,
) {
    // SAFETY: the vector fits the row; the rest is the caller's contract.
    unsafe {
        if width >= V::LANES {
            plane::<V, G>(p, src, dst, width);
        } else if width >= N::LANES {
            plane::<N, G>(p, src, dst, width);
        } else {
            plane::<S, G>(p, src, dst, width);
        }
    }
}

/// Copies `dst.len()` floats from `from` into `dst`, in vectors (the last one overlapping) rather
/// than through a `memcpy` call, as rows of a flat run are short.
///
/// # Safety
/// `from` is readable for `dst.len()` floats and does not overlap `dst`; the CPU has the tiers.
#[inline(always)]
unsafe fn copy<V: F32Vec, N: F32Vec, S: F32Vec>(from: *const f32, dst: &mut [f32]) {
    /// Copies with `W`, whose lanes fit `dst`.
    ///
    /// # Safety
    /// As `copy`, and `W::LANES <= dst.len()`.
    #[inline(always)]
    unsafe fn with<W: F32Vec>(from: *const f32, dst: &mut [f32]) {
        let (n, lanes) = (dst.len(), W::LANES);
        let to = dst.as_mut_ptr();
        // SAFETY: every vector starts at `x <= n - lanes`: inside both buffers.
        unsafe {
            let mut x = 0;
            while x + lanes < n {
                W::load(from.add(x)).store(to.add(x));
                x += lanes;
            }
            W::load(from.add(n - lanes)).store(to.add(n - lanes));
        }
    }
    let n = dst.len();
    // SAFETY: the chosen vector's lanes fit `dst` (`n >= 1` for scalars); the caller's contract.
    unsafe {
        if n >= V::LANES {
            with::<V>(from, dst);
        } else if V::MASKED {
            V::copy_part(from, dst.as_mut_ptr(), n);
        } else if n >= N::LANES {
            with::<N>(from, dst);
        } else if n > 0 {
            with::<S>(from, dst);
        }
    }
}

/// All chunks of the plane, `G` (or fewer for a small plane) at a time.
///
/// # Safety
/// `V::LANES <= width`, `dst.len()` is a multiple of `width`, every tap of the last row's last
/// output is inside `src` (checked by [`dwconv_plane`]); the CPU has `V`'s tier.
#[inline(always)]
unsafe fn plane<V: F32Vec, const G: usize>(
    p: &DwPlane<'_>,
    src: &[f32],
    dst: &mut [f32],
    width: usize,
) {
    let chunks = (dst.len() / width) * width.div_ceil(V::LANES);
    // SAFETY: the caller's contract, and each call gets at least its group size of chunks.
    unsafe {
        if chunks >= G {
            groups::<V, G>(p, src, dst, width, chunks);
        } else if chunks >= 4 && G > 4 {
            groups::<V, 4>(p, src, dst, width, chunks);
        } else if chunks >= 2 && G > 2 {
            groups::<V, 2>(p, src, dst, width, chunks);
        } else {
            groups::<V, 1>(p, src, dst, width, chunks);
        }
    }
}

/// Chunks `0..chunks` (`chunks >= G`; chunk `j` is number `j % per_row` of row `j / per_row`), in
/// groups of `G`; the last group ends at the last chunk.
///
/// # Safety
/// As [`plane`], and `chunks >= G`.
#[inline(always)]
unsafe fn groups<V: F32Vec, const G: usize>(
    p: &DwPlane<'_>,
    src: &[f32],
    dst: &mut [f32],
    width: usize,
    chunks: usize,
) {
    let lanes = V::LANES;
    let per_row = width.div_ceil(lanes);
    let (mut oy, mut k) = (0, 0);
    let mut next = 0;
    while next < chunks {
        let start = next.min(chunks - G);
        if start != next {
            (oy, k) = (start / per_row, start % per_row);
        }
        let mut src_at = [0; G];
        let mut dst_at = [0; G];
        for (s, d) in src_at.iter_mut().zip(&mut dst_at) {
            let x0 = (k * lanes).min(width - lanes);
            (*s, *d) = (oy * p.src_row + x0, oy * width + x0);
            k += 1;
            if k == per_row {
                (oy, k) = (oy + 1, 0);
            }
        }
        // SAFETY: every chunk is in a row below `dst.len() / width` with `x0 + LANES <= width`,
        // so its reads end inside `src` and its writes inside its row (see `dwconv_plane`).
        unsafe { group::<V, G>(p, src, dst, &src_at, &dst_at) };
        next = start + G;
    }
}

/// `G` chunks of `LANES` outputs: `dst[dst_at[i] + x] = clamp(bias + Σ_t w[t] · src[src_at[i] +
/// taps[t] + x])`, taps outermost.
///
/// # Safety
/// `dst_at[i] + LANES <= dst.len()`, and `src_at[i] + taps[t] + LANES <= src.len()` for every
/// tap; the CPU has `V`'s tier.
#[inline(always)]
unsafe fn group<V: F32Vec, const G: usize>(
    p: &DwPlane<'_>,
    src: &[f32],
    dst: &mut [f32],
    src_at: &[usize; G],
    dst_at: &[usize; G],
) {
    // SAFETY (all vector operations): the CPU has `V`'s tier (the caller's contract).
    let mut acc = [unsafe { V::splat(p.bias) }; G];
    let rows = src_at.map(|at| src.as_ptr().wrapping_add(at));
    for (&t, &w) in p.taps.iter().zip(p.weights) {
        let w = unsafe { V::splat(w) };
        for (a, &row) in acc.iter_mut().zip(&rows) {
            // SAFETY: `at + t + LANES <= src.len()` (the caller's contract).
            *a = unsafe { V::madd(*a, w, V::load(row.add(t))) };
        }
    }
    let (min, max) = unsafe { (V::splat(p.min), V::splat(p.max)) };
    for (a, &at) in acc.iter().zip(dst_at) {
        // SAFETY: `at + LANES <= dst.len()` (the caller's contract).
        unsafe { a.clamp(min, max).store(dst.as_mut_ptr().add(at)) };
    }
}

/// Defines a tier's plane kernel `$name`: [`dwconv_plane`] compiled with `$features` (none for
/// the reference tier), vectors
/// `$v`, `$n` (rows narrower than `$v`) and `$s` (narrower than `$n`), `$group` chunks at a time.
macro_rules! dwconv_plane_kernel {
    ($name:ident, [$($features:literal)?], $v:ty, $n:ty, $s:ty, group: $group:literal) => {
        /// [`dwconv_plane`](crate::kernels::f32::dwconv::plane::dwconv_plane) compiled for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        $(#[target_feature(enable = $features)])?
        pub(crate) unsafe fn $name(
            p: &$crate::kernels::f32::dwconv::plane::DwPlane<'_>,
            src: &mut [f32],
            run: &mut [f32],
            dst: &mut [f32],
            width: usize,
        ) {
            // SAFETY: this function is compiled with the vectors' features and the CPU has them
            // (the contract).
            unsafe {
                $crate::kernels::f32::dwconv::plane::dwconv_plane::<$v, $n, $s, $group>(p, src, run, dst, width)
            }
        }
    };
}
pub(crate) use dwconv_plane_kernel;
