//! Stores the constant weights of the f32 Conv GEMM paths already packed for the f32 tile
//! kernels (`Layout::PackedF32A`), so that a session maps them in place instead of packing them
//! when it plans (the first run's cost).
//!
//! The packed-A layout depends on the tier only through its tile height MR
//! ([`mobiquant_core::kernels::f32::tier_mr`]): every aarch64 tier and x86 AVX2 / AVX-VNNI use 6,
//! AVX-512 12, the reference 4. One packing is written per distinct MR of the target tiers
//! ([`ConvertOptions::pack_for`](crate::ConvertOptions)); each becomes an extra constant input
//! (3, 4, ...) of the Conv node, after the optional bias. The row-major weights stay input 1:
//! a tier without a stored packing packs them at plan time, and other readers of the same weights
//! are unaffected. Depthwise Convs (their own kernel reads the row-major weights) get none.
//!
//! The constant 2-D B of Gemm and MatMul is packed in the 16-column panels that every tier reads
//! (`Layout::PackedF32B`): stored once, as input 3 of Gemm (after the optional C) or input 2 of
//! MatMul, whenever any tier is given.
//!
//! Runs last, after the passes and the runtime-support check: no pass sees the extra inputs.
//!
//! Invariant: a stored packing is `pack_a` of the group's rows of the row-major weights, bit for
//! bit what the runtime would pack at plan time for a tier of that MR.

use std::collections::HashMap;

use mobiquant_core::graph::ValueId;
use mobiquant_core::kernels::Tier;
use mobiquant_core::kernels::f32::{NR, pack_a, pack_b, packed_a_layout, packed_b_layout, tier_mr};
use mobiquant_core::quant::TensorId;
use mobiquant_core::tensor::Layout;
use mobiquant_core::{AttrValue, DType, Shape, ValueInfo};

use crate::ConvertError;
use crate::ir::{IrModel, IrTensor};

/// What the packing step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackReport {
    /// Packed tensors written (one per Conv weight and tile height, one per Gemm/MatMul B).
    pub tensors: usize,
    /// Their bytes (the file grows by this much, plus alignment).
    pub bytes: u64,
}

/// The tile heights to pack for, once each, in the order the tiers are given.
fn tile_heights(tiers: &[Tier]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for mr in tiers.iter().map(|&t| tier_mr(t)) {
        if !out.contains(&mr) {
            out.push(mr);
        }
    }
    out
}

/// The GEMM geometry of a Conv node with constant f32 weights on a GEMM path: (groups, output
/// channels per group, depth), or `None` for a depthwise or malformed one (left to the runtime).
fn conv_gemm(ir: &IrModel, node: &mobiquant_core::Node) -> Option<(usize, usize, usize)> {
    let w = ir.constant((*node.inputs.get(1)?)?)?;
    if w.dtype != DType::F32 || !(3..=4).contains(&w.dims.len()) {
        return None;
    }
    let groups = match node.attribute("group") {
        None => 1,
        Some(AttrValue::Int(g)) => usize::try_from(*g).ok().filter(|&g| g >= 1)?,
        Some(_) => return None,
    };
    let dims: Vec<usize> = w
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    // The runtime's depthwise test (conv.rs): one input channel per group, several groups.
    if dims[1] == 1 && groups > 1 {
        return None;
    }
    let out_channels = dims[0];
    if !out_channels.is_multiple_of(groups) || out_channels == 0 {
        return None;
    }
    let depth = dims[1..]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))?;
    (depth > 0).then_some((groups, out_channels / groups, depth))
}

/// Adds the packings for `tiers` to every eligible Conv of every graph; returns the layout of
/// each packed tensor (for the writer) and what was done.
pub fn prepack(
    ir: &mut IrModel,
    tiers: &[Tier],
) -> Result<(Vec<(TensorId, Layout)>, PackReport), ConvertError> {
    let mut layouts = Vec::new();
    let mut report = PackReport::default();
    let heights = tile_heights(tiers);
    if heights.is_empty() {
        return Ok((layouts, report));
    }
    // (weights value, MR) -> packed value, so that shared weights are stored once.
    let mut done: HashMap<(ValueId, usize), ValueId> = HashMap::new();
    for g in 0..ir.graphs.len() {
        for n in 0..ir.graphs[g].nodes.len() {
            let node = &ir.graphs[g].nodes[n];
            // Where the packed B goes: after Gemm's optional C, after MatMul's B.
            let b_slot = match node.op.as_str() {
                "Gemm" => Some(3),
                "MatMul" => Some(2),
                _ => None,
            };
            if let Some(slot) = b_slot.filter(|&s| node.inputs.len() <= s) {
                if let Some((w_value, trans_b)) = constant_b(ir, node) {
                    // Key MR 0: the one packing of B.
                    let v = match done.get(&(w_value, 0)) {
                        Some(&v) => v,
                        None => {
                            let (v, t, bytes) = add_packed_b(ir, w_value, trans_b)?;
                            layouts.push((t, packed_b_layout()));
                            report.tensors += 1;
                            report.bytes += bytes;
                            done.insert((w_value, 0), v);
                            v
                        }
                    };
                    let node = &mut ir.graphs[g].nodes[n];
                    node.inputs.resize(slot, None);
                    node.inputs.push(Some(v));
                }
                continue;
            }
            if node.op != "Conv" || node.inputs.len() > 3 {
                continue;
            }
            let Some((groups, m, k)) = conv_gemm(ir, node) else {
                continue;
            };
            let w_value = node.inputs[1].unwrap_or_default();
            let mut extra = Vec::with_capacity(heights.len());
            for &mr in &heights {
                if let Some(&v) = done.get(&(w_value, mr)) {
                    extra.push(v);
                    continue;
                }
                let (v, t, layout, bytes) = add_packing(ir, w_value, (groups, m, k), mr)?;
                layouts.push((t, layout));
                report.tensors += 1;
                report.bytes += bytes;
                done.insert((w_value, mr), v);
                extra.push(v);
            }
            let node = &mut ir.graphs[g].nodes[n];
            node.inputs.resize(3, None);
            node.inputs.extend(extra.into_iter().map(Some));
        }
    }
    Ok((layouts, report))
}

/// Packs the weights of value `w` (`groups` groups of `m × k`) for tiles of `mr` rows into a new
/// constant value: (value, tensor, its layout, bytes).
fn add_packing(
    ir: &mut IrModel,
    w: ValueId,
    (groups, m, k): (usize, usize, usize),
    mr: usize,
) -> Result<(ValueId, TensorId, Layout, u64), ConvertError> {
    let failed = |reason: String| ConvertError::InvalidTensor {
        tensor: ir.values[w as usize].name.clone(),
        reason: format!("packing for tiles of {mr} rows: {reason}"),
    };
    let weights = ir.constant(w).and_then(IrTensor::f32s).unwrap_or_default();
    let layout = packed_a_layout(mr).ok_or_else(|| failed("no such layout".into()))?;
    let mut packed = Vec::new();
    for group in 0..groups {
        let rows = weights
            .get(group * m * k..(group + 1) * m * k)
            .ok_or_else(|| failed("weights too short".into()))?;
        packed.extend(pack_a(rows, m, k, mr).map_err(|e| failed(e.to_string()))?);
    }
    let dims = [groups, m.div_ceil(mr), k, mr].map(|d| d as u64);
    let name = ir.unique_tensor_name(&format!(
        "{}.packed_f32a_mr{mr}",
        ir.values[w as usize].name
    ));
    let (v, t, bytes) = add_packed_value(ir, name, &dims, &packed)?;
    Ok((v, t, layout, bytes))
}

/// The constant 2-D f32 B of a Gemm or MatMul and its `transB` (MatMul: false), if it has one.
fn constant_b(ir: &IrModel, node: &mobiquant_core::Node) -> Option<(ValueId, bool)> {
    let v = (*node.inputs.get(1)?)?;
    let w = ir.constant(v)?;
    let trans_b = match node.attribute("transB") {
        None => false,
        Some(AttrValue::Int(t)) => *t != 0,
        Some(_) => return None,
    };
    (w.dtype == DType::F32 && w.dims.len() == 2).then_some((v, trans_b))
}

/// Packs a Gemm's or MatMul's B (value `w`, `[k, n]`, or `[n, k]` when `trans_b`) into the panels of every
/// tier as a new constant value: (value, tensor, bytes).
fn add_packed_b(
    ir: &mut IrModel,
    w: ValueId,
    trans_b: bool,
) -> Result<(ValueId, TensorId, u64), ConvertError> {
    let failed = |reason: String| ConvertError::InvalidTensor {
        tensor: ir.values[w as usize].name.clone(),
        reason: format!("packing B: {reason}"),
    };
    let t = ir
        .constant(w)
        .ok_or_else(|| failed("not a constant".into()))?;
    let weights = t.f32s().unwrap_or_default();
    let (d0, d1) = (t.dims[0] as usize, t.dims[1] as usize);
    let ((k, n), strides) = match trans_b {
        false => ((d0, d1), (d1, 1)),
        true => ((d1, d0), (1, d1)),
    };
    let packed = pack_b(&weights, strides.0, strides.1, k, n).map_err(|e| failed(e.to_string()))?;
    let dims = [n.div_ceil(NR), k, NR].map(|d| d as u64);
    let name = ir.unique_tensor_name(&format!("{}.packed_f32b", ir.values[w as usize].name));
    add_packed_value(ir, name, &dims, &packed)
}

/// Adds a constant value of packed f32 `data` with `dims`: (value, tensor, bytes).
fn add_packed_value(
    ir: &mut IrModel,
    name: String,
    dims: &[u64],
    data: &[f32],
) -> Result<(ValueId, TensorId, u64), ConvertError> {
    let tensor = IrTensor::from_f32s(name.clone(), dims.to_vec(), data);
    let bytes = tensor.bytes.len() as u64;
    let t = ir.add_tensor(tensor);
    let v = ir.add_value(ValueInfo {
        name,
        dtype: DType::F32,
        shape: Some(Shape::fixed(dims)),
        initializer: Some(t),
    });
    Ok((v, t, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobiquant_core::{Attribute, Graph, Model, ModelInfo, Node, QuantMode};

    /// x [1, 4, 5, 5] -> Conv(w1, 3x3, pad 1) -> Conv(w1 again) -> depthwise Conv(wd) -> y.
    fn model() -> IrModel {
        let mut ir = IrModel {
            info: ModelInfo::new("t", QuantMode::Float),
            tensors: Vec::new(),
            values: Vec::new(),
            graphs: vec![Graph::default()],
            states: Vec::new(),
        };
        let value = |name: &str| ValueInfo {
            name: name.into(),
            dtype: DType::F32,
            shape: None,
            initializer: None,
        };
        let x = ir.add_value(ValueInfo {
            shape: Some(Shape::fixed(&[1, 4, 5, 5])),
            ..value("x")
        });
        let w: Vec<f32> = (0..4 * 4 * 9).map(|i| (i % 7) as f32 - 3.0).collect();
        let w1 = ir.add_constant(IrTensor::from_f32s("w1", vec![4, 4, 3, 3], &w));
        let wd = ir.add_constant(IrTensor::from_f32s("wd", vec![4, 1, 3, 3], &w[..36]));
        let (a, b, y) = (
            ir.add_value(value("a")),
            ir.add_value(value("b")),
            ir.add_value(value("y")),
        );
        let conv = |name: &str, input, w, out, group: i64| Node {
            name: name.into(),
            op: "Conv".into(),
            inputs: vec![Some(input), Some(w)],
            outputs: vec![out],
            attributes: vec![
                Attribute {
                    name: "pads".into(),
                    value: AttrValue::Ints(vec![1; 4]),
                },
                Attribute {
                    name: "group".into(),
                    value: AttrValue::Int(group),
                },
            ],
        };
        let g = &mut ir.graphs[0];
        g.inputs.push(x);
        g.nodes.push(conv("c1", x, w1, a, 1));
        g.nodes.push(conv("c2", a, w1, b, 1));
        g.nodes.push(conv("dw", b, wd, y, 4));
        g.outputs.push(y);
        ir
    }

    #[test]
    fn packs_each_weight_once_per_tile_height_and_skips_depthwise() {
        let mut ir = model();
        let tiers = [Tier::Neon, Tier::Avx2, Tier::Avx512Vnni];
        let (layouts, report) = prepack(&mut ir, &tiers).unwrap();
        // w1 for MR 6 and MR 12 (shared by both Convs), nothing for the depthwise one.
        assert_eq!(report.tensors, 2);
        assert_eq!(report.bytes, 4 * (6 + 12) * 36);
        let nodes = &ir.graphs[0].nodes;
        assert_eq!(nodes[0].inputs.len(), 5);
        assert_eq!(nodes[0].inputs[2], None);
        assert_eq!(nodes[0].inputs[3..], nodes[1].inputs[3..]);
        assert_eq!(nodes[2].inputs.len(), 2);
        let model =
            Model::from_bytes(&ir.into_builder_with(&layouts).unwrap().finish().unwrap()).unwrap();
        let packed: Vec<_> = model
            .tensors()
            .iter()
            .filter(|t| t.layout != Layout::RowMajor)
            .map(|t| (t.layout, t.dims.clone()))
            .collect();
        assert_eq!(
            packed,
            [
                (packed_a_layout(6).unwrap(), vec![1, 1, 36, 6]),
                (packed_a_layout(12).unwrap(), vec![1, 1, 36, 12]),
            ]
        );
        // The stored bytes are the pure packing of the row-major weights.
        let w = model.tensor_by_name("w1").unwrap();
        let want = pack_a(w.as_f32().unwrap(), 4, 36, 6).unwrap();
        let got = model.tensor_by_name("w1.packed_f32a_mr6").unwrap();
        assert_eq!(got.bytes(), bytemuck_bytes(&want));
    }

    #[test]
    fn no_tiers_store_nothing() {
        let mut ir = model();
        let (layouts, report) = prepack(&mut ir, &[]).unwrap();
        assert!(layouts.is_empty());
        assert_eq!(report, PackReport::default());
        assert!(ir.graphs[0].nodes.iter().all(|n| n.inputs.len() == 2));
    }

    fn bytemuck_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
}
