//! Tests of the full-int8 GEMM: every supported tier is compared bit for bit with a naive oracle
//! written straight from the documented formulas (it reads the packed column data but none of the
//! kernel code), over edge-case grids and random shapes. Tiers the CPU lacks are reported as
//! skipped on stderr (uncaptured), never as passed.

use proptest::prelude::*;

use super::dynamic;
use super::pack::{KR, NR};
use super::tile::MAX_MR;
use super::*;
use crate::kernels::testing::{Rng, report, tiers};
use crate::kernels::{Kernels, Tier, kernels_for};
use crate::tensor::DType;

/// Reports, per tested tier, how many cases of a kind were bit-exact.
fn report_passed(kernels: &[&'static Kernels], count: usize, what: &str) {
    for k in kernels {
        report(&format!(
            "tier {}: {count} {what} cases bit-exact",
            k.tier()
        ));
    }
}

impl Rng {
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
    fn weight(&mut self) -> i8 {
        // Extremes are frequent: they are where i16 overflow would show.
        match self.next() % 8 {
            0 => 127,
            1 => -127,
            _ => (self.byte() as i8).max(-127),
        }
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum In {
    S8(i32),
    U8(i32),
    F32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Out {
    S8 { zp: i32, min: i8, max: i8 },
    U8 { zp: i32, min: u8, max: u8 },
    F32 { min: f32, max: f32 },
}

/// One GEMM to check: shapes, padding of both matrices, quantization, data seed.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    a_pad: usize,
    out_pad: usize,
    input: In,
    output: Out,
    seed: u64,
}

struct Data {
    a_bytes: Vec<u8>,
    a_f32: Vec<f32>,
    packed: Vec<u8>,
}

impl Case {
    fn mode(&self) -> Qs8Mode {
        let act = |dtype, zero_point| ActQuant {
            dtype,
            scale: 0.05,
            zero_point,
        };
        let input = match self.input {
            In::S8(zp) => act(DType::I8, zp),
            In::U8(zp) => act(DType::U8, zp),
            In::F32 => return Qs8Mode::Dynamic,
        };
        match self.output {
            Out::F32 { .. } => Qs8Mode::Dequantized { input },
            _ => Qs8Mode::Requantized {
                input,
                output_scale: 0.7,
            },
        }
    }

    fn data(&self) -> Data {
        let mut rng = Rng(self.seed | 1);
        let w: Vec<i8> = (0..self.n * self.k).map(|_| rng.weight()).collect();
        let scales: Vec<f32> = (0..self.n).map(|_| 0.001 + 0.02 * rng.unit()).collect();
        let bias: Vec<f32> = (0..self.n).map(|_| 4.0 * rng.unit() - 2.0).collect();
        let weights = Qs8Weights {
            n: self.n,
            k: self.k,
            data: &w,
            scales: &scales,
            bias: Some(&bias),
        };
        let packed = pack_qs8(&weights, self.mode()).expect("pack");
        let a_len = self.m * (self.k + self.a_pad);
        let a_bytes = (0..a_len).map(|_| rng.byte()).collect();
        let a_f32 = (0..a_len).map(|_| 8.0 * rng.unit() - 3.0).collect();
        Data {
            a_bytes,
            a_f32,
            packed,
        }
    }

    fn out_len(&self) -> usize {
        self.m * (self.n + self.out_pad)
    }
}

/// Output bytes (f32 as bit patterns) of one run.
fn run(
    kernels: &Kernels,
    case: &Case,
    data: &Data,
    threads: usize,
) -> Result<Vec<u32>, crate::Error> {
    let w = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&data.packed)?);
    let a_stride = case.k + case.a_pad;
    let stride = case.n + case.out_pad;
    let input = match case.input {
        In::S8(_) => QInput::S8 {
            data: bytemuck_i8(&data.a_bytes),
            stride: a_stride,
        },
        In::U8(_) => QInput::U8 {
            data: &data.a_bytes,
            stride: a_stride,
        },
        In::F32 => QInput::F32 {
            data: &data.a_f32,
            stride: a_stride,
        },
    };
    // Pre-filled with a sentinel: padding must stay untouched.
    let len = case.out_len();
    match case.output {
        Out::S8 { zp, min, max } => {
            let mut out = vec![0x5a_i8; len];
            qs8_gemm(
                kernels,
                case.m,
                input,
                &w,
                QOutput::S8 {
                    data: &mut out,
                    stride,
                    zero_point: zp,
                    min,
                    max,
                },
                threads,
            )?;
            Ok(out.iter().map(|&v| v as u8 as u32).collect())
        }
        Out::U8 { zp, min, max } => {
            let mut out = vec![0x5a_u8; len];
            qs8_gemm(
                kernels,
                case.m,
                input,
                &w,
                QOutput::U8 {
                    data: &mut out,
                    stride,
                    zero_point: zp,
                    min,
                    max,
                },
                threads,
            )?;
            Ok(out.iter().map(|&v| u32::from(v)).collect())
        }
        Out::F32 { min, max } => {
            let mut out = vec![f32::from_bits(0x5a5a_5a5a); len];
            qs8_gemm(
                kernels,
                case.m,
                input,
                &w,
                QOutput::F32 {
                    data: &mut out,
                    stride,
                    min,
                    max,
                },
                threads,
            )?;
            Ok(out.iter().map(|v| v.to_bits()).collect())
        }
    }
}

fn bytemuck_i8(bytes: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) }
}

/// The oracle: plain loops over the documented formulas, rounding with `round_ties_even`.
fn naive(case: &Case, data: &Data) -> Vec<u32> {
    let w = Qs8Packed::from_bytes(&data.packed).expect("packed");
    let (a_stride, stride) = (case.k + case.a_pad, case.n + case.out_pad);
    let mut out: Vec<u32> = match case.output {
        Out::F32 { .. } => vec![0x5a5a_5a5a; case.out_len()],
        _ => vec![0x5a; case.out_len()],
    };
    for i in 0..case.m {
        let row = &data.a_bytes[i * a_stride..i * a_stride + case.k];
        let (x, rs, rz): (Vec<i32>, f32, i32) = match case.input {
            In::S8(_) => (row.iter().map(|&v| i32::from(v as i8)).collect(), 1.0, 0),
            In::U8(_) => (row.iter().map(|&v| i32::from(v) - 128).collect(), 1.0, 0),
            In::F32 => {
                let frow = &data.a_f32[i * a_stride..i * a_stride + case.k];
                let params = dynamic::row_params(frow).expect("finite");
                let mut q = vec![0u8; case.k];
                dynamic::quantize_row(frow, params, 0, &mut q);
                (
                    q.iter().map(|&v| i32::from(v as i8)).collect(),
                    params.0,
                    -params.1,
                )
            }
        };
        for j in 0..case.n {
            let col = w.column(j).unwrap();
            let acc = (0..case.k).fold(0i32, |s, kk| {
                s.wrapping_add(x[kk] * i32::from(w.weight(j, kk).unwrap()))
            });
            let t = acc
                .wrapping_add(col.bias)
                .wrapping_add(rz.wrapping_mul(col.colsum));
            let f = t as f32 * (rs * col.scale);
            let q = |zp: i32, lo: i32, hi: i32| {
                ((f.round_ties_even() as i64 + i64::from(zp)).clamp(lo.into(), hi.into())) as i32
            };
            out[i * stride + j] = match case.output {
                Out::F32 { min, max } => (f + col.fbias).clamp(min, max).to_bits(),
                Out::S8 { zp, min, max } => q(zp, min.into(), max.into()) as u8 as u32,
                Out::U8 { zp, min, max } => q(zp, min.into(), max.into()) as u32,
            };
        }
    }
    out
}

/// Runs `case` on every tier in `kernels` (1 and 3 threads) and compares with the oracle.
fn check(kernels: &[&'static Kernels], case: &Case) -> Result<(), String> {
    let data = case.data();
    let want = naive(case, &data);
    for k in kernels {
        for threads in [1, 3] {
            let got = run(k, case, &data, threads).map_err(|e| format!("{}: {e}", k.tier()))?;
            if let Some(at) = (0..want.len()).find(|&i| got[i] != want[i]) {
                return Err(format!(
                    "tier {} ({threads} threads) differs at element {at} (row {}, col {}): got {:#x}, want {:#x} in {case:?}",
                    k.tier(),
                    at / (case.n + case.out_pad),
                    at % (case.n + case.out_pad),
                    got[at],
                    want[at]
                ));
            }
        }
    }
    Ok(())
}

fn outputs() -> [Out; 6] {
    [
        Out::S8 {
            zp: 0,
            min: -128,
            max: 127,
        },
        Out::S8 {
            zp: -128,
            min: -128,
            max: 127,
        },
        Out::S8 {
            zp: 5,
            min: 5,
            max: 60,
        }, // a ReLU6-style clamp
        Out::U8 {
            zp: 255,
            min: 0,
            max: 255,
        },
        Out::U8 {
            zp: 0,
            min: 0,
            max: 255,
        },
        Out::U8 {
            zp: 128,
            min: 128,
            max: 200,
        },
    ]
}

fn inputs() -> [In; 5] {
    [In::S8(-128), In::S8(127), In::U8(0), In::U8(255), In::S8(3)]
}

/// k below, at and above the k-block, every m in 1..=MAX_MR+1 and n in 1..=NR+1, odd strides.
#[test]
fn edge_shapes_all_tiers() {
    let kernels = tiers();
    let mut count = 0;
    for k in [0, 1, 7, 8, 9, 16, 17, 31] {
        for m in 1..=MAX_MR + 1 {
            for n in (1..=NR + 1).chain([2 * NR, 2 * NR + 1, 3 * NR]) {
                let i = count;
                let case = Case {
                    m,
                    n,
                    k,
                    a_pad: i % 3,
                    out_pad: (i / 3) % 3,
                    input: inputs()[i % inputs().len()],
                    output: outputs()[i % outputs().len()],
                    seed: i as u64 + 1,
                };
                check(&kernels, &case).unwrap();
                count += 1;
            }
        }
    }
    report_passed(&kernels, count, "edge-shape");
}

/// Every n in 1..=64 and around multiples of 4 panels (the AVX-512 VNNI tier's register passes
/// of 1-4 panels), with tiles of one row, fewer than, exactly and more than 6 or 8 rows.
#[test]
fn panel_passes_all_tiers() {
    let kernels = tiers();
    let mut count = 0;
    let ns = (1..=4 * NR).chain([65, 79, 80, 96, 112, 113, 127, 128, 129]);
    for (i, n) in ns.enumerate() {
        for (j, m) in [1, 2, 5, 6, 7, 8, 13].into_iter().enumerate() {
            let c = i * 7 + j;
            let input = [inputs()[c % 5], In::F32][c % 2];
            let output = match input {
                In::F32 => Out::F32 {
                    min: -3.0,
                    max: f32::INFINITY,
                },
                _ => outputs()[c % outputs().len()],
            };
            let case = Case {
                m,
                n,
                k: [4, 8, 9, 24][c % 4],
                a_pad: c % 3,
                out_pad: (c / 3) % 3,
                input,
                output,
                seed: c as u64 + 7,
            };
            check(&kernels, &case).unwrap();
            count += 1;
        }
    }
    report_passed(&kernels, count, "panel-pass");
}

/// Every activation zero-point extreme against every output kind and clamp.
#[test]
fn zero_points_and_clamps_all_tiers() {
    let kernels = tiers();
    let mut count = 0;
    let f32_outs = [
        Out::F32 {
            min: f32::NEG_INFINITY,
            max: f32::INFINITY,
        },
        Out::F32 { min: 0.0, max: 6.0 },
    ];
    for (ii, input) in inputs().into_iter().chain([In::F32]).enumerate() {
        for (oi, output) in outputs().into_iter().chain(f32_outs).enumerate() {
            if input == In::F32 && !matches!(output, Out::F32 { .. }) {
                continue;
            }
            let case = Case {
                m: 5,
                n: 19,
                k: 41,
                a_pad: 1,
                out_pad: 2,
                input,
                output,
                seed: (ii * 16 + oi) as u64,
            };
            check(&kernels, &case).unwrap();
            count += 1;
        }
    }
    report_passed(&kernels, count, "zero-point/clamp");
}

/// Larger shapes, where tiles and threads split the work.
#[test]
fn larger_shapes_all_tiers() {
    let kernels = tiers();
    // 261 rows pass the 64-tile activation block; K = 300 and 2000 give several panel groups.
    let shapes = [
        (37, 50, 100),
        (1, 100, 300),
        (9, 33, 257),
        (261, 40, 24),
        (5, 40, 2000),
    ];
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        for input in [In::S8(-3), In::U8(131), In::F32] {
            let output = if input == In::F32 {
                Out::F32 {
                    min: f32::NEG_INFINITY,
                    max: f32::INFINITY,
                }
            } else {
                outputs()[i]
            };
            check(
                &kernels,
                &Case {
                    m,
                    n,
                    k,
                    a_pad: 3,
                    out_pad: 1,
                    input,
                    output,
                    seed: 99 + i as u64,
                },
            )
            .unwrap();
        }
    }
    report_passed(&kernels, 3 * shapes.len(), "larger-shape");
}

fn arb_case() -> impl Strategy<Value = Case> {
    let input = prop_oneof![
        (-128i32..=127).prop_map(In::S8),
        (0i32..=255).prop_map(In::U8),
        Just(In::F32),
    ];
    let qout = prop_oneof![
        (-128i32..=127, any::<i8>(), any::<i8>()).prop_map(|(zp, a, b)| Out::S8 {
            zp,
            min: a.min(b),
            max: a.max(b)
        }),
        (0i32..=255, any::<u8>(), any::<u8>()).prop_map(|(zp, a, b)| Out::U8 {
            zp,
            min: a.min(b),
            max: a.max(b)
        }),
    ];
    (
        0usize..=13,
        0usize..=40,
        0usize..=70,
        0usize..=3,
        0usize..=3,
        input,
        qout,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(m, n, k, a_pad, out_pad, input, qout, relu, seed)| {
            let output = match (input, relu) {
                (In::F32, false) => Out::F32 {
                    min: f32::NEG_INFINITY,
                    max: f32::INFINITY,
                },
                (In::F32, true) => Out::F32 {
                    min: 0.0,
                    max: f32::INFINITY,
                },
                (_, true) => Out::F32 {
                    min: -1.0,
                    max: 6.0,
                },
                (_, false) => qout,
            };
            Case {
                m,
                n,
                k,
                a_pad,
                out_pad,
                input,
                output,
                seed,
            }
        })
}

proptest! {
    // 48 cases by default (quick under qemu); PROPTEST_CASES=n for a deeper run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
    ))]

    #[test]
    fn random_shapes_all_tiers(case in arb_case()) {
        let kernels = tiers();
        prop_assert_eq!(check(&kernels, &case), Ok(()));
    }
}

/// Empty and 1-sized inputs.
#[test]
fn empty_and_unit_sizes_all_tiers() {
    let kernels = tiers();
    for (m, n, k) in [(0, 5, 5), (5, 0, 5), (5, 5, 0), (0, 0, 0), (1, 1, 1)] {
        for input in [In::S8(0), In::F32] {
            let output = if input == In::F32 {
                Out::F32 {
                    min: -1e9,
                    max: 1e9,
                }
            } else {
                Out::S8 {
                    zp: 0,
                    min: -128,
                    max: 127,
                }
            };
            check(
                &kernels,
                &Case {
                    m,
                    n,
                    k,
                    a_pad: 0,
                    out_pad: 0,
                    input,
                    output,
                    seed: 7,
                },
            )
            .unwrap();
        }
    }
}

/// The f32 paths approximate the real-valued product: the folding at pack time is right.
#[test]
fn dequantized_and_dynamic_match_float_math() {
    let (m, n, k) = (3, 20, 50);
    let mut rng = Rng(42);
    let w_real: Vec<f32> = (0..n * k).map(|_| rng.unit() - 0.5).collect();
    let bias: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
    let w_scales: Vec<f32> = (0..n)
        .map(|j| {
            w_real[j * k..(j + 1) * k]
                .iter()
                .fold(0f32, |s, v| s.max(v.abs()))
                / 127.0
        })
        .collect();
    let w_q: Vec<i8> = (0..n * k)
        .map(|i| (w_real[i] / w_scales[i / k]).round() as i8)
        .collect();
    let x: Vec<f32> = (0..m * k).map(|_| 2.0 * rng.unit() - 0.7).collect();
    let expect: Vec<f32> = (0..m * n)
        .map(|o| {
            (0..k)
                .map(|kk| x[o / n * k + kk] * w_real[o % n * k + kk])
                .sum::<f32>()
                + bias[o % n]
        })
        .collect();
    let weights = Qs8Weights {
        n,
        k,
        data: &w_q,
        scales: &w_scales,
        bias: Some(&bias),
    };
    let kernels = kernels_for(Tier::Reference).unwrap();
    // Dynamic: f32 in, f32 out.
    let packed = pack_qs8(&weights, Qs8Mode::Dynamic).unwrap();
    let mut out = vec![0f32; m * n];
    let w = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&packed).unwrap());
    fn f32_out(out: &mut [f32], stride: usize) -> QOutput<'_> {
        QOutput::F32 {
            data: out,
            stride,
            min: f32::NEG_INFINITY,
            max: f32::INFINITY,
        }
    }
    qs8_gemm(
        kernels,
        m,
        QInput::F32 {
            data: &x,
            stride: k,
        },
        &w,
        f32_out(&mut out, n),
        1,
    )
    .unwrap();
    for (o, (&got, &want)) in out.iter().zip(&expect).enumerate() {
        assert!(
            (got - want).abs() < 0.05,
            "dynamic output {o}: {got} vs {want}"
        );
    }
    // Static u8 activations with zero point 90, f32 out.
    let input = ActQuant {
        dtype: DType::U8,
        scale: 2.0 / 255.0,
        zero_point: 90,
    };
    let xq: Vec<u8> = x
        .iter()
        .map(|v| ((v / input.scale).round() + 90.0).clamp(0.0, 255.0) as u8)
        .collect();
    let packed = pack_qs8(&weights, Qs8Mode::Dequantized { input }).unwrap();
    let w = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&packed).unwrap());
    qs8_gemm(
        kernels,
        m,
        QInput::U8 {
            data: &xq,
            stride: k,
        },
        &w,
        f32_out(&mut out, n),
        1,
    )
    .unwrap();
    for (o, (&got, &want)) in out.iter().zip(&expect).enumerate() {
        assert!(
            (got - want).abs() < 0.05,
            "dequantized output {o}: {got} vs {want}"
        );
    }
    // Requantized to u8 with output scale 0.05, zero point 100.
    let packed = pack_qs8(
        &weights,
        Qs8Mode::Requantized {
            input,
            output_scale: 0.05,
        },
    )
    .unwrap();
    let w = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&packed).unwrap());
    let mut q = vec![0u8; m * n];
    let out = QOutput::U8 {
        data: &mut q,
        stride: n,
        zero_point: 100,
        min: 0,
        max: 255,
    };
    qs8_gemm(
        kernels,
        m,
        QInput::U8 {
            data: &xq,
            stride: k,
        },
        &w,
        out,
        1,
    )
    .unwrap();
    for (o, (&got, &want)) in q.iter().zip(&expect).enumerate() {
        let real = 0.05 * (f32::from(got) - 100.0);
        assert!(
            (real - want).abs() < 0.1,
            "requantized output {o}: {real} vs {want}"
        );
    }
}

#[test]
fn bad_arguments_are_errors() {
    let kernels = kernels_for(Tier::Reference).unwrap();
    let w = [1i8; 6];
    let weights = Qs8Weights {
        n: 2,
        k: 3,
        data: &w,
        scales: &[1.0, 1.0],
        bias: None,
    };
    let input = ActQuant {
        dtype: DType::I8,
        scale: 1.0,
        zero_point: 0,
    };
    let mode = Qs8Mode::Requantized {
        input,
        output_scale: 1.0,
    };
    // Packing.
    let minus128 = [-128i8; 6];
    assert!(
        pack_qs8(
            &Qs8Weights {
                data: &minus128,
                ..weights
            },
            mode
        )
        .is_err()
    );
    assert!(
        pack_qs8(
            &Qs8Weights {
                data: &w[..5],
                ..weights
            },
            mode
        )
        .is_err()
    );
    assert!(
        pack_qs8(
            &Qs8Weights {
                scales: &[1.0, 0.0],
                ..weights
            },
            mode
        )
        .is_err()
    );
    assert!(
        pack_qs8(
            &Qs8Weights {
                bias: Some(&[f32::NAN, 0.0]),
                ..weights
            },
            mode
        )
        .is_err()
    );
    let bad_zp = ActQuant {
        zero_point: 128,
        ..input
    };
    assert!(
        pack_qs8(
            &weights,
            Qs8Mode::Requantized {
                input: bad_zp,
                output_scale: 1.0
            }
        )
        .is_err()
    );
    assert!(
        pack_qs8(
            &weights,
            Qs8Mode::Requantized {
                input,
                output_scale: f32::INFINITY
            }
        )
        .is_err()
    );
    // Reading packed bytes.
    let packed = pack_qs8(&weights, mode).unwrap();
    assert_eq!(packed.len(), packed_len(2, 3).unwrap());
    assert!(Qs8Packed::from_bytes(&packed[..packed.len() - 1]).is_err());
    let mut corrupt = packed.clone();
    *corrupt.last_mut().unwrap() = 1; // a padding weight
    assert!(Qs8Packed::from_bytes(&corrupt).is_err());
    let mut corrupt = packed.clone();
    corrupt[64 + 128..64 + 132].copy_from_slice(&f32::NAN.to_le_bytes()); // scale of column 0
    assert!(Qs8Packed::from_bytes(&corrupt).is_err());
    let mut corrupt = packed.clone();
    corrupt[0] = b'X';
    assert!(Qs8Packed::from_bytes(&corrupt).is_err());
    // Running.
    let w = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&packed).unwrap());
    let a = [0i8; 6];
    let mut out = [0i8; 4];
    fn s8_out(out: &mut [i8], zero_point: i32, stride: usize) -> QOutput<'_> {
        QOutput::S8 {
            data: out,
            stride,
            zero_point,
            min: -128,
            max: 127,
        }
    }
    let s8_in = QInput::S8 {
        data: &a,
        stride: 3,
    };
    assert!(qs8_gemm(kernels, 2, s8_in, &w, s8_out(&mut out, 0, 2), 0).is_err());
    assert!(qs8_gemm(kernels, 3, s8_in, &w, s8_out(&mut out, 0, 2), 1).is_err());
    assert!(
        qs8_gemm(
            kernels,
            2,
            QInput::S8 {
                data: &a,
                stride: 2
            },
            &w,
            s8_out(&mut out, 0, 2),
            1
        )
        .is_err()
    );
    assert!(qs8_gemm(kernels, 2, s8_in, &w, s8_out(&mut out, 200, 2), 1).is_err());
    assert!(qs8_gemm(kernels, 2, s8_in, &w, s8_out(&mut out, 0, 3), 1).is_err());
    let inverted = QOutput::S8 {
        data: &mut out,
        stride: 2,
        zero_point: 0,
        min: 5,
        max: 4,
    };
    assert!(qs8_gemm(kernels, 2, s8_in, &w, inverted, 1).is_err());
    let ua = [0u8; 6];
    assert!(
        qs8_gemm(
            kernels,
            2,
            QInput::U8 {
                data: &ua,
                stride: 3
            },
            &w,
            s8_out(&mut out, 0, 2),
            1
        )
        .is_err()
    );
    let mut fout = [0f32; 4];
    let f32_out = QOutput::F32 {
        data: &mut fout,
        stride: 2,
        min: 0.0,
        max: 1.0,
    };
    assert!(qs8_gemm(kernels, 2, s8_in, &w, f32_out, 1).is_err());
    // A single row may have any stride, but not one whose byte size overflows.
    let huge = QOutput::F32 {
        data: &mut fout,
        stride: usize::MAX / 2,
        min: 0.0,
        max: 1.0,
    };
    let packed_f32 = pack_qs8(&weights, Qs8Mode::Dequantized { input }).unwrap();
    let w_f32 = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&packed_f32).unwrap());
    assert!(qs8_gemm(kernels, 1, s8_in, &w_f32, huge, 1).is_err());
    assert!(qs8_gemm(kernels, 2, s8_in, &w, s8_out(&mut out, 0, 2), 1).is_ok());
    // Dynamic quantization rejects non-finite activations.
    let packed = pack_qs8(&weights, Qs8Mode::Dynamic).unwrap();
    let w = Qs8Prepared::new(kernels, Qs8Packed::from_bytes(&packed).unwrap());
    let x = [0.0, f32::NAN, 1.0];
    let f32_out = QOutput::F32 {
        data: &mut fout,
        stride: 2,
        min: 0.0,
        max: 1.0,
    };
    assert!(
        qs8_gemm(
            kernels,
            1,
            QInput::F32 {
                data: &x,
                stride: 3
            },
            &w,
            f32_out,
            1
        )
        .is_err()
    );
}

#[test]
fn row_params_cover_the_range() {
    for row in [
        vec![0.0f32; 4],
        vec![-1.0, 3.0],
        vec![f32::MAX, -f32::MAX],
        vec![1e-40, 2e-40],
        vec![5.0],
    ] {
        let (scale, zp) = dynamic::row_params(&row).unwrap();
        assert!(
            scale.is_finite() && scale > 0.0 && (-128..=127).contains(&zp),
            "{row:?}"
        );
        let mut q = vec![0u8; row.len()];
        dynamic::quantize_row(&row, (scale, zp), 0, &mut q);
        for (&x, &v) in row.iter().zip(&q) {
            // In f64: the product can pass f32::MAX by half a step.
            let back = f64::from(scale) * f64::from(i32::from(v as i8) - zp);
            let err = (back - f64::from(x)).abs();
            assert!(
                err <= f64::from(scale) * 0.501 + f64::from(x.abs()) * 1e-6,
                "{x} -> {v} -> {back}"
            );
        }
    }
    assert_eq!(KR, 8);
}

/// The `c4` repack keeps the header and column data, moves each weight to its `c4` offset, and
/// leaves padding zero, on edge shapes (one column, one k, a partial panel and k-block).
#[test]
fn repack_c4_moves_each_weight() {
    use super::pack::{HEADER_LEN, KBLOCK_LEN, PANEL_HEADER_LEN};
    use super::repack::{c4_offset, repack_c4};
    for (n, k) in [(1, 1), (16, 8), (17, 9), (3, 40), (33, 16)] {
        let mut rng = Rng((n * 100 + k) as u64);
        let data: Vec<i8> = (0..n * k).map(|_| rng.weight()).collect();
        let scales = vec![0.5f32; n];
        let weights = Qs8Weights {
            n,
            k,
            data: &data,
            scales: &scales,
            bias: None,
        };
        let packed = pack_qs8(&weights, Qs8Mode::Dynamic).unwrap();
        let w = Qs8Packed::from_bytes(&packed).unwrap();
        let c4 = repack_c4(&w);
        assert_eq!(c4.len(), packed.len());
        assert_eq!(c4[..HEADER_LEN], packed[..HEADER_LEN]);
        let panel_len = w.panel_len();
        let mut nonzero = 0;
        for p in 0..w.panels() {
            let panel = &c4[HEADER_LEN + p * panel_len..][..panel_len];
            assert_eq!(panel[..PANEL_HEADER_LEN], w.panel(p)[..PANEL_HEADER_LEN]);
            for c in 0..NR {
                for kk in 0..w.kp() {
                    let at = PANEL_HEADER_LEN + kk / KR * KBLOCK_LEN + c4_offset(c, kk % KR);
                    let j = p * NR + c;
                    let want = w.weight(j, kk).unwrap_or(0);
                    assert_eq!(panel[at] as i8, want, "n {n} k {k} column {j} k {kk}");
                    nonzero += usize::from(want != 0);
                }
            }
        }
        // Every weight was checked where it belongs, and the rest is padding.
        let total: usize = c4[HEADER_LEN..].iter().filter(|&&b| b != 0).count();
        let header: usize = (0..w.panels())
            .map(|p| {
                w.panel(p)[..PANEL_HEADER_LEN]
                    .iter()
                    .filter(|&&b| b != 0)
                    .count()
            })
            .sum();
        assert_eq!(total, nonzero + header);
    }
}

/// Weights prepared for one tier's order are refused by a tier that reads another.
#[test]
fn prepared_order_must_match_the_tier() {
    let kernels = tiers();
    let data = [1i8; 32];
    let scales = [1.0f32; 2];
    let weights = Qs8Weights {
        n: 2,
        k: 16,
        data: &data,
        scales: &scales,
        bias: None,
    };
    let packed = pack_qs8(&weights, Qs8Mode::Dynamic).unwrap();
    let x = [0.5f32; 16];
    for a in &kernels {
        for b in &kernels {
            let w = Qs8Prepared::new(a, Qs8Packed::from_bytes(&packed).unwrap());
            assert_eq!(w.extra_bytes() > 0, a.qs8_weight_order != WeightOrder::C8);
            let mut out = [0f32; 2];
            let output = QOutput::F32 {
                data: &mut out,
                stride: 2,
                min: f32::NEG_INFINITY,
                max: f32::INFINITY,
            };
            let input = QInput::F32 {
                data: &x,
                stride: 16,
            };
            let result = qs8_gemm(b, 1, input, &w, output, 1);
            assert_eq!(result.is_ok(), a.qs8_weight_order == b.qs8_weight_order);
            if result.is_ok() {
                assert!(out.iter().all(|&v| (v - 8.0).abs() < 0.1), "{out:?}");
            }
        }
    }
}

#[test]
fn layout_variant_matches_packed_len() {
    use crate::tensor::Layout;
    let layout = Layout::from_tag(1, [16, 8, 0]).unwrap();
    assert_eq!(layout, Layout::PackedQs8C8);
    assert_eq!((layout.tag(), layout.params()), (1, [16, 8, 0]));
    for (n, k) in [(1, 1), (16, 8), (17, 9), (1000, 1280)] {
        assert_eq!(
            layout.byte_len(DType::I8, &[n, k]),
            packed_len(n as usize, k as usize).map(|l| l as u64)
        );
        assert_eq!(
            layout.byte_len(DType::I8, &[n, k]),
            Some(64 + n.div_ceil(16) * (256 + 16 * k.next_multiple_of(8)))
        );
    }
    assert_eq!(layout.byte_len(DType::U8, &[4, 4]), None);
    assert_eq!(layout.byte_len(DType::I8, &[4]), None);
}

#[test]
fn activation_packings_place_k_blocks() {
    use super::tile::APacking;
    let (mr, kp) = (4, 16);
    let rows: Vec<u8> = (0..(mr * kp) as u8).collect();
    let mut doubled = vec![0u8; APacking::Doubled.tile_len(mr, kp)];
    APacking::Doubled.arrange(mr, kp, &rows, &mut doubled);
    // Row 2, k-block 1 (bytes 40..48), twice, at 16 * (1 * 4 + 2).
    assert_eq!(
        &doubled[96..112],
        &[
            40, 41, 42, 43, 44, 45, 46, 47, 40, 41, 42, 43, 44, 45, 46, 47
        ]
    );
    let mut interleaved = vec![0u8; APacking::Interleaved.tile_len(mr, kp)];
    APacking::Interleaved.arrange(mr, kp, &rows, &mut interleaved);
    // K-block 1: rows 0..4 (bytes 8..16, 24..32, 40..48, 56..64 of `rows`) from 8 * 4 * 1.
    let want: Vec<u8> = [8u8, 24, 40, 56].iter().flat_map(|&s| s..s + 8).collect();
    assert_eq!(&interleaved[32..64], &want[..]);
    // K-block 0 of rows 2 and 3 is SMMLA's 16-byte operand for pair 1.
    assert_eq!(
        &interleaved[16..32],
        &[
            32, 33, 34, 35, 36, 37, 38, 39, 48, 49, 50, 51, 52, 53, 54, 55
        ]
    );
    let mut plain = vec![0u8; APacking::Rows.tile_len(mr, kp)];
    APacking::Rows.arrange(mr, kp, &rows, &mut plain);
    assert_eq!(plain, rows);
}
