//! Tests of the f32 GEMM: every supported tier against a naive f64 oracle (within 1e-5 relative
//! to the sum of absolute products), over edge shapes (every m in 1..=MR + 1, n in 1..=17 and 33,
//! k = 0, 1, odd, below, at and above one and two k blocks, odd strides, bias and clamps, NaN) and
//! random shapes; with A strided (packed per call) and packed beforehand, B packed and read in
//! place (odd row stride), with 1 and 3 threads, all bit for bit equal. Tiers the CPU lacks are reported as skipped on stderr, never as
//! passed.

use proptest::prelude::*;

use super::tile::{F32Tile, KC};
use super::*;
use crate::kernels::Kernels;
use crate::kernels::testing::{report, tiers};

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

struct Case {
    m: usize,
    n: usize,
    k: usize,
    a_rs: usize,
    a_cs: usize,
    bias: bool,
    min: f32,
    max: f32,
}

/// No pool for one thread; one shared 3-thread pool otherwise (built once: thousands of cases
/// each building their own pool cost gigabytes under qemu-user).
fn pool(threads: usize) -> Option<&'static rayon::ThreadPool> {
    static THREE: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    (threads > 1).then(|| {
        THREE.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap()
        })
    })
}

/// Runs `case` on every tier with 1 and 3 threads and compares with the oracle; returns the
/// number of tier runs checked.
fn check(case: &Case, seed: u64) -> Result<usize, TestCaseError> {
    let Case {
        m,
        n,
        k,
        a_rs,
        a_cs,
        ..
    } = *case;
    let a_len = if m == 0 || k == 0 {
        0
    } else {
        (m - 1) * a_rs + (k - 1) * a_cs + 1
    };
    let a = values(a_len, seed);
    let b = values(k * n, seed + 1);
    let bias = values(m, seed + 2);
    let packed = pack_b(&b, n, 1, k, n).unwrap();
    // B in place with an odd row stride: each row followed by 3 NaNs (none after the last).
    let b_rs = n + 3;
    let mut b_wide: Vec<f32> = b
        .chunks(n.max(1))
        .flat_map(|row| row.iter().copied().chain([f32::NAN; 3]))
        .collect();
    b_wide.truncate(k.saturating_sub(1) * b_rs + n);
    let mut want = vec![0.0f32; m * n];
    let mut tol = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = if case.bias { f64::from(bias[i]) } else { 0.0 };
            let mut mag = s.abs();
            for p in 0..k {
                let prod = f64::from(a[i * a_rs + p * a_cs]) * f64::from(b[p * n + j]);
                s += prod;
                mag += prod.abs();
            }
            let v = s as f32;
            want[i * n + j] = if v < case.min {
                case.min
            } else if v > case.max {
                case.max
            } else {
                v
            };
            tol[i * n + j] = 1e-5 * mag + 1e-30;
        }
    }
    let epilogue = F32Epilogue {
        bias: case.bias.then_some(&bias[..]),
        min: case.min,
        max: case.max,
    };
    let mut runs = 0;
    for kernels in tiers() {
        let packed_a = PackedA::new(kernels, &a, (a_rs, a_cs), m, k).unwrap();
        let mut first: Option<Vec<f32>> = None;
        let variants = [
            (1, false, false),
            (3, false, false),
            (1, true, false),
            (3, true, false),
            (1, false, true),
            (1, true, true),
            (3, true, true),
        ];
        for (threads, prepacked, in_place) in variants {
            let pool = pool(threads);
            let mut c = vec![f32::NAN; m * n];
            let lhs = match prepacked {
                true => F32Lhs::Packed(&packed_a),
                false => F32Lhs::Strided {
                    data: &a,
                    strides: (a_rs, a_cs),
                },
            };
            let dims = (m, n, k);
            match in_place {
                true => f32_gemm_rows(
                    kernels,
                    pool,
                    dims,
                    lhs,
                    (&b_wide, b_rs),
                    (&mut c, n),
                    epilogue,
                    None,
                ),
                false => f32_gemm(
                    kernels,
                    pool,
                    dims,
                    lhs,
                    &packed,
                    (&mut c, n),
                    epilogue,
                    None,
                ),
            }
            .unwrap();
            let same = first.get_or_insert_with(|| c.clone());
            prop_assert!(
                same.iter().zip(&c).all(|(x, y)| x.to_bits() == y.to_bits()),
                "tier {} {m}x{k}x{n}: threads {threads}, A packed beforehand {prepacked}, B in \
                 place {in_place}: not bit for bit the single-thread strided result",
                kernels.tier()
            );
            for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
                let ok = (f64::from(got) - f64::from(w)).abs() <= tol[idx];
                prop_assert!(
                    ok,
                    "tier {} threads {threads}: {m}x{k}x{n} strides ({a_rs}, {a_cs}) C[{}, {}] = {got}, want {w}",
                    kernels.tier(),
                    idx / n,
                    idx % n
                );
            }
            runs += 1;
        }
    }
    Ok(runs)
}

#[test]
fn edge_shapes_match_the_oracle_on_every_tier() {
    let max_mr = tiers().iter().map(|k| k.f32_mr).max().unwrap_or(4);
    // Every width of a tile the tiers have (two panels with a pair kernel) and one more.
    let widest = match tiers().iter().any(|k| k.f32_gemm_pair.is_some()) {
        true => 2 * NR,
        false => NR,
    };
    let mut cases = 0;
    for k in [0, 1, 2, 7, 16, 17, 100, KC - 1, KC, KC + 1, 2 * KC + 3] {
        for m in 1..=max_mr + 1 {
            for n in (1..=widest + 1).chain([49]) {
                let (a_rs, a_cs) = if (m + n) % 2 == 0 {
                    (k.max(1) + 3, 1)
                } else {
                    (1, m + 2)
                };
                let case = Case {
                    m,
                    n,
                    k,
                    a_rs,
                    a_cs,
                    bias: n % 3 != 0,
                    min: -0.5,
                    max: 0.75,
                };
                cases += check(&case, (m * 1000 + n * 10 + k) as u64).unwrap();
                let unclamped = Case {
                    bias: true,
                    min: f32::NEG_INFINITY,
                    max: f32::INFINITY,
                    ..case
                };
                cases += check(&unclamped, (m * 1000 + n * 10 + k + 7) as u64).unwrap();
            }
        }
    }
    report(&format!(
        "f32 gemm: {cases} edge-shape tier runs within tolerance"
    ));
}

/// One tile call with C (`m × n`, row stride `c_rs`) starting from `init`; returns C.
#[allow(clippy::too_many_arguments)]
fn call_tile(
    kernel: F32GemmFn,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (b, b_rs): (&[f32], usize),
    (b2, b2_rs): (&[f32], usize),
    init: &[f32],
    c_rs: usize,
    accumulate: bool,
    bias: Option<&[f32]>,
    (min, max): (f32, f32),
) -> Vec<f32> {
    let mut c = init.to_vec();
    let tile = F32Tile {
        m,
        n,
        k,
        a: a.as_ptr(),
        b: b.as_ptr(),
        b_rs,
        b2: b2.as_ptr(),
        b2_rs,
        c: c.as_mut_ptr(),
        c_rs,
        accumulate,
        bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
        min,
        max,
    };
    // SAFETY: the callers size `a` (MR k), both panels (k rows of 16, their row strides apart),
    // `init` (m rows of `c_rs >= n`) and the bias (m) for these sizes, `m` and `n` fit the
    // kernel, and `tiers()` only yields tables this CPU supports.
    unsafe { kernel(&tile) };
    c
}

/// A B panel for the pair tests: its values and their row stride.
type Panel<'a> = (&'a [f32], usize);

#[test]
fn pair_tiles_are_two_tiles_bit_for_bit() {
    let mut runs = 0;
    for kernels in tiers() {
        let Some(pair) = kernels.f32_gemm_pair else {
            continue;
        };
        let mr = kernels.f32_mr;
        for k in [0, 1, 2, 7, KC - 1, KC, KC + 1] {
            let mut a = values(mr * k, k as u64);
            // NaN and infinities in A and B: they must land in the same elements either way.
            if k > 2 {
                a[mr + 1] = f32::NAN;
                a[2 * mr] = f32::INFINITY;
            }
            // B in place: 37 columns (two panels and 5 more), odd row stride 41 (4 NaNs after
            // each row); its second panel 16 columns further. Packed: the panels one after the
            // other (`16 k` apart). The tail: a separate packed panel.
            let b_rs = 41;
            // (One row at k = 0, unread, so that the panels' pointers exist.)
            let mut wide = values(k.max(1) * b_rs, k as u64 + 1);
            for row in wide.chunks_mut(b_rs) {
                row[37..].fill(f32::NAN);
            }
            if k > 1 {
                wide[b_rs + 20] = f32::NAN;
            }
            let packed = pack_b(&wide, b_rs, 1, k, 32).unwrap();
            let tail = pack_b(&wide[16..], b_rs, 1, k, 16).unwrap();
            let second = 16 * k;
            let layouts: [(&str, Panel, Panel); 3] = [
                ("in place", (&wide, b_rs), (&wide[16..], b_rs)),
                ("packed", (&packed, 16), (&packed[second..], 16)),
                ("in place + packed tail", (&wide, b_rs), (&tail, 16)),
            ];
            for m in 1..=mr {
                for n in 17..=32 {
                    let c_rs = n + 3;
                    let init = values(m * c_rs, (m * n) as u64);
                    let bias = values(m, n as u64);
                    for (what, b, b2) in layouts {
                        for (accumulate, bias, clamp) in [
                            (false, None, (f32::NEG_INFINITY, f32::INFINITY)),
                            (true, Some(&bias[..]), (-0.5, 0.75)),
                            (true, None, (0.0, 6.0)),
                        ] {
                            let dims = (m, n, k);
                            let got = call_tile(
                                pair, dims, &a, b, b2, &init, c_rs, accumulate, bias, clamp,
                            );
                            let left = call_tile(
                                kernels.f32_gemm,
                                (m, 16, k),
                                &a,
                                b,
                                (&[], 0),
                                &init,
                                c_rs,
                                accumulate,
                                bias,
                                clamp,
                            );
                            let want = call_tile(
                                kernels.f32_gemm,
                                (m, n - 16, k),
                                &a,
                                b2,
                                (&[], 0),
                                &left[16..],
                                c_rs,
                                accumulate,
                                bias,
                                clamp,
                            );
                            // `want` is C from column 16 on, so compare it shifted.
                            let same = got[16..]
                                .iter()
                                .zip(&want)
                                .chain(got[..16].iter().zip(&left[..16]))
                                .all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(
                                same,
                                "tier {} pair tile {m}x{k}x{n}, B {what}, accumulate {accumulate}, \
                                 bias {}, clamp {clamp:?}: not bit for bit two tiles",
                                kernels.tier(),
                                bias.is_some()
                            );
                            runs += 1;
                        }
                    }
                }
            }
        }
    }
    report(&format!(
        "f32 pair tiles: {runs} tier runs bit for bit two tiles"
    ));
}

#[test]
fn large_shapes_cross_panel_groups_and_threads() {
    for (m, n, k) in [
        (37, 1000, 300),
        (1, 1000, 64),
        (13, 49, 960),
        (100, 20, 3),
        (25, 70, 3 * KC + 5),
    ] {
        let case = Case {
            m,
            n,
            k,
            a_rs: k,
            a_cs: 1,
            bias: true,
            min: f32::NEG_INFINITY,
            max: 6.0,
        };
        check(&case, (m + n + k) as u64).unwrap();
    }
}

#[test]
fn clamp_passes_nan_through_like_clip() {
    for kernels in tiers() {
        let packed = pack_b(&[1.0, 2.0], 2, 1, 1, 2).unwrap();
        let mut c = [0.0; 2];
        let epilogue = F32Epilogue {
            bias: None,
            min: 0.0,
            max: 6.0,
        };
        f32_gemm(
            kernels,
            None,
            (1, 2, 1),
            F32Lhs::Strided {
                data: &[f32::NAN],
                strides: (1, 1),
            },
            &packed,
            (&mut c, 2),
            epilogue,
            None,
        )
        .unwrap();
        assert!(
            c.iter().all(|v| v.is_nan()),
            "tier {}: {c:?}",
            kernels.tier()
        );
        let a = [-3.0, 5.0];
        let mut c = [0.0; 4];
        f32_gemm(
            kernels,
            None,
            (2, 2, 1),
            F32Lhs::Strided {
                data: &a,
                strides: (1, 1),
            },
            &packed,
            (&mut c, 2),
            epilogue,
            None,
        )
        .unwrap();
        assert_eq!(c, [0.0, 0.0, 5.0, 6.0], "tier {}", kernels.tier());
    }
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    for kernels in tiers() {
        let packed = pack_b(&[1.0; 6], 3, 1, 2, 3).unwrap();
        let e = F32Epilogue::NONE;
        let run = |m, a: &[f32], packed: &[f32], c: &mut [f32], bias: Option<&[f32]>| {
            let e = F32Epilogue { bias, ..e };
            let a = F32Lhs::Strided {
                data: a,
                strides: (2, 1),
            };
            f32_gemm(kernels, None, (m, 3, 2), a, packed, (c, 3), e, None)
        };
        assert!(
            run(2, &[1.0; 3], &packed, &mut [0.0; 6], None).is_err(),
            "short a"
        );
        assert!(
            run(2, &[1.0; 4], &packed[..20], &mut [0.0; 6], None).is_err(),
            "short b"
        );
        assert!(
            run(2, &[1.0; 4], &packed, &mut [0.0; 5], None).is_err(),
            "short c"
        );
        assert!(
            run(2, &[1.0; 4], &packed, &mut [0.0; 6], Some(&[0.0])).is_err(),
            "short bias"
        );
        assert!(run(2, &[1.0; 4], &packed, &mut [0.0; 6], None).is_ok());
        let huge = f32_gemm(
            kernels,
            None,
            (usize::MAX, 3, 2),
            F32Lhs::Strided {
                data: &[],
                strides: (1, 1),
            },
            &packed,
            (&mut [], 3),
            e,
            None,
        );
        assert!(huge.is_err());
        // A packed for other sizes (or another tier's MR) is refused.
        let other = PackedA::new(kernels, &[1.0; 6], (3, 1), 2, 3).unwrap();
        let mut c = [0.0; 6];
        let wrong = f32_gemm(
            kernels,
            None,
            (2, 3, 2),
            F32Lhs::Packed(&other),
            &packed,
            (&mut c, 3),
            e,
            None,
        );
        assert!(wrong.is_err(), "A packed as 2x3 used as 2x2");
        assert!(PackedA::new(kernels, &[1.0; 5], (3, 1), 2, 3).is_err());
        let strided = |c: &mut [f32], row_stride| {
            let a = [1.0; 4];
            f32_gemm(
                kernels,
                None,
                (2, 3, 2),
                F32Lhs::Strided {
                    data: &a,
                    strides: (2, 1),
                },
                &packed,
                (c, row_stride),
                e,
                None,
            )
        };
        let mut c = [0.0; 8];
        assert!(strided(&mut c, 2).is_err(), "row stride below n");
        // A block of columns: rows 5 apart, the elements between them untouched.
        strided(&mut c, 5).unwrap();
        assert_eq!(
            c,
            [2.0, 2.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0],
            "tier {}",
            kernels.tier()
        );
        // B read in place: rows `b_rs` apart, the last one `n` long.
        let rows = |b: &[f32], b_rs, c: &mut [f32]| {
            let a = F32Lhs::Strided {
                data: &[1.0; 4],
                strides: (2, 1),
            };
            f32_gemm_rows(kernels, None, (2, 3, 2), a, (b, b_rs), (c, 3), e, None)
        };
        assert!(rows(&[1.0; 7], 4, &mut [0.0; 6]).is_ok());
        assert!(rows(&[1.0; 6], 4, &mut [0.0; 6]).is_err(), "short b");
        assert!(
            rows(&[1.0; 6], 2, &mut [0.0; 6]).is_err(),
            "b row stride below n"
        );
        assert!(
            rows(&[1.0; 7], usize::MAX, &mut [0.0; 6]).is_err(),
            "overflow"
        );
        assert!(rows(&[1.0; 7], 4, &mut [0.0; 5]).is_err(), "short c");
    }
    assert!(pack_b(&[1.0; 5], 3, 1, 2, 3).is_err());
    assert!(pack_b_into(&[1.0; 6], 3, 1, 2, 3, &mut [0.0; 31]).is_err());
}

#[test]
fn packing_follows_the_documented_layout() {
    // B is 2 x 18 with B[p, j] = 100 p + j, read transposed (column stride 2).
    let (k, n) = (2, 18);
    let src: Vec<f32> = (0..n)
        .flat_map(|j| (0..k).map(move |p| (100 * p + j) as f32))
        .collect();
    let packed = pack_b(&src, 1, k, k, n).unwrap();
    assert_eq!(packed.len(), packed_b_len(k, n).unwrap());
    for j in 0..32 {
        for p in 0..k {
            let want = if j < n { (100 * p + j) as f32 } else { 0.0 };
            assert_eq!(packed[(j / 16) * 16 * k + 16 * p + j % 16], want);
        }
    }
}

#[test]
fn packed_a_follows_the_documented_layout() {
    for kernels in tiers() {
        // A is 7 x 3 with A[i, p] = 100 i + p, read transposed (row stride 1, column stride 7).
        let (m, k, mr) = (7, 3, kernels.f32_mr);
        let src: Vec<f32> = (0..k)
            .flat_map(|p| (0..m).map(move |i| (100 * i + p) as f32))
            .collect();
        let packed = PackedA::new(kernels, &src, (1, m), m, k).unwrap();
        assert_eq!(packed.dims(), (m, k, mr));
        let tiles = m.div_ceil(mr);
        assert_eq!(packed.data().len(), tiles * mr * k);
        for i in 0..tiles * mr {
            for p in 0..k {
                let want = if i < m { (100 * i + p) as f32 } else { 0.0 };
                assert_eq!(packed.data()[(i / mr) * mr * k + mr * p + i % mr], want);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes_match_the_oracle(
        m in 1usize..40, n in 1usize..70, k in 0usize..80,
        transposed in any::<bool>(), pad in 0usize..3, bias in any::<bool>(), seed in any::<u64>(),
    ) {
        let (a_rs, a_cs) = if transposed { (1, m + pad) } else { (k + pad, 1) };
        let case = Case { m, n, k, a_rs, a_cs, bias, min: f32::NEG_INFINITY, max: f32::INFINITY };
        check(&case, seed)?;
    }

    #[test]
    fn random_deep_shapes_match_the_oracle(
        m in 1usize..30, n in 1usize..40, k in 200usize..700,
        transposed in any::<bool>(), pad in 0usize..3, seed in any::<u64>(),
    ) {
        let (a_rs, a_cs) = if transposed { (1, m + pad) } else { (k + pad, 1) };
        let case = Case { m, n, k, a_rs, a_cs, bias: true, min: -1.0, max: 1.0 };
        check(&case, seed)?;
    }
}

/// The naive depthwise convolution of one plane in f32, taps added in order as `acc + w · x`
/// (rounded twice), and per output the sum of magnitudes `|bias| + Σ |w · x|` (for the fused
/// tiers' tolerance).
#[allow(clippy::too_many_arguments)]
fn naive_dw(
    x: &[f32],
    (in_h, in_w): (usize, usize),
    w: &[f32],
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    d: usize,
    (pt, pl): (usize, usize),
    (oh, ow): (usize, usize),
    bias: f32,
    (min, max): (f32, f32),
) -> (Vec<f32>, Vec<f64>) {
    let mut y = Vec::with_capacity(oh * ow);
    let mut mags = Vec::with_capacity(oh * ow);
    for oy in 0..oh {
        for ox in 0..ow {
            let mut acc = bias;
            let mut mag = f64::from(bias.abs());
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy = (sh * oy + ky * d).checked_sub(pt).filter(|&i| i < in_h);
                    let ix = (sw * ox + kx * d).checked_sub(pl).filter(|&i| i < in_w);
                    let v = match (iy, ix) {
                        (Some(iy), Some(ix)) => x[iy * in_w + ix],
                        _ => 0.0,
                    };
                    acc += w[ky * kw + kx] * v;
                    mag += f64::from(w[ky * kw + kx] * v).abs();
                }
            }
            let v = if acc < min { min } else { acc };
            y.push(if v > max { max } else { v });
            mags.push(mag);
        }
    }
    (y, mags)
}

/// Asserts `got` matches the naive loop's `want`: bit for bit on the reference tier (separate
/// multiply and add in tap order, like the loop), within `(taps + 1) · ε · (|bias| + Σ |w · x|)`
/// on the fused tiers (the bound in `dwconv`'s module doc).
fn assert_dw_close(
    kernels: &Kernels,
    got: &[f32],
    want: &[f32],
    mags: &[f64],
    taps: usize,
    what: &str,
) {
    let fused = kernels.tier() != crate::kernels::Tier::Reference;
    for (i, ((&g, &w), &mag)) in got.iter().zip(want).zip(mags).enumerate() {
        let ok = if fused {
            let tol = (taps + 1) as f64 * f64::from(f32::EPSILON) * mag;
            (f64::from(g) - f64::from(w)).abs() <= tol
        } else {
            g.to_bits() == w.to_bits()
        };
        assert!(
            ok,
            "tier {} {what}: output {i}: {g} vs {w} (magnitude {mag})",
            kernels.tier()
        );
    }
    assert_eq!(got.len(), want.len(), "tier {} {what}", kernels.tier());
}

/// The depthwise plane kernel against the naive loop on every tier (bit-exact on the reference
/// tier, within the fused bound on the others): kernels 1x1 to 5x5 (and 1-D), strides 1-3
/// (unequal too), dilation 1-2, pads 0-2 on each side, planes from 1x1 to 20x37 (output rows of 1
/// to 37: every lane-chunk and chunk-group path), a clamp, and a padded scratch that held a
/// previous plane.
/// One depthwise plane: input `in_h x in_w`, kernel `kh x kw`, strides, dilation `d`, pads
/// (top, left, bottom, right). Runs every tier's kernel row by row on the layout, and
/// [`DwConv::plane`](super::dwconv::DwConv::plane) (row by row or as a flat run, as it chooses);
/// returns how many tiers ran, or `None` when the kernel does not fit the padded input.
fn check_dw_plane(
    (in_h, in_w): (usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    d: usize,
    (pt, pl, pb, pr): (usize, usize, usize, usize),
    seed: u64,
) -> Option<usize> {
    use super::dwconv::layout::DwLayout;
    use super::dwconv::plane::DwPlane;
    use super::dwconv::{DwAxis, DwConv};
    let (rh, rw) = ((kh - 1) * d + 1, (kw - 1) * d + 1);
    if in_h + pt + pb < rh || in_w + pl + pr < rw {
        return None;
    }
    let oh = (in_h + pt + pb - rh) / sh + 1;
    let ow = (in_w + pl + pr - rw) / sw + 1;
    let x = values(in_h * in_w, seed);
    let w = values(kh * kw, seed + 1000);
    let (bias, clamp) = (0.25, if d == 2 { (0.5, -0.25) } else { (-0.5, 0.75) });
    let (want, mags) = naive_dw(
        &x,
        (in_h, in_w),
        &w,
        (kh, kw),
        (sh, sw),
        d,
        (pt, pl),
        (oh, ow),
        bias,
        clamp,
    );
    let what = format!("{in_h}x{in_w} k {kh}x{kw} s {sh}x{sw} d {d} pads {pt},{pl},{pb},{pr}");
    let layout = DwLayout::new((in_h, in_w), (pt, pl), (sh, sw), (oh, ow), (rh, rw)).unwrap();
    let taps: Vec<usize> = (0..kh)
        .flat_map(|ky| (0..kw).map(move |kx| (ky * d, kx * d)))
        .map(|(dy, dx)| layout.tap(dy, dx))
        .collect();
    // Padded scratch: zeros, then a different plane, then this one.
    let mut src = vec![0.0; layout.len()];
    layout.fill(&values(in_h * in_w, seed + 7), &mut src);
    layout.fill(&x, &mut src);
    let p = DwPlane {
        input: None,
        src_row: layout.pitch(),
        taps: &taps,
        weights: &w,
        bias,
        min: clamp.0,
        max: clamp.1,
    };
    let axis = |input, kernel, stride, pad_begin, output| DwAxis {
        input,
        kernel,
        stride,
        dilation: d,
        pad_begin,
        output,
    };
    let conv = DwConv::new(axis(in_h, kh, sh, pt, oh), axis(in_w, kw, sw, pl, ow)).unwrap();
    let mut scratch = vec![0.0; conv.scratch_len()];
    let mut tiers_run = 0;
    for kernels in tiers() {
        let mut got = vec![f32::NAN; oh * ow];
        // SAFETY: `tiers()` yields only tiers this CPU supports.
        unsafe { (kernels.f32_dwconv_plane)(&p, &mut src, &mut [], &mut got, ow) };
        let check = |got: &[f32], how: &str| {
            let what = format!("{how} {what}");
            assert_dw_close(kernels, got, &want, &mags, taps.len(), &what);
        };
        check(&got, "rows");
        let mut got = vec![f32::NAN; oh * ow];
        let other = values(in_h * in_w, seed + 7);
        assert!(conv.plane(kernels, &other, &w, bias, clamp, &mut got, &mut scratch));
        assert!(conv.plane(kernels, &x, &w, bias, clamp, &mut got, &mut scratch));
        check(&got, "plane");
        tiers_run += 1;
    }
    Some(tiers_run)
}

#[test]
fn dwconv_plane_matches_the_naive_loop_on_every_tier() {
    let mut cases = 0;
    let shapes = [
        (1, 1),
        (3, 3),
        (1, 7),
        (5, 5),
        (7, 9),
        (14, 14),
        (20, 37),
        (2, 17),
        (9, 33),
        (28, 28),
        (6, 70),
        (3, 65),
    ];
    let kernels_hw = [(3, 3), (5, 5), (1, 1), (1, 3), (3, 1), (2, 4)];
    let mut seed = 1;
    for &shape in &shapes {
        for &kernel in &kernels_hw {
            for stride in [(1, 1), (2, 2), (1, 2), (3, 3)] {
                for d in 1..=2 {
                    for pads in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 1, 0, 2)] {
                        let (rh, rw) = ((kernel.0 - 1) * d + 1, (kernel.1 - 1) * d + 1);
                        if shape.0 + pads.0 + pads.2 >= rh && shape.1 + pads.1 + pads.3 >= rw {
                            seed += 1;
                        }
                        cases += check_dw_plane(shape, kernel, stride, d, pads, seed).unwrap_or(0);
                    }
                }
            }
        }
    }
    report(&format!(
        "f32 dwconv plane: {cases} tier cases within tolerance"
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn dwconv_plane_random_shapes_match_the_naive_convolution(
        in_h in 1usize..24, in_w in 1usize..48, kh in 1usize..6, kw in 1usize..6,
        sh in 1usize..4, sw in 1usize..4, d in 1usize..3,
        pt in 0usize..3, pl in 0usize..3, pb in 0usize..3, pr in 0usize..3, seed in any::<u64>(),
    ) {
        let seed = seed % (1 << 40);
        check_dw_plane((in_h, in_w), (kh, kw), (sh, sw), d, (pt, pl, pb, pr), seed);
    }
}

/// Arguments the kernel cannot serve leave the output untouched instead of reading out of
/// bounds: a source one element short, taps and weights of different lengths, ragged rows.
#[test]
fn dwconv_plane_rejects_short_buffers() {
    use super::dwconv::plane::DwPlane;
    for kernels in tiers() {
        let mut src = vec![1.0; 3 * 10 - 1];
        let taps = [0, 1, 2, 10, 11, 12, 20, 21, 22];
        let w = [1.0; 9];
        for (taps, len) in [(&taps[..], 8), (&taps[..8], 8), (&taps[..], 7)] {
            let p = DwPlane {
                input: None,
                src_row: 10,
                taps,
                weights: &w,
                bias: 0.0,
                min: f32::NEG_INFINITY,
                max: f32::INFINITY,
            };
            let mut out = vec![-7.0; len];
            // SAFETY: `tiers()` yields only tiers this CPU supports.
            unsafe { (kernels.f32_dwconv_plane)(&p, &mut src, &mut [], &mut out, 8) };
            assert!(out.iter().all(|&v| v == -7.0), "tier {}", kernels.tier());
        }
    }
}

/// An axis of `n` inputs and outputs under a 3-tap kernel, stride 1, padding 1.
fn same_3x3(n: usize) -> super::dwconv::DwAxis {
    super::dwconv::DwAxis {
        input: n,
        kernel: 3,
        stride: 1,
        dilation: 1,
        pad_begin: 1,
        output: n,
    }
}

/// [`DwConv::plane`](super::dwconv::DwConv::plane) refuses, writing nothing, slices of the wrong
/// length: input, weights, output, scratch.
#[test]
fn dwconv_plane_driver_rejects_wrong_lengths() {
    use super::dwconv::{DwAxis, DwConv};
    let axis = same_3x3(7);
    let conv = DwConv::new(axis, axis).unwrap();
    assert_eq!(
        (conv.taps(), conv.input_len(), conv.output_len()),
        (9, 49, 49)
    );
    let kernels = crate::kernels::kernels().unwrap();
    let (x, w) = (vec![1.0; 49], vec![1.0; 9]);
    let full = conv.scratch_len();
    for (xl, wl, ol, sl) in [
        (48, 9, 49, full),
        (49, 8, 49, full),
        (49, 9, 48, full),
        (49, 9, 49, full - 1),
    ] {
        let mut out = vec![-7.0; ol];
        let mut scratch = vec![0.0; sl];
        let ok = conv.plane(
            kernels,
            &x[..xl],
            &w[..wl],
            0.0,
            (f32::NEG_INFINITY, f32::INFINITY),
            &mut out,
            &mut scratch,
        );
        assert!(!ok && out.iter().all(|&v| v == -7.0), "{xl} {wl} {ol} {sl}");
    }
    assert!(DwConv::new(DwAxis { stride: 0, ..axis }, axis).is_none());
    assert!(DwConv::new(DwAxis { output: 0, ..axis }, axis).is_none());
    assert!(DwConv::new(DwAxis { kernel: 0, ..axis }, axis).is_none());
}

/// The channel-block depthwise path ([`DwChannels`](super::dwconv::DwChannels)) on every tier,
/// one case: `channels` planes `in_h x in_w`, square kernel `k`, stride, dilation `d`, padding
/// `pad` on every side, a clamp, and a NaN input when `nan`. Against the naive loop (bit for bit
/// on the reference tier, within the fused bound on the others; NaN where the loop has NaN) and
/// bit for bit against the same tier's plane kernel (`DwConv::plane`), with the scratch full of
/// NaN before the first block (the kernel writes all of it it reads). Returns how many tiers
/// ran, or `None` when the kernel does not fit the padded input.
#[allow(clippy::too_many_arguments)]
fn check_dw_channels(
    (in_h, in_w): (usize, usize),
    channels: usize,
    k: usize,
    stride: usize,
    d: usize,
    pad: usize,
    nan: bool,
    seed: u64,
) -> Option<usize> {
    use super::dwconv::channels::BLOCK;
    use super::dwconv::{DwAxis, DwChannels, DwConv};
    let reach = (k - 1) * d + 1;
    if in_h + 2 * pad < reach || in_w + 2 * pad < reach {
        return None;
    }
    let (oh, ow) = (
        (in_h + 2 * pad - reach) / stride + 1,
        (in_w + 2 * pad - reach) / stride + 1,
    );
    let axis = |input, output| DwAxis {
        input,
        kernel: k,
        stride,
        dilation: d,
        pad_begin: pad,
        output,
    };
    let (h, w) = (axis(in_h, oh), axis(in_w, ow));
    let g = DwChannels::new(h, w).unwrap();
    let rows = DwConv::new(h, w).unwrap();
    let (plane_in, plane_out, taps) = (in_h * in_w, oh * ow, k * k);
    let mut x = values(channels * plane_in, seed);
    if nan {
        let at = (seed as usize * 7) % x.len();
        x[at] = f32::NAN;
    }
    let wts = values(channels * taps, seed + 1000);
    let bias = values(channels, seed + 2000);
    let clamp = if seed.is_multiple_of(2) {
        (-0.5, 0.75)
    } else {
        (f32::NEG_INFINITY, f32::INFINITY)
    };
    let what = format!("{channels}x{in_h}x{in_w} k{k} s{stride} d{d} pad {pad} nan {nan}");
    let mut packed = vec![f32::NAN; channels.div_ceil(BLOCK) * g.packed_block_len()];
    for (i, block) in packed.chunks_exact_mut(g.packed_block_len()).enumerate() {
        assert!(g.pack_block(&wts, Some(&bias), i * BLOCK, block), "{what}");
    }
    let mut tiers_run = 0;
    for kernels in tiers() {
        let mut got = vec![f32::NAN; channels * plane_out];
        let mut scratch = vec![f32::NAN; g.scratch_len()];
        let blocks = x
            .chunks(BLOCK * plane_in)
            .zip(got.chunks_mut(BLOCK * plane_out));
        for ((xb, yb), pb) in blocks.zip(packed.chunks_exact(g.packed_block_len())) {
            assert!(g.block(kernels, xb, pb, clamp, yb, &mut scratch), "{what}");
        }
        let mut plane_scratch = vec![0.0; rows.scratch_len()];
        for c in 0..channels {
            let (xc, wc) = (&x[c * plane_in..][..plane_in], &wts[c * taps..][..taps]);
            let gc = &got[c * plane_out..][..plane_out];
            let mut by_rows = vec![f32::NAN; plane_out];
            assert!(rows.plane(
                kernels,
                xc,
                wc,
                bias[c],
                clamp,
                &mut by_rows,
                &mut plane_scratch
            ));
            for (i, (&a, &b)) in gc.iter().zip(&by_rows).enumerate() {
                let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                assert!(
                    same,
                    "tier {} {what}: channel {c} output {i}: {a} vs rows {b}",
                    kernels.tier()
                );
            }
            let (want, mags) = naive_dw(
                xc,
                (in_h, in_w),
                wc,
                (k, k),
                (stride, stride),
                d,
                (pad, pad),
                (oh, ow),
                bias[c],
                clamp,
            );
            let finite: Vec<usize> = (0..plane_out).filter(|&i| !want[i].is_nan()).collect();
            for &i in &finite {
                let what = format!("{what} channel {c} output {i}");
                assert_dw_close(kernels, &gc[i..=i], &want[i..=i], &mags[i..=i], taps, &what);
            }
            let mut nans = (0..plane_out).filter(|&i| want[i].is_nan());
            assert!(
                nans.all(|i| gc[i].is_nan()),
                "tier {} {what}",
                kernels.tier()
            );
        }
        tiers_run += 1;
    }
    Some(tiers_run)
}

/// The channel-block path over every plane from 1x1 to 9x9, 3x3 and 5x5 kernels, strides 1 and
/// 2, pads 0 to 2, with channel counts below, at and past one block (1, 5, 16, 17, 35), dilation
/// 1 or 2, with and without a clamp, and NaN inputs, on every tier.
#[test]
fn dwconv_channels_match_the_naive_loop_and_the_rows_on_every_tier() {
    let mut cases = 0;
    let mut seed = 1u64;
    for in_h in 1..=9 {
        for in_w in 1..=9 {
            for k in [3, 5] {
                for stride in [1, 2] {
                    for pad in 0..=2 {
                        seed += 1;
                        let channels = [1, 5, 16, 17, 35][seed as usize % 5];
                        let d = 1 + (seed as usize / 5) % 2;
                        let nan = seed.is_multiple_of(11);
                        let case = ((in_h, in_w), channels, k, stride, d, pad, nan, seed);
                        cases += check_dw_channels(
                            case.0, case.1, case.2, case.3, case.4, case.5, case.6, case.7,
                        )
                        .unwrap_or(0);
                    }
                }
            }
        }
    }
    report(&format!(
        "f32 dwconv channel blocks: {cases} tier cases match the loop and the rows"
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn dwconv_channels_random_shapes_match_the_naive_convolution(
        in_h in 1usize..20, in_w in 1usize..20, channels in 1usize..40, k in 1usize..6,
        stride in 1usize..4, d in 1usize..3, pad in 0usize..3, seed in any::<u64>(),
    ) {
        let seed = seed % (1 << 40);
        check_dw_channels((in_h, in_w), channels, k, stride, d, pad, false, seed);
    }
}

/// [`DwChannels::block`](super::dwconv::DwChannels::block) and `pack_block` refuse, writing
/// nothing, slices of the wrong length: a partial plane, more than one block of planes, packed
/// weights of another length, an output of another length, a short scratch, a first channel
/// past the weights.
#[test]
fn dwconv_channels_reject_wrong_lengths() {
    use super::dwconv::channels::BLOCK;
    use super::dwconv::{DwAxis, DwChannels};
    let axis = same_3x3(7);
    let g = DwChannels::new(axis, axis).unwrap();
    assert!(g.wins());
    let (pl, sl) = (g.packed_block_len(), g.scratch_len());
    let full = vec![1.0; (BLOCK + 1) * 49];
    for kernels in tiers() {
        for (xl, pk, ol, scr) in [
            (48, pl, 49, sl),
            (0, pl, 0, sl),
            ((BLOCK + 1) * 49, pl, (BLOCK + 1) * 49, sl),
            (49, pl - 1, 49, sl),
            (49, pl, 48, sl),
            (49, pl, 49, sl - 1),
        ] {
            let mut out = vec![-7.0; ol];
            let mut scratch = vec![0.0; scr];
            let ok = g.block(
                kernels,
                &full[..xl],
                &vec![1.0; pk],
                (0.0, 1.0),
                &mut out,
                &mut scratch,
            );
            assert!(
                !ok && out.iter().all(|&v| v == -7.0),
                "{xl} {pk} {ol} {scr}"
            );
        }
    }
    let mut dst = vec![-7.0; pl];
    assert!(!g.pack_block(&[1.0; 18], None, 2, &mut dst));
    assert!(!g.pack_block(&[1.0; 18], Some(&[0.0]), 1, &mut dst));
    assert!(!g.pack_block(&[1.0; 18], None, 0, &mut dst[1..]));
    assert!(dst.iter().all(|&v| v == -7.0));
    assert!(DwChannels::new(DwAxis { stride: 0, ..axis }, axis).is_none());
    assert!(DwChannels::new(DwAxis { output: 0, ..axis }, axis).is_none());
    assert!(DwChannels::new(DwAxis { kernel: 0, ..axis }, axis).is_none());
    let wide = same_3x3(28);
    assert!(!DwChannels::new(wide, wide).unwrap().wins());
}
