//! The runtime as the converter's oracle: one node of the model, with its inputs, becomes a
//! one-node `.mq` model that core plans ([`plan_node`]: dtypes, shapes, and the contents the
//! planner computes without running) or runs ([`run_node`]). The converter never re-implements
//! an op's shape rule or arithmetic: what the runtime would compute is what the passes see.
//!
//! Invariants: a one-node model holds copies of the node's constant inputs and tensor
//! attributes, its other inputs are graph inputs of concrete shape (or, when their contents are
//! known, constants), and its outputs are the node's outputs with the dtypes the converter
//! declared (the planner refuses a node that computes another dtype); nodes with bodies (`If`)
//! are not planned here.

use std::collections::HashMap;
use std::sync::Arc;

use mobiquant_core::graph::ValueId;
use mobiquant_core::plan::Plan;
use mobiquant_core::tensor::Layout;
use mobiquant_core::{
    AttrValue, DType, Graph, LoadOptions, Model, ModelBuilder, ModelInfo, Node, QuantMode,
    Quantization, Session, SessionOptions, Shape, Tensor, TensorRef, ValueInfo,
};

use crate::ir::{IrModel, IrTensor};

/// What is known about a value for one binding of the symbolic dimensions: dtype, concrete
/// shape, and the contents when the planner computes them (shapes and small constants).
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub value: Option<Tensor>,
}

/// One input of a node given to the runtime.
#[derive(Clone, Copy, Debug)]
pub enum Feed<'a> {
    /// A constant of the model (weights, shape constants).
    Constant(&'a IrTensor),
    /// A computed value: its shape, and its contents when known.
    Value(&'a Known),
}

/// The one-node model of `node` with `inputs` (one per node input), and the shapes of its
/// graph inputs in order.
fn one_node_model(
    ir: &IrModel,
    node: &Node,
    inputs: &[Option<Feed<'_>>],
) -> Result<(Model, Vec<Vec<usize>>), String> {
    let err = |e: mobiquant_core::Error| e.to_string();
    let mut b = ModelBuilder::new(ModelInfo::new("one node", QuantMode::Float));
    let mut graph = Graph {
        name: "one node".into(),
        ..Graph::default()
    };
    let mut shapes = Vec::new();
    let mut ids: HashMap<usize, ValueId> = HashMap::new();
    let mut node_inputs = Vec::with_capacity(inputs.len());
    for (k, (feed, original)) in inputs.iter().zip(&node.inputs).enumerate() {
        let (Some(feed), Some(original)) = (feed, original) else {
            node_inputs.push(None);
            continue;
        };
        if let Some(&id) = ids.get(&(*original as usize)) {
            node_inputs.push(Some(id));
            continue;
        }
        let name = format!("input{k}");
        let id = match feed {
            Feed::Constant(t) => b
                .add_constant(name, t.dtype, &t.dims, &t.bytes)
                .map_err(err)?,
            Feed::Value(Known {
                value: Some(t),
                dtype,
                shape,
            }) => {
                let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
                b.add_constant(name, *dtype, &dims, t.view().bytes())
                    .map_err(err)?
            }
            Feed::Value(known) => {
                let dims: Vec<u64> = known.shape.iter().map(|&d| d as u64).collect();
                let id = b.add_value(ValueInfo {
                    name,
                    dtype: known.dtype,
                    shape: Some(Shape::fixed(&dims)),
                    initializer: None,
                });
                graph.inputs.push(id);
                shapes.push(known.shape.clone());
                id
            }
        };
        ids.insert(*original as usize, id);
        node_inputs.push(Some(id));
    }
    let mut attributes = node.attributes.clone();
    for a in &mut attributes {
        match a.value {
            AttrValue::Tensor(t) => {
                let t = ir
                    .tensors
                    .get(t as usize)
                    .ok_or("an attribute refers to a missing tensor")?;
                let id = b
                    .add_tensor(
                        format!("attribute {}", a.name),
                        t.dtype,
                        &t.dims,
                        Layout::RowMajor,
                        Quantization::None,
                        &t.bytes,
                    )
                    .map_err(err)?;
                a.value = AttrValue::Tensor(id);
            }
            AttrValue::Graph(_) => return Err("a node with a body is not planned alone".into()),
            _ => {}
        }
    }
    let mut outputs = Vec::with_capacity(node.outputs.len());
    for (k, &v) in node.outputs.iter().enumerate() {
        let dtype = ir
            .values
            .get(v as usize)
            .ok_or("missing output value")?
            .dtype;
        outputs.push(b.add_value(ValueInfo {
            name: format!("output{k}"),
            dtype,
            shape: None,
            initializer: None,
        }));
    }
    graph.outputs = outputs.clone();
    graph.nodes.push(Node {
        name: node.name.clone(),
        op: node.op.clone(),
        inputs: node_inputs,
        outputs,
        attributes,
    });
    b.add_graph(graph);
    let bytes = b.finish().map_err(err)?;
    // Written just above by a validating writer: the checksums add nothing.
    let options = LoadOptions {
        verify_tensor_checksums: false,
    };
    let model = Model::from_bytes_with(&bytes, options).map_err(err)?;
    Ok((model, shapes))
}

/// What the runtime's planner knows about the outputs of `node` for these inputs.
pub fn plan_node(
    ir: &IrModel,
    node: &Node,
    inputs: &[Option<Feed<'_>>],
) -> Result<Vec<Known>, String> {
    let (model, shapes) = one_node_model(ir, node, inputs)?;
    let plan = Plan::new(&model, &shapes).map_err(|e| e.to_string())?;
    (0..node.outputs.len())
        .map(|k| {
            let (dtype, shape) = plan.output_shape(k).ok_or("an output is not planned")?;
            let value = plan
                .output_value(k)
                .map(Tensor::from_ref)
                .transpose()
                .map_err(|e| e.to_string())?;
            Ok(Known {
                dtype,
                shape: shape.to_vec(),
                value,
            })
        })
        .collect()
}

/// Runs `node` on constant inputs (every present input must be a [`Feed::Constant`] or a
/// value with known contents) and returns its outputs.
pub fn run_node(
    ir: &IrModel,
    node: &Node,
    inputs: &[Option<Feed<'_>>],
) -> Result<Vec<Tensor>, String> {
    let (model, shapes) = one_node_model(ir, node, inputs)?;
    if !shapes.is_empty() {
        return Err("an input is not constant".into());
    }
    let mut session =
        Session::new(Arc::new(model), SessionOptions::default()).map_err(|e| e.to_string())?;
    session.run(&[]).map_err(|e| e.to_string())
}

/// The contents of a runtime tensor as a converter constant named `name`.
pub fn to_ir_tensor(name: String, t: &Tensor) -> IrTensor {
    IrTensor {
        name,
        dtype: t.dtype(),
        dims: t.shape().iter().map(|&d| d as u64).collect(),
        bytes: t.view().bytes().to_vec(),
    }
}

/// A constant of the model as a runtime tensor, for the dtypes the runtime computes with.
pub fn from_ir_tensor(t: &IrTensor) -> Option<Tensor> {
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    TensorRef::from_bytes(t.dtype, &shape, &t.bytes)
        .and_then(Tensor::from_ref)
        .ok()
}
