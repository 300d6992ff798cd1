//! Steady state allocates nothing: after a first run with given shapes, `run_in_place` and
//! reading outputs make no heap allocation, and `run` allocates only the tensors it returns.
//! A counting global allocator proves it. It counts every thread (so a session's pool workers
//! are counted too); the binary runs without the test harness (`harness = false`), so no other
//! thread allocates meanwhile.

mod runtime_util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use mobiquant_core::*;
use runtime_util::*;

struct Counting;

/// Allocations by every thread of the process (pool workers included).
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// The size of the latest allocation, named when an assertion fails.
static LAST_SIZE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counter is
// a static atomic, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LAST_SIZE.store(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LAST_SIZE.store(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LAST_SIZE.store(new_size, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

fn main() {
    steady_state_runs_do_not_allocate();
    println!("runtime_alloc: steady state allocates nothing (1 thread and a pool of 2)");
}

fn steady_state_runs_do_not_allocate() {
    let counted = allocations_during(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(counted, 1, "the counting allocator must see allocations");
    // The block covers im2col-free 1x1 convs, depthwise, Clip, Add, pooling, Flatten and Gemm;
    // a 3x3 dense conv, MatMul, Softmax, Transpose, Concat and Gather are added around it.
    let (model, _) = mobilenet_block(8, 8, 1);
    let mut s = Session::new(model, SessionOptions::default()).unwrap();
    let x = rand_vec(2 * BLOCK_C * 64, 2);
    let input = TensorRef::from_f32(&[2, BLOCK_C, 8, 8], &x).unwrap();
    s.run_in_place(&[("x", input)]).unwrap();
    let n = allocations_during(|| {
        for _ in 0..3 {
            s.run_in_place(&[("x", input)]).unwrap();
            assert_eq!(s.output(0).unwrap().shape(), [2, BLOCK_K]);
        }
    });
    assert_eq!(n, 0, "run_in_place allocated {n} times");
    let n = allocations_during(|| {
        s.run(&[("x", input)]).unwrap();
    });
    assert!(
        n <= 3,
        "run allocated {n} times for one output (vector, shape, data)"
    );
    // Large enough (16K-element outputs) that the pooled session splits its ops; 30x30 planes
    // leave the pointwise products a last partial panel, packed into a per-thread buffer.
    let (model, _) = mobilenet_block(30, 30, 1);
    let big = rand_vec(2 * BLOCK_C * 30 * 30, 3);
    let input = TensorRef::from_f32(&[2, BLOCK_C, 30, 30], &big).unwrap();
    let mut pooled = Session::new(
        model,
        SessionOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    pooled.run_in_place(&[("x", input)]).unwrap();
    let n = allocations_during(|| {
        for _ in 0..20 {
            pooled.run_in_place(&[("x", input)]).unwrap();
        }
    });
    assert_eq!(
        n,
        0,
        "run_in_place with a pool allocated {n} times, the last of {} bytes",
        LAST_SIZE.load(Ordering::Relaxed)
    );

    let mut gb = GraphBuilder::new();
    let a = gb.input_f32("a", &[1, 3, 6, 6]);
    let w = gb.const_f32(&[4, 3, 3, 3], &rand_vec(108, 3));
    let c = gb.node(
        "Conv",
        &[a, w],
        vec![ints("strides", &[2, 2]), ints("pads", &[1, 1, 1, 1])],
    );
    let perm = gb.node("Transpose", &[c], vec![ints("perm", &[0, 2, 3, 1])]);
    let target = gb.const_i64(&[9, 4]);
    let flat = gb.node("Reshape", &[perm, target], vec![]);
    let m = gb.const_f32(&[4, 5], &rand_vec(20, 4));
    let mm = gb.node("MatMul", &[flat, m], vec![]);
    let sm = gb.node("Softmax", &[mm], vec![int("axis", 1)]);
    let cat = gb.node("Concat", &[sm, sm], vec![int("axis", 0)]);
    let idx = gb.const_i64(&[3, 0]);
    let g = gb.node("Gather", &[cat, idx], vec![int("axis", 0)]);
    let state = gb.input_f32("h", &[2, 5]);
    let next = gb.node("Add", &[g, state], vec![]);
    gb.output(next);
    gb.b.add_state(state, next);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let data = rand_vec(108, 5);
    let input = TensorRef::from_f32(&[1, 3, 6, 6], &data).unwrap();
    s.run_in_place(&[("a", input)]).unwrap();
    let n = allocations_during(|| {
        for _ in 0..3 {
            s.run_in_place(&[("a", input)]).unwrap();
        }
        s.reset_state();
        s.run_in_place(&[("a", input)]).unwrap();
    });
    assert_eq!(n, 0, "run_in_place allocated {n} times");

    // A streaming GRU (state h through Y_h) feeding LayerNormalization (all outputs), Gelu,
    // variadic Max, Mean and Expand.
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[3, 1, 4]);
    let h = gb.input_f32("h", &[1, 1, 5]);
    let w = gb.const_f32(&[1, 15, 4], &rand_vec(60, 6));
    let r = gb.const_f32(&[1, 15, 5], &rand_vec(75, 7));
    let gru = gb.node_outputs(
        "GRU",
        &[Some(x), Some(w), Some(r), None, None, Some(h)],
        vec![int("hidden_size", 5), int("linear_before_reset", 1)],
        DType::F32,
        2,
    );
    let scale = gb.const_f32(&[5], &rand_vec(5, 8));
    let ln = gb.node_outputs(
        "LayerNormalization",
        &[Some(gru[0]), Some(scale)],
        vec![],
        DType::F32,
        3,
    );
    let gelu = gb.node("Gelu", &[ln[0]], vec![string("approximate", "tanh")]);
    let shape = gb.const_i64(&[3, 1, 1, 5]);
    let wide = gb.node("Expand", &[ln[1], shape], vec![]);
    let max = gb.node("Max", &[gelu, wide, ln[2]], vec![]);
    let mean = gb.node("Mean", &[max, gelu, gelu], vec![]);
    gb.output(mean);
    gb.output(gru[1]);
    gb.b.add_state(h, gru[1]);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let data = rand_vec(12, 9);
    let input = TensorRef::from_f32(&[3, 1, 4], &data).unwrap();
    s.run_in_place(&[("x", input)]).unwrap();
    let n = allocations_during(|| {
        for _ in 0..3 {
            s.run_in_place(&[("x", input)]).unwrap();
        }
    });
    assert_eq!(
        n, 0,
        "run_in_place (GRU, LayerNormalization, ...) allocated {n} times"
    );

    // An LSTM whose W is a run-time input (packed into scratch each run), with sequence_lens,
    // and a Split of its Y: multi-output steps.
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[3, 2, 4]);
    let w = gb.input_f32("w", &[1, 24, 4]);
    let lens = gb.input("lens", DType::I32, &[Some(2)]);
    let r = gb.const_f32(&[1, 24, 6], &rand_vec(144, 10));
    let lstm = gb.node_outputs(
        "LSTM",
        &[Some(x), Some(w), Some(r), None, Some(lens)],
        vec![int("hidden_size", 6)],
        DType::F32,
        3,
    );
    let parts = gb.node_outputs(
        "Split",
        &[Some(lstm[0])],
        vec![int("axis", 3)],
        DType::F32,
        2,
    );
    let sum = gb.node("Add", &[parts[0], parts[1]], vec![]);
    gb.output(sum);
    gb.output(lstm[2]);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let (xs, ws) = (rand_vec(24, 11), rand_vec(96, 12));
    let lens_bytes: Vec<u8> = [3i32, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let feed = [
        ("x", TensorRef::from_f32(&[3, 2, 4], &xs).unwrap()),
        ("w", TensorRef::from_f32(&[1, 24, 4], &ws).unwrap()),
        (
            "lens",
            TensorRef::from_bytes(DType::I32, &[2], &lens_bytes).unwrap(),
        ),
    ];
    s.run_in_place(&feed).unwrap();
    let n = allocations_during(|| {
        for _ in 0..3 {
            s.run_in_place(&feed).unwrap();
        }
    });
    assert_eq!(n, 0, "run_in_place (LSTM, Split) allocated {n} times");

    // DepthToSpace, GroupNormalization, SpaceToDepth, PRelu, Mish, ScatterElements, GatherND.
    let mut gb = GraphBuilder::new();
    let x = gb.input_f32("x", &[1, 8, 2, 2]);
    let d2s = gb.node("DepthToSpace", &[x], vec![int("blocksize", 2)]);
    let gamma = gb.const_f32(&[2], &rand_vec(2, 13));
    let beta = gb.const_f32(&[2], &rand_vec(2, 14));
    let gn = gb.node(
        "GroupNormalization",
        &[d2s, gamma, beta],
        vec![int("num_groups", 2)],
    );
    let s2d = gb.node("SpaceToDepth", &[gn], vec![int("blocksize", 2)]);
    let slope = gb.const_f32(&[8, 1, 1], &rand_vec(8, 15));
    let prelu = gb.node("PRelu", &[s2d, slope], vec![]);
    let mish = gb.node("Mish", &[prelu], vec![]);
    let flat = gb.const_i64(&[1, 0, 1, 0, 0, 1, 1, 0].repeat(4));
    let shape = gb.const_i64(&[1, 8, 2, 2]);
    let idx = gb.node_typed("Reshape", &[Some(flat), Some(shape)], vec![], DType::I64);
    let scat = gb.node_typed(
        "ScatterElements",
        &[Some(mish), Some(idx), Some(prelu)],
        vec![int("axis", 3), string("reduction", "add")],
        DType::F32,
    );
    let rows = gb.const_i64(&[0, 3, 0, 5]);
    let rows_shape = gb.const_i64(&[2, 2]);
    let rows = gb.node_typed(
        "Reshape",
        &[Some(rows), Some(rows_shape)],
        vec![],
        DType::I64,
    );
    let g = gb.node_typed("GatherND", &[Some(scat), Some(rows)], vec![], DType::F32);
    gb.output(g);
    let mut s = Session::new(gb.finish(), SessionOptions::default()).unwrap();
    let data = rand_vec(32, 16);
    let input = TensorRef::from_f32(&[1, 8, 2, 2], &data).unwrap();
    s.run_in_place(&[("x", input)]).unwrap();
    assert_eq!(s.output(0).unwrap().shape(), [2, 2, 2]);
    let n = allocations_during(|| {
        for _ in 0..3 {
            s.run_in_place(&[("x", input)]).unwrap();
        }
    });
    assert_eq!(
        n, 0,
        "run_in_place (DepthToSpace, GroupNormalization, ScatterElements, ...) allocated {n} times"
    );
}
