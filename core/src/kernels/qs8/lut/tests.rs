//! Lookup-table activations: tables against the f64 functions, every lookup kernel bit for bit
//! against the table, bad arguments.

use proptest::prelude::*;

use super::*;
use crate::kernels::testing::{report, tiers};
use crate::kernels::{Tier, kernels_for};

const FUNCTIONS: [LutFunction; 4] = [
    LutFunction::Sigmoid,
    LutFunction::Tanh,
    LutFunction::HardSwish,
    LutFunction::Gelu,
];

fn act(dtype: DType, scale: f32, zero_point: i32) -> ActQuant {
    ActQuant {
        dtype,
        scale,
        zero_point,
    }
}

/// Every lookup kernel this CPU runs: each tier's, and the variants a tier picks at run time.
fn lookups() -> Vec<(&'static str, LutFn)> {
    let mut v: Vec<_> = tiers()
        .iter()
        .map(|k| (k.x8_lut_name(), k.x8_lut))
        .collect();
    v.extend(crate::kernels::arch::lut_variants());
    v
}

#[test]
fn erf_matches_known_values() {
    // erf at 0.5, 1, 2, 3 (from the series to 20 digits), odd symmetry, limits.
    for (x, want) in [
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.0, 0.999_977_909_503_001_4),
    ] {
        assert!((erf(x) - want).abs() < 1e-15, "erf({x}) = {}", erf(x));
        assert!((erf(-x) + want).abs() < 1e-15);
    }
    assert_eq!(erf(0.0), 0.0);
    assert_eq!(erf(10.0), 1.0);
    assert_eq!(erf(-7.0), -1.0);
    assert!((erf(5.9) - 1.0).abs() < 1e-15);
    assert!(erf(4.0) < 1.0 && (erf(4.0) - (1.0 - 1.541_725_790_028_002e-8)).abs() < 1e-15);
    assert!(erf(f64::NAN).is_nan());
}

#[test]
fn tables_are_within_half_a_step() {
    for f in FUNCTIONS {
        for (input, output) in [
            (act(DType::I8, 0.05, 0), act(DType::I8, 1.0 / 128.0, 0)),
            (act(DType::U8, 0.1, 128), act(DType::U8, 1.0 / 256.0, 0)),
            (act(DType::I8, 0.03, -128), act(DType::U8, 0.02, 100)),
            (act(DType::U8, 0.07, 255), act(DType::I8, 0.035, 127)),
            (act(DType::I8, 0.02, 127), act(DType::I8, 0.01, -128)),
        ] {
            let table = build_lut(f, input, output).unwrap();
            let (lo, hi) = if output.dtype == DType::U8 {
                (0, 255)
            } else {
                (-128, 127)
            };
            for b in 0..=255u8 {
                let v = if input.dtype == DType::U8 {
                    i32::from(b)
                } else {
                    i32::from(b as i8)
                };
                let x = f64::from(v - input.zero_point) * f64::from(input.scale);
                let y = f.eval(x);
                let q = if output.dtype == DType::U8 {
                    i32::from(table[usize::from(b)])
                } else {
                    i32::from(table[usize::from(b)] as i8)
                };
                let back = f64::from(q - output.zero_point) * f64::from(output.scale);
                let err = (back - y).abs();
                let clamped = (q == lo && back > y) || (q == hi && back < y);
                assert!(
                    clamped || err <= f64::from(output.scale) * (0.5 + 1e-9),
                    "{f:?} {input:?} {output:?} byte {b}: {back} vs {y}"
                );
            }
        }
    }
}

#[test]
fn functions_have_their_shape() {
    use LutFunction::*;
    assert_eq!(Sigmoid.eval(0.0), 0.5);
    assert_eq!(Tanh.eval(0.0), 0.0);
    assert_eq!(HardSwish.eval(-3.0), 0.0);
    assert_eq!(HardSwish.eval(4.0), 4.0);
    assert_eq!(HardSwish.eval(1.5), 1.5 * 4.5 / 6.0);
    assert_eq!(Gelu.eval(0.0), 0.0);
    // GELU(1) = Phi(1) = (1 + erf(1 / sqrt 2)) / 2 = 0.841344746068543.
    assert!((Gelu.eval(1.0) - 0.841_344_746_068_543).abs() < 1e-14);
    assert!((Gelu.eval(-1.0) + 0.158_655_253_931_457).abs() < 1e-14);
    assert!((Sigmoid.eval(2.0) - 0.880_797_077_977_882_3).abs() < 1e-15);
}

/// A table whose entries differ everywhere, so a wrong row or lane shows.
fn scrambled_table(seed: u8) -> [u8; 256] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(167).wrapping_add(seed) ^ 0x5a)
}

fn check_lengths(table: &[u8; 256], lens: impl IntoIterator<Item = usize>) {
    let lookups = lookups();
    for len in lens {
        let src: Vec<u8> = (0..len).map(|i| (i * 97 + len) as u8).collect();
        let want: Vec<u8> = src.iter().map(|&b| table[usize::from(b)]).collect();
        for &(name, f) in &lookups {
            let mut dst = vec![0u8; len];
            // SAFETY: both buffers hold len bytes and do not overlap; the kernel's tier or
            // features are supported (they come from `tiers()` / `lut_variants()`).
            unsafe { f(table, src.as_ptr(), dst.as_mut_ptr(), len) };
            assert_eq!(dst, want, "{name}, {len} bytes");
            let mut inplace = src.clone();
            // SAFETY: as above, with source and destination equal (allowed).
            unsafe { f(table, inplace.as_ptr(), inplace.as_mut_ptr(), len) };
            assert_eq!(inplace, want, "{name} in place, {len} bytes");
        }
    }
}

#[test]
fn every_kernel_is_bit_exact() {
    for (name, _) in lookups() {
        report(&format!("x8 lut kernel: {name}"));
    }
    // Every byte value in every lane position, lengths 0..=3 * 64 + 1 (tails of all widths).
    check_lengths(&scrambled_table(3), 0..=193);
    check_lengths(&scrambled_table(200), [256, 1000, 4099]);
    for f in FUNCTIONS {
        let t = build_lut(f, act(DType::I8, 0.05, -7), act(DType::I8, 0.01, 3)).unwrap();
        check_lengths(&t, [255, 256, 300]);
    }
}

#[test]
fn safe_entries_and_bad_arguments() {
    let k = kernels_for(Tier::Reference).unwrap();
    let table = scrambled_table(9);
    let src: Vec<u8> = (0..=255).collect();
    let mut dst = vec![0u8; 256];
    x8_lut(k, &table, &src, &mut dst).unwrap();
    assert_eq!(dst, table);
    assert!(x8_lut(k, &table, &src, &mut dst[1..]).is_err());
    let mut data = src.clone();
    x8_lut_in_place(k, &table, &mut data);
    assert_eq!(data, table);
    let good = act(DType::I8, 0.1, 0);
    for bad in [
        act(DType::F32, 0.1, 0),
        act(DType::I8, 0.0, 0),
        act(DType::I8, f32::INFINITY, 0),
        act(DType::I8, 0.1, 128),
        act(DType::U8, 0.1, -1),
    ] {
        assert!(build_lut(LutFunction::Tanh, bad, good).is_err(), "{bad:?}");
        assert!(build_lut(LutFunction::Tanh, good, bad).is_err(), "{bad:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_tables_and_data(seed in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let table = scrambled_table(seed);
        let want: Vec<u8> = data.iter().map(|&b| table[usize::from(b)]).collect();
        for (name, f) in lookups() {
            let mut dst = vec![0u8; data.len()];
            // SAFETY: both buffers hold the same length and do not overlap; the kernel is
            // supported by this CPU.
            unsafe { f(&table, data.as_ptr(), dst.as_mut_ptr(), data.len()) };
            prop_assert_eq!(&dst, &want, "{}", name);
        }
    }
}
