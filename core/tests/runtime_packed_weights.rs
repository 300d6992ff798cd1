//! Weights stored packed in the model: Conv's (`Layout::PackedF32A`, extra inputs 3..) and
//! Gemm's B (`Layout::PackedF32B`, input 3). Outputs are bit for bit those of packing at plan
//! time; the packing of the running tier is the one read (in place), packings of other tile
//! heights are skipped, and a packing whose dims disagree with the weights is a typed error at
//! plan time.

mod runtime_util;

use mobiquant_core::kernels::f32::{NR, pack_a, pack_b, packed_a_layout, packed_b_layout, tier_mr};
use mobiquant_core::kernels::kernels;
use mobiquant_core::tensor::Layout;
use mobiquant_core::*;
use runtime_util::*;

/// (channels, output channels, group, kernel, stride, pad), with output channels per group
/// below, at and above the tile heights (4, 6, 12), on both GEMM paths (1x1 and im2col).
const GEOMETRIES: &[(usize, usize, usize, usize, usize, usize)] = &[
    (8, 16, 1, 1, 1, 0),
    (6, 7, 1, 1, 1, 0),
    (4, 26, 2, 3, 1, 1),
    (3, 13, 1, 3, 2, 1),
    (10, 5, 5, 3, 1, 0),
];

/// The Conv weights `[oc, c/group, k, k]` packed per group for tiles of `mr` rows.
fn packing(w: &[f32], oc: usize, group: usize, depth: usize, mr: usize) -> (Vec<u64>, Vec<f32>) {
    let m = oc / group;
    let mut data = Vec::new();
    for g in 0..group {
        data.extend(pack_a(&w[g * m * depth..(g + 1) * m * depth], m, depth, mr).unwrap());
    }
    let dims = vec![group as u64, m.div_ceil(mr) as u64, depth as u64, mr as u64];
    (dims, data)
}

/// A constant value holding `data` stored in `layout` with `dims`.
fn packed_constant(
    gb: &mut GraphBuilder,
    name: &str,
    dims: &[u64],
    layout: Layout,
    data: &[f32],
) -> u32 {
    let t =
        gb.b.add_tensor(
            name,
            DType::F32,
            dims,
            layout,
            Quantization::None,
            &f32_bytes(data),
        )
        .unwrap();
    gb.b.add_value(ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape: Some(Shape::fixed(dims)),
        initializer: Some(t),
    })
}

/// A model with one Conv (bias, Relu-free) and the given stored packings as inputs 3..
fn conv_model(
    geom: (usize, usize, usize, usize, usize, usize),
    w: &[f32],
    b: &[f32],
    packings: &[(Vec<u64>, Vec<f32>, Layout)],
) -> std::result::Result<Tensor, Error> {
    let (c, oc, group, k, stride, pad) = geom;
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, c as u64, 9, 10]);
    let wv = gb.const_f32(&[oc as u64, (c / group) as u64, k as u64, k as u64], w);
    let bv = gb.const_f32(&[oc as u64], b);
    let mut inputs = vec![Some(x), Some(wv), Some(bv)];
    for (i, (dims, data, layout)) in packings.iter().enumerate() {
        inputs.push(Some(packed_constant(
            &mut gb,
            &format!("packed{i}"),
            dims,
            *layout,
            data,
        )));
    }
    let attrs = vec![
        int("group", group as i64),
        ints("strides", &[stride as i64; 2]),
        ints("pads", &[pad as i64; 4]),
    ];
    let y = gb.node_typed("Conv", &inputs, attrs, DType::F32);
    gb.output(y);
    let model = gb.finish();
    let xs = rand_vec(c * 90, 7);
    run1(&model, &[("x", &[1, c, 9, 10], &xs)])
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.view()
        .as_f32()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn stored_packing_is_bit_exact_and_read_in_place() {
    let mr = tier_mr(kernels().unwrap().tier());
    let layout = packed_a_layout(mr).unwrap();
    let other = if mr == 4 { 6 } else { 4 };
    for (i, &geom) in GEOMETRIES.iter().enumerate() {
        let (c, oc, group, k, ..) = geom;
        let depth = c / group * k * k;
        let w = rand_vec(oc * depth, 100 + i as u64);
        let b = rand_vec(oc, 200 + i as u64);
        let plain = conv_model(geom, &w, &b, &[]).unwrap();
        let (dims, data) = packing(&w, oc, group, depth, mr);
        let (odims, odata) = packing(&w, oc, group, depth, other);
        let olayout = packed_a_layout(other).unwrap();
        // This tier's packing, alone or after another tile height's: bit-exact.
        let stored = conv_model(geom, &w, &b, &[(dims.clone(), data.clone(), layout)]).unwrap();
        assert_eq!(bits(&stored), bits(&plain), "{geom:?}");
        let both = [
            (odims.clone(), odata.clone(), olayout),
            (dims.clone(), data.clone(), layout),
        ];
        let stored = conv_model(geom, &w, &b, &both).unwrap();
        assert_eq!(bits(&stored), bits(&plain), "{geom:?} after MR {other}");
        // Only another tile height's packing: packed at plan time, same result.
        let skipped = conv_model(geom, &w, &b, &[(odims, odata, olayout)]).unwrap();
        assert_eq!(bits(&skipped), bits(&plain), "{geom:?} MR {other} only");
        // The stored bytes are what runs: zeroed packed weights leave only the bias.
        let zeros = vec![0.0; data.len()];
        let out = conv_model(geom, &w, &b, &[(dims.clone(), zeros, layout)]).unwrap();
        let plane = out.view().as_f32().unwrap().len() / oc;
        for (j, v) in out.view().as_f32().unwrap().iter().enumerate() {
            assert_eq!(*v, b[j / plane], "{geom:?} element {j}");
        }
    }
}

#[test]
fn stored_packing_with_wrong_dims_is_an_error() {
    let geom = (8, 16, 1, 1, 1, 0);
    let mr = tier_mr(kernels().unwrap().tier());
    let layout = packed_a_layout(mr).unwrap();
    let w = rand_vec(16 * 8, 1);
    let b = rand_vec(16, 2);
    // One tile too many (a hostile file: the tensor itself is valid).
    let tiles = 16usize.div_ceil(mr) as u64 + 1;
    let dims = vec![1, tiles, 8, mr as u64];
    let data = vec![0.0; (tiles as usize) * 8 * mr];
    let err = conv_model(geom, &w, &b, &[(dims, data, layout)]).unwrap_err();
    assert!(err.to_string().contains("stored packed weights"), "{err}");
}

#[test]
fn packed_f32a_layout_is_validated() {
    let layout = packed_a_layout(6).unwrap();
    assert_eq!(layout.params()[0], 6);
    assert_eq!(Layout::from_tag(4, layout.params()), Some(layout));
    for bad in [
        [0, 256, 16],
        [33, 256, 16],
        [6, 0, 16],
        [6, 4097, 16],
        [6, 256, 0],
    ] {
        assert_eq!(Layout::from_tag(4, bad), None, "{bad:?}");
    }
    // The last dim must be the params' MR, the dtype f32.
    assert_eq!(layout.byte_len(DType::F32, &[1, 2, 3, 6]), Some(144));
    assert_eq!(layout.byte_len(DType::F32, &[1, 2, 3, 4]), None);
    assert_eq!(layout.byte_len(DType::I8, &[1, 2, 3, 6]), None);
    assert_eq!(layout.byte_len(DType::F32, &[2, 3, 6]), None);
    assert_eq!(
        layout.byte_len(DType::F32, &[u64::MAX, u64::MAX, 1, 6]),
        None
    );
    // The writer refuses what the reader would.
    let mut b = ModelBuilder::new(ModelInfo::new("t", QuantMode::Float));
    let bytes = vec![0u8; 140];
    assert!(
        b.add_tensor(
            "p",
            DType::F32,
            &[1, 2, 3, 6],
            layout,
            Quantization::None,
            &bytes
        )
        .is_err()
    );
}

/// Gemm(A [3, k], B, C [n]) with `transB`, and B stored packed as input 3 when given.
fn gemm_model(
    (k, n, trans_b): (usize, usize, bool),
    b: &[f32],
    packed: Option<(&[u64], &[f32])>,
) -> std::result::Result<Tensor, Error> {
    let mut gb = GraphBuilder::new();
    let a = gb.input_f32("a", &[3, k as u64]);
    let bdims = if trans_b {
        [n as u64, k as u64]
    } else {
        [k as u64, n as u64]
    };
    let bv = gb.const_f32(&bdims, b);
    let cv = gb.const_f32(&[n as u64], &rand_vec(n, 5));
    let mut inputs = vec![Some(a), Some(bv), Some(cv)];
    let b_layout = packed_b_layout();
    inputs.extend(packed.map(|(d, x)| Some(packed_constant(&mut gb, "pb", d, b_layout, x))));
    let y = gb.node_typed(
        "Gemm",
        &inputs,
        vec![int("transB", trans_b as i64)],
        DType::F32,
    );
    gb.output(y);
    let model = gb.finish();
    run1(&model, &[("a", &[3, k], &rand_vec(3 * k, 9))])
}

#[test]
fn stored_gemm_b_is_bit_exact_and_read_in_place() {
    for (i, &(k, n, trans_b)) in [
        (7, 5, false),
        (16, 16, true),
        (300, 37, true),
        (1, 33, false),
    ]
    .iter()
    .enumerate()
    {
        let b = rand_vec(k * n, 50 + i as u64);
        let (rs, cs) = if trans_b { (1, k) } else { (n, 1) };
        let packed = pack_b(&b, rs, cs, k, n).unwrap();
        let dims = [n.div_ceil(NR) as u64, k as u64, NR as u64];
        let plain = gemm_model((k, n, trans_b), &b, None).unwrap();
        let stored = gemm_model((k, n, trans_b), &b, Some((&dims, &packed))).unwrap();
        assert_eq!(bits(&stored), bits(&plain), "{k}x{n} transB {trans_b}");
        // Zeroed stored panels: only C is left, so the stored bytes are what runs.
        let zeros = vec![0.0; packed.len()];
        let out = gemm_model((k, n, trans_b), &b, Some((&dims, &zeros))).unwrap();
        let c = rand_vec(n, 5);
        for (j, v) in out.view().as_f32().unwrap().iter().enumerate() {
            assert_eq!(*v, c[j % n], "{k}x{n} element {j}");
        }
        // One panel too many: a typed error.
        let bad = [dims[0] + 1, dims[1], dims[2]];
        let long = vec![0.0; packed.len() + NR * k];
        let err = gemm_model((k, n, trans_b), &b, Some((&bad, &long))).unwrap_err();
        assert!(err.to_string().contains("stored packed B"), "{err}");
    }
    assert_eq!(
        Layout::from_tag(5, packed_b_layout().params()),
        Some(packed_b_layout())
    );
    for bad in [[0, 0, 0], [65, 0, 0], [16, 1, 0], [16, 0, 1]] {
        assert_eq!(Layout::from_tag(5, bad), None, "{bad:?}");
    }
    assert_eq!(
        packed_b_layout().byte_len(DType::F32, &[2, 3, 16]),
        Some(384)
    );
    assert_eq!(packed_b_layout().byte_len(DType::F32, &[2, 3, 8]), None);
    assert_eq!(packed_b_layout().byte_len(DType::I8, &[2, 3, 16]), None);
}

/// MatMul(A [2, 3, k], B [k, n]) with B stored packed as input 2 when given.
fn matmul_model(
    (k, n): (usize, usize),
    b: &[f32],
    packed: Option<(&[u64], &[f32])>,
) -> std::result::Result<Tensor, Error> {
    let mut gb = GraphBuilder::new();
    let a = gb.input_f32("a", &[2, 3, k as u64]);
    let bv = gb.const_f32(&[k as u64, n as u64], b);
    let mut inputs = vec![Some(a), Some(bv)];
    let b_layout = packed_b_layout();
    inputs.extend(packed.map(|(d, x)| Some(packed_constant(&mut gb, "pb", d, b_layout, x))));
    let y = gb.node_typed("MatMul", &inputs, vec![], DType::F32);
    gb.output(y);
    let model = gb.finish();
    run1(&model, &[("a", &[2, 3, k], &rand_vec(6 * k, 3))])
}

#[test]
fn stored_matmul_b_is_bit_exact_and_read_in_place() {
    for (k, n) in [(5, 7), (40, 33)] {
        let b = rand_vec(k * n, 70);
        let packed = pack_b(&b, n, 1, k, n).unwrap();
        let dims = [n.div_ceil(NR) as u64, k as u64, NR as u64];
        let plain = matmul_model((k, n), &b, None).unwrap();
        let stored = matmul_model((k, n), &b, Some((&dims, &packed))).unwrap();
        assert_eq!(bits(&stored), bits(&plain), "{k}x{n}");
        let zeros = vec![0.0; packed.len()];
        let out = matmul_model((k, n), &b, Some((&dims, &zeros))).unwrap();
        assert!(out.view().as_f32().unwrap().iter().all(|&v| v == 0.0));
        let bad = [dims[0], dims[1] + 1, dims[2]];
        let long = vec![0.0; packed.len() + NR * dims[0] as usize];
        let err = matmul_model((k, n), &b, Some((&bad, &long))).unwrap_err();
        assert!(err.to_string().contains("stored packed B"), "{err}");
    }
}
