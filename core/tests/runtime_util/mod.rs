//! Helpers for the runtime tests: a compact graph builder over `ModelBuilder`, and naive
//! reference implementations written independently of the runtime's ops.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::sync::Arc;

use mobiquant_core::*;

pub fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn i64_bytes(xs: &[i64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn int(name: &str, v: i64) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::Int(v),
    }
}

pub fn ints(name: &str, v: &[i64]) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::Ints(v.to_vec()),
    }
}

pub fn float(name: &str, v: f32) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::Float(v),
    }
}

pub fn string(name: &str, v: &str) -> Attribute {
    Attribute {
        name: name.into(),
        value: AttrValue::String(v.into()),
    }
}

/// Builds one graph (the main graph unless `add_body` is used) node by node.
pub struct GraphBuilder {
    pub b: ModelBuilder,
    pub graph: Graph,
    counter: usize,
}

impl Default for GraphBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GraphBuilder {
    pub fn new() -> GraphBuilder {
        GraphBuilder {
            b: ModelBuilder::new(ModelInfo::new("test", QuantMode::Float)),
            graph: Graph::default(),
            counter: 0,
        }
    }

    /// A graph input with a shape of fixed and symbolic dims (`None` is a symbol named `s{i}`).
    pub fn input(&mut self, name: &str, dtype: DType, dims: &[Option<u64>]) -> u32 {
        let shape = Shape(
            dims.iter()
                .enumerate()
                .map(|(i, d)| d.map_or(Dim::Symbol(format!("s{i}")), Dim::Fixed))
                .collect(),
        );
        let v = self.b.add_value(ValueInfo {
            name: name.into(),
            dtype,
            shape: Some(shape),
            initializer: None,
        });
        self.graph.inputs.push(v);
        v
    }

    pub fn input_f32(&mut self, name: &str, dims: &[u64]) -> u32 {
        let d: Vec<_> = dims.iter().map(|&d| Some(d)).collect();
        self.input(name, DType::F32, &d)
    }

    pub fn const_f32(&mut self, dims: &[u64], data: &[f32]) -> u32 {
        let name = self.fresh("c");
        self.b
            .add_constant(name, DType::F32, dims, &f32_bytes(data))
            .unwrap()
    }

    pub fn const_i64(&mut self, data: &[i64]) -> u32 {
        let name = self.fresh("k");
        self.b
            .add_constant(name, DType::I64, &[data.len() as u64], &i64_bytes(data))
            .unwrap()
    }

    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    /// Adds a node with one output of `dtype` (shape left to inference) and returns the output.
    pub fn node_typed(
        &mut self,
        op: &str,
        inputs: &[Option<u32>],
        attributes: Vec<Attribute>,
        dtype: DType,
    ) -> u32 {
        let name = self.fresh(&op.to_lowercase());
        let out = self.b.add_value(ValueInfo {
            name: format!("{name}_out"),
            dtype,
            shape: None,
            initializer: None,
        });
        self.graph.nodes.push(Node {
            name,
            op: op.into(),
            inputs: inputs.to_vec(),
            outputs: vec![out],
            attributes,
        });
        out
    }

    /// Adds a node with `n` outputs of `dtype` and returns them.
    pub fn node_outputs(
        &mut self,
        op: &str,
        inputs: &[Option<u32>],
        attributes: Vec<Attribute>,
        dtype: DType,
        n: usize,
    ) -> Vec<u32> {
        let first = self.node_typed(op, inputs, attributes, dtype);
        let mut outs = vec![first];
        for k in 1..n {
            let name = format!("{}_out{k}", self.graph.nodes.last().map_or("", |n| &n.name));
            let v = self.b.add_value(ValueInfo {
                name,
                dtype,
                shape: None,
                initializer: None,
            });
            if let Some(node) = self.graph.nodes.last_mut() {
                node.outputs.push(v);
            }
            outs.push(v);
        }
        outs
    }

    /// [`GraphBuilder::node_typed`] with an f32 output and all inputs present.
    pub fn node(&mut self, op: &str, inputs: &[u32], attributes: Vec<Attribute>) -> u32 {
        let inputs: Vec<_> = inputs.iter().map(|&i| Some(i)).collect();
        self.node_typed(op, &inputs, attributes, DType::F32)
    }

    pub fn output(&mut self, v: u32) {
        self.graph.outputs.push(v);
    }

    pub fn finish(mut self) -> Arc<Model> {
        self.b.add_graph(self.graph);
        Arc::new(Model::from_bytes(&self.b.finish().unwrap()).unwrap())
    }
}

/// Runs a one-session model on f32 inputs, returning the first output.
pub fn run1(model: &Arc<Model>, inputs: &[(&str, &[usize], &[f32])]) -> Result<Tensor> {
    let mut s = Session::new(model.clone(), SessionOptions::default())?;
    let refs: Vec<_> = inputs
        .iter()
        .map(|(n, s, d)| (*n, TensorRef::from_f32(s, d).unwrap()))
        .collect();
    Ok(s.run(&refs)?.remove(0))
}

/// A deterministic pseudo-random vector in [-1, 1).
pub fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "element {i}: got {g}, want {w}"
        );
    }
}

/// Geometry of a naive 2-D convolution (1-D is h = 1).
#[derive(Clone, Copy, Debug)]
pub struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oc: usize,
    pub group: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    /// top, left, bottom, right
    pub pads: (usize, usize, usize, usize),
}

impl ConvGeom {
    pub fn out_hw(&self) -> (usize, usize) {
        let oh = (self.h + self.pads.0 + self.pads.2 - ((self.kh - 1) * self.dilation.0 + 1))
            / self.stride.0
            + 1;
        let ow = (self.w + self.pads.1 + self.pads.3 - ((self.kw - 1) * self.dilation.1 + 1))
            / self.stride.1
            + 1;
        (oh, ow)
    }
}

/// Direct 7-loop convolution: out[n][o][y][x] = b[o] + Σ_c,ky,kx w[o][c][ky][kx] · in[n][g·cg + c][...].
pub fn naive_conv(g: ConvGeom, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (cg, og) = (g.c / g.group, g.oc / g.group);
    let mut out = vec![0.0f32; g.n * g.oc * oh * ow];
    for n in 0..g.n {
        for o in 0..g.oc {
            let grp = o / og;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[o]) as f64;
                    for c in 0..cg {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.stride.0 + ky * g.dilation.0) as isize
                                    - g.pads.0 as isize;
                                let ix = (ox * g.stride.1 + kx * g.dilation.1) as isize
                                    - g.pads.1 as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let ic = grp * cg + c;
                                let xv =
                                    x[((n * g.c + ic) * g.h + iy as usize) * g.w + ix as usize];
                                let wv = w[((o * cg + c) * g.kh + ky) * g.kw + kx];
                                acc += (xv * wv) as f64;
                            }
                        }
                    }
                    out[((n * g.oc + o) * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
    }
    out
}

/// Naive row-major matrix product of `[m, k] x [k, n]`.
pub fn naive_matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum::<f64>() as f32;
        }
    }
    c
}

/// Weights of [`mobilenet_block`].
pub struct BlockWeights {
    pub expand: Vec<f32>,
    pub expand_bias: Vec<f32>,
    pub depthwise: Vec<f32>,
    pub depthwise_bias: Vec<f32>,
    pub project: Vec<f32>,
    pub fc: Vec<f32>,
    pub fc_bias: Vec<f32>,
}

/// Channels of the block input, of the expansion, and classes.
pub const BLOCK_C: usize = 8;
pub const BLOCK_E: usize = 24;
pub const BLOCK_K: usize = 10;

/// An inverted-residual block and a classifier, as a converter would emit it:
/// x [batch, 8, H, W] → Conv 1×1 (8→24) → Clip(0, 6) → depthwise Conv 3×3 pad 1 with a fused
/// Clip → Conv 1×1 (24→8) → Add x → GlobalAveragePool → Flatten → Gemm (transB, 8→10).
pub fn mobilenet_block(h: u64, w: u64, seed: u64) -> (std::sync::Arc<Model>, BlockWeights) {
    let (c, e, k) = (BLOCK_C, BLOCK_E, BLOCK_K);
    let wts = BlockWeights {
        expand: rand_vec(e * c, seed),
        expand_bias: rand_vec(e, seed + 1),
        depthwise: rand_vec(e * 9, seed + 2),
        depthwise_bias: rand_vec(e, seed + 3),
        project: rand_vec(c * e, seed + 4),
        fc: rand_vec(k * c, seed + 5),
        fc_bias: rand_vec(k, seed + 6),
    };
    let mut gb = GraphBuilder::new();
    let x = gb.input("x", DType::F32, &[None, Some(c as u64), Some(h), Some(w)]);
    let we = gb.const_f32(&[e as u64, c as u64, 1, 1], &wts.expand);
    let be = gb.const_f32(&[e as u64], &wts.expand_bias);
    let wd = gb.const_f32(&[e as u64, 1, 3, 3], &wts.depthwise);
    let bd = gb.const_f32(&[e as u64], &wts.depthwise_bias);
    let wp = gb.const_f32(&[c as u64, e as u64, 1, 1], &wts.project);
    let wf = gb.const_f32(&[k as u64, c as u64], &wts.fc);
    let bf = gb.const_f32(&[k as u64], &wts.fc_bias);
    let lo = gb.const_f32(&[], &[0.0]);
    let hi = gb.const_f32(&[], &[6.0]);
    let expanded = gb.node("Conv", &[x, we, be], vec![]);
    let clipped = gb.node("Clip", &[expanded, lo, hi], vec![]);
    let dw = gb.node(
        "Conv",
        &[clipped, wd, bd],
        vec![
            int("group", e as i64),
            ints("pads", &[1, 1, 1, 1]),
            string("activation", "Clip"),
            float("activation_min", 0.0),
            float("activation_max", 6.0),
        ],
    );
    let projected = gb.node("Conv", &[dw, wp], vec![]);
    let residual = gb.node("Add", &[projected, x], vec![]);
    let pooled = gb.node("GlobalAveragePool", &[residual], vec![]);
    let flat = gb.node("Flatten", &[pooled], vec![]);
    let logits = gb.node("Gemm", &[flat, wf, bf], vec![int("transB", 1)]);
    gb.output(logits);
    (gb.finish(), wts)
}

/// The block computed with the naive references above.
pub fn mobilenet_block_reference(
    wts: &BlockWeights,
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
) -> Vec<f32> {
    let (c, e, k) = (BLOCK_C, BLOCK_E, BLOCK_K);
    let g = |c_in: usize, c_out: usize, group: usize, kk: usize, pad: usize| ConvGeom {
        n,
        c: c_in,
        h,
        w,
        oc: c_out,
        group,
        kh: kk,
        kw: kk,
        stride: (1, 1),
        dilation: (1, 1),
        pads: (pad, pad, pad, pad),
    };
    let relu6 = |v: Vec<f32>| v.into_iter().map(|x| x.clamp(0.0, 6.0)).collect::<Vec<_>>();
    let a = relu6(naive_conv(
        g(c, e, 1, 1, 0),
        x,
        &wts.expand,
        Some(&wts.expand_bias),
    ));
    let d = relu6(naive_conv(
        g(e, e, e, 3, 1),
        &a,
        &wts.depthwise,
        Some(&wts.depthwise_bias),
    ));
    let p = naive_conv(g(e, c, 1, 1, 0), &d, &wts.project, None);
    let r: Vec<f32> = p.iter().zip(x).map(|(a, b)| a + b).collect();
    let pooled: Vec<f32> = r
        .chunks(h * w)
        .map(|pl| pl.iter().sum::<f32>() / (h * w) as f32)
        .collect();
    let mut out = vec![0.0; n * k];
    for b in 0..n {
        for j in 0..k {
            out[b * k + j] = wts.fc_bias[j]
                + (0..c)
                    .map(|i| pooled[b * c + i] * wts.fc[j * c + i])
                    .sum::<f32>();
        }
    }
    out
}
