//! Shape inference, constant folding and `If` inlining on small hand-built models: the
//! optimized model must compute what the original computes (both run by a core session), the
//! folds must have happened (or, for large constants and symbolic shapes, not happened), and
//! symbolic dimensions must survive into the value infos.

use std::sync::Arc;

use mobiquant_core::{
    AttrValue, Attribute, DType, Dim, Graph, Model, Session, SessionOptions, Shape, TensorRef,
    ValueInfo,
};

use super::tests::{empty_model, node, pseudo_random};
use super::*;
use crate::ir::{IrModel, IrTensor};

fn empty() -> IrModel {
    empty_model("fold")
}

fn typed(ir: &mut IrModel, name: &str, dtype: DType, shape: Option<Shape>) -> u32 {
    ir.add_value(ValueInfo {
        name: name.into(),
        dtype,
        shape,
        initializer: None,
    })
}

fn f32_value(ir: &mut IrModel, name: &str) -> u32 {
    typed(ir, name, DType::F32, None)
}

fn i64_const(ir: &mut IrModel, name: &str, values: &[i64]) -> u32 {
    ir.add_constant(IrTensor {
        name: name.into(),
        dtype: DType::I64,
        dims: vec![values.len() as u64],
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    })
}

fn symbolic(dims: &[Option<u64>]) -> Shape {
    Shape(
        dims.iter()
            .map(|d| d.map_or(Dim::Symbol("batch".into()), Dim::Fixed))
            .collect(),
    )
}

fn axis0() -> Attribute {
    Attribute {
        name: "axis".into(),
        value: AttrValue::Int(0),
    }
}

/// Adds the main graph (input `x`).
fn main_graph(ir: &mut IrModel, x: u32, outputs: Vec<u32>, nodes: Vec<mobiquant_core::Node>) {
    ir.graphs.push(Graph {
        name: "main".into(),
        inputs: vec![x],
        outputs,
        nodes,
    });
}

fn ops(ir: &IrModel, g: usize) -> Vec<&str> {
    ir.graphs[g].nodes.iter().map(|n| n.op.as_str()).collect()
}

/// Asserts that `optimized` computes what `original` computes on one pseudo-random input `x` of
/// `shape`, within 1e-5 of each output's largest magnitude.
pub(super) fn assert_same_results(optimized: &IrModel, original: &IrModel, shape: &[usize]) {
    let (ours, reference) = (
        run_x(optimized.clone(), shape),
        run_x(original.clone(), shape),
    );
    assert_eq!(ours.len(), reference.len());
    for (a, b) in ours.iter().zip(&reference) {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-5 * scale, "{x} vs {y}");
        }
    }
}

/// Runs `ir` on one f32 input `x` of `shape`; returns every output as f32.
pub(super) fn run_x(ir: IrModel, shape: &[usize]) -> Vec<Vec<f32>> {
    let model = Model::from_bytes(&ir.into_builder().unwrap().finish().unwrap()).unwrap();
    let mut session = Session::new(Arc::new(model), SessionOptions::default()).unwrap();
    let x = pseudo_random(shape.iter().product(), 7);
    let outputs = session
        .run(&[("x", TensorRef::from_f32(shape, &x).unwrap())])
        .unwrap();
    outputs
        .iter()
        .map(|t| t.as_f32().unwrap().to_vec())
        .collect()
}

/// `x[b,3,4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) -> Mul(_, c1 + c2)`:
/// PyTorch's shape subgraph and a constant sum, on a static or a symbolic batch.
fn shape_subgraph(batch: Option<u64>) -> IrModel {
    let mut ir = empty();
    let x = typed(
        &mut ir,
        "x",
        DType::F32,
        Some(symbolic(&[batch, Some(3), Some(4)])),
    );
    let shape = typed(&mut ir, "shape", DType::I64, None);
    let zero = ir.add_constant(IrTensor {
        name: "zero".into(),
        dtype: DType::I64,
        dims: vec![],
        bytes: 0i64.to_le_bytes().to_vec(),
    });
    let first = typed(&mut ir, "first", DType::I64, None);
    let axes = i64_const(&mut ir, "axes", &[0]);
    let lead = typed(&mut ir, "lead", DType::I64, None);
    let rest = i64_const(&mut ir, "rest", &[-1]);
    let target = typed(&mut ir, "target", DType::I64, None);
    let reshaped = f32_value(&mut ir, "reshaped");
    let c1 = ir.add_constant(IrTensor::from_f32s("c1", vec![12], &pseudo_random(12, 1)));
    let c2 = ir.add_constant(IrTensor::from_f32s("c2", vec![12], &pseudo_random(12, 2)));
    let sum = f32_value(&mut ir, "sum");
    let y = f32_value(&mut ir, "y");
    let axis0 = Attribute {
        name: "axis".into(),
        value: AttrValue::Int(0),
    };
    ir.graphs.push(Graph {
        name: "main".into(),
        inputs: vec![x],
        outputs: vec![y],
        nodes: vec![
            node("shape", "Shape", &[x], &[shape], vec![]),
            node(
                "gather",
                "Gather",
                &[shape, zero],
                &[first],
                vec![axis0.clone()],
            ),
            node("unsqueeze", "Unsqueeze", &[first, axes], &[lead], vec![]),
            node("concat", "Concat", &[lead, rest], &[target], vec![axis0]),
            node("reshape", "Reshape", &[x, target], &[reshaped], vec![]),
            node("sum", "Add", &[c1, c2], &[sum], vec![]),
            node("mul", "Mul", &[reshaped, sum], &[y], vec![]),
        ],
    });
    ir
}

fn assert_same(a: &[Vec<f32>], b: &[Vec<f32>]) {
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(b) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
}

#[test]
fn a_static_shape_subgraph_folds_and_computes_the_same() {
    let mut ir = shape_subgraph(Some(2));
    let report = optimize(&mut ir);
    assert_eq!(report.nodes_folded, 5, "{report:?}");
    assert_eq!(ops(&ir, 0), ["Reshape", "Mul"]);
    assert_eq!(report.nodes, 2);
    assert_eq!((report.shapes_symbolic, report.shapes_unknown), (0, 0));
    let y = ir.graphs[0].outputs[0] as usize;
    assert_eq!(ir.values[y].shape, Some(Shape::fixed(&[2, 12])));
    assert_same(
        &run_x(ir, &[2, 3, 4]),
        &run_x(shape_subgraph(Some(2)), &[2, 3, 4]),
    );
}

#[test]
fn symbolic_dims_survive_and_their_shape_subgraph_stays() {
    let mut ir = shape_subgraph(None);
    let report = optimize(&mut ir);
    // Only the constant sum folds: the shape subgraph reads the symbolic batch.
    assert_eq!(report.nodes_folded, 1, "{report:?}");
    assert_eq!(
        ops(&ir, 0),
        ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Mul"]
    );
    let shape_of = |name: &str| {
        ir.values
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.shape.clone())
            .unwrap()
            .to_string()
    };
    assert_eq!(shape_of("y"), "[batch,12]");
    assert_eq!(shape_of("reshaped"), "[batch,12]");
    assert_eq!(shape_of("shape"), "[3]");
    assert_eq!(shape_of("lead"), "[1]");
    assert_eq!((report.shapes_symbolic, report.shapes_unknown), (2, 0));
    for batch in [1, 5] {
        assert_same(
            &run_x(ir.clone(), &[batch, 3, 4]),
            &run_x(shape_subgraph(None), &[batch, 3, 4]),
        );
    }
}

#[test]
fn a_derived_symbolic_dim_gets_a_symbol_of_its_own() {
    let mut ir = empty();
    let x = typed(&mut ir, "x", DType::F32, Some(symbolic(&[None, Some(2)])));
    let twice = f32_value(&mut ir, "twice");
    let concat = node("concat", "Concat", &[x, x], &[twice], vec![axis0()]);
    main_graph(&mut ir, x, vec![twice], vec![concat]);
    optimize(&mut ir);
    assert_eq!(
        ir.values[twice as usize]
            .shape
            .as_ref()
            .unwrap()
            .to_string(),
        "[twice.dim0,2]"
    );
}

/// `ConstantOfShape(dims)` (f32 ones) added to `x` of the same shape.
fn filled(dims: &[i64]) -> IrModel {
    let mut ir = empty();
    let shape: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
    let x = typed(&mut ir, "x", DType::F32, Some(Shape::fixed(&shape)));
    let d = i64_const(&mut ir, "dims", dims);
    let one = ir.add_tensor(IrTensor::from_f32s("one", vec![1], &[1.0]));
    let ones = f32_value(&mut ir, "ones");
    let y = f32_value(&mut ir, "y");
    let value = Attribute {
        name: "value".into(),
        value: AttrValue::Tensor(one),
    };
    let nodes = vec![
        node("fill", "ConstantOfShape", &[d], &[ones], vec![value]),
        node("add", "Add", &[x, ones], &[y], vec![]),
    ];
    main_graph(&mut ir, x, vec![y], nodes);
    ir
}

#[test]
fn a_small_constant_of_shape_folds_a_big_one_stays() {
    let mut small = filled(&[2, 3]);
    let report = optimize(&mut small);
    assert_eq!((report.nodes_folded, report.folds_too_large), (1, 0));
    assert_eq!(ops(&small, 0), ["Add"]);
    assert_same(&run_x(small, &[2, 3]), &run_x(filled(&[2, 3]), &[2, 3]));

    let mut big = filled(&[100, 300]);
    let report = optimize(&mut big);
    assert_eq!((report.nodes_folded, report.folds_too_large), (0, 1));
    assert_eq!(ops(&big, 0), ["ConstantOfShape", "Add"]);
    let written = Model::from_bytes(&big.into_builder().unwrap().finish().unwrap()).unwrap();
    assert!(written.tensors().iter().all(|t| t.byte_len < 1000));
}

#[test]
fn a_transposed_weight_read_only_by_its_transpose_folds_a_shared_one_stays() {
    // w[200,100] -> Transpose -> MatMul(x, w^T); with `shared`, w is also an output.
    let build = |shared: bool| {
        let mut ir = empty();
        let x = typed(&mut ir, "x", DType::F32, Some(Shape::fixed(&[1, 200])));
        let w = ir.add_constant(IrTensor::from_f32s(
            "w",
            vec![100, 200],
            &pseudo_random(20_000, 3),
        ));
        let wt = f32_value(&mut ir, "wt");
        let y = f32_value(&mut ir, "y");
        let mut outputs = vec![y];
        if shared {
            outputs.push(w);
        }
        let nodes = vec![
            node("t", "Transpose", &[w], &[wt], vec![]),
            node("mm", "MatMul", &[x, wt], &[y], vec![]),
        ];
        main_graph(&mut ir, x, outputs, nodes);
        ir
    };
    let mut alone = build(false);
    let report = optimize(&mut alone);
    assert_eq!((report.nodes_folded, report.folds_too_large), (1, 0));
    assert_eq!(ops(&alone, 0), ["MatMul"]);
    assert_same(&run_x(alone, &[1, 200]), &run_x(build(false), &[1, 200]));

    let mut shared = build(true);
    let report = optimize(&mut shared);
    assert_eq!((report.nodes_folded, report.folds_too_large), (0, 1));
}

/// `If(c1 == c2)`: then `x + a`, else `x` itself (a value from outside the branch), read by
/// `Neg` or, with `exported`, a graph output.
fn branchy(equal: bool, exported: bool) -> IrModel {
    let mut ir = empty();
    let x = typed(&mut ir, "x", DType::F32, Some(Shape::fixed(&[2, 3])));
    let c1 = i64_const(&mut ir, "c1", &[4]);
    let c2 = i64_const(&mut ir, "c2", &[if equal { 4 } else { 5 }]);
    let cond = typed(&mut ir, "cond", DType::Bool, None);
    let a = ir.add_constant(IrTensor::from_f32s("a", vec![3], &[1.0, 2.0, 3.0]));
    let then_out = f32_value(&mut ir, "then_out");
    let r = f32_value(&mut ir, "r");
    let y = f32_value(&mut ir, "y");
    let body = |g: u32, name: &str| Attribute {
        name: name.into(),
        value: AttrValue::Graph(g),
    };
    let mut main_nodes = vec![
        node("eq", "Equal", &[c1, c2], &[cond], vec![]),
        node(
            "if",
            "If",
            &[cond],
            &[r],
            vec![body(1, "then_branch"), body(2, "else_branch")],
        ),
    ];
    let outputs = if exported {
        vec![r]
    } else {
        main_nodes.push(node("neg", "Neg", &[r], &[y], vec![]));
        vec![y]
    };
    main_graph(&mut ir, x, outputs, main_nodes);
    ir.graphs.push(Graph {
        name: "then".into(),
        inputs: vec![],
        outputs: vec![then_out],
        nodes: vec![node("add", "Add", &[x, a], &[then_out], vec![])],
    });
    ir.graphs.push(Graph {
        name: "else".into(),
        inputs: vec![],
        outputs: vec![x],
        nodes: vec![],
    });
    ir
}

#[test]
fn an_if_with_a_constant_condition_becomes_its_branch() {
    for equal in [true, false] {
        for exported in [true, false] {
            let mut ir = branchy(equal, exported);
            let report = optimize(&mut ir);
            assert_eq!(report.ifs_inlined, 1, "{equal} {exported}");
            assert!(
                ir.graphs
                    .iter()
                    .all(|g| g.nodes.iter().all(|n| n.op != "If"))
            );
            let expected: &[&str] = match (equal, exported) {
                (true, true) => &["Add"],
                (true, false) => &["Add", "Neg"],
                (false, true) => &["Identity"],
                (false, false) => &["Neg"],
            };
            assert_eq!(ops(&ir, 0), expected, "{equal} {exported}");
            // The bodies are gone from the written model.
            let written =
                Model::from_bytes(&ir.clone().into_builder().unwrap().finish().unwrap()).unwrap();
            assert_eq!(written.graphs().len(), 1);
            assert_same(
                &run_x(ir, &[2, 3]),
                &run_x(branchy(equal, exported), &[2, 3]),
            );
        }
    }
}

#[test]
fn an_if_on_a_run_time_condition_stays_and_gets_shapes() {
    let mut ir = branchy(true, false);
    // The condition becomes a graph input.
    let flag = typed(&mut ir, "flag", DType::Bool, Some(Shape::fixed(&[])));
    ir.graphs[0].inputs.push(flag);
    ir.graphs[0].nodes.remove(0);
    ir.graphs[0].nodes[0].inputs[0] = Some(flag);
    let report = optimize(&mut ir);
    assert_eq!(report.ifs_inlined, 0);
    assert_eq!(ops(&ir, 0), ["If", "Neg"]);
    let r = ir.graphs[0].nodes[0].outputs[0] as usize;
    assert_eq!(ir.values[r].shape, Some(Shape::fixed(&[2, 3])));
}

#[test]
fn a_weight_reordered_the_same_way_twice_folds_into_one_copy() {
    // w[100,200] -> Transpose -> MatMul(x, _) and again w -> Transpose -> MatMul(x, _): each
    // fold alone keeps w alive (a second copy), both together drop it and share one result.
    let build = || {
        let mut ir = empty();
        let x = typed(&mut ir, "x", DType::F32, Some(Shape::fixed(&[1, 200])));
        let w = ir.add_constant(IrTensor::from_f32s(
            "w",
            vec![100, 200],
            &pseudo_random(20_000, 5),
        ));
        let [t1, t2, y1, y2] = ["t1", "t2", "y1", "y2"].map(|n| f32_value(&mut ir, n));
        let nodes = vec![
            node("transpose1", "Transpose", &[w], &[t1], vec![]),
            node("mm1", "MatMul", &[x, t1], &[y1], vec![]),
            node("transpose2", "Transpose", &[w], &[t2], vec![]),
            node("mm2", "MatMul", &[x, t2], &[y2], vec![]),
        ];
        main_graph(&mut ir, x, vec![y1, y2], nodes);
        ir
    };
    let mut ir = build();
    let report = optimize(&mut ir);
    assert_eq!((report.nodes_folded, report.folds_too_large), (2, 0));
    assert_eq!(ops(&ir, 0), ["MatMul", "MatMul"]);
    let written = Model::from_bytes(&ir.clone().into_builder().unwrap().finish().unwrap()).unwrap();
    let sizes: Vec<u64> = written.tensors().iter().map(|t| t.byte_len).collect();
    assert_eq!(sizes, [80_000]);
    assert_same(&run_x(ir, &[1, 200]), &run_x(build(), &[1, 200]));
}

#[test]
fn a_value_the_runtime_cannot_plan_at_probe_sizes_keeps_its_declared_shape() {
    // Reshape(x[batch,4], [1,4]) only plans for batch 1.
    let mut ir = empty();
    let x = typed(&mut ir, "x", DType::F32, Some(symbolic(&[None, Some(4)])));
    let target = i64_const(&mut ir, "target", &[1, 4]);
    let declared = Shape(vec![Dim::Fixed(1), Dim::Symbol("declared".into())]);
    let y = typed(&mut ir, "y", DType::F32, Some(declared.clone()));
    let reshape = node("reshape", "Reshape", &[x, target], &[y], vec![]);
    main_graph(&mut ir, x, vec![y], vec![reshape]);
    let report = optimize(&mut ir);
    assert_eq!((report.shapes_unknown, report.nodes), (1, 1));
    assert!(report.first_shape_failure.unwrap().contains("reshape"));
    assert_eq!(ir.values[y as usize].shape, Some(declared));
}
