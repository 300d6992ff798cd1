//! Depthwise convolution of one channel plane: every output sums all its taps in registers,
//! starting from the bias, then is clamped (a fused `Clip`/`Relu`), and is stored once.
//!
//! The input plane is first copied by [`DwLayout::fill`] into a zero-padded buffer whose rows are
//! split by column-stride phase (columns `c` with the same `c % stride_w` stored together). In that layout
//! every tap of a run of consecutive outputs of one row reads consecutive inputs, whatever the
//! stride and dilation, so the kernel has no edge cases: output `(oy, ox)` is
//! `clamp(bias + Σ_t w[t] · src[oy · src_row + taps[t] + ox])` with `t` in tap order.
//!
//! The body is plain Rust over fixed-size lane arrays (16, 8, 4, then 1 lanes; a row's tail is
//! recomputed with an overlapping full chunk, which writes the same values) that the compiler
//! keeps in vector registers; each tier compiles it inside its own `#[target_feature]` function
//! (zmm on AVX-512F, ymm on AVX2, q registers on NEON). Invariant: per output, products are added
//! one at a time in tap order with separate multiply and add (never fused), so every tier agrees
//! bit for bit with the reference; padding taps add `w · 0`, as the im2col path does.

/// The padded, phase-split layout of one input plane for a depthwise window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DwLayout {
    in_h: usize,
    in_w: usize,
    pad_top: usize,
    pad_left: usize,
    /// Strides along rows and columns (columns are split by `stride_w` phases).
    stride_h: usize,
    stride_w: usize,
    /// Length of one stride phase of a padded row.
    phase_len: usize,
    /// Padded rows.
    rows: usize,
}

impl DwLayout {
    /// The layout of an `in_h × in_w` plane with `pad_top` / `pad_left` zeros before it, read
    /// with strides `stride_h` / `stride_w`, so that `out_h × out_w` outputs with taps reaching
    /// `reach_h` / `reach_w` inputs past the window start (`(kernel - 1) · dilation + 1`) stay
    /// inside. `None` when a size overflows or a stride is 0.
    pub fn new(
        (in_h, in_w): (usize, usize),
        (pad_top, pad_left): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        (out_h, out_w): (usize, usize),
        (reach_h, reach_w): (usize, usize),
    ) -> Option<DwLayout> {
        let span = |stride: usize, out: usize, reach: usize, pad: usize, input: usize| {
            let last = stride
                .checked_mul(out.checked_sub(1)?)?
                .checked_add(reach)?;
            Some(last.max(pad.checked_add(input)?))
        };
        let width = span(stride_w, out_w, reach_w, pad_left, in_w)?;
        let rows = span(stride_h, out_h, reach_h, pad_top, in_h)?;
        if stride_h == 0 {
            return None;
        }
        let layout = DwLayout {
            in_h,
            in_w,
            pad_top,
            pad_left,
            stride_h,
            stride_w,
            phase_len: width.checked_add(stride_w.checked_sub(1)?)? / stride_w,
            rows,
        };
        layout.row_len().checked_mul(rows)?;
        Some(layout)
    }

    /// Elements between two padded rows.
    fn row_len(&self) -> usize {
        self.stride_w * self.phase_len
    }

    /// Elements of the padded plane.
    pub fn len(&self) -> usize {
        self.row_len() * self.rows
    }

    /// Elements between the first inputs of two consecutive output rows.
    pub fn src_row(&self) -> usize {
        self.stride_h * self.row_len()
    }

    /// The offset of the input of tap `(dy, dx)` (inputs past the window start, i.e. kernel index
    /// × dilation) under output `(0, 0)`.
    pub fn tap(&self, dy: usize, dx: usize) -> usize {
        dy * self.row_len() + (dx % self.stride_w) * self.phase_len + dx / self.stride_w
    }

    /// Writes the `in_h × in_w` plane `x` into `dst` (at least [`DwLayout::len`] long) in this
    /// layout. Only the input's own positions are written: the padding keeps what `dst` holds,
    /// which must be zeros (fill `dst` with zeros once, then reuse it for every plane). Does
    /// nothing when a buffer is too short.
    pub fn fill(&self, x: &[f32], dst: &mut [f32]) {
        let (s, w) = (self.stride_w, self.in_w);
        if x.len() < self.in_h * w || dst.len() < self.len() {
            return;
        }
        for (iy, src) in x.chunks_exact(w).take(self.in_h).enumerate() {
            let row = &mut dst[(self.pad_top + iy) * self.row_len()..][..self.row_len()];
            let pl = self.pad_left;
            if s == 1 {
                row[pl..pl + w].copy_from_slice(src);
                continue;
            }
            if s == 2 {
                // Even input columns go to phase pl % 2 from pl / 2, odd ones to the other phase
                // from (pl + 1) / 2.
                let (p0, p1) = row.split_at_mut(self.phase_len);
                let (even, odd) = if pl.is_multiple_of(2) {
                    (&mut p0[pl / 2..], &mut p1[pl / 2..])
                } else {
                    (&mut p1[pl / 2..], &mut p0[pl.div_ceil(2)..])
                };
                let pairs = src.chunks_exact(2);
                if let (Some(&last), Some(e)) = (pairs.remainder().first(), even.get_mut(w / 2)) {
                    *e = last;
                }
                for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
                    *e = pair[0];
                    *o = pair[1];
                }
                continue;
            }
            for phase in 0..s {
                // Input columns ix with (pad_left + ix) % s == phase, from the first such one.
                let first = (phase + s - self.pad_left % s) % s;
                let at = phase * self.phase_len + (self.pad_left + first) / s;
                let values = src.iter().skip(first).step_by(s);
                for (d, &v) in row[at..].iter_mut().zip(values) {
                    *d = v;
                }
            }
        }
    }
}

/// One plane's arguments for a depthwise kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DwPlane<'a> {
    /// The input plane in a [`DwLayout`].
    pub src: &'a [f32],
    /// [`DwLayout::src_row`].
    pub src_row: usize,
    /// Per tap, [`DwLayout::tap`]; the same length as `weights`.
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
pub(crate) type F32DwPlaneFn = unsafe fn(p: &DwPlane<'_>, dst: &mut [f32], width: usize);

/// Computes the rows of `width` outputs in `dst` (see the module doc). Does nothing (never
/// panics) when `dst` is not whole rows, `taps` and `weights` differ in length, or a tap of the
/// last output would read past `src`.
#[inline(always)]
pub(crate) fn dwconv_plane(p: &DwPlane<'_>, dst: &mut [f32], width: usize) {
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
    if end.is_none_or(|end| end > p.src.len()) {
        return;
    }
    for (oy, out) in dst.chunks_exact_mut(width).enumerate() {
        let base = oy * p.src_row;
        // Every `chunk::<L>(.., x0)` below has `x0 + L <= width`, so its reads end at
        // `base + tap + width <= (rows - 1) src_row + max_tap + width <= src.len()` (checked
        // above) and its writes inside `out` (`width` long).
        let mut x0 = 0;
        while x0 + 16 <= width {
            // SAFETY: `x0 + 16 <= width` (see above).
            unsafe { chunk::<16>(p, out, base, x0) };
            x0 += 16;
        }
        if x0 == width {
            continue;
        }
        // The tail: an overlapping chunk ending at the row's end, or narrower ones.
        // SAFETY: each chunk starts at `0`, `x`, or `width - L` with `width >= L` (see above).
        unsafe {
            if width >= 16 {
                chunk::<16>(p, out, base, width - 16);
            } else if width >= 8 {
                chunk::<8>(p, out, base, 0);
                chunk::<8>(p, out, base, width - 8);
            } else if width >= 4 {
                chunk::<4>(p, out, base, 0);
                chunk::<4>(p, out, base, width - 4);
            } else {
                for x in 0..width {
                    chunk::<1>(p, out, base, x);
                }
            }
        }
    }
}

/// Outputs `x0..x0 + L` of one row: `out[x] = clamp(bias + Σ_t w[t] · src[base + taps[t] + x])`.
///
/// # Safety
/// `x0 + L <= out.len()`, and `base + taps[t] + x0 + L <= p.src.len()` for every tap.
#[inline(always)]
unsafe fn chunk<const L: usize>(p: &DwPlane<'_>, out: &mut [f32], base: usize, x0: usize) {
    let mut acc = [p.bias; L];
    for (&t, &w) in p.taps.iter().zip(p.weights) {
        // SAFETY: the caller guarantees `base + t + x0 + L <= src.len()`; `[f32; L]` has the
        // alignment of `f32`.
        let src = unsafe { &*p.src.as_ptr().add(base + t + x0).cast::<[f32; L]>() };
        for (a, &x) in acc.iter_mut().zip(src) {
            *a += w * x;
        }
    }
    // SAFETY: the caller guarantees `x0 + L <= out.len()`.
    let dst = unsafe { &mut *out.as_mut_ptr().add(x0).cast::<[f32; L]>() };
    for (d, &a) in dst.iter_mut().zip(&acc) {
        // `Clip` as `Activation::apply` and the GEMM tiles: min(max(a, lo), hi), so crossed
        // bounds give hi; NaN passes.
        let v = if a < p.min { p.min } else { a };
        *d = if v > p.max { p.max } else { v };
    }
}

/// Defines a tier's plane kernel `$name`: [`dwconv_plane`] compiled with `$features`.
macro_rules! dwconv_plane_kernel {
    ($name:ident, $features:literal) => {
        /// [`dwconv_plane`](crate::kernels::f32::dwconv::dwconv_plane) compiled for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        #[target_feature(enable = $features)]
        unsafe fn $name(
            p: &$crate::kernels::f32::dwconv::DwPlane<'_>,
            dst: &mut [f32],
            width: usize,
        ) {
            $crate::kernels::f32::dwconv::dwconv_plane(p, dst, width)
        }
    };
}
pub(crate) use dwconv_plane_kernel;
