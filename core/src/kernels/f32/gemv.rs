//! f32 GEMV: `y = clamp(x · B + bias, min, max)` for one row `x` (`1 × k`) and B packed in
//! 16-column panels ([`pack_b`](super::pack_b)), the product of a Gemm or MatMul with M = 1.
//!
//! The tile kernels compute one row with one multiply-add chain per panel (one register of 16
//! columns), so a row spends the add latency on every step; this kernel runs `G` panels side by
//! side (`G` independent chains per step: one broadcast of `x[p]`, `G` panel rows loaded), then
//! fewer for the last panels. The body is plain Rust over fixed-size arrays of the 16 columns,
//! compiled by each tier inside its own `#[target_feature]` function ([`f32_gemv_kernel!`]), with
//! fused multiply-add where the tier's tile kernel fuses (`FUSED`) and `G` chosen so that the
//! accumulators fit the tier's registers.
//!
//! Invariant: every element of `y` is the tile kernel's computation of the same tier, bit for
//! bit: its products are added in increasing k order onto 0 (fused or not, as the tile kernel),
//! then the bias is added and the `Clip` clamp applied. So a product gives the same bits whether
//! it takes this path or [`f32_gemm`](super::f32_gemm)'s.

use rayon::prelude::*;

use super::gemm::F32Epilogue;
use super::madd;
use super::pack::{NR, packed_b_len};
use crate::error::{Error, Result};
use crate::kernels::Kernels;

/// A GEMV kernel (`f32_gemv_<G>p__<tier>`): `y` (n ≤ 16 × panels values) from `x` (k values),
/// the packed panels of B (`16 k` values each) and `(bias, min, max)`.
///
/// # Safety
/// The CPU has the kernel's tier (the body checks the slices and stops at a short one).
pub(crate) type F32GemvFn = unsafe fn(x: &[f32], b: &[f32], y: &mut [f32], ep: (f32, f32, f32));

/// Multiply-adds below which a GEMV runs on the calling thread even with a pool.
const MIN_PARALLEL_MACS: usize = 256 * 1024;

/// The tile kernels' epilogue: `v = s + bias`, then `Clip` (NaN passes, crossed bounds give max).
#[inline(always)]
fn finish(s: f32, (bias, min, max): (f32, f32, f32)) -> f32 {
    let v = s + bias;
    if v < min {
        min
    } else if v > max {
        max
    } else {
        v
    }
}

/// `G` whole panels (`b`: `G × 16 k` values) into `y` (at most `16 G` values).
#[inline(always)]
fn panels<const G: usize, const FUSED: bool>(
    x: &[f32],
    b: &[f32],
    y: &mut [f32],
    ep: (f32, f32, f32),
) {
    let k = x.len();
    let (rows, _) = b.as_chunks::<NR>();
    let Some(rows) = rows.get(..G * k) else {
        return;
    };
    let panel: [&[[f32; NR]]; G] = std::array::from_fn(|g| &rows[g * k..(g + 1) * k]);
    let mut acc = [[0.0f32; NR]; G];
    for (p, &xp) in x.iter().enumerate() {
        for g in 0..G {
            let row = &panel[g][p];
            for c in 0..NR {
                acc[g][c] = madd::<FUSED>(xp, row[c], acc[g][c]);
            }
        }
    }
    for (y16, acc) in y.chunks_mut(NR).zip(&acc) {
        for (d, &s) in y16.iter_mut().zip(acc) {
            *d = finish(s, ep);
        }
    }
}

/// The GEMV body (see [`F32GemvFn`]): groups of `G` panels, then 4, 2 and 1 for the rest.
#[inline(always)]
pub(crate) fn gemv<const G: usize, const FUSED: bool>(
    x: &[f32],
    b: &[f32],
    y: &mut [f32],
    ep: (f32, f32, f32),
) {
    let panel_len = NR * x.len();
    if panel_len == 0 {
        // K = 0: every sum is empty (the tile kernels' `clamp(bias + 0)`).
        y.iter_mut().for_each(|v| *v = finish(0.0, ep));
        return;
    }
    let (mut b, mut y) = (b, y);
    while !y.is_empty() {
        let left = y.len().div_ceil(NR);
        let g = if left >= G {
            G
        } else if left >= 4 {
            4
        } else if left >= 2 {
            2
        } else {
            1
        };
        let Some((bg, b_rest)) = b.split_at_checked(g * panel_len) else {
            return;
        };
        let cols = (g * NR).min(y.len());
        let (yg, y_rest) = std::mem::take(&mut y).split_at_mut(cols);
        match g {
            1 => panels::<1, FUSED>(x, bg, yg, ep),
            2 => panels::<2, FUSED>(x, bg, yg, ep),
            4 => panels::<4, FUSED>(x, bg, yg, ep),
            _ => panels::<G, FUSED>(x, bg, yg, ep),
        }
        (b, y) = (b_rest, y_rest);
    }
}

/// Defines `$name`, a [`F32GemvFn`] for a tier: [`gemv`] with `G = $group`, compiled with
/// `$features` (none: the reference tier, the target's baseline).
macro_rules! f32_gemv_kernel {
    ($name:ident, [$($features:literal)?], fused: $fused:literal, group: $group:literal) => {
        /// [`gemv`](crate::kernels::f32::gemv::gemv) compiled for this tier.
        ///
        /// # Safety
        /// The CPU has the features this function is compiled with.
        #[allow(non_snake_case)]
        $(#[target_feature(enable = $features)])?
        unsafe fn $name(x: &[f32], b: &[f32], y: &mut [f32], ep: (f32, f32, f32)) {
            $crate::kernels::f32::gemv::gemv::<$group, $fused>(x, b, y, ep)
        }
    };
}
pub(crate) use f32_gemv_kernel;

/// `y = clamp(x · B + bias, min, max)` with the tier of `kernels` (`bias` = the epilogue's bias
/// of row 0), B (`k × n`, `n = y.len()`) packed by [`pack_b`](super::pack_b); with a pool and
/// enough work, groups of 64 columns are shared out between threads (the same per-element
/// computation). Fails (never panics) when `b_packed` or the bias is too short.
pub fn f32_gemv(
    kernels: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    x: &[f32],
    b_packed: &[f32],
    y: &mut [f32],
    epilogue: F32Epilogue<'_>,
) -> Result<()> {
    let (k, n) = (x.len(), y.len());
    let need = packed_b_len(k, n).ok_or_else(|| Error::invalid_argument("f32 gemv: overflow"))?;
    let bias = match epilogue.bias {
        None => Some(0.0),
        Some(b) => b.first().copied(),
    };
    let (Some(bias), true) = (bias, b_packed.len() >= need) else {
        return Err(Error::invalid_argument(format!(
            "f32 gemv 1x{k}x{n}: buffers too short (packed b {} of {need}, bias {:?})",
            b_packed.len(),
            epilogue.bias.map(<[f32]>::len)
        )));
    };
    let ep = (bias, epilogue.min, epilogue.max);
    let run = |b: &[f32], y: &mut [f32]| {
        // SAFETY: a `Kernels` table only exists for a tier the CPU supports; the body checks
        // the slices.
        unsafe { (kernels.f32_gemv)(x, b, y, ep) }
    };
    match pool {
        Some(pool) if k * n >= MIN_PARALLEL_MACS && n > 4 * NR => {
            const COLS: usize = 4 * NR;
            pool.install(|| {
                y.par_chunks_mut(COLS)
                    .zip(b_packed.par_chunks(COLS * k))
                    .for_each(|(y, b)| run(b, y))
            });
        }
        _ => run(b_packed, y),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::f32::{F32Lhs, PackedA, f32_gemm, pack_b};
    use crate::kernels::testing::{Rng, tiers};

    fn values(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n)
            .map(|_| (rng.next() % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// Every tier's GEMV gives its tile kernel's bits (k below, at and above the k block; n
    /// over every panel count up to past one group and partial last panels; bias and clamp;
    /// with and without a pool).
    #[test]
    fn matches_the_tile_kernels_bit_for_bit() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut rng = Rng(0x5eed);
        for kernels in tiers() {
            for k in [0, 1, 3, 255, 256, 257, 2100] {
                for n in (1..=20).chain([31, 32, 33, 64, 127, 128, 129, 143, 200]) {
                    let x = values(k, &mut rng);
                    let b = values(k * n, &mut rng);
                    let packed = pack_b(&b, n, 1, k, n).unwrap();
                    let bias = [0.25f32];
                    for (bias, min, max) in [
                        (None, f32::NEG_INFINITY, f32::INFINITY),
                        (Some(&bias[..]), -0.5, 0.5),
                    ] {
                        let ep = F32Epilogue { bias, min, max };
                        let mut want = vec![f32::NAN; n];
                        // A packed beforehand: `f32_gemm` then takes the tile kernels (a
                        // contiguous one-row A would take this GEMV).
                        let a = PackedA::new(kernels, &x, (k, 1), 1, k).unwrap();
                        let lhs = F32Lhs::Packed(&a);
                        f32_gemm(
                            kernels,
                            None,
                            (1, n, k),
                            lhs,
                            &packed,
                            (&mut want, n),
                            ep,
                            None,
                        )
                        .unwrap();
                        for p in [None, Some(&pool)] {
                            let mut got = vec![f32::NAN; n];
                            f32_gemv(kernels, p, &x, &packed, &mut got, ep).unwrap();
                            let same = got
                                .iter()
                                .zip(&want)
                                .all(|(g, w)| g.to_bits() == w.to_bits());
                            assert!(same, "{:?} 1x{k}x{n}: {got:?} vs {want:?}", kernels.tier());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn short_buffers_are_errors() {
        let kernels = crate::kernels::kernels().unwrap();
        let ep = F32Epilogue::NONE;
        let mut y = [0.0; 17];
        assert!(f32_gemv(kernels, None, &[1.0; 2], &[0.0; 63], &mut y, ep).is_err());
        let ep = F32Epilogue {
            bias: Some(&[]),
            ..ep
        };
        assert!(f32_gemv(kernels, None, &[1.0; 2], &[0.0; 64], &mut y, ep).is_err());
    }
}
