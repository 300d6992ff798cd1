//! Tests of the weight-only GEMM/GEMV: every supported tier against a naive oracle in f64 that
//! dequantizes the unpacked weights (`scale · (code - zero)`) and multiplies, and against the
//! reference tier, within the stated tolerance, over edge-case grids and random shapes. Tiers the
//! CPU lacks are reported as skipped on stderr (uncaptured), never as passed.
//!
//! Tolerance: `|got - want| <= 1e-5 · Σ_k |a[i, k] · scale · (code - zero)|` (+ `1e-6 |bias|`),
//! as for the f32 GEMM; against the reference tier, twice that.

use proptest::prelude::*;

use super::pack::{GROUP_HEAD_LEN, HEADER_LEN, KR, NR};
use super::*;
use crate::kernels::testing::{Rng, report, tiers};
use crate::kernels::{Kernels, Tier, kernels_for};
use crate::tensor::{DType, Layout};

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn signed_unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Unpacked quantized weights (the oracle's input) and their packing.
struct Weights {
    bits: WoBits,
    n: usize,
    k: usize,
    group: usize,
    codes: Vec<u8>,
    scales: Vec<f32>,
    zeros: Option<Vec<u8>>,
}

impl Weights {
    /// Random codes (the extremes frequent), scales and zero points; `extreme` pins every code to
    /// 0 or the maximum and the zero points to the other end.
    fn random(
        bits: WoBits,
        n: usize,
        k: usize,
        group: usize,
        rng: &mut Rng,
        extreme: bool,
    ) -> Weights {
        let max = (1u16 << bits.bits()) - 1;
        let groups = if k == 0 {
            0
        } else if group == 0 {
            1
        } else {
            k.div_ceil(group)
        };
        let codes = (0..n * k)
            .map(|_| match (extreme, rng.below(6)) {
                (true, r) => (r % 2 * max as u64) as u8,
                (false, 0) => 0,
                (false, 1) => max as u8,
                _ => rng.below(u64::from(max) + 1) as u8,
            })
            .collect();
        let scales = (0..n * groups)
            .map(|_| 0.001 + rng.signed_unit().abs() * 0.05)
            .collect();
        let zeros = match rng.below(3) {
            0 => None,
            _ => Some(
                (0..n * groups)
                    .map(|_| {
                        if extreme {
                            (rng.below(2) * max as u64) as u8
                        } else {
                            rng.below(u64::from(max) + 1) as u8
                        }
                    })
                    .collect(),
            ),
        };
        Weights {
            bits,
            n,
            k,
            group,
            codes,
            scales,
            zeros,
        }
    }

    fn view(&self) -> WoWeights<'_> {
        WoWeights {
            bits: self.bits,
            n: self.n,
            k: self.k,
            group: self.group,
            codes: &self.codes,
            scales: &self.scales,
            zero_points: self.zeros.as_deref(),
        }
    }

    /// The dequantized weight of column `j`, row `kk`, in f64.
    fn weight(&self, j: usize, kk: usize) -> f64 {
        let g_len = if self.group == 0 { self.k } else { self.group };
        let groups = self.k.div_ceil(g_len);
        let g = j * groups + kk / g_len;
        let zero = self
            .zeros
            .as_ref()
            .map_or(1u16 << (self.bits.bits() - 1), |z| u16::from(z[g]));
        f64::from(self.scales[g]) * (f64::from(self.codes[j * self.k + kk]) - f64::from(zero))
    }
}

/// One product to check.
struct Case<'a> {
    m: usize,
    a: &'a [f32],
    a_stride: usize,
    bias: Option<&'a [f32]>,
    min: f32,
    max: f32,
}

impl<'a> Case<'a> {
    /// No bias, no clamp.
    fn plain(m: usize, a: &'a [f32], a_stride: usize) -> Case<'a> {
        let (min, max) = (f32::NEG_INFINITY, f32::INFINITY);
        Case {
            m,
            a,
            a_stride,
            bias: None,
            min,
            max,
        }
    }
}

/// The oracle's row `i`: `(clamped value, tolerance)` per column.
fn oracle(w: &Weights, case: &Case, i: usize) -> Vec<(f64, f64)> {
    (0..w.n)
        .map(|j| {
            let (mut sum, mut mag) = (0.0f64, 0.0f64);
            for kk in 0..w.k {
                let p = f64::from(case.a[i * case.a_stride + kk]) * w.weight(j, kk);
                sum += p;
                mag += p.abs();
            }
            let b = case.bias.map_or(0.0, |b| f64::from(b[j]));
            let v = (sum + b).max(f64::from(case.min)).min(f64::from(case.max));
            (v, 1e-5 * mag + 1e-6 * b.abs() + 1e-30)
        })
        .collect()
}

/// Runs `case` on every tested tier with 1 and 3 threads; compares with the oracle and with the
/// reference tier. Returns the number of tiers checked.
fn check(w: &Weights, case: &Case) -> std::result::Result<usize, TestCaseError> {
    let bytes = pack_wo(&w.view()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let packed = WoPacked::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let epilogue = WoEpilogue {
        bias: case.bias,
        min: case.min,
        max: case.max,
    };
    let run = |kernels: &Kernels, threads: usize| {
        let mut c = vec![f32::NAN; case.m * w.n];
        wo_gemm(
            kernels,
            case.m,
            case.a,
            case.a_stride,
            &packed,
            &mut c,
            epilogue,
            threads,
        )
        .map(|()| c)
    };
    let reference = run(kernels_for(Tier::Reference).expect("reference"), 1)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let tested = tiers();
    for kernels in &tested {
        for threads in [1, 3] {
            let got = run(kernels, threads).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for i in 0..case.m {
                for (j, (want, tol)) in oracle(w, case, i).into_iter().enumerate() {
                    let (g, r) = (
                        f64::from(got[i * w.n + j]),
                        f64::from(reference[i * w.n + j]),
                    );
                    prop_assert!(
                        (g - want).abs() <= tol && (g - r).abs() <= 2.0 * tol,
                        "tier {} threads {threads} {:?} group {} m {} k {} n {}: C[{i}, {j}] = {g}, oracle {want} ± {tol}, reference {r}",
                        kernels.tier(),
                        w.bits,
                        w.group,
                        case.m,
                        w.k,
                        w.n
                    );
                }
            }
        }
    }
    Ok(tested.len())
}

/// Random activations for `m` rows of `k` with row stride `stride`.
fn activations(m: usize, k: usize, stride: usize, rng: &mut Rng) -> Vec<f32> {
    (0..m.saturating_sub(1) * stride + k)
        .map(|_| rng.signed_unit())
        .collect()
}

const FORMATS: [(WoBits, usize); 6] = [
    (WoBits::Int8, 0),
    (WoBits::Int8, 32),
    (WoBits::Int4, 32),
    (WoBits::Int4, 64),
    (WoBits::Int4, 128),
    (WoBits::Int4, 0),
];

/// Checks `(m, k, n)` in every format, with and without bias and clamp, odd stride.
fn check_shape(m: usize, k: usize, n: usize, rng: &mut Rng, extreme: bool) -> usize {
    let mut count = 0;
    for (f, &(bits, group)) in FORMATS.iter().enumerate() {
        let w = Weights::random(bits, n, k, group, rng, extreme);
        let stride = k + f % 3;
        let a = activations(m, k, stride, rng);
        let bias: Vec<f32> = (0..n).map(|_| rng.signed_unit()).collect();
        let (with_bias, clamp) = (f % 2 == 0, f % 3 == 1);
        let case = Case {
            m,
            a: &a,
            a_stride: stride,
            bias: with_bias.then_some(&bias[..]),
            min: if clamp { -0.05 } else { f32::NEG_INFINITY },
            max: if clamp { 0.1 } else { f32::INFINITY },
        };
        check(&w, &case).unwrap();
        count += 1;
    }
    count
}

#[test]
fn edge_shapes_match_the_oracle_on_every_tier() {
    let mut rng = Rng(0x5eed);
    let max_mr = tiers().iter().map(|k| k.f32_mr).max().unwrap_or(1);
    let mut count = 0;
    // Every m up to the largest MR + 1 (GEMV, then every tile height).
    for m in 1..=max_mr + 1 {
        count += check_shape(m, 65, 17, &mut rng, false);
    }
    // Every n in 1..=NR + 1, and two panels + 1.
    for n in (1..=NR + 1).chain([2 * NR + 1]) {
        for m in [1, 3] {
            count += check_shape(m, 37, n, &mut rng, false);
        }
    }
    // K below, at and above the block and each group size (K not a multiple of the group).
    for k in [0, 1, 2, 3, 4, 5, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300] {
        for m in [1, 2, 7] {
            count += check_shape(m, k, 19, &mut rng, false);
        }
    }
    for kernels in tiers() {
        report(&format!(
            "tier {}: {count} weight-only edge cases within tolerance",
            kernels.tier()
        ));
    }
}

#[test]
fn extreme_codes_and_zero_points() {
    let mut rng = Rng(7);
    let mut count = 0;
    for (m, k, n) in [(1, 64, 16), (1, 129, 33), (5, 96, 20), (13, 256, 48)] {
        count += check_shape(m, k, n, &mut rng, true);
    }
    // int8 codes 0 and 255 around zero point 128 are the signed -128 and 127.
    let k = 40;
    let w = Weights {
        bits: WoBits::Int8,
        n: 2,
        k,
        group: 0,
        codes: [vec![0u8; k], vec![255u8; k]].concat(),
        scales: vec![0.5, 0.25],
        zeros: Some(vec![128, 128]),
    };
    let a = vec![1.0f32; k];
    let case = Case::plain(1, &a, k);
    check(&w, &case).unwrap();
    for kernels in tiers() {
        let bytes = pack_wo(&w.view()).unwrap();
        let mut c = [0.0f32; 2];
        wo_gemm(
            kernels,
            1,
            &a,
            k,
            &WoPacked::from_bytes(&bytes).unwrap(),
            &mut c,
            WoEpilogue::NONE,
            1,
        )
        .unwrap();
        assert_eq!(
            c,
            [0.5 * -128.0 * k as f32, 0.25 * 127.0 * k as f32],
            "tier {}",
            kernels.tier()
        );
    }
    for kernels in tiers() {
        report(&format!(
            "tier {}: {} extreme weight-only cases within tolerance",
            kernels.tier(),
            count + 1
        ));
    }
}

#[test]
fn large_shapes_cross_panel_groups_and_threads() {
    let mut rng = Rng(11);
    for (m, k, n) in [(1, 1000, 300), (20, 700, 200)] {
        for (bits, group) in [(WoBits::Int4, 32), (WoBits::Int8, 0)] {
            let w = Weights::random(bits, n, k, group, &mut rng, false);
            let a = activations(m, k, k, &mut rng);
            let case = Case::plain(m, &a, k);
            check(&w, &case).unwrap();
        }
    }
}

#[test]
fn empty_products_and_nan_activations() {
    let mut rng = Rng(3);
    let w = Weights::random(WoBits::Int4, 5, 8, 32, &mut rng, false);
    let bytes = pack_wo(&w.view()).unwrap();
    let packed = WoPacked::from_bytes(&bytes).unwrap();
    let bias = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    for kernels in tiers() {
        // m = 0: nothing to write, not an error.
        wo_gemm(kernels, 0, &[], 8, &packed, &mut [], WoEpilogue::NONE, 1).unwrap();
        // NaN activations give NaN outputs through the clamp (ONNX Clip passes NaN).
        for m in [1, 2] {
            let a = vec![f32::NAN; 8 * m];
            let mut c = vec![0.0f32; 5 * m];
            let e = WoEpilogue {
                bias: Some(&bias),
                min: 0.0,
                max: 6.0,
            };
            wo_gemm(kernels, m, &a, 8, &packed, &mut c, e, 1).unwrap();
            assert!(
                c.iter().all(|v| v.is_nan()),
                "tier {}: {c:?}",
                kernels.tier()
            );
        }
    }
    // K = 0: the output is the clamped bias.
    let w = Weights::random(WoBits::Int8, 5, 0, 0, &mut rng, false);
    let bytes = pack_wo(&w.view()).unwrap();
    let packed = WoPacked::from_bytes(&bytes).unwrap();
    for kernels in tiers() {
        for m in [1, 3] {
            let mut c = vec![0.0f32; 5 * m];
            let e = WoEpilogue {
                bias: Some(&bias),
                min: 0.0,
                max: 3.5,
            };
            wo_gemm(kernels, m, &[], 0, &packed, &mut c, e, 2).unwrap();
            assert_eq!(
                &c[..5],
                &[1.0, 2.0, 3.0, 3.5, 3.5],
                "tier {}",
                kernels.tier()
            );
        }
    }
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let kernels = kernels_for(Tier::Reference).unwrap();
    let mut rng = Rng(5);
    let w = Weights::random(WoBits::Int4, 20, 33, 32, &mut rng, false);
    let bytes = pack_wo(&w.view()).unwrap();
    let packed = WoPacked::from_bytes(&bytes).unwrap();
    let a = vec![0.5f32; 2 * 33];
    let bias = [0.0f32; 20];
    let mut c = vec![0.0f32; 2 * 20];
    let e = WoEpilogue::NONE;
    let err = |r: crate::Result<()>| {
        assert!(
            matches!(r, Err(crate::Error::InvalidArgument { .. })),
            "{r:?}"
        )
    };
    err(wo_gemm(kernels, 2, &a, 33, &packed, &mut c, e, 0));
    err(wo_gemm(kernels, 2, &a[1..], 33, &packed, &mut c, e, 1));
    err(wo_gemm(kernels, 2, &a, 32, &packed, &mut c, e, 1));
    err(wo_gemm(kernels, 2, &a, usize::MAX, &packed, &mut c, e, 1));
    err(wo_gemm(kernels, 2, &a, 33, &packed, &mut c[1..], e, 1));
    err(wo_gemm(kernels, usize::MAX, &a, 33, &packed, &mut c, e, 1));
    let bad_epilogues = [
        WoEpilogue {
            bias: Some(&bias[1..]),
            ..e
        },
        WoEpilogue {
            min: 1.0,
            max: 0.0,
            ..e
        },
        WoEpilogue { min: f32::NAN, ..e },
        WoEpilogue { max: f32::NAN, ..e },
    ];
    for bad in bad_epilogues {
        err(wo_gemm(kernels, 2, &a, 33, &packed, &mut c, bad, 1));
    }
    wo_gemm(kernels, 2, &a, 33, &packed, &mut c, e, 1).unwrap();

    // Packing: codes or zero points out of range, wrong lengths, bad scales and group sizes.
    let pack_err = |w: WoWeights| {
        assert!(
            matches!(pack_wo(&w), Err(crate::Error::InvalidArgument { .. })),
            "{w:?}"
        )
    };
    let v = w.view();
    let mut codes = w.codes.clone();
    codes[7] = 16;
    pack_err(WoWeights { codes: &codes, ..v });
    pack_err(WoWeights {
        codes: &w.codes[1..],
        ..v
    });
    pack_err(WoWeights {
        scales: &w.scales[1..],
        ..v
    });
    let mut scales = w.scales.clone();
    scales[3] = f32::INFINITY;
    pack_err(WoWeights {
        scales: &scales,
        ..v
    });
    let zeros = vec![16u8; w.scales.len()];
    pack_err(WoWeights {
        zero_points: Some(&zeros),
        ..v
    });
    pack_err(WoWeights {
        zero_points: Some(&zeros[1..]),
        ..v
    });
    pack_err(WoWeights { group: 48, ..v });
    pack_err(WoWeights { group: 16, ..v });
    pack_err(WoWeights { n: usize::MAX, ..v });

    // Damaged bytes: each is rejected by `from_bytes`.
    let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        assert!(WoPacked::from_bytes(&b).is_err());
    };
    damaged(&|b| b[0] = b'X');
    damaged(&|b| b[7] = 5);
    damaged(&|b| b[6] = 8);
    damaged(&|b| b[16] = 48);
    damaged(&|b| b[30] = 1);
    damaged(&|b| b.push(0));
    damaged(&|b| {
        b.pop();
    });
    let panel_len = packed.shape().panel_len().unwrap();
    // Column 20 (panel 1, column 4) is padding: a nonzero scale, zero point or code is rejected.
    damaged(&|b| b[HEADER_LEN + panel_len + 4 * 4 + 2] = 1);
    damaged(&|b| b[HEADER_LEN + panel_len + 4 * NR + 4] = 1);
    damaged(&|b| b[HEADER_LEN + panel_len + GROUP_HEAD_LEN + 4] = 0x10);
    // A zero point of 16 for int4, and a non-finite scale.
    damaged(&|b| b[HEADER_LEN + 4 * NR] = 16);
    damaged(&|b| b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&f32::NAN.to_le_bytes()));
    // Row 33 of column 0 (K = 33 padded to 36; the high nibble of the second group's first
    // byte) must hold the zero point.
    damaged(&|b| {
        let at = HEADER_LEN + 2 * GROUP_HEAD_LEN + 32 / 2 * NR;
        b[at] ^= 0xf0;
    });
}

#[test]
fn packing_follows_the_documented_layout() {
    // int4, K = 40 (2 groups of 32: the second has 8 rows), N = 3, explicit zero points.
    let (n, k) = (3, 40);
    let codes: Vec<u8> = (0..n * k).map(|i| (i * 7 % 16) as u8).collect();
    let scales: Vec<f32> = (0..n * 2).map(|i| i as f32 + 0.5).collect();
    let zeros: Vec<u8> = (0..n * 2).map(|i| i as u8 + 3).collect();
    let w = WoWeights {
        bits: WoBits::Int4,
        n,
        k,
        group: 32,
        codes: &codes,
        scales: &scales,
        zero_points: Some(&zeros),
    };
    let b = pack_wo(&w).unwrap();
    assert_eq!(&b[..4], b"MQWO");
    assert_eq!((b[6], b[7]), (16, 4));
    assert_eq!(b.len(), 64 + 80 * 2 + 2 * 4 * 40);
    assert_eq!(Some(b.len()), packed_len(WoBits::Int4, n, k, 32));
    let f32_at = |o: usize| f32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let group1 = 64 + 80 + 32 * 8;
    for j in 0..n {
        assert_eq!(f32_at(64 + 4 * j), scales[2 * j]);
        assert_eq!(f32_at(group1 + 4 * j), scales[2 * j + 1]);
        assert_eq!(b[64 + 64 + j], zeros[2 * j]);
        assert_eq!(b[group1 + 64 + j], zeros[2 * j + 1]);
        for kk in 0..k {
            let (g, r) = (kk / 32, kk % 32);
            let base = if g == 0 { 64 + 80 } else { group1 + 80 };
            let byte = b[base + (r / 4) * 32 + 16 * (r % 4 / 2) + j];
            let code = if r % 2 == 0 { byte & 15 } else { byte >> 4 };
            assert_eq!(code, codes[j * k + kk], "({j}, {kk})");
        }
    }
    // int8: row r of a block at 16 r + c.
    let codes8: Vec<u8> = (0..n * k).map(|i| (i * 37 % 256) as u8).collect();
    let w8 = WoWeights {
        bits: WoBits::Int8,
        group: 0,
        codes: &codes8,
        scales: &scales[..n],
        zero_points: None,
        ..w
    };
    let b = pack_wo(&w8).unwrap();
    assert_eq!(b.len(), 64 + 80 + 16 * 40);
    for j in 0..n {
        assert_eq!(b[64 + 64 + j], 128, "symmetric zero point");
        for kk in 0..k {
            assert_eq!(
                b[64 + 80 + (kk / KR) * 64 + 16 * (kk % KR) + j],
                codes8[j * k + kk]
            );
        }
    }
    let packed = WoPacked::from_bytes(&b).unwrap();
    assert_eq!(
        (packed.code_at(2, 39), packed.group_data(1, 0)),
        (Some(codes8[2 * k + 39]), Some((scales[1], 128)))
    );
    // Padding columns read as zero; outside the packed matrix is `None`.
    assert_eq!(
        (packed.code_at(5, 0), packed.group_data(5, 0)),
        (Some(0), Some((0.0, 0)))
    );
    assert_eq!((packed.code_at(16, 0), packed.code_at(0, 40)), (None, None));
    assert_eq!(
        (packed.group_data(16, 0), packed.group_data(0, 1)),
        (None, None)
    );
}

#[test]
fn layout_variant_matches_packed_len() {
    for (bits, group) in [(4u32, 32u32), (4, 64), (4, 128), (8, 0), (8, 32), (4, 0)] {
        let layout = Layout::from_tag(2, [16, bits, group]).unwrap();
        assert_eq!((layout.tag(), layout.params()), (2, [16, bits, group]));
        let wb = WoBits::from_bits(bits as usize).unwrap();
        for (n, k) in [(1u64, 1u64), (16, 32), (17, 33), (1000, 1280)] {
            let want = packed_len(wb, n as usize, k as usize, group as usize).map(|l| l as u64);
            assert_eq!(layout.byte_len(DType::U8, &[n, k]), want);
            let kp = k.next_multiple_of(4);
            let g = if group == 0 { kp } else { u64::from(group) };
            assert_eq!(
                want,
                Some(64 + n.div_ceil(16) * (80 * kp.div_ceil(g) + 2 * u64::from(bits) * kp))
            );
        }
        assert_eq!(layout.byte_len(DType::I8, &[4, 4]), None);
        assert_eq!(layout.byte_len(DType::U8, &[4]), None);
    }
    for bad in [[16, 2, 32], [16, 4, 48], [8, 4, 32], [16, 8, 256]] {
        assert_eq!(Layout::from_tag(2, bad), None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes_match_the_oracle(
        m in 1usize..30,
        k in 0usize..300,
        n in 1usize..70,
        format in 0usize..FORMATS.len(),
        stride_extra in 0usize..3,
        seed in any::<u64>(),
        with_bias in any::<bool>(),
    ) {
        let mut rng = Rng(seed | 1);
        let (bits, group) = FORMATS[format];
        let w = Weights::random(bits, n, k, group, &mut rng, false);
        let stride = k + stride_extra;
        let a = activations(m, k, stride, &mut rng);
        let bias: Vec<f32> = (0..n).map(|_| rng.signed_unit()).collect();
        let case = Case {
            m,
            a: &a,
            a_stride: stride,
            bias: with_bias.then_some(&bias[..]),
            min: f32::NEG_INFINITY,
            max: f32::INFINITY,
        };
        check(&w, &case)?;
    }
}
