//! End to end: an inverted-residual block with a classifier, built with `ModelBuilder`, loaded,
//! planned and run, checked against the naive references, with one and two threads and two
//! batch sizes (two plans); its arena reuses memory.

mod runtime_util;

use mobiquant_core::*;
use runtime_util::*;

#[test]
fn block_matches_the_naive_reference() {
    let (h, w) = (14usize, 14usize);
    let (model, wts) = mobilenet_block(h as u64, w as u64, 42);
    for threads in [1, 2] {
        let mut s = Session::new(
            model.clone(),
            SessionOptions {
                threads,
                ..Default::default()
            },
        )
        .unwrap();
        for n in [1usize, 3, 1] {
            let x = rand_vec(n * BLOCK_C * h * w, 7 + n as u64);
            let out = s
                .run(&[("x", TensorRef::from_f32(&[n, BLOCK_C, h, w], &x).unwrap())])
                .unwrap();
            assert_eq!(out[0].shape(), [n, BLOCK_K]);
            assert_close(
                out[0].as_f32().unwrap(),
                &mobilenet_block_reference(&wts, &x, n, h, w),
                1e-4,
            );
            let plan = s.last_plan().unwrap();
            assert!(
                plan.arena_bytes() < plan.unshared_bytes(),
                "{} vs {}",
                plan.arena_bytes(),
                plan.unshared_bytes()
            );
        }
    }
}
