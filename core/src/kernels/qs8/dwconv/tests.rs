//! Int8 depthwise convolution: every supported tier bit for bit against an oracle written from the
//! documented formula, the reference against a real-valued (f64) convolution, the packed layout,
//! and bad arguments.

use proptest::prelude::*;

use super::*;
use crate::kernels::qs8::pack::{ActQuant, Qs8Weights};
use crate::kernels::qs8::tile::quantize;
use crate::kernels::testing::{bytes, report, tiers};
use crate::kernels::{Tier, kernels_for};

/// One problem: geometry, kernel, quantization, data.
#[derive(Clone, Debug)]
struct Case {
    g: DwGeometry,
    k: usize,
    unsigned_in: bool,
    zp_in: i32,
    unsigned_out: bool,
    zp_out: i32,
    min: i32,
    max: i32,
    seed: u64,
}

impl Case {
    fn new(c: usize, h: usize, w: usize, k: usize, stride: usize, pads: [usize; 4]) -> Case {
        Case {
            g: DwGeometry {
                batch: 1,
                channels: c,
                height: h,
                width: w,
                stride,
                pad_top: pads[0],
                pad_left: pads[1],
                pad_bottom: pads[2],
                pad_right: pads[3],
            },
            k,
            unsigned_in: false,
            zp_in: 3,
            unsigned_out: false,
            zp_out: -5,
            min: -128,
            max: 127,
            seed: (c * 1000 + h * 100 + w * 10 + k + stride) as u64,
        }
    }

    fn input(&self) -> Vec<u8> {
        let g = &self.g;
        bytes(g.batch * g.channels * g.height * g.width, self.seed)
    }

    fn taps(&self) -> Vec<i8> {
        bytes(self.g.channels * self.k * self.k, self.seed + 1)
            .iter()
            .map(|&b| (b as i8).max(-127))
            .collect()
    }

    fn scales(&self) -> Vec<f32> {
        (0..self.g.channels)
            .map(|c| 0.002 + 0.0007 * (c % 5) as f32)
            .collect()
    }

    fn bias(&self) -> Vec<f32> {
        (0..self.g.channels)
            .map(|c| (c as f32 - 2.0) * 0.37)
            .collect()
    }

    fn act(&self) -> ActQuant {
        ActQuant {
            dtype: if self.unsigned_in {
                DType::U8
            } else {
                DType::I8
            },
            scale: 0.05,
            zero_point: self.zp_in,
        }
    }

    const OUT_SCALE: f32 = 0.04;

    fn pack(&self) -> Vec<u8> {
        let (taps, scales, bias) = (self.taps(), self.scales(), self.bias());
        let w = Qs8Weights {
            n: self.g.channels,
            k: self.k * self.k,
            data: &taps,
            scales: &scales,
            bias: Some(&bias),
        };
        pack_qs8_dw(&w, self.act(), Self::OUT_SCALE).unwrap()
    }

    fn run(&self, kernels: &Kernels, threads: usize) -> Result<Vec<u8>> {
        self.run_on(kernels, threads, None)
    }

    /// [`Case::run`] on `path` (`None`: the one chosen by plane size).
    fn run_on(&self, kernels: &Kernels, threads: usize, path: Option<DwPath>) -> Result<Vec<u8>> {
        let packed = self.pack();
        let w = Qs8DwPacked::from_bytes(&packed)?;
        let (oh, ow) = self.g.output_hw(self.k)?;
        let x = self.input();
        let mut y = vec![0u8; self.g.batch * self.g.channels * oh * ow];
        let x8: Vec<i8> = x.iter().map(|&b| b as i8).collect();
        let input = if self.unsigned_in {
            DwInput::U8(&x)
        } else {
            DwInput::S8(&x8)
        };
        let mut y8 = vec![0i8; y.len()];
        let output = if self.unsigned_out {
            DwOutput::U8 {
                data: &mut y,
                zero_point: self.zp_out,
                min: self.min as u8,
                max: self.max as u8,
            }
        } else {
            DwOutput::S8 {
                data: &mut y8,
                zero_point: self.zp_out,
                min: self.min as i8,
                max: self.max as i8,
            }
        };
        qs8_dwconv_on(kernels, &w, &self.g, input, output, threads, path)?;
        if !self.unsigned_out {
            y = y8.iter().map(|&v| v as u8).collect();
        }
        Ok(y)
    }

    /// The documented arithmetic, written independently: `t = sum w (x - zp) + round(b / (s_in
    /// s_w))` over the taps inside the input, then the GEMM epilogue's quantization.
    fn oracle(&self) -> Vec<u8> {
        let g = &self.g;
        let (oh, ow) = g.output_hw(self.k).unwrap();
        let (x, taps, scales, bias) = (self.input(), self.taps(), self.scales(), self.bias());
        let act = self.act();
        let k = self.k;
        let mut y = Vec::new();
        for plane in 0..g.batch * g.channels {
            let c = plane % g.channels;
            let in_scale = act.scale * scales[c];
            let bq = (f64::from(bias[c]) / f64::from(in_scale)).round_ties_even() as i64;
            let scale = in_scale / Self::OUT_SCALE;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut t = bq;
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * g.stride + ky) as isize - g.pad_top as isize;
                            let ix = (ox * g.stride + kx) as isize - g.pad_left as isize;
                            if iy < 0 || ix < 0 || iy >= g.height as isize || ix >= g.width as isize
                            {
                                continue;
                            }
                            let b = x[(plane * g.height + iy as usize) * g.width + ix as usize];
                            let v = if self.unsigned_in {
                                i64::from(b)
                            } else {
                                i64::from(b as i8)
                            };
                            t += i64::from(taps[(c * k + ky) * k + kx])
                                * (v - i64::from(act.zero_point));
                        }
                    }
                    let q = quantize(t as i32 as f32 * scale, self.zp_out, self.min, self.max);
                    y.push(q as u8);
                }
            }
        }
        y
    }

    /// Checks every tier (1 and 3 threads) on both paths against the oracle.
    fn check(&self) {
        let want = self.oracle();
        for kernels in tiers() {
            for (path, name) in [
                (DwPath::Planes, kernels.qs8_dwconv_name()),
                (DwPath::Channels, kernels.qs8_dwconv_channels_name()),
            ] {
                for threads in [1, 3] {
                    let got = self.run_on(kernels, threads, Some(path)).unwrap();
                    if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
                        panic!(
                            "{name} threads {threads}, {self:?}: output {i} is {} not {}",
                            got[i], want[i]
                        );
                    }
                    assert_eq!(got.len(), want.len());
                }
            }
        }
    }
}

#[test]
fn every_width_stride_and_kernel() {
    // Widths 1..=3 * 32 + 3 cover partial, full and multiple chunks of every tier (16 and 32).
    for k in [3, 5] {
        for stride in [1, 2] {
            for w in 1..=99 {
                let p = (w % (k / 2 + 1), (w / 3) % (k / 2 + 1));
                let mut case = Case::new(2, 4, w, k, stride, [1, p.0, 0, p.1]);
                if case.g.output_hw(k).is_err() {
                    case.g.pad_right = k;
                }
                case.check();
            }
        }
    }
}

/// Calls `visit` with a case of `channels` channels for every kernel size (3, 5), stride,
/// height, width and padding combination up to K/2 whose padded input holds the kernel.
fn each_padded_case(
    channels: usize,
    heights: &[usize],
    widths: &[usize],
    mut visit: impl FnMut(Case),
) {
    for k in [3usize, 5] {
        let half = k / 2;
        for stride in [1, 2] {
            for &h in heights {
                for pads in 0..(half + 1).pow(4) {
                    let p = |i: u32| (pads / (half + 1).pow(i)) % (half + 1);
                    for &w in widths {
                        let case = Case::new(channels, h, w, k, stride, [p(0), p(1), p(2), p(3)]);
                        if case.g.output_hw(k).is_ok() {
                            visit(case);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_padding_and_height() {
    let heights: Vec<usize> = (1..=7).collect();
    each_padded_case(3, &heights, &[1, 5, 17, 40], |case| case.check());
}

/// Narrow planes (the flat layout, and the row layout just above its limit): widths and heights
/// 1..=20 under every padding combination up to K/2 (one channel, to keep it quick), both
/// strides and kernel sizes, u8 and s8 input; then the widths around the flat limit.
#[test]
fn narrow_planes_every_size_and_padding() {
    let sizes: Vec<usize> = (1..=20).collect();
    each_padded_case(1, &sizes, &sizes, |mut case| {
        let g = case.g;
        case.unsigned_in =
            (g.height + g.width + g.pad_top + 3 * g.pad_left + 5 * g.pad_right).is_multiple_of(2);
        case.zp_in = if case.unsigned_in { 250 } else { -100 };
        case.check();
    });
    for k in [3usize, 5] {
        let half = k / 2;
        for stride in [1, 2] {
            for w in plane::FLAT_MAX_OW - 2..=plane::FLAT_MAX_OW + 2 {
                for width in [w, 2 * w] {
                    Case::new(3, 9, width, k, stride, [1, half, 2, half]).check();
                }
            }
        }
    }
}

/// The channel-block path on small planes: every plane size 1x1..9x9, channel counts around the
/// block (partial first and last blocks, two images), both strides and kernel sizes, padding
/// 0..=2 on each side in turn, input and output zero points at the extremes, and a clamp.
#[test]
fn channel_blocks_every_small_plane() {
    let mut i = 0usize;
    for k in [3usize, 5] {
        for stride in [1, 2] {
            for h in 1..=9 {
                for w in 1..=9 {
                    for pad in 0..=2 {
                        i += 1;
                        let c = [1, 15, 16, 17, 33][i % 5];
                        let pads = [pad, (pad + i) % 3, (pad + 2 * i) % 3, (pad + i / 3) % 3];
                        let mut case = Case::new(c, h, w, k, stride, pads);
                        if case.g.output_hw(k).is_err() {
                            continue;
                        }
                        case.g.batch = 1 + i % 2;
                        case.unsigned_in = i.is_multiple_of(3);
                        case.zp_in = match (case.unsigned_in, i % 4) {
                            (true, 0 | 1) => 0,
                            (true, _) => 255,
                            (false, 0 | 1) => -128,
                            (false, _) => 127,
                        };
                        case.unsigned_out = i.is_multiple_of(2);
                        (case.zp_out, case.min, case.max) = match (case.unsigned_out, i % 3) {
                            (true, 0) => (0, 0, 255),
                            (true, 1) => (255, 0, 255),
                            (true, _) => (40, 40, 200),
                            (false, 0) => (-128, -128, 127),
                            (false, 1) => (127, -128, 127),
                            (false, _) => (-20, -20, 90),
                        };
                        case.seed = i as u64;
                        case.check();
                    }
                }
            }
        }
    }
}

/// Stride-1 layers choose the channel-block path up to `CHANNELS_MAX_PLANE` outputs per plane.
#[test]
fn path_follows_the_plane_size() {
    assert_eq!(DwPath::for_plane(7, 7, 1), DwPath::Channels);
    assert_eq!(DwPath::for_plane(1, 1, 1), DwPath::Channels);
    assert_eq!(DwPath::for_plane(7, 7, 2), DwPath::Planes);
    assert_eq!(DwPath::for_plane(8, 7, 1), DwPath::Planes);
    assert_eq!(DwPath::for_plane(14, 14, 1), DwPath::Planes);
    assert_eq!(DwPath::for_plane(56, 56, 1), DwPath::Planes);
}

#[test]
fn flat_layout_holds_every_read() {
    for k in [3, 5] {
        for stride in [1, 2] {
            for oh in 1..=30 {
                for ow in 1..=plane::FLAT_MAX_OW {
                    let f = plane::FlatLayout::new(k, stride, oh, ow);
                    assert_eq!(f.pitch % stride, 0);
                    assert!(f.pitch / stride > ow);
                    // Every padded row lies inside, and so does the last chunk's reach.
                    assert!(f.row(f.rows - 1) + f.pitch <= f.len);
                    let last = f.flat.div_ceil(plane::MAX_V) * plane::MAX_V - plane::MAX_V;
                    let span = plane::span(plane::MAX_V, k, stride);
                    assert!((0..k).all(|ky| f.row(ky) + stride * last + span <= f.len));
                    // Rows do not overlap.
                    let mut starts: Vec<_> = (0..f.rows).map(|r| f.row(r)).collect();
                    starts.sort_unstable();
                    assert!(starts.windows(2).all(|p| p[1] - p[0] >= f.pitch));
                }
            }
        }
    }
}

#[test]
fn padding_wider_than_the_kernel() {
    for (k, stride) in [(3, 1), (5, 2)] {
        let case = Case::new(2, 2, 3, k, stride, [4, 7, 6, 3]);
        case.check();
    }
}

#[test]
fn zero_points_clamps_and_signedness() {
    for (unsigned_in, zp_in) in [
        (false, -128),
        (false, 127),
        (false, 0),
        (true, 0),
        (true, 255),
        (true, 128),
    ] {
        for (unsigned_out, zp_out, min, max) in [
            (false, -128, -128, 127),
            (false, 127, -128, 127),
            (false, -20, -20, 127),
            (false, 0, -10, 10),
            (true, 0, 0, 255),
            (true, 255, 0, 255),
            (true, 7, 7, 200),
            (true, 128, 128, 128),
        ] {
            for (k, stride) in [(3, 1), (5, 2), (3, 2), (5, 1)] {
                let mut case = Case::new(5, 6, 37, k, stride, [1, 2, 0, 1]);
                case.unsigned_in = unsigned_in;
                case.zp_in = zp_in;
                case.unsigned_out = unsigned_out;
                case.zp_out = zp_out;
                case.min = min;
                case.max = max;
                case.check();
            }
        }
    }
}

#[test]
fn batches_and_channels() {
    for c in [1, 2, 7, 33] {
        let mut case = Case::new(c, 5, 9, 3, 1, [1, 1, 1, 1]);
        case.g.batch = 2;
        case.check();
    }
    let mut empty = Case::new(4, 3, 3, 3, 1, [0; 4]);
    empty.g.batch = 0;
    empty.check();
}

/// The reference tier against a real-valued convolution requantized in f64: within one step
/// (the f32 scale and the rounding of the bias differ from exact arithmetic by a few ulps).
#[test]
fn reference_matches_f64_convolution() {
    let reference = kernels_for(Tier::Reference).unwrap();
    for (k, stride) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
        let mut case = Case::new(6, 9, 23, k, stride, [1, 2, 2, 1]);
        case.unsigned_in = true;
        case.zp_in = 131;
        case.zp_out = 4;
        let got = case.run(reference, 1).unwrap();
        let g = &case.g;
        let (oh, ow) = g.output_hw(k).unwrap();
        let (x, taps, scales, bias) = (case.input(), case.taps(), case.scales(), case.bias());
        let s_in = 0.05f64;
        let mut exact_steps = 0;
        for c in 0..g.channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut y = f64::from(bias[c]);
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * stride + ky) as isize - g.pad_top as isize;
                            let ix = (ox * stride + kx) as isize - g.pad_left as isize;
                            // Padding holds the zero point: it contributes 0.
                            if iy >= 0
                                && ix >= 0
                                && (iy as usize) < g.height
                                && (ix as usize) < g.width
                            {
                                let xv = f64::from(
                                    x[(c * g.height + iy as usize) * g.width + ix as usize],
                                ) - 131.0;
                                y += xv
                                    * s_in
                                    * f64::from(taps[(c * k + ky) * k + kx])
                                    * f64::from(scales[c]);
                            }
                        }
                    }
                    let q = ((y / f64::from(Case::OUT_SCALE)).round() + 4.0).clamp(-128.0, 127.0);
                    let v = f64::from(got[(c * oh + oy) * ow + ox] as i8);
                    assert!(
                        (v - q).abs() <= 1.0,
                        "k {k} s {stride} ({c}, {oy}, {ox}): {v} vs {q}"
                    );
                    exact_steps += usize::from(v == q);
                }
            }
        }
        // Almost every output is exact (a step off only near a rounding tie).
        assert!(
            exact_steps * 100 >= 98 * g.channels * oh * ow,
            "{exact_steps}"
        );
    }
}

#[test]
fn packing_folds_the_gemm_column_data() {
    let mut case = Case::new(3, 4, 4, 5, 1, [0; 4]);
    case.unsigned_in = true;
    case.zp_in = 200;
    let bytes = case.pack();
    assert_eq!(bytes.len(), dw_packed_len(3, 5).unwrap());
    assert_eq!(bytes.len(), 64 + 3 * (8 + 25));
    let w = Qs8DwPacked::from_bytes(&bytes).unwrap();
    assert_eq!(
        (
            w.kernel_size(),
            w.channels(),
            w.input_dtype(),
            w.input_zero_point()
        ),
        (5, 3, DType::U8, 200)
    );
    let (taps, scales, bias) = (case.taps(), case.scales(), case.bias());
    for c in 0..3 {
        assert_eq!(w.taps(c), &taps[25 * c..25 * (c + 1)]);
        let in_scale = 0.05 * scales[c];
        assert_eq!(w.scale(c), in_scale / Case::OUT_SCALE);
        let sum: i32 = w.taps(c).iter().map(|&t| i32::from(t)).sum();
        let bq = (f64::from(bias[c]) / f64::from(in_scale)).round_ties_even() as i32;
        assert_eq!(w.bias(c), bq - (200 - 128) * sum);
    }
}

#[test]
fn bad_arguments_are_errors() {
    let k = kernels_for(Tier::Reference).unwrap();
    let case = Case::new(2, 5, 6, 3, 1, [1; 4]);
    let bytes = case.pack();
    let w = Qs8DwPacked::from_bytes(&bytes).unwrap();
    let x = vec![0i8; 60];
    let mut y = vec![0i8; 60];
    fn out(y: &mut [i8]) -> DwOutput<'_> {
        DwOutput::S8 {
            data: y,
            zero_point: 0,
            min: -128,
            max: 127,
        }
    }
    let g = case.g;
    let run = |g: DwGeometry, x: &[i8], y: &mut [i8], threads| {
        qs8_dwconv(k, &w, &g, DwInput::S8(x), out(y), threads)
    };
    assert!(run(g, &x, &mut y, 1).is_ok());
    assert!(run(g, &x, &mut y, 0).is_err());
    assert!(run(g, &x[1..], &mut y, 1).is_err());
    assert!(run(g, &x, &mut y[1..], 1).is_err());
    assert!(run(DwGeometry { channels: 3, ..g }, &x, &mut y, 1).is_err());
    assert!(run(DwGeometry { stride: 3, ..g }, &x, &mut y, 1).is_err());
    assert!(run(DwGeometry { stride: 0, ..g }, &x, &mut y, 1).is_err());
    let tiny = DwGeometry {
        width: 1,
        pad_left: 0,
        pad_right: 1,
        ..g
    };
    assert!(run(tiny, &x[..10], &mut y, 1).is_err());
    let huge = DwGeometry {
        batch: usize::MAX,
        ..g
    };
    assert!(run(huge, &x, &mut y, 1).is_err());
    // Input dtype other than packed.
    assert!(qs8_dwconv(k, &w, &g, DwInput::U8(&[0; 60]), out(&mut y), 1).is_err());
    // Output zero point or clamp out of range.
    let bad_out = DwOutput::S8 {
        data: &mut y,
        zero_point: 200,
        min: -128,
        max: 127,
    };
    assert!(qs8_dwconv(k, &w, &g, DwInput::S8(&x), bad_out, 1).is_err());
    let bad_out = DwOutput::U8 {
        data: &mut [0; 60],
        zero_point: 0,
        min: 9,
        max: 8,
    };
    assert!(qs8_dwconv(k, &w, &g, DwInput::S8(&x), bad_out, 1).is_err());

    // Packing: 2x2 kernels, a -128 tap, bad scales.
    let act = case.act();
    let taps = [1i8; 8];
    let bad = |taps: &[i8], scales: &[f32], out_scale: f32| {
        let w = Qs8Weights {
            n: 2,
            k: taps.len() / 2,
            data: taps,
            scales,
            bias: None,
        };
        pack_qs8_dw(&w, act, out_scale)
    };
    assert!(bad(&taps, &[1.0; 2], 1.0).is_err());
    assert!(bad(&[1i8; 18], &[1.0; 2], 1.0).is_ok());
    assert!(bad(&[-128i8; 18], &[1.0; 2], 1.0).is_err());
    assert!(bad(&[1i8; 18], &[0.0, 1.0], 1.0).is_err());
    assert!(bad(&[1i8; 18], &[1.0; 2], f32::NAN).is_err());

    // Reading: every truncation, a wrong magic, kernel size, dtype, zero point, tap, scale.
    for len in 0..bytes.len() {
        assert!(Qs8DwPacked::from_bytes(&bytes[..len]).is_err());
    }
    let corrupt = |at: usize, v: u8| {
        let mut b = bytes.clone();
        b[at] = v;
        Qs8DwPacked::from_bytes(&b).is_err()
    };
    assert!(corrupt(0, b'X'));
    assert!(corrupt(6, 4));
    assert!(corrupt(12, DType::F32.tag()));
    assert!(corrupt(16, 200)); // zero point 200 for i8
    assert!(corrupt(64 + 8 * 2 + 4, 0x80)); // a tap of -128
    assert!(corrupt(64 + 4 * 2 + 3, 0xff)); // scale NaN
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_problems_match_the_oracle(
        c in 1usize..6, h in 1usize..12, w in 1usize..80, k5 in any::<bool>(), s2 in any::<bool>(),
        pads in proptest::array::uniform4(0usize..4), unsigned_in in any::<bool>(),
        unsigned_out in any::<bool>(), zp_in in 0i32..256, zp_out in 0i32..256, seed in any::<u64>(),
    ) {
        let k = if k5 { 5 } else { 3 };
        let mut case = Case::new(c, h, w, k, if s2 { 2 } else { 1 }, pads);
        prop_assume!(case.g.output_hw(k).is_ok());
        let shift = |u: bool, z: i32| if u { z } else { z - 128 };
        case.unsigned_in = unsigned_in;
        case.zp_in = shift(unsigned_in, zp_in);
        case.unsigned_out = unsigned_out;
        case.zp_out = shift(unsigned_out, zp_out);
        (case.min, case.max) = if unsigned_out { (zp_out.min(100), 255) } else { (-128, 127) };
        case.seed = seed;
        case.check();
    }
}

#[test]
fn reports_tiers() {
    for kernels in tiers() {
        report(&format!(
            "qs8 dwconv tier {}: {} and {}",
            kernels.tier(),
            kernels.qs8_dwconv_name(),
            kernels.qs8_dwconv_channels_name()
        ));
    }
}

#[test]
fn layout_variant_matches_packed_len() {
    use crate::tensor::Layout;
    let layout = Layout::from_tag(3, [0, 0, 0]).unwrap();
    assert_eq!(layout, Layout::PackedQs8Dw);
    assert_eq!(
        (layout.tag(), layout.params(), layout.name()),
        (3, [0, 0, 0], "packed-qs8-dw")
    );
    for (c, k) in [(1u64, 3u64), (32, 3), (960, 3), (7, 5)] {
        assert_eq!(
            layout.byte_len(DType::I8, &[c, 1, k, k]),
            Some(64 + c * (8 + k * k))
        );
        assert_eq!(
            layout.byte_len(DType::I8, &[c, 1, k, k]),
            dw_packed_len(c as usize, k as usize).map(|l| l as u64)
        );
    }
    assert_eq!(layout.byte_len(DType::U8, &[4, 1, 3, 3]), None);
    assert_eq!(layout.byte_len(DType::I8, &[4, 2, 3, 3]), None);
    assert_eq!(layout.byte_len(DType::I8, &[4, 1, 3, 5]), None);
    assert_eq!(layout.byte_len(DType::I8, &[4, 1, 7, 7]), None);
    assert_eq!(layout.byte_len(DType::I8, &[4, 9]), None);
    assert_eq!(Layout::from_tag(2, [3, 0, 0]), None);
}

#[test]
fn short_copies_copy_exactly() {
    let src: Vec<u8> = (1..=80u8).collect();
    for n in 0..=80 {
        let mut dst = [0u8; 90];
        plane::copy_short(&mut dst[3..3 + n], &src[..n]);
        assert_eq!(&dst[3..3 + n], &src[..n], "{n}");
        assert!(dst[..3].iter().chain(&dst[3 + n..]).all(|&b| b == 0), "{n}");
    }
}
