//! The depthwise-convolution row kernel: one input row's three taps (kernel width 3, dilation 1,
//! stride 1 or 2, left padding) accumulated into one output row,
//! `dst[i] += w0 · x[s i - p] ; dst[i] += w1 · x[s i - p + 1] ; dst[i] += w2 · x[s i - p + 2]`,
//! skipping taps that fall in the padding. A 3×3 depthwise convolution calls it once per kernel
//! row with an input row under the output row.
//!
//! The body is plain safe Rust written so that the interior (all three taps inside the row) is a
//! bounds-check-free loop the compiler vectorizes; each tier compiles it inside its own
//! `#[target_feature]` function (ymm on AVX2, zmm on AVX-512F, q registers on NEON), so the tiers
//! run the same operations in the same order and agree bit for bit with the reference.
//! Invariant: per output element, the three products are added one at a time in tap order, with
//! separate multiply and add (no fusing), as the op's generic loop does.

/// A row kernel (`f32_dwconv3_row__<tier>`); see [`dwconv3_row`].
///
/// # Safety
/// The CPU has the kernel's tier (the arguments are checked like [`dwconv3_row`]'s).
pub(crate) type F32DwRowFn =
    unsafe fn(dst: &mut [f32], row: &[f32], w: [f32; 3], stride: usize, pad: usize);

/// Accumulates the three taps `w` of input row `row` into output row `dst` (see the module doc).
/// Strides other than 1 and 2 fall back to a scalar loop; never panics.
#[inline(always)]
pub(crate) fn dwconv3_row(dst: &mut [f32], row: &[f32], w: [f32; 3], stride: usize, pad: usize) {
    let (n, len) = (dst.len(), row.len());
    if stride == 0 || n == 0 {
        return;
    }
    // Outputs whose three taps are all inside the row: s i >= p and s i - p + 2 < len.
    let lo = pad.div_ceil(stride).min(n);
    let hi = if len + pad >= 3 {
        ((len + pad - 3) / stride + 1).clamp(lo, n)
    } else {
        lo
    };
    let edge = |d: &mut f32, i: usize| {
        for (t, &wt) in w.iter().enumerate() {
            if let Some(&x) = (stride * i + t).checked_sub(pad).and_then(|ix| row.get(ix)) {
                *d += wt * x;
            }
        }
    };
    for (i, d) in dst[..lo].iter_mut().enumerate() {
        edge(d, i);
    }
    for (i, d) in dst[hi..].iter_mut().enumerate() {
        edge(d, hi + i);
    }
    let count = hi - lo;
    if count == 0 {
        return;
    }
    let start = stride * lo - pad;
    let out = &mut dst[lo..hi];
    match stride {
        1 => {
            let src = &row[start..start + count + 2];
            let (x0, x1, x2) = (&src[..count], &src[1..count + 1], &src[2..count + 2]);
            for (((d, &a), &b), &c) in out.iter_mut().zip(x0).zip(x1).zip(x2) {
                *d += w[0] * a;
                *d += w[1] * b;
                *d += w[2] * c;
            }
        }
        2 => {
            let src = &row[start..start + 2 * count + 1];
            for (j, d) in out.iter_mut().enumerate() {
                // SAFETY: `j < count`, so `2 j + 2 <= 2 count < src.len()`. (Unchecked so that
                // the compiler sees one interleaved group and vectorizes it.)
                let (a, b, c) = unsafe {
                    (
                        *src.get_unchecked(2 * j),
                        *src.get_unchecked(2 * j + 1),
                        *src.get_unchecked(2 * j + 2),
                    )
                };
                *d += w[0] * a;
                *d += w[1] * b;
                *d += w[2] * c;
            }
        }
        _ => {
            for (j, d) in out.iter_mut().enumerate() {
                edge(d, lo + j);
            }
        }
    }
}

/// Defines a tier's row kernel `$name`: [`dwconv3_row`] compiled with `$features`.
macro_rules! dwconv3_row_kernel {
    ($name:ident, $features:literal) => {
        /// [`dwconv3_row`](crate::kernels::f32::dwconv::dwconv3_row) compiled for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        #[target_feature(enable = $features)]
        unsafe fn $name(dst: &mut [f32], row: &[f32], w: [f32; 3], stride: usize, pad: usize) {
            $crate::kernels::f32::dwconv::dwconv3_row(dst, row, w, stride, pad)
        }
    };
}
pub(crate) use dwconv3_row_kernel;
