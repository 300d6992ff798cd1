//! A weight-only packed tensor through the `.mq` container: written with its layout, loaded
//! zero-copy, re-validated by `WoPacked::from_bytes` and run; a wrong byte length is refused.

mod common;

use mobiquant_core::kernels::kernels;
use mobiquant_core::kernels::wo::{WoBits, WoEpilogue, WoPacked, WoWeights, pack_wo, wo_gemm};
use mobiquant_core::tensor::Layout;
use mobiquant_core::*;

#[test]
fn packed_weight_only_tensor_round_trips_and_runs() {
    let (n, k) = (20, 70);
    let codes: Vec<u8> = (0..n * k).map(|i| (i * 5 % 16) as u8).collect();
    let scales = vec![0.125f32; n * 3];
    let w = WoWeights {
        bits: WoBits::Int4,
        n,
        k,
        group: 32,
        codes: &codes,
        scales: &scales,
        zero_points: None,
    };
    let packed = pack_wo(&w).unwrap();
    let layout = Layout::PackedWoC4 { bits: 4, group: 32 };
    let dims = [n as u64, k as u64];
    // A valid model (it needs a graph) with the packed tensor added.
    let mut b = common::rich_model(0);
    assert!(
        b.add_tensor(
            "short",
            DType::U8,
            &dims,
            layout,
            Quantization::None,
            &packed[1..]
        )
        .is_err()
    );
    b.add_tensor("w", DType::U8, &dims, layout, Quantization::None, &packed)
        .unwrap();
    let model = Model::from_bytes(&b.finish().unwrap()).unwrap();
    let view = model.tensor_by_name("w").unwrap();
    assert_eq!(view.info.layout, layout);
    assert_eq!(view.bytes(), &packed[..]);
    let w = WoPacked::from_bytes(view.bytes()).unwrap();
    let a = vec![1.0f32; k];
    let mut c = vec![0.0f32; n];
    wo_gemm(
        kernels().unwrap(),
        1,
        &a,
        k,
        &w,
        &mut c,
        WoEpilogue::NONE,
        1,
    )
    .unwrap();
    for (j, &v) in c.iter().enumerate() {
        let want: f32 = (0..k)
            .map(|kk| 0.125 * (codes[j * k + kk] as f32 - 8.0))
            .sum();
        assert!((v - want).abs() <= 1e-4, "column {j}: {v} vs {want}");
    }
}
