//! f32 depthwise convolution benchmark: GMAC/s (OH * OW * C * K * K per microsecond / 1000) of
//! `DwConv::plane` over all channels (the row kernels, column `<tier>`) and of `DwChannels::block`
//! over all blocks of 16 channels (column `<tier>-16c`), per supported tier, on the depthwise
//! layers of MobileNetV2 (224x224 input; 3x3, padding 1) and a 5x5 layer (padding 2).
//!
//! `cargo bench -p mobiquant-core --bench f32_dwconv [-- --csv]` (one thread: planes one after
//! the other, as one task of the Conv op runs them).
//! CSV rows: `dwconv,<tier>[-16c],H,W,C,stride,K,GMAC/s`; in the table, a `*` marks the path the
//! Conv op takes on that shape (`DwChannels::wins`).

use std::hint::black_box;
use std::time::Duration;

mod util;

use util::time_per_call;

use mobiquant_core::kernels::Kernels;

use mobiquant_core::kernels::f32::dwconv::channels::BLOCK;
use mobiquant_core::kernels::f32::dwconv::{DwAxis, DwChannels, DwConv};

/// (H, W, C, stride, K) of MobileNetV2's depthwise layers (3x3, padding 1) and a 5x5 one
/// (padding 2, as in MobileNetV3 / PP-LCNet).
const SHAPES: [(usize, usize, usize, usize, usize); 12] = [
    (112, 112, 32, 1, 3),
    (112, 112, 96, 2, 3),
    (56, 56, 144, 1, 3),
    (56, 56, 144, 2, 3),
    (28, 28, 192, 1, 3),
    (28, 28, 192, 2, 3),
    (14, 14, 384, 1, 3),
    (14, 14, 576, 1, 3),
    (14, 14, 576, 2, 3),
    (7, 7, 960, 1, 3),
    (14, 14, 480, 1, 5),
    (14, 14, 240, 2, 5),
];

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    util::bytes(n, seed)
        .iter()
        .map(|&b| f32::from(b) / 128.0 - 1.0)
        .collect()
}

/// Seconds per pass over all `c` channels of `x` into `y`, the rows path (`DwConv::plane`) or the
/// channel blocks (`DwChannels::block`, weights packed beforehand as the op does at build time).
#[allow(clippy::too_many_arguments)]
fn time_path(
    kernels: &Kernels,
    blocks: bool,
    (conv, g): (&DwConv, &DwChannels),
    x: &[f32],
    weights: &[f32],
    bias: &[f32],
    y: &mut [f32],
    budget: Duration,
) -> f64 {
    let (plane_in, plane_out, taps) = (conv.input_len(), conv.output_len(), conv.taps());
    let clamp = (0.0, 6.0);
    if blocks {
        let len = g.packed_block_len();
        let mut packed = vec![0.0f32; bias.len().div_ceil(BLOCK) * len];
        for (i, p) in packed.chunks_exact_mut(len).enumerate() {
            assert!(g.pack_block(weights, Some(bias), i * BLOCK, p));
        }
        let mut scratch = vec![0.0f32; g.scratch_len()];
        return time_per_call(
            || {
                let xb = black_box(x).chunks(BLOCK * plane_in);
                let yb = y.chunks_mut(BLOCK * plane_out);
                for ((xb, yb), p) in xb.zip(yb).zip(packed.chunks_exact(len)) {
                    assert!(g.block(kernels, xb, p, clamp, yb, &mut scratch));
                }
            },
            budget,
        );
    }
    let mut scratch = vec![0.0f32; conv.scratch_len()];
    time_per_call(
        || {
            let planes = black_box(x).chunks_exact(plane_in);
            let outs = y.chunks_exact_mut(plane_out);
            for (ch, (xp, yp)) in planes.zip(outs).enumerate() {
                let wp = &weights[ch * taps..][..taps];
                let ok = conv.plane(kernels, xp, wp, bias[ch], clamp, yp, &mut scratch);
                assert!(ok);
            }
        },
        budget,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (csv, _threads) = util::options(&args);
    let budget = Duration::from_millis(300);
    let tiers = util::supported_kernels();
    if !csv {
        println!("f32 depthwise, 1 thread: GMAC/s (OH * OW * C * K * K / s / 1e9)");
        let mut head = format!("{:>18}", "HxWxC/s kK");
        for k in &tiers {
            head += &format!(
                " {:>12} {:>12}",
                k.tier().name(),
                format!("{}-16c", k.tier().name())
            );
        }
        println!("{head}");
    }
    for (h, w, c, stride, k) in SHAPES {
        let pad = k / 2;
        let out = |n: usize| (n + 2 * pad - k) / stride + 1;
        let axis = |input: usize| DwAxis {
            input,
            kernel: k,
            stride,
            dilation: 1,
            pad_begin: pad,
            output: out(input),
        };
        let conv = DwConv::new(axis(h), axis(w)).expect("window");
        let g = DwChannels::new(axis(h), axis(w)).expect("window");
        let (plane_in, plane_out) = (conv.input_len(), conv.output_len());
        let x = values(c * plane_in, 1);
        let weights = values(c * k * k, 2);
        let bias = values(c, 3);
        let mut y = vec![0.0f32; c * plane_out];
        let macs = (c * plane_out * k * k) as f64;
        let mut line = format!("{:>18}", format!("{h}x{w}x{c}/{stride} k{k}"));
        for kernels in &tiers {
            for blocks in [false, true] {
                let t = time_path(
                    kernels,
                    blocks,
                    (&conv, &g),
                    &x,
                    &weights,
                    &bias,
                    &mut y,
                    budget,
                );
                let gmacs = macs / t / 1e9;
                let tier = kernels.tier().name();
                let suffix = if blocks { "-16c" } else { "" };
                if csv {
                    println!("dwconv,{tier}{suffix},{h},{w},{c},{stride},{k},{gmacs:.3}");
                } else {
                    let mark = if blocks == g.wins() { "*" } else { " " };
                    line += &format!(" {gmacs:11.2}{mark}");
                }
            }
        }
        if !csv {
            println!("{line}");
        }
    }
}
