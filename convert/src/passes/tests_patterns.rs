//! Written-out LayerNorm ([`super::layer_norm`]) and GELU ([`super::gelu`]) on small hand-built
//! graphs: every accepted spelling becomes one node and computes what it computed before (both
//! run by a core session on the same pseudo-random input); every spelling that is not exactly the
//! function stays as it was.

use mobiquant_core::{AttrValue, Attribute, Graph, Node};

use super::tests::{constant, empty_model, node, value};
use super::tests_affine::ops;
use super::tests_fold::assert_same_results;
use super::*;
use crate::ir::{IrModel, IrTensor};

/// A graph under construction: input `x`, nodes appended in order.
struct Builder {
    ir: IrModel,
    x: u32,
    nodes: Vec<Node>,
    seed: u32,
}

impl Builder {
    fn new(x_dims: &[u64]) -> Builder {
        let mut ir = empty_model("patterns");
        let x = value(&mut ir, "x", Some(x_dims));
        Builder {
            ir,
            x,
            nodes: vec![],
            seed: 1,
        }
    }

    /// A constant of `dims` holding `v` everywhere.
    fn fill(&mut self, dims: &[u64], v: f32) -> u32 {
        let n = dims.iter().product::<u64>() as usize;
        let name = format!("k{}", self.ir.values.len());
        self.ir
            .add_constant(IrTensor::from_f32s(name, dims.to_vec(), &vec![v; n]))
    }

    /// A rank-0 constant.
    fn k(&mut self, v: f32) -> u32 {
        self.fill(&[], v)
    }

    /// A pseudo-random constant of `dims`.
    fn random(&mut self, dims: &[u64]) -> u32 {
        self.seed += 1;
        let name = format!("r{}", self.seed);
        constant(&mut self.ir, &name, dims.to_vec(), self.seed, false)
    }

    fn op_with(&mut self, op: &str, inputs: &[u32], attributes: Vec<Attribute>) -> u32 {
        let k = self.nodes.len();
        let out = value(&mut self.ir, &format!("v{k}"), None);
        self.nodes
            .push(node(&format!("{op}{k}"), op, inputs, &[out], attributes));
        out
    }

    fn op(&mut self, op: &str, inputs: &[u32]) -> u32 {
        self.op_with(op, inputs, vec![])
    }

    fn build(&self, outputs: &[u32]) -> IrModel {
        let mut ir = self.ir.clone();
        ir.graphs.push(Graph {
            name: "main".into(),
            inputs: vec![self.x],
            outputs: outputs.to_vec(),
            nodes: self.nodes.clone(),
        });
        ir
    }
}

/// Optimizes `ir`; checks the ops left and the (LayerNorm, GELU) counts, and that both models
/// compute the same; returns the optimized model.
fn check(ir: IrModel, x_dims: &[u64], left: &[&str], recognized: (usize, usize)) -> IrModel {
    let mut optimized = ir.clone();
    let report = optimize(&mut optimized);
    assert_eq!(ops(&optimized), left);
    assert_eq!(
        (report.layer_norms_recognized, report.gelus_recognized),
        recognized
    );
    let shape: Vec<usize> = x_dims.iter().map(|&d| d as usize).collect();
    assert_same_results(&optimized, &ir, &shape);
    optimized
}

fn axes(a: &[i64]) -> Attribute {
    Attribute {
        name: "axes".into(),
        value: AttrValue::Ints(a.to_vec()),
    }
}

fn keepdims(k: i64) -> Attribute {
    Attribute {
        name: "keepdims".into(),
        value: AttrValue::Int(k),
    }
}

/// How a written-out LayerNorm is spelled.
#[derive(Clone)]
struct Spelling {
    x_dims: Vec<u64>,
    /// Attributes of the first / second ReduceMean.
    mean: Vec<Attribute>,
    var: Vec<Attribute>,
    square_by_mul: bool,
    eps_dims: Vec<u64>,
    eps_first: bool,
    /// Scale and shift constant dims and whether the constant comes first.
    scale: Option<(Vec<u64>, bool)>,
    shift: Option<(Vec<u64>, bool)>,
    exponent: f32,
}

fn last_axis(x_dims: &[u64]) -> Spelling {
    let c = *x_dims.last().unwrap();
    Spelling {
        x_dims: x_dims.to_vec(),
        mean: vec![axes(&[-1])],
        var: vec![axes(&[-1])],
        square_by_mul: false,
        eps_dims: vec![],
        eps_first: false,
        scale: Some((vec![c], false)),
        shift: Some((vec![c], false)),
        exponent: 2.0,
    }
}

/// The LayerNorm chain of `s` (its intermediate values, in order: m, d, d², v, v + eps, sqrt,
/// y, and the outputs of the Mul and Add present) in a builder.
fn layer_norm(s: &Spelling) -> (Builder, Vec<u32>) {
    let mut b = Builder::new(&s.x_dims);
    let x = b.x;
    let m = b.op_with("ReduceMean", &[x], s.mean.clone());
    let d = b.op("Sub", &[x, m]);
    let sq = if s.square_by_mul {
        b.op("Mul", &[d, d])
    } else {
        let e = b.k(s.exponent);
        b.op("Pow", &[d, e])
    };
    let v = b.op_with("ReduceMean", &[sq], s.var.clone());
    let eps = b.fill(&s.eps_dims, 1e-5);
    let ve = b.op("Add", &if s.eps_first { [eps, v] } else { [v, eps] });
    let r = b.op("Sqrt", &[ve]);
    let y = b.op("Div", &[d, r]);
    let mut values = vec![m, d, sq, v, ve, r, y];
    for (op, spec) in [("Mul", &s.scale), ("Add", &s.shift)] {
        if let Some((dims, first)) = spec {
            let (c, last) = (b.random(dims), *values.last().unwrap());
            values.push(b.op(op, &if *first { [c, last] } else { [last, c] }));
        }
    }
    (b, values)
}

fn layer_norm_model(s: &Spelling) -> IrModel {
    let (b, values) = layer_norm(s);
    b.build(&[*values.last().unwrap()])
}

#[test]
fn layer_norm_spellings_become_one_node() {
    let base = last_axis(&[2, 3, 8]);
    let mut spellings = vec![base.clone()];
    for (scale_first, shift_first) in [(true, false), (false, true), (true, true)] {
        let mut s = base.clone();
        s.scale = Some((vec![8], scale_first));
        s.shift = Some((vec![8], shift_first));
        spellings.push(s);
    }
    let mut s = base.clone();
    (s.square_by_mul, s.eps_first, s.eps_dims) = (true, true, vec![1, 1, 1]);
    spellings.push(s);
    // Scale and shift with leading 1s, or one element.
    let mut s = base.clone();
    (s.scale, s.shift) = (Some((vec![1, 1, 8], false)), Some((vec![1], true)));
    spellings.push(s);
    // The last two axes, counted from the start or the end.
    let mut s = last_axis(&[2, 3, 4]);
    (s.mean, s.var) = (vec![axes(&[1, 2])], vec![axes(&[-2, -1])]);
    (s.scale, s.shift) = (Some((vec![3, 4], false)), Some((vec![1, 3, 4], false)));
    spellings.push(s);
    // Every axis (no axes attribute).
    let mut s = last_axis(&[3, 5]);
    (s.mean, s.var, s.scale, s.shift) = (vec![], vec![], Some((vec![3, 5], false)), None);
    spellings.push(s);
    for s in &spellings {
        let out = check(
            layer_norm_model(s),
            &s.x_dims,
            &["LayerNormalization"],
            (1, 0),
        );
        let n = &out.graphs[0].nodes[0];
        assert_eq!(n.inputs.len(), 2 + usize::from(s.shift.is_some()));
        assert!(matches!(n.attribute("epsilon"), Some(AttrValue::Float(e)) if *e == 1e-5));
    }
    // Without the shift, the scale, or both.
    for (scale, shift) in [(true, false), (false, true), (false, false)] {
        let mut s = base.clone();
        (s.scale, s.shift) = (
            scale.then(|| (vec![8], false)),
            shift.then(|| (vec![8], false)),
        );
        check(
            layer_norm_model(&s),
            &s.x_dims,
            &["LayerNormalization"],
            (1, 0),
        );
    }
}

#[test]
fn layer_norm_with_axes_as_an_input_is_recognized() {
    let s = last_axis(&[2, 4, 6]);
    let (mut b, values) = layer_norm(&s);
    let a = b.ir.add_constant(IrTensor {
        name: "axes".into(),
        dtype: mobiquant_core::DType::I64,
        dims: vec![1],
        bytes: (-1i64).to_le_bytes().to_vec(),
    });
    for n in b.nodes.iter_mut().filter(|n| n.op == "ReduceMean") {
        n.attributes.clear();
        n.inputs.push(Some(a));
    }
    let ir = b.build(&[*values.last().unwrap()]);
    check(ir, &s.x_dims, &["LayerNormalization"], (1, 0));
}

#[test]
fn a_scale_that_is_not_per_normalized_element_stays_outside() {
    // gamma [3, 8] varies along the kept axis: the normalization fuses, Mul and Add stay.
    let mut s = last_axis(&[2, 3, 8]);
    s.scale = Some((vec![3, 8], false));
    check(
        layer_norm_model(&s),
        &s.x_dims,
        &["LayerNormalization", "Mul", "Add"],
        (1, 0),
    );
    // A shift wider than x stays too.
    let mut s = last_axis(&[3, 8]);
    s.shift = Some((vec![1, 1, 8], false));
    check(
        layer_norm_model(&s),
        &s.x_dims,
        &["LayerNormalization", "Add"],
        (1, 0),
    );
}

#[test]
fn layer_norm_lookalikes_stay() {
    let written_out = [
        "ReduceMean",
        "Sub",
        "Pow",
        "ReduceMean",
        "Add",
        "Sqrt",
        "Div",
        "Mul",
        "Add",
    ];
    let base = last_axis(&[2, 4, 6]);
    let mut cases = vec![];
    // Epsilon with more than one element.
    let mut s = base.clone();
    s.eps_dims = vec![6];
    cases.push(s);
    // Epsilon wider than the variance.
    let mut s = base.clone();
    s.eps_dims = vec![1, 1, 1, 1];
    cases.push(s);
    // Reduction over a middle axis.
    let mut s = base.clone();
    (s.mean, s.var) = (vec![axes(&[1])], vec![axes(&[1])]);
    s.scale = Some((vec![4, 1], false));
    s.shift = Some((vec![4, 1], false));
    cases.push(s);
    // keepdims = 0 (x [6, 6]: the mean broadcasts along the wrong axis).
    let mut s = last_axis(&[6, 6]);
    s.mean = vec![axes(&[-1]), keepdims(0)];
    cases.push(s);
    // Mean and variance over different axes.
    let mut s = base.clone();
    s.var = vec![axes(&[-2, -1])];
    cases.push(s);
    // Not a square.
    let mut s = base.clone();
    s.exponent = 4.0;
    cases.push(s);
    for s in &cases {
        check(layer_norm_model(s), &s.x_dims, &written_out, (0, 0));
    }
    // An intermediate read by another node, or exported: m, d, d², v, v + eps, sqrt.
    for k in 0..6 {
        for exported in [false, true] {
            let (mut b, values) = layer_norm(&base);
            let mut outputs = vec![*values.last().unwrap()];
            if exported {
                outputs.push(values[k]);
            } else {
                outputs.push(b.op("Neg", &[values[k]]));
            }
            let ir = b.build(&outputs);
            let mut left = written_out.to_vec();
            if !exported {
                left.push("Neg");
            }
            check(ir, &base.x_dims, &left, (0, 0));
        }
    }
}

/// `x * 0.5 * (1 + Erf(x / √2))` in the grouping `form` picks, with `x / √2` written as a
/// multiplication when `by_mul`; `sqrt2` is the constant used.
fn erf_gelu(form: usize, by_mul: bool, sqrt2: f32) -> IrModel {
    let mut b = Builder::new(&[2, 3, 5]);
    let x = b.x;
    let scaled = if by_mul {
        let k = b.k(1.0 / sqrt2);
        b.op("Mul", &[k, x])
    } else {
        let k = b.k(sqrt2);
        b.op("Div", &[x, k])
    };
    let e = b.op("Erf", &[scaled]);
    let one = b.k(1.0);
    let s = b.op(
        "Add",
        &if form.is_multiple_of(2) {
            [e, one]
        } else {
            [one, e]
        },
    );
    let half = b.k(0.5);
    let two = b.k(2.0);
    let out = match form {
        // PyTorch's export: (x * s) * 0.5.
        0 => {
            let p = b.op("Mul", &[x, s]);
            b.op("Mul", &[p, half])
        }
        // Hugging Face's: (x * 0.5) * s.
        1 => {
            let h = b.op("Mul", &[x, half]);
            b.op("Mul", &[h, s])
        }
        2 => {
            let p = b.op("Mul", &[s, x]);
            b.op("Mul", &[half, p])
        }
        3 => {
            let h = b.op("Mul", &[half, x]);
            b.op("Mul", &[s, h])
        }
        4 => {
            let h = b.op("Mul", &[s, half]);
            b.op("Mul", &[x, h])
        }
        _ => {
            let p = b.op("Mul", &[x, s]);
            b.op("Div", &[p, two])
        }
    };
    b.build(&[out])
}

/// `0.5 * x * (1 + Tanh(√(2/π) * (x + 0.044715 * x³)))`, the cube as `Pow(x, 3)`, `x * (x * x)`
/// or `(x * x) * x` (`cube` 0, 1, 2); `kappa` is the cubic coefficient used.
fn tanh_gelu(cube: usize, kappa: f32) -> (Builder, Vec<u32>) {
    let mut b = Builder::new(&[4, 7]);
    let x = b.x;
    let c = match cube {
        0 => {
            let three = b.k(3.0);
            b.op("Pow", &[x, three])
        }
        1 => {
            let sq = b.op("Mul", &[x, x]);
            b.op("Mul", &[x, sq])
        }
        _ => {
            let sq = b.op("Mul", &[x, x]);
            b.op("Mul", &[sq, x])
        }
    };
    let k = b.k(kappa);
    let kc = b.op("Mul", &if cube == 0 { [c, k] } else { [k, c] });
    let sum = b.op("Add", &if cube == 2 { [kc, x] } else { [x, kc] });
    let beta = b.k((2.0 / std::f32::consts::PI).sqrt());
    let inner = b.op("Mul", &[beta, sum]);
    let t = b.op("Tanh", &[inner]);
    let one = b.k(1.0);
    let s = b.op("Add", &[one, t]);
    let half = b.k(0.5);
    let out = if cube == 1 {
        // PyTorch's export: 0.5 * (x * s).
        let p = b.op("Mul", &[x, s]);
        b.op("Mul", &[half, p])
    } else {
        let h = b.op("Mul", &[half, x]);
        b.op("Mul", &[h, s])
    };
    (b, vec![c, kc, sum, inner, t, s, out])
}

fn approximate(ir: &IrModel) -> Option<&AttrValue> {
    ir.graphs[0].nodes[0].attribute("approximate")
}

#[test]
fn gelu_spellings_become_one_node() {
    let sqrt2 = std::f32::consts::SQRT_2;
    for form in 0..6 {
        for by_mul in [false, true] {
            let out = check(erf_gelu(form, by_mul, sqrt2), &[2, 3, 5], &["Gelu"], (0, 1));
            assert_eq!(approximate(&out), Some(&AttrValue::String("none".into())));
        }
    }
    // 1.4142135 written with one f32 rounding more.
    let sqrt2_up = f32::from_bits(sqrt2.to_bits() + 1);
    check(erf_gelu(0, false, sqrt2_up), &[2, 3, 5], &["Gelu"], (0, 1));
    for cube in 0..3 {
        let (b, values) = tanh_gelu(cube, 0.044715);
        let out = check(b.build(&[values[6]]), &[4, 7], &["Gelu"], (0, 1));
        assert_eq!(approximate(&out), Some(&AttrValue::String("tanh".into())));
    }
}

#[test]
fn gelu_lookalikes_stay() {
    // Wrong constants: 1/√2 off by more than a rounding, the cubic coefficient.
    let ir = erf_gelu(1, false, std::f32::consts::SQRT_2 + 1e-4);
    check(ir, &[2, 3, 5], &["Div", "Erf", "Add", "Mul", "Mul"], (0, 0));
    let (b, values) = tanh_gelu(0, 0.0447);
    let written = ["Pow", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"];
    check(b.build(&[values[6]]), &[4, 7], &written, (0, 0));
    // An intermediate read by another node, or exported.
    for k in 0..6 {
        for exported in [false, true] {
            let (mut b, values) = tanh_gelu(0, 0.044715);
            let extra = if exported {
                values[k]
            } else {
                b.op("Neg", &[values[k]])
            };
            let mut left = written.to_vec();
            if !exported {
                left.push("Neg");
            }
            check(b.build(&[values[6], extra]), &[4, 7], &left, (0, 0));
        }
    }
    // The erf reads another value than the one multiplied.
    let mut b = Builder::new(&[6]);
    let (x, half) = (b.x, b.k(0.5));
    let y = b.op("Relu", &[x]);
    let out = torch_erf_gelu(&mut b, x, y, half);
    let left = ["Relu", "Div", "Erf", "Add", "Mul", "Mul"];
    check(b.build(&[out]), &[6], &left, (0, 0));
    // A halving constant wider than x: [1, 1] against x [6].
    let mut b = Builder::new(&[6]);
    let (x, half) = (b.x, b.fill(&[1, 1], 0.5));
    let out = torch_erf_gelu(&mut b, x, x, half);
    let left = ["Div", "Erf", "Add", "Mul", "Mul"];
    check(b.build(&[out]), &[6], &left, (0, 0));
}

/// PyTorch's `(x * (Erf(e / √2) + 1)) * half`, where a GELU has `e` = `x` and `half` = 0.5.
fn torch_erf_gelu(b: &mut Builder, x: u32, e: u32, half: u32) -> u32 {
    let k = b.k(std::f32::consts::SQRT_2);
    let scaled = b.op("Div", &[e, k]);
    let erf = b.op("Erf", &[scaled]);
    let one = b.k(1.0);
    let s = b.op("Add", &[erf, one]);
    let p = b.op("Mul", &[x, s]);
    b.op("Mul", &[p, half])
}

#[test]
fn chains_of_recognized_functions_all_fuse() {
    // LayerNorm, then GELU of its output, then a LayerNorm of that.
    let s = last_axis(&[3, 8]);
    let (mut b, values) = layer_norm(&s);
    let (x, half) = (*values.last().unwrap(), b.k(0.5));
    let g = torch_erf_gelu(&mut b, x, x, half);
    let m = b.op_with("ReduceMean", &[g], vec![axes(&[-1])]);
    let d = b.op("Sub", &[g, m]);
    let sq = b.op("Mul", &[d, d]);
    let v = b.op_with("ReduceMean", &[sq], vec![axes(&[-1])]);
    let eps = b.k(1e-6);
    let ve = b.op("Add", &[v, eps]);
    let r = b.op("Sqrt", &[ve]);
    let y = b.op("Div", &[d, r]);
    let left = ["LayerNormalization", "Gelu", "LayerNormalization"];
    check(b.build(&[y]), &s.x_dims, &left, (2, 1));
}
