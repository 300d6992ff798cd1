//! Resize, ConvTranspose and BatchNormalization: hand-checked cases, a naive (gather-form)
//! ConvTranspose reference, and typed errors for what is not supported.

mod runtime_util;

use mobiquant_core::*;
use proptest::prelude::*;
use runtime_util::*;

fn resize(
    shape: &[usize],
    x: &[f32],
    scales: Option<&[f32]>,
    sizes: Option<&[i64]>,
    attrs: Vec<Attribute>,
) -> Result<Tensor> {
    let mut gb = GraphBuilder::new();
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let xi = gb.input_f32("x", &dims);
    let s = scales.map(|s| gb.const_f32(&[s.len() as u64], s));
    let z = sizes.map(|z| gb.const_i64(z));
    let y = gb.node_typed("Resize", &[Some(xi), None, s, z], attrs, DType::F32);
    gb.output(y);
    run1(&gb.finish(), &[("x", shape, x)])
}

#[test]
fn resize_nearest_by_hand() {
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let attrs = vec![
        string("coordinate_transformation_mode", "asymmetric"),
        string("nearest_mode", "floor"),
    ];
    let out = resize(&[1, 1, 2, 2], &x, Some(&[1.0, 1.0, 2.0, 2.0]), None, attrs).unwrap();
    assert_eq!(out.shape(), &[1, 1, 4, 4]);
    #[rustfmt::skip]
    let want = [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0];
    assert_eq!(out.as_f32().unwrap(), &want);
    // Downsampling by sizes, default half_pixel + round_prefer_floor: 4 → 2 reads 0.5 → 0, 2.5 → 2.
    let out = resize(&[4], &[1.0, 2.0, 3.0, 4.0], None, Some(&[2]), vec![]).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[1.0, 3.0]);
}

#[test]
fn resize_linear_by_hand() {
    let x = [0.0f32, 4.0];
    let lin = |mode: &str| {
        vec![
            string("mode", "linear"),
            string("coordinate_transformation_mode", mode),
        ]
    };
    // half_pixel, 2 → 4: coordinates -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
    let out = resize(&[2], &x, Some(&[2.0]), None, lin("half_pixel")).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[0.0, 1.0, 3.0, 4.0]);
    // align_corners, 2 → 3: 0, 0.5, 1.
    let out = resize(&[2], &x, None, Some(&[3]), lin("align_corners")).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[0.0, 2.0, 4.0]);
    // asymmetric, 2 → 4: 0, 0.5, 1, 1.5 (clamped 1).
    let out = resize(&[2], &x, Some(&[2.0]), None, lin("asymmetric")).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[0.0, 2.0, 4.0, 4.0]);
    // Bilinear on a 2×2 → 3×3 with align_corners: the centre is the mean of the four corners.
    let out = resize(
        &[2, 2],
        &[0.0, 2.0, 4.0, 6.0],
        None,
        Some(&[3, 3]),
        lin("align_corners"),
    )
    .unwrap();
    assert_eq!(
        out.as_f32().unwrap(),
        &[0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0]
    );
}

#[test]
fn resize_rejects_what_it_does_not_support() {
    let x = [1.0f32, 2.0];
    let err = resize(&[2], &x, Some(&[2.0]), None, vec![string("mode", "cubic")]).unwrap_err();
    assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
    let err = resize(
        &[2],
        &x,
        Some(&[2.0]),
        None,
        vec![string(
            "coordinate_transformation_mode",
            "tf_crop_and_resize",
        )],
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
    assert!(resize(&[2], &x, Some(&[-1.0]), None, vec![]).is_err());
    assert!(resize(&[2], &x, Some(&[0.1]), None, vec![]).is_err());
    assert!(resize(&[2], &x, None, Some(&[1, 2]), vec![]).is_err());
}

/// ConvTranspose of x [1, cin, h, w] with W [cin, cout, kh, kw].
#[allow(clippy::too_many_arguments)]
fn conv_t(
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: [usize; 2],
    x: &[f32],
    wt: &[f32],
    bias: Option<&[f32]>,
    attrs: Vec<Attribute>,
) -> Result<Tensor> {
    let mut gb = GraphBuilder::new();
    let xi = gb.input_f32("x", &[1, cin as u64, h as u64, w as u64]);
    let wi = gb.const_f32(&[cin as u64, cout as u64, k[0] as u64, k[1] as u64], wt);
    let b = bias.map(|b| gb.const_f32(&[cout as u64], b));
    let y = gb.node_typed("ConvTranspose", &[Some(xi), Some(wi), b], attrs, DType::F32);
    gb.output(y);
    run1(&gb.finish(), &[("x", &[1, cin, h, w], x)])
}

#[test]
fn conv_transpose_by_hand() {
    // Stride 2, 2×2 kernel: each input pixel stamps the kernel scaled by itself.
    let out = conv_t(
        1,
        1,
        1,
        2,
        [2, 2],
        &[1.0, 2.0],
        &[1.0, 2.0, 3.0, 4.0],
        Some(&[0.5]),
        vec![ints("strides", &[2, 2])],
    )
    .unwrap();
    assert_eq!(out.shape(), &[1, 1, 2, 4]);
    assert_eq!(
        out.as_f32().unwrap(),
        &[1.5, 2.5, 2.5, 4.5, 3.5, 4.5, 6.5, 8.5]
    );
    // Stride 1, 1-D-like 1×3 kernel overlapping: [1, 1] * [1, 1, 1] = [1, 2, 2, 1]; pads crop.
    let out = conv_t(
        1,
        1,
        1,
        2,
        [1, 3],
        &[1.0, 1.0],
        &[1.0, 1.0, 1.0],
        None,
        vec![],
    )
    .unwrap();
    assert_eq!(out.as_f32().unwrap(), &[1.0, 2.0, 2.0, 1.0]);
    let out = conv_t(
        1,
        1,
        1,
        2,
        [1, 3],
        &[1.0, 1.0],
        &[1.0, 1.0, 1.0],
        None,
        vec![ints("pads", &[0, 1, 0, 1])],
    )
    .unwrap();
    assert_eq!(out.as_f32().unwrap(), &[2.0, 2.0]);
    // output_shape beyond the natural size (stride 2, 2 inputs, 2 taps: [1, 3, 2, 6]) pads with
    // zeros, as ONNX's reference: a total padding of -1 puts the extra position at the end, -2
    // one at each end (halves rounded down); the bias covers the added positions too.
    let extended = |size: i64, auto_pad: Option<&str>| {
        let mut attrs = vec![ints("strides", &[1, 2]), ints("output_shape", &[1, size])];
        attrs.extend(auto_pad.map(|p| string("auto_pad", p)));
        let out = conv_t(
            1,
            1,
            1,
            2,
            [1, 2],
            &[1.0, 2.0],
            &[1.0, 3.0],
            Some(&[0.5]),
            attrs,
        )
        .unwrap();
        out.as_f32().unwrap().to_vec()
    };
    assert_eq!(extended(5, None), [1.5, 3.5, 2.5, 6.5, 0.5]);
    assert_eq!(extended(6, None), [0.5, 1.5, 3.5, 2.5, 6.5, 0.5]);
    assert_eq!(extended(5, Some("SAME_UPPER")), [0.5, 1.5, 3.5, 2.5, 6.5]);
    // A zero output size is invalid.
    assert!(
        conv_t(
            1,
            1,
            1,
            2,
            [1, 2],
            &[1.0, 1.0],
            &[1.0, 1.0],
            None,
            vec![ints("strides", &[1, 2]), ints("output_shape", &[1, 0])]
        )
        .is_err()
    );
}

/// Naive ConvTranspose in gather form: each output sums the inputs and taps that land on it.
#[allow(clippy::too_many_arguments)]
fn naive_conv_t(
    cin: usize,
    cout: usize,
    g: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    d: usize,
    p: usize,
    x: &[f32],
    wt: &[f32],
) -> (Vec<usize>, Vec<f32>) {
    let span = (k - 1) * d + 1;
    let (oh, ow) = ((h - 1) * s + span - 2 * p, (w - 1) * s + span - 2 * p);
    let (cig, cog) = (cin / g, cout / g);
    let coutt = cog * g;
    let mut y = vec![0.0f32; coutt * oh * ow];
    for oc in 0..coutt {
        let grp = oc / cog;
        for yo in 0..oh {
            for xo in 0..ow {
                let mut acc = 0.0;
                for icg in 0..cig {
                    let ic = grp * cig + icg;
                    for (ky, kx) in (0..k).flat_map(|a| (0..k).map(move |b| (a, b))) {
                        for (iy, ix) in (0..h).flat_map(|a| (0..w).map(move |b| (a, b))) {
                            if iy * s + ky * d == yo + p && ix * s + kx * d == xo + p {
                                acc += x[(ic * h + iy) * w + ix]
                                    * wt[((ic * cog + oc % cog) * k + ky) * k + kx];
                            }
                        }
                    }
                }
                y[(oc * oh + yo) * ow + xo] = acc;
            }
        }
    }
    (vec![1, coutt, oh, ow], y)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn conv_transpose_matches_naive(g in 1usize..3, cig in 1usize..3, cog in 1usize..3, h in 1usize..4, w in 1usize..4,
                                    k in 1usize..4, s in 1usize..3, d in 1usize..3, p in 0usize..2, seed in 0u64..100) {
        let span = (k - 1) * d + 1;
        prop_assume!((h - 1) * s + span > 2 * p && (w - 1) * s + span > 2 * p);
        let (cin, cout) = (cig * g, cog);
        let x = rand_vec(cin * h * w, seed);
        let wt = rand_vec(cin * cout * k * k, seed + 1);
        let p64 = p as i64;
        let attrs = vec![int("group", g as i64), ints("strides", &[s as i64; 2]), ints("dilations", &[d as i64; 2]), ints("pads", &[p64; 4])];
        let out = conv_t(cin, cout, h, w, [k, k], &x, &wt, None, attrs).unwrap();
        let (shape, want) = naive_conv_t(cin, cout * g, g, h, w, k, s, d, p, &x, &wt);
        prop_assert_eq!(out.shape(), &shape[..]);
        assert_close(out.as_f32().unwrap(), &want, 1e-5);
    }
}

#[test]
fn batch_norm_by_hand() {
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 2, 2]);
    let scale = gb.const_f32(&[2], &[1.0, 2.0]);
    let bias = gb.const_f32(&[2], &[0.0, 1.0]);
    let mean = gb.const_f32(&[2], &[1.0, -1.0]);
    let var = gb.const_f32(&[2], &[4.0, 0.25]);
    let y = gb.node(
        "BatchNormalization",
        &[x, scale, bias, mean, var],
        vec![float("epsilon", 0.0)],
    );
    gb.output(y);
    let out = run1(&gb.finish(), &[("x", &[1, 2, 2], &[3.0, 5.0, 0.0, 1.0])]).unwrap();
    assert_eq!(out.as_f32().unwrap(), &[1.0, 2.0, 5.0, 9.0]);
}
