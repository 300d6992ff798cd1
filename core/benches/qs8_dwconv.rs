//! Int8 depthwise convolution benchmark: GOPS (2 * OH * OW * C * K * K per second) of
//! `qs8_dwconv` per supported tier on the depthwise layers of MobileNetV2 (224x224 input; 3x3,
//! padding 1), u8 in and out (onnxruntime's QLinearConv convention), and the throughput of the
//! table-lookup activation.
//!
//! `cargo bench -p mobiquant-core --bench qs8_dwconv [-- --threads N] [--csv]`
//! CSV rows: `dwconv,<kernel>,<tier>,H,W,C,stride,K,GOPS` and `lut,<kernel>,<tier>,bytes,GB/s`.

use std::hint::black_box;
use std::time::Duration;

mod util;

use util::{bytes, time_per_call};

use mobiquant_core::DType;
use mobiquant_core::kernels::qs8::dwconv::{
    DwGeometry, DwInput, DwOutput, Qs8DwPacked, pack_qs8_dw, qs8_dwconv,
};
use mobiquant_core::kernels::qs8::lut::{LutFunction, build_lut, x8_lut};
use mobiquant_core::kernels::qs8::{ActQuant, Qs8Weights};

/// (H, W, C, stride) of MobileNetV2's depthwise layers (all 3x3, padding 1).
const SHAPES: [(usize, usize, usize, usize); 10] = [
    (112, 112, 32, 1),
    (112, 112, 96, 2),
    (56, 56, 144, 1),
    (56, 56, 144, 2),
    (28, 28, 192, 1),
    (28, 28, 192, 2),
    (14, 14, 384, 1),
    (14, 14, 576, 1),
    (14, 14, 576, 2),
    (7, 7, 960, 1),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (csv, threads) = util::options(&args);
    let budget = Duration::from_millis(300);
    let tiers = util::supported_kernels();
    if !csv {
        println!(
            "int8 depthwise 3x3, u8 -> u8, {threads} thread(s): GOPS (2 * OH * OW * C * 9 / s)"
        );
        let mut head = format!("{:>16}", "HxWxC/s");
        for k in &tiers {
            head += &format!(" {:>12}", k.tier().name());
        }
        println!("{head}");
    }
    let input = ActQuant {
        dtype: DType::U8,
        scale: 0.02,
        zero_point: 128,
    };
    for (h, w, c, stride) in SHAPES {
        let k = 3;
        let taps: Vec<i8> = bytes(c * k * k, 1)
            .iter()
            .map(|&b| (b as i8).max(-127))
            .collect();
        let (scales, bias) = (vec![0.01f32; c], vec![0.5f32; c]);
        let weights = Qs8Weights {
            n: c,
            k: k * k,
            data: &taps,
            scales: &scales,
            bias: Some(&bias),
        };
        let packed = pack_qs8_dw(&weights, input, 0.05).expect("pack");
        let packed = Qs8DwPacked::from_bytes(&packed).expect("packed");
        let g = DwGeometry {
            batch: 1,
            channels: c,
            height: h,
            width: w,
            stride,
            pad_top: 1,
            pad_left: 1,
            pad_bottom: 1,
            pad_right: 1,
        };
        let (oh, ow) = g.output_hw(k).expect("shape");
        let x = bytes(c * h * w, 2);
        let mut y = vec![0u8; c * oh * ow];
        let ops = 2.0 * (oh * ow * c * k * k) as f64;
        let mut line = format!("{:>16}", format!("{h}x{w}x{c}/{stride}"));
        for kernels in &tiers {
            let t = time_per_call(
                || {
                    let out = DwOutput::U8 {
                        data: &mut y,
                        zero_point: 0,
                        min: 0,
                        max: 255,
                    };
                    qs8_dwconv(
                        kernels,
                        &packed,
                        &g,
                        DwInput::U8(black_box(&x)),
                        out,
                        threads,
                    )
                    .expect("dwconv");
                },
                budget,
            );
            let gops = ops / t / 1e9;
            if csv {
                println!(
                    "dwconv,{},{},{h},{w},{c},{stride},{k},{gops:.3}",
                    kernels.qs8_dwconv_name(),
                    kernels.tier().name()
                );
            } else {
                line += &format!(" {gops:12.2}");
            }
        }
        if !csv {
            println!("{line}");
        }
    }
    // Table lookup over 1 MiB (a 112x112x96 activation is 1.2 MB).
    let table = build_lut(LutFunction::Sigmoid, input, input).expect("table");
    let src = bytes(1 << 20, 3);
    let mut dst = vec![0u8; src.len()];
    let mut line = format!("{:>16}", "lut GB/s");
    for kernels in &tiers {
        let t = time_per_call(
            || x8_lut(kernels, &table, black_box(&src), &mut dst).expect("lut"),
            budget,
        );
        let gbs = src.len() as f64 / t / 1e9;
        if csv {
            println!(
                "lut,{},{},{},{gbs:.3}",
                kernels.x8_lut_name(),
                kernels.tier().name(),
                src.len()
            );
        } else {
            line += &format!(" {gbs:12.2}");
        }
    }
    if !csv {
        println!("{line}");
    }
}
