//! The padded, phase-split copy of one input plane that the depthwise plane kernels read.
//!
//! Padded row `r` and column `c` (input `(r - pad_top, c - pad_left)`, or a zero in the padding)
//! go to region `(r % stride_h, c % stride_w)`, row `r / stride_h`, column `c / stride_w`; a
//! region is `region_rows` rows of `pitch` elements, one after the other. Then tap `(dy, dx)`
//! (inputs past the window start) of output `(oy, ox)` reads `src[oy · pitch + ox + tap(dy, dx)]`
//! whatever the stride and dilation: every tap of a run of consecutive outputs reads consecutive
//! inputs, and consecutive output rows are `pitch` apart (about `out_w` plus the kernel's reach
//! over the stride), which also lets a run of `(out_h - 1) · pitch + out_w` positions cover the
//! whole plane ("flat" run; the `pitch - out_w` positions between rows are computed and dropped).

/// Copies a row of input into a row of the layout (equal lengths).
pub(crate) trait CopyRow {
    fn copy(from: &[f32], to: &mut [f32]);
    /// `even[i] = from[2 i]`, `odd[i] = from[2 i + 1]` over the pairs all three hold.
    fn split(from: &[f32], even: &mut [f32], odd: &mut [f32]);
}

/// The padded, phase-split layout of one input plane for a depthwise window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DwLayout {
    in_h: usize,
    in_w: usize,
    pad_top: usize,
    pad_left: usize,
    stride_h: usize,
    stride_w: usize,
    /// Elements per region row: one column phase of a padded row.
    pitch: usize,
    /// Rows per region: one row phase of the padded rows.
    region_rows: usize,
    /// Where the input's first row starts (`at(pad_top, 0)`) and its first two columns
    /// (`at(0, pad_left)`, `at(0, pad_left + 1)`) go: [`DwLayout::fill_with`] runs once per
    /// plane, and small planes would otherwise spend much of it on these divisions.
    first_row: usize,
    first_cols: (usize, usize),
}

impl DwLayout {
    /// The layout of an `in_h × in_w` plane with `pad_top` / `pad_left` zeros before it, read
    /// with strides `stride_h` / `stride_w`, so that `out_h × out_w` outputs with taps reaching
    /// `reach_h` / `reach_w` inputs past the window start (`(kernel - 1) · dilation + 1`) stay
    /// inside. `None` when a size overflows, a stride is 0 or an output count is 0.
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
        if stride_h == 0 || stride_w == 0 {
            return None;
        }
        let layout = DwLayout {
            in_h,
            in_w,
            pad_top,
            pad_left,
            stride_h,
            stride_w,
            pitch: width.div_ceil(stride_w),
            region_rows: rows.div_ceil(stride_h),
            first_row: 0,
            first_cols: (0, 0),
        };
        layout
            .region_len()
            .checked_mul(stride_h)?
            .checked_mul(stride_w)?;
        Some(DwLayout {
            first_row: layout.at(pad_top, 0),
            first_cols: (layout.at(0, pad_left), layout.at(0, pad_left + 1)),
            ..layout
        })
    }

    fn region_len(&self) -> usize {
        self.pitch * self.region_rows
    }

    /// Inputs of the plane.
    pub fn input_len(&self) -> usize {
        self.in_h * self.in_w
    }

    /// Elements of the padded plane.
    pub fn len(&self) -> usize {
        self.region_len() * self.stride_h * self.stride_w
    }

    /// Elements between the first inputs of two consecutive output rows.
    pub fn pitch(&self) -> usize {
        self.pitch
    }

    /// Where padded row `r`, column `c` is stored.
    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> usize {
        let region = (r % self.stride_h) * self.stride_w + c % self.stride_w;
        region * self.region_len() + (r / self.stride_h) * self.pitch + c / self.stride_w
    }

    /// The offset of the input of tap `(dy, dx)` (inputs past the window start, i.e. kernel index
    /// × dilation) under output `(0, 0)`.
    pub fn tap(&self, dy: usize, dx: usize) -> usize {
        self.at(dy, dx)
    }

    /// Writes the `in_h × in_w` plane `x` into `dst` (at least [`DwLayout::len`] long) in this
    /// layout. Only the input's own positions are written: the padding keeps what `dst` holds,
    /// which must be zeros (fill `dst` with zeros once, then reuse it for every plane). Does
    /// nothing when a buffer is too short.
    #[cfg(test)]
    pub fn fill(&self, x: &[f32], dst: &mut [f32]) {
        struct Slices;
        impl CopyRow for Slices {
            fn copy(from: &[f32], to: &mut [f32]) {
                to.copy_from_slice(from);
            }
            fn split(from: &[f32], even: &mut [f32], odd: &mut [f32]) {
                for ((e, o), pair) in even.iter_mut().zip(odd).zip(from.chunks_exact(2)) {
                    (*e, *o) = (pair[0], pair[1]);
                }
            }
        }
        self.fill_with::<Slices>(x, dst);
    }

    /// [`DwLayout::fill`], with `C` copying whole input rows when the column stride is 1 (the
    /// kernels pass a vector copy: rows are short). Row by row, the region rows' offsets follow
    /// incrementally (no division per row).
    #[inline(always)]
    pub fn fill_with<C: CopyRow>(&self, x: &[f32], dst: &mut [f32]) {
        let (s, w) = (self.stride_w, self.in_w);
        if x.len() < self.in_h * w || dst.len() < self.len() || w == 0 {
            return;
        }
        let pl = self.pad_left;
        // `at(r, c) = row_at + at(0, c)`, with `row_at = at(r, 0)` stepped along the rows.
        let (mut phase_r, mut row_at) = (self.pad_top % self.stride_h, self.first_row);
        let (first_even, first_odd) = self.first_cols;
        // Steps of `row_at`: to the next row phase's region, or back to the first region's next
        // row (a negative step, applied with wrapping arithmetic: `row_at` stays in range).
        let next_phase = self.stride_w * self.region_len();
        let next_row = self.pitch.wrapping_sub((self.stride_h - 1) * next_phase);
        for src in x.chunks_exact(w).take(self.in_h) {
            let this_row = row_at;
            // The next padded row: the next row phase's region, or the next region row.
            phase_r += 1;
            if phase_r == self.stride_h {
                phase_r = 0;
                row_at = row_at.wrapping_add(next_row);
            } else {
                row_at += next_phase;
            }
            if s == 1 {
                let at = this_row + first_even;
                C::copy(src, &mut dst[at..at + w]);
                continue;
            }
            if s == 2 && w >= 2 {
                // Even and odd input columns go to two regions: the odd width's last one, then
                // one pass over the pairs (`C::split`: vector deinterleaves).
                let (at_even, at_odd) = (this_row + first_even, this_row + first_odd);
                let (even, odd) = if at_even < at_odd {
                    let (a, b) = dst.split_at_mut(at_odd);
                    (&mut a[at_even..], b)
                } else {
                    let (a, b) = dst.split_at_mut(at_even);
                    (b, &mut a[at_odd..])
                };
                if let (Some(&last), Some(e)) =
                    (src.chunks_exact(2).remainder().first(), even.get_mut(w / 2))
                {
                    *e = last;
                }
                let pairs = w / 2;
                if let (Some(even), Some(odd)) = (even.get_mut(..pairs), odd.get_mut(..pairs)) {
                    C::split(src, even, odd);
                }
                continue;
            }
            for phase in 0..s.min(w) {
                // Input columns `phase, phase + s, ...` land in one region row, consecutively.
                let at = this_row + self.at(0, pl + phase);
                let values = src[phase..].iter().step_by(s);
                for (d, &v) in dst[at..].iter_mut().zip(values) {
                    *d = v;
                }
            }
        }
    }
}
