//! The converter's editable model: what the importer produces, the graph passes rewrite, and
//! [`IrModel::into_builder`] writes.
//!
//! Invariants: values, tensors and graphs are referenced by index, as in the `.mq` format; a
//! pass may add tensors and values and may leave some unreferenced (it never has to delete):
//! writing keeps only what the graphs, attributes and states still reference, renumbered in
//! order, so removed nodes leave nothing behind in the file.

use mobiquant_core::graph::{GraphId, ValueId};
use mobiquant_core::quant::TensorId;
use mobiquant_core::tensor::Layout;
use mobiquant_core::{
    AttrValue, DType, Graph, ModelBuilder, ModelInfo, Node, Quantization, ValueInfo,
};

/// A constant tensor held in memory until the model is written (row-major unless the writer is
/// told otherwise, [`IrModel::into_builder_with`]).
#[derive(Clone, Debug, PartialEq)]
pub struct IrTensor {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<u64>,
    /// Little-endian elements, row-major.
    pub bytes: Vec<u8>,
}

impl IrTensor {
    /// The elements of an f32 tensor.
    pub fn f32s(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::F32).then(|| {
            self.bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }

    /// The elements of an i64 tensor.
    pub fn i64s(&self) -> Option<Vec<i64>> {
        (self.dtype == DType::I64).then(|| {
            self.bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        })
    }

    /// An f32 tensor.
    pub fn from_f32s(name: impl Into<String>, dims: Vec<u64>, values: &[f32]) -> IrTensor {
        IrTensor {
            name: name.into(),
            dtype: DType::F32,
            dims,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// A model being converted.
#[derive(Clone, Debug)]
pub struct IrModel {
    pub info: ModelInfo,
    pub tensors: Vec<IrTensor>,
    /// `initializer` indexes `tensors`.
    pub values: Vec<ValueInfo>,
    /// Graph 0 is the main graph; bodies have higher indices than the graphs that use them.
    pub graphs: Vec<Graph>,
    /// (input, output) recurrent state pairs.
    pub states: Vec<(ValueId, ValueId)>,
}

impl IrModel {
    pub fn add_tensor(&mut self, tensor: IrTensor) -> TensorId {
        self.tensors.push(tensor);
        (self.tensors.len() - 1) as TensorId
    }

    pub fn add_value(&mut self, value: ValueInfo) -> ValueId {
        self.values.push(value);
        (self.values.len() - 1) as ValueId
    }

    /// Adds a constant value backed by a new tensor of the same name.
    pub fn add_constant(&mut self, tensor: IrTensor) -> ValueId {
        let value = ValueInfo {
            name: tensor.name.clone(),
            dtype: tensor.dtype,
            shape: Some(mobiquant_core::Shape::fixed(&tensor.dims)),
            initializer: None,
        };
        let t = self.add_tensor(tensor);
        self.add_value(ValueInfo {
            initializer: Some(t),
            ..value
        })
    }

    /// `wanted`, or `wanted#k` for the first free `k`: tensor names are unique in a model.
    pub fn unique_tensor_name(&self, wanted: &str) -> String {
        let taken = |name: &str| self.tensors.iter().any(|t| t.name == name);
        if !taken(wanted) {
            return wanted.to_string();
        }
        (1..)
            .map(|k| format!("{wanted}#{k}"))
            .find(|n| !taken(n))
            .expect("some suffix is free")
    }

    /// The tensor behind a constant value.
    pub fn constant(&self, v: ValueId) -> Option<&IrTensor> {
        self.tensors
            .get(self.values.get(v as usize)?.initializer? as usize)
    }

    /// How many times each value is read: by node inputs of every graph, graph outputs and
    /// state outputs.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut uses = vec![0usize; self.values.len()];
        for g in &self.graphs {
            for v in g
                .nodes
                .iter()
                .flat_map(|n| n.inputs.iter().flatten())
                .chain(&g.outputs)
            {
                uses[*v as usize] += 1;
            }
        }
        for &(_, output) in &self.states {
            uses[output as usize] += 1;
        }
        uses
    }

    /// Writes the model into a builder, keeping only what is referenced; every tensor row-major.
    pub fn into_builder(self) -> mobiquant_core::Result<ModelBuilder> {
        self.into_builder_with(&[])
    }

    /// [`IrModel::into_builder`], writing the tensors listed in `layouts` in the given layout
    /// (their bytes already arranged for it, e.g. by [`crate::prepack`]).
    pub fn into_builder_with(
        self,
        layouts: &[(TensorId, Layout)],
    ) -> mobiquant_core::Result<ModelBuilder> {
        let mut value_map: Vec<Option<ValueId>> = vec![None; self.values.len()];
        let mut tensor_map: Vec<Option<TensorId>> = vec![None; self.tensors.len()];
        let mut builder = ModelBuilder::new(self.info.clone());
        let mut map_tensor =
            |builder: &mut ModelBuilder, t: TensorId| -> mobiquant_core::Result<TensorId> {
                if let Some(id) = tensor_map[t as usize] {
                    return Ok(id);
                }
                let x = &self.tensors[t as usize];
                let layout = layouts
                    .iter()
                    .find(|(id, _)| *id == t)
                    .map_or(Layout::RowMajor, |(_, l)| *l);
                let id = builder.add_tensor(
                    x.name.clone(),
                    x.dtype,
                    &x.dims,
                    layout,
                    Quantization::None,
                    &x.bytes,
                )?;
                tensor_map[t as usize] = Some(id);
                Ok(id)
            };
        let mut map_value = |builder: &mut ModelBuilder,
                             v: ValueId,
                             map_tensor: &mut dyn FnMut(
            &mut ModelBuilder,
            TensorId,
        )
            -> mobiquant_core::Result<TensorId>|
         -> mobiquant_core::Result<ValueId> {
            if let Some(id) = value_map[v as usize] {
                return Ok(id);
            }
            let mut info = self.values[v as usize].clone();
            info.initializer = info
                .initializer
                .map(|t| map_tensor(builder, t))
                .transpose()?;
            let id = builder.add_value(info);
            value_map[v as usize] = Some(id);
            Ok(id)
        };
        // Bodies whose node was removed are dropped; the rest keep their order (so bodies still
        // come after the graphs that use them).
        let mut reachable = vec![false; self.graphs.len()];
        reachable[0] = true;
        for (g, graph) in self.graphs.iter().enumerate() {
            if !reachable[g] {
                continue;
            }
            for a in graph.nodes.iter().flat_map(|n| &n.attributes) {
                if let AttrValue::Graph(body) = a.value {
                    reachable[body as usize] = true;
                }
            }
        }
        let graph_map: Vec<GraphId> = reachable
            .iter()
            .scan(0, |next, &r| {
                let id = *next;
                *next += u32::from(r);
                Some(id)
            })
            .collect();
        let mut graphs = Vec::with_capacity(self.graphs.len());
        for g in self
            .graphs
            .iter()
            .zip(&reachable)
            .filter(|(_, r)| **r)
            .map(|(g, _)| g)
        {
            let mut out = Graph {
                name: g.name.clone(),
                ..Graph::default()
            };
            for &v in &g.inputs {
                out.inputs
                    .push(map_value(&mut builder, v, &mut map_tensor)?);
            }
            for n in &g.nodes {
                let mut node = Node {
                    name: n.name.clone(),
                    op: n.op.clone(),
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    attributes: n.attributes.clone(),
                };
                for v in &n.inputs {
                    node.inputs.push(
                        v.map(|v| map_value(&mut builder, v, &mut map_tensor))
                            .transpose()?,
                    );
                }
                for &v in &n.outputs {
                    node.outputs
                        .push(map_value(&mut builder, v, &mut map_tensor)?);
                }
                for a in &mut node.attributes {
                    match a.value {
                        AttrValue::Tensor(t) => {
                            a.value = AttrValue::Tensor(map_tensor(&mut builder, t)?)
                        }
                        AttrValue::Graph(body) => {
                            a.value = AttrValue::Graph(graph_map[body as usize])
                        }
                        _ => {}
                    }
                }
                out.nodes.push(node);
            }
            for &v in &g.outputs {
                out.outputs
                    .push(map_value(&mut builder, v, &mut map_tensor)?);
            }
            graphs.push(out);
        }
        for (input, output) in &self.states {
            let i = map_value(&mut builder, *input, &mut map_tensor)?;
            let o = map_value(&mut builder, *output, &mut map_tensor)?;
            builder.add_state(i, o);
        }
        for g in graphs {
            builder.add_graph(g);
        }
        Ok(builder)
    }
}
