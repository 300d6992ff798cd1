//! The channel-vectorized path for small planes: blocks of [`CB`] channels transposed into a
//! channel-minor scratch, one vector lane per channel, so that a plane of 7x7 or 14x14 outputs
//! keeps every lane busy (the plane path vectorizes along a plane's outputs, which a small plane
//! does not fill).
//!
//! Per block of channels `c0..c0 + n` (`n <= CB`, one image): the driver copies the input planes
//! into `x[r][col][lane]` (i32, the s8 view of the input byte), with `r` and `col` the padded row
//! and column (`pad_top` / `pad_left` zero points before the input, zero points after it), and the
//! taps into `taps[ky * K + kx][lane]` (i32; zero in lanes past `n`). A tier kernel
//! ([`Qs8DwChannelsFn`]) computes the raw sums `acc[oy * OW + ox][lane] = sum_{ky,kx}
//! taps[ky K + kx][lane] * x[S oy + ky][S ox + kx][lane]`; the driver adds the packed bias and
//! requantizes each channel's outputs with the plane path's epilogue (`plane::requantize`, the
//! GEMM's `tile::quantize`), writing them to the channel's NCHW output plane.
//!
//! Weights: the taps are transposed per block from the `dw` layout (`[C][K][K]`) at run time, in
//! the same pass as the input: `K * K * CB` values per block against `OH * OW` times that many
//! products, so one file serves both paths (chosen per layer at run time) without a second
//! stored packing.
//!
//! Arithmetic: every position outside the input holds the input zero point (s8 view), so the
//! packed bias (`-zp_s8 * sum(taps)` folded in) cancels the padding exactly as in the plane path;
//! the products need no u8 correction since the scratch holds the s8 view. Results are bit-exact
//! with the plane path and across tiers (integer sums, then the same IEEE operations).
//!
//! Invariants: the scratch lives in a per-thread buffer kept between calls (a warm call allocates
//! nothing); lanes past `n` may hold stale input but their taps are zero and their sums dropped.

use std::cell::RefCell;

use crate::kernels::Kernels;
use crate::kernels::qs8::tile::OutKind;
use crate::tensor::DType;

use super::DwGeometry;
use super::pack::Qs8DwPacked;
use super::plane::{MAX_K, copy_short, requantize};

/// Channels per block (vector lanes of i32: one zmm, two ymm, four NEON q registers).
pub(crate) const CB: usize = 16;

/// Stride-1 layers whose output planes have at most this many outputs take this path (the
/// measured crossover with the plane path, `docs/performance.md`).
pub(crate) const CHANNELS_MAX_PLANE: usize = 7 * 7;

/// The taps of one channel block: `[ky * K + kx][lane]`, zero past `K * K` and past the block.
pub(crate) type BlockTaps = [[i32; CB]; MAX_K * MAX_K];

/// One channel block. Valid when: `k` is 3 or 5, `stride` 1 or 2, `oh, ow > 0`;
/// `pitch >= (ow - 1) * stride + k`; `x` holds at least `((oh - 1) * stride + k) * pitch`
/// positions; the x values are within [-128, 127] and the taps within [-127, 127] (i16 products
/// for VPDPWSSD).
pub(crate) struct DwChannelsJob<'a> {
    pub k: usize,
    pub stride: usize,
    pub oh: usize,
    pub ow: usize,
    /// Positions per padded row.
    pub pitch: usize,
    /// The padded block, `[row][col][lane]` with `pitch` columns.
    pub x: &'a [[i32; CB]],
    pub taps: &'a BlockTaps,
}

/// A tier's channel-block kernel (`qs8_dwconv_16c__<tier>`): computes blocks `first..` of a layer
/// into `out` (their whole output planes) with [`ChannelBlocks::run_blocks`] compiled for the
/// tier, whose sums kernel writes the raw sums of every output position to `acc[oy * ow + ox]`
/// (see the module doc).
///
/// # Safety
/// `out` holds the whole output planes of blocks `first..` and the CPU has the kernel's tier.
pub(crate) type Qs8DwChannelsFn =
    unsafe fn(blocks: &ChannelBlocks, first: usize, out: &mut [u8], scratch: &mut Scratch);

/// Defines a tier's channel-block kernel `$name` (a [`Qs8DwChannelsFn`]) compiled with
/// `$features`: [`ChannelBlocks::run_blocks`] (transposition, requantization and write-back
/// compiled for the tier too) with `$sums::<K, S>(job, acc)` for the layer's kernel size and
/// stride. `$sums` must be an `unsafe fn` whose `# Safety` is a valid job, `acc` of `oh * ow`
/// positions and the features.
macro_rules! dwconv_channels_kernel {
    ($(#[$doc:meta])* $name:ident, features: [$($features:literal)?], $($sums:ident)::+) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// As `Qs8DwChannelsFn`: `out` holds the whole output planes of blocks `first..`, and the
        /// CPU has the features this function is compiled for.
        #[allow(non_snake_case)]
        $(#[target_feature(enable = $features)])?
        pub(crate) unsafe fn $name(
            blocks: &$crate::kernels::qs8::dwconv::channels::ChannelBlocks,
            first: usize,
            out: &mut [u8],
            scratch: &mut $crate::kernels::qs8::dwconv::channels::Scratch,
        ) {
            blocks.run_blocks(first, out, scratch, |job, acc| {
                debug_assert!(matches!(job.k, 3 | 5) && matches!(job.stride, 1 | 2));
                // SAFETY: `run_blocks` hands a valid job and `acc` of oh * ow positions; K and S
                // are the job's; the CPU has the features (this function's contract).
                unsafe {
                    match (job.k == 3, job.stride == 1) {
                        (true, true) => $($sums)::+::<3, 1>(job, acc),
                        (true, false) => $($sums)::+::<3, 2>(job, acc),
                        (false, true) => $($sums)::+::<5, 1>(job, acc),
                        (false, false) => $($sums)::+::<5, 2>(job, acc),
                    }
                }
            })
        }
    };
}
pub(crate) use dwconv_channels_kernel;

/// The raw sums of a job as plain loops: the sums kernel of the reference, and of the tiers whose
/// compiler vectorization of these loops is their kernel (lanes map to vector lanes). An `unsafe
/// fn` for [`dwconv_channels_kernel!`]; it has no requirement beyond a valid job (an invalid one
/// panics on slicing, never reads out of bounds).
///
/// # Safety
/// None.
#[inline(always)]
pub(crate) unsafe fn portable_sums<const K: usize, const S: usize>(
    job: &DwChannelsJob,
    acc: &mut [[i32; CB]],
) {
    for (p, a) in acc.iter_mut().enumerate().take(job.oh * job.ow) {
        let (oy, ox) = (p / job.ow, p % job.ow);
        let mut sum = [0i32; CB];
        for ky in 0..K {
            let row = &job.x[(S * oy + ky) * job.pitch + S * ox..][..K];
            for (x, w) in row.iter().zip(&job.taps[ky * K..ky * K + K]) {
                for l in 0..CB {
                    // |x w| <= 128 * 127: no overflow; the sum wraps like the plane path's.
                    sum[l] = sum[l].wrapping_add(x[l] * w[l]);
                }
            }
        }
        *a = sum;
    }
}

/// The per-thread scratch: the padded block and the sums.
#[derive(Default)]
pub(crate) struct Scratch {
    x: Vec<[i32; CB]>,
    acc: Vec<[i32; CB]>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Validated arguments of a layer on this path, shared read-only by the threads.
pub(crate) struct ChannelBlocks<'a> {
    pub kernels: &'a Kernels,
    pub weights: &'a Qs8DwPacked<'a>,
    pub g: &'a DwGeometry,
    pub oh: usize,
    pub ow: usize,
    pub kind: OutKind,
    pub input: &'a [u8],
}

impl ChannelBlocks<'_> {
    /// Blocks per image.
    pub(super) fn blocks_per_image(&self) -> usize {
        self.g.channels.div_ceil(CB)
    }

    /// Channels `c0..c0 + n` and the first output plane of block `b` (counted over all images).
    pub(super) fn block(&self, b: usize) -> (usize, usize, usize) {
        let per = self.blocks_per_image();
        let (image, c0) = (b / per, b % per * CB);
        let n = (self.g.channels - c0).min(CB);
        (c0, n, image * self.g.channels + c0)
    }

    /// Computes blocks `first..` whose output planes `out` holds (whole blocks).
    pub(super) fn run(&self, first: usize, out: &mut [u8]) {
        let kernel = self.kernels.qs8_dwconv_channels;
        // SAFETY: `out` holds the whole output planes of blocks `first..` (this function's
        // contract, kept by the caller); the table's tier is supported by this CPU (`Kernels`).
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => unsafe { kernel(self, first, out, &mut s) },
            // A nested call on this thread (none today) gets its own buffers.
            Err(_) => unsafe { kernel(self, first, out, &mut Scratch::default()) },
        });
    }

    /// [`ChannelBlocks::run`] with the thread's scratch and `sums` as the tier's sums kernel
    /// (inlined into each tier's kernel, see [`dwconv_channels_kernel!`]).
    #[inline(always)]
    pub(crate) fn run_blocks(
        &self,
        first: usize,
        out: &mut [u8],
        s: &mut Scratch,
        mut sums: impl FnMut(&DwChannelsJob, &mut [[i32; CB]]),
    ) {
        let (g, w) = (self.g, self.weights);
        let k = w.kernel_size();
        let Some(params) = self.kind.byte_params() else {
            return;
        };
        let rows = (self.oh - 1) * g.stride + k;
        let pitch = (self.ow - 1) * g.stride + k;
        let plane_in = g.height * g.width;
        let plane_out = self.oh * self.ow;
        let flip = if w.input_dtype() == DType::U8 {
            0x80
        } else {
            0
        };
        let zp = [w.zero_point_s8(); CB];
        s.x.clear();
        s.x.resize(rows * pitch, zp);
        s.acc.clear();
        s.acc.resize(plane_out, [0; CB]);
        // Input rows and columns inside the padded block (the rest is never read).
        let in_rows = g.height.min(rows.saturating_sub(g.pad_top));
        let in_cols = g.width.min(pitch.saturating_sub(g.pad_left));
        let mut done = 0;
        let mut b = first;
        while done < out.len() {
            let (c0, n, plane0) = self.block(b);
            let mut taps: BlockTaps = [[0; CB]; MAX_K * MAX_K];
            for l in 0..n {
                let x = &self.input[(plane0 + l) * plane_in..][..plane_in];
                for iy in 0..in_rows {
                    let at = (g.pad_top + iy) * pitch + g.pad_left;
                    let src = &x[iy * g.width..][..in_cols];
                    for (dst, &v) in s.x[at..at + in_cols].iter_mut().zip(src) {
                        dst[l] = i32::from((v ^ flip) as i8);
                    }
                }
                for (t, &v) in w.taps(c0 + l).iter().enumerate() {
                    taps[t][l] = i32::from(v);
                }
            }
            let job = DwChannelsJob {
                k,
                stride: g.stride,
                oh: self.oh,
                ow: self.ow,
                pitch,
                x: &s.x,
                taps: &taps,
            };
            // The job is valid: k is 3 or 5 (`Qs8DwPacked`), the stride 1 or 2 (`output_hw`),
            // oh, ow > 0 (the caller), `x` holds `rows * pitch` positions of s8 values, the taps
            // are within [-127, 127] (`Qs8DwPacked`); `acc` holds oh * ow positions.
            sums(&job, &mut s.acc);
            for l in 0..n {
                let dst = &mut out[done + l * plane_out..][..plane_out];
                let (bias, scale) = (w.bias(c0 + l), w.scale(c0 + l));
                for (i, chunk) in dst.chunks_mut(CB).enumerate() {
                    let sums: [i32; CB] =
                        std::array::from_fn(|j| s.acc.get(i * CB + j).map_or(0, |a| a[l]));
                    let q = requantize(&sums, bias, scale, params);
                    copy_short(chunk, &q[..chunk.len()]);
                }
            }
            done += n * plane_out;
            b += 1;
        }
    }
}
