//! The weight-only kernel bodies, compiled once per tier.
//!
//! - GEMV (`wo_gemv_1x16c4__<tier>`): for each panel, `y[c] = Σ_g scale[g, c] · Σ_{k in g} x[k] ·
//!   (code[k, c] - zero[g, c])`, dequantizing in registers: the integer difference is converted
//!   to f32 and multiplied-added into four accumulators (rows k mod 4, to hide the FMA latency),
//!   which are summed and scaled once per group.
//! - Dequantization (`wo_dequant_16c4__<tier>`): one panel into the f32 GEMM's packed-B panel
//!   (`out[16 k + c] = scale[g, c] · (code[k, c] - zero[g, c])`), which the f32 tile kernel of the
//!   same tier then multiplies.
//!
//! The bodies are plain safe Rust over fixed-size arrays of the 16 columns, written so that the
//! compiler keeps the accumulators in registers and vectorizes the column loop; each tier compiles
//! them inside its own `#[target_feature]` functions (`wo_gemv_kernel!`, `wo_dequant_kernel!`;
//! AVX-512 has its own GEMV panel kernel and shares only [`gemv_panels`] and [`Groups`]), with fused multiply-add
//! (`FUSED`), the reference without. Malformed slices make them stop early, never panic.

use super::pack::{GROUP_HEAD_LEN, KR, NR, WoBits, WoShape};
use crate::kernels::f32::madd;

/// A GEMV kernel: `y` (at most `16 * panels` values) from `panels` (whole panels of `shape`) and
/// `x` (`shape.kp()` values, zero past K).
///
/// # Safety
/// The CPU has the kernel's tier (the body checks the slices).
pub(crate) type WoGemvFn = unsafe fn(shape: &WoShape, panels: &[u8], x: &[f32], y: &mut [f32]);

/// A dequantization kernel: one panel of `shape` into `out` (`16 * shape.kp()` values).
///
/// # Safety
/// The CPU has the kernel's tier (the body checks the slices).
pub(crate) type WoDequantFn = unsafe fn(shape: &WoShape, panel: &[u8], out: &mut [f32]);

/// The code of row `r` (< 4) of a block, column `c`.
#[inline(always)]
fn code<const BITS: usize, const BLOCK: usize>(block: &[u8; BLOCK], r: usize, c: usize) -> i32 {
    if BITS == 8 {
        i32::from(block[NR * r + c])
    } else {
        i32::from((block[NR * (r / 2) + c] >> (4 * (r % 2))) & 15)
    }
}

/// Splits a group head into its 16 scales and 16 zero points.
#[inline(always)]
fn group_head(head: &[u8; GROUP_HEAD_LEN]) -> ([f32; NR], [i32; NR]) {
    let mut scale = [0.0f32; NR];
    let mut zero = [0i32; NR];
    for c in 0..NR {
        scale[c] = f32::from_le_bytes([
            head[4 * c],
            head[4 * c + 1],
            head[4 * c + 2],
            head[4 * c + 3],
        ]);
        zero[c] = i32::from(head[4 * NR + c]);
    }
    (scale, zero)
}

/// One group of a panel: its head (scales and zero points), its codes, and its range of the KP
/// rows.
pub(crate) struct Group<'a> {
    /// 16 f32 scales (little-endian) then 16 u8 zero points.
    pub(crate) head: &'a [u8; GROUP_HEAD_LEN],
    pub(crate) codes: &'a [u8],
    pub(crate) rows: std::ops::Range<usize>,
}

/// The groups of one panel, in order; ends early at the first slice that is too short. (An
/// iterator rather than a closure: closures would not be inlined into the tier's
/// `#[target_feature]` function.)
pub(crate) struct Groups<'a> {
    rest: &'a [u8],
    start: usize,
    kp: usize,
    g_len: usize,
    block_len: usize,
}

impl<'a> Groups<'a> {
    #[inline(always)]
    pub(crate) fn new(shape: &WoShape, panel: &'a [u8]) -> Groups<'a> {
        Groups {
            rest: panel,
            start: 0,
            kp: shape.kp(),
            g_len: shape.group_len(),
            block_len: shape.bits.block_len(),
        }
    }
}

impl<'a> Iterator for Groups<'a> {
    type Item = Group<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Group<'a>> {
        if self.start >= self.kp {
            return None;
        }
        let rows = self.start..self.kp.min(self.start + self.g_len);
        let (head, tail) = self.rest.split_at_checked(GROUP_HEAD_LEN)?;
        let (codes, tail) = tail.split_at_checked(rows.len() / KR * self.block_len)?;
        self.rest = tail;
        self.start = rows.end;
        Some(Group {
            head: head.try_into().ok()?,
            codes,
            rows,
        })
    }
}

/// The GEMV of one panel (see the module doc).
#[inline(always)]
fn gemv_panel<const BITS: usize, const BLOCK: usize, const FUSED: bool>(
    shape: &WoShape,
    panel: &[u8],
    x: &[f32],
) -> [f32; NR] {
    let mut total = [0.0f32; NR];
    for g in Groups::new(shape, panel) {
        let (scale, zero) = group_head(g.head);
        let Some(xg) = x.get(g.rows) else { break };
        let mut acc = [[0.0f32; NR]; KR];
        for (block, x4) in g.codes.chunks_exact(BLOCK).zip(xg.chunks_exact(KR)) {
            let (Ok(block), Ok(x4)) = (<&[u8; BLOCK]>::try_from(block), <&[f32; KR]>::try_from(x4))
            else {
                break;
            };
            for (r, acc_r) in acc.iter_mut().enumerate() {
                for c in 0..NR {
                    let w = (code::<BITS, BLOCK>(block, r, c) - zero[c]) as f32;
                    acc_r[c] = madd::<FUSED>(x4[r], w, acc_r[c]);
                }
            }
        }
        for c in 0..NR {
            let sum = (acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c]);
            total[c] = madd::<FUSED>(sum, scale[c], total[c]);
        }
    }
    total
}

/// The GEMV of one panel of either width.
#[inline(always)]
fn gemv_any_panel<const FUSED: bool>(shape: &WoShape, panel: &[u8], x: &[f32]) -> [f32; NR] {
    match shape.bits {
        WoBits::Int8 => gemv_panel::<8, { NR * KR }, FUSED>(shape, panel, x),
        WoBits::Int4 => gemv_panel::<4, { NR * KR / 2 }, FUSED>(shape, panel, x),
    }
}

/// The GEMV of consecutive panels (see [`WoGemvFn`]) with the shared panel body.
#[inline(always)]
pub(crate) fn gemv<const FUSED: bool>(shape: &WoShape, panels: &[u8], x: &[f32], y: &mut [f32]) {
    // A function item marked inline(always) (not a closure), so that the body is compiled with
    // the features of the tier's function.
    gemv_panels(shape, panels, x, y, gemv_any_panel::<FUSED>)
}

/// The GEMV of consecutive panels with `panel_gemv` computing each panel's 16 sums (a tier's own
/// panel kernel, or the shared body); writes `y` (zeros when K = 0).
#[inline(always)]
pub(crate) fn gemv_panels(
    shape: &WoShape,
    panels: &[u8],
    x: &[f32],
    y: &mut [f32],
    panel_gemv: impl Fn(&WoShape, &[u8], &[f32]) -> [f32; NR],
) {
    let Some(panel_len) = shape.panel_len().filter(|&l| l > 0) else {
        // K = 0: every sum is empty.
        y.fill(0.0);
        return;
    };
    for (panel, y16) in panels.chunks_exact(panel_len).zip(y.chunks_mut(NR)) {
        y16.copy_from_slice(&panel_gemv(shape, panel, x)[..y16.len()]);
    }
}

/// Dequantizes one panel with codes of `BITS` bits.
#[inline(always)]
fn dequant_bits<const BITS: usize, const BLOCK: usize>(
    shape: &WoShape,
    panel: &[u8],
    out: &mut [f32],
) {
    for g in Groups::new(shape, panel) {
        let (scale, zero) = group_head(g.head);
        let Some(dst) = out.get_mut(NR * g.rows.start..NR * g.rows.end) else {
            return;
        };
        for (block, dst) in g
            .codes
            .chunks_exact(BLOCK)
            .zip(dst.chunks_exact_mut(NR * KR))
        {
            let Ok(block) = <&[u8; BLOCK]>::try_from(block) else {
                return;
            };
            for (r, d) in dst.chunks_exact_mut(NR).enumerate() {
                for c in 0..NR {
                    d[c] = scale[c] * (code::<BITS, BLOCK>(block, r, c) - zero[c]) as f32;
                }
            }
        }
    }
}

/// Dequantizes one panel (see [`WoDequantFn`]).
#[inline(always)]
pub(crate) fn dequant(shape: &WoShape, panel: &[u8], out: &mut [f32]) {
    match shape.bits {
        WoBits::Int8 => dequant_bits::<8, { NR * KR }>(shape, panel, out),
        WoBits::Int4 => dequant_bits::<4, { NR * KR / 2 }>(shape, panel, out),
    }
}

/// Defines a tier's `$gemv` kernel: [`gemv`] compiled with `$features`, fused multiply-add when
/// `$fused`.
macro_rules! wo_gemv_kernel {
    ($gemv:ident, $features:literal, fused: $fused:literal) => {
        /// [`gemv`](crate::kernels::wo::body::gemv) compiled for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        #[target_feature(enable = $features)]
        unsafe fn $gemv(
            shape: &$crate::kernels::wo::WoShape,
            panels: &[u8],
            x: &[f32],
            y: &mut [f32],
        ) {
            $crate::kernels::wo::body::gemv::<$fused>(shape, panels, x, y)
        }
    };
}
pub(crate) use wo_gemv_kernel;

/// Defines a tier's `$dequant` kernel: [`dequant`] compiled with `$features`.
macro_rules! wo_dequant_kernel {
    ($dequant:ident, $features:literal) => {
        /// [`dequant`](crate::kernels::wo::body::dequant) compiled for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        #[target_feature(enable = $features)]
        unsafe fn $dequant(shape: &$crate::kernels::wo::WoShape, panel: &[u8], out: &mut [f32]) {
            $crate::kernels::wo::body::dequant(shape, panel, out)
        }
    };
}
pub(crate) use wo_dequant_kernel;
