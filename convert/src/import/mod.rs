//! Import: an [`OnnxModel`] becomes a float MobiQuant model (an [`IrModel`] for the graph passes).
//!
//! What it does: initializers and `Constant` nodes become stored tensors; graph inputs keep their
//! symbolic dimensions; every node output gets a dtype (declared in the file or inferred by
//! [`dtypes::output_dtype`]); attributes that newer opsets take as inputs are moved there
//! ([`normalize`]); `If` bodies become graphs of their own.
//!
//! Invariants: the result references only values defined before use (ONNX's order is kept);
//! every name the user sees (values, tensors) is the ONNX name, and tensor names stay unique;
//! anything the importer cannot represent is refused with an error naming the node, op and
//! reason, never dropped silently.

pub mod dtypes;
mod normalize;
mod op_versions;
mod opset;
mod support;

pub use opset::NEWEST_OPSET;

pub use support::check_runtime_support;

use std::collections::{HashMap, HashSet};

use mobiquant_core::graph::{GraphId, ValueId};
use mobiquant_core::{
    AttrValue, Attribute, DType, Dim, Graph, ModelInfo, Node, QuantMode, Shape, ValueInfo,
};

use crate::ConvertError;
use crate::ir::{IrModel, IrTensor};
use crate::onnx::{self, AttributeValue, OnnxModel, Tensor, TensorData, TypeProto};

/// What the import did, for the converter's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub opset: i64,
    /// Nodes written, all graphs together.
    pub nodes: usize,
    /// `Constant` nodes turned into stored tensors.
    pub constants_folded: usize,
    pub tensors: usize,
    pub graphs: usize,
}

/// How to import a model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Recurrent states as (graph input, graph output) names: what a run writes to the output
    /// is fed to the input on the next run of a streaming session (e.g. silero VAD's
    /// `state` / `stateN`).
    pub states: Vec<(String, String)>,
}

/// Imports `model` as a float model.
pub fn import(
    model: &OnnxModel,
    options: &ImportOptions,
) -> Result<(IrModel, ImportReport), ConvertError> {
    let graph_name = if model.graph.name.is_empty() {
        "model"
    } else {
        model.graph.name.as_str()
    };
    let mut info = ModelInfo::new(graph_name, QuantMode::Float);
    info.producer = "mobiquant-convert".into();
    info.properties
        .push(("source.format".into(), "onnx".into()));
    info.properties
        .push(("source.opset".into(), model.opset_version().to_string()));
    if !model.producer_name.is_empty() {
        info.properties.push((
            "source.producer".into(),
            format!("{} {}", model.producer_name, model.producer_version)
                .trim()
                .to_string(),
        ));
    }
    for (k, v) in &model.metadata_props {
        info.properties.push((format!("onnx.{k}"), v.clone()));
    }
    let mut importer = Importer {
        model,
        ir: IrModel {
            info,
            tensors: Vec::new(),
            values: Vec::new(),
            graphs: Vec::new(),
            states: Vec::new(),
        },
        values: HashMap::new(),
        declared: HashMap::new(),
        tensor_names: HashSet::new(),
        report: ImportReport {
            opset: model.opset_version(),
            ..ImportReport::default()
        },
    };
    importer.collect_declarations(&model.graph);
    importer.graph(&model.graph)?;
    for (input, output) in &options.states {
        let main = &importer.ir.graphs[0];
        let find = |name: &str, among: &[ValueId], role: &str| {
            importer
                .values
                .get(name)
                .copied()
                .filter(|v| among.contains(v))
                .ok_or_else(|| ConvertError::InvalidOption {
                    option: format!("state {input}={output}"),
                    reason: format!("{name:?} is not an {role} of the main graph"),
                })
        };
        let i = find(input, &main.inputs, "input")?;
        let o = find(output, &main.outputs, "output")?;
        importer.ir.states.push((i, o));
    }
    let Importer { ir, mut report, .. } = importer;
    report.graphs = ir.graphs.len();
    Ok((ir, report))
}

struct Importer<'m> {
    model: &'m OnnxModel,
    /// The model being built. Its graphs are filled in order: a graph's slot is reserved before
    /// its bodies are imported, so bodies get higher ids than the graph that uses them.
    ir: IrModel,
    /// ONNX value name -> MobiQuant value.
    values: HashMap<String, ValueId>,
    /// Types the ONNX file declares (value_info, inputs, outputs of every graph), by name.
    declared: HashMap<String, (Option<DType>, Option<Shape>)>,
    tensor_names: HashSet<String>,
    report: ImportReport,
}

/// The dtype and shape an ONNX value declares. A dimension with neither size nor name (or named
/// "?") gets a symbol of its own (`<value>.dim<i>`), so that two unknown dimensions are never
/// tied together.
fn declared_type(name: &str, ty: &Option<TypeProto>) -> (Option<DType>, Option<Shape>) {
    let Some(TypeProto::Tensor(t)) = ty else {
        return (None, None);
    };
    let shape = t.shape.as_ref().map(|dims| {
        Shape(
            dims.iter()
                .enumerate()
                .map(|(i, d)| match d {
                    onnx::Dim::Value(n) if *n >= 0 => Dim::Fixed(*n as u64),
                    // Some exporters write "?" for "unknown": it must not tie dimensions together.
                    onnx::Dim::Param(s) if !s.is_empty() && s != "?" => Dim::Symbol(s.clone()),
                    _ => Dim::Symbol(format!("{name}.dim{i}")),
                })
                .collect(),
        )
    });
    (dtypes::from_onnx(t.elem_type), shape)
}

impl Importer<'_> {
    fn collect_declarations(&mut self, g: &onnx::Graph) {
        for v in g.inputs.iter().chain(&g.outputs).chain(&g.value_info) {
            self.declared
                .insert(v.name.clone(), declared_type(&v.name, &v.ty));
        }
        for n in &g.nodes {
            for (_, body) in n.subgraphs() {
                self.collect_declarations(body);
            }
        }
    }

    fn unique_tensor_name(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_string();
        let mut k = 1;
        while !self.tensor_names.insert(name.clone()) {
            name = format!("{wanted}#{k}");
            k += 1;
        }
        name
    }

    fn new_value(
        &mut self,
        name: &str,
        dtype: DType,
        shape: Option<Shape>,
        initializer: Option<u32>,
    ) -> ValueId {
        let id = self.ir.add_value(ValueInfo {
            name: name.to_string(),
            dtype,
            shape,
            initializer,
        });
        self.values.insert(name.to_string(), id);
        id
    }

    /// Stores a decoded tensor; returns its tensor id and dtype.
    fn store_tensor(&mut self, name: &str, t: &Tensor) -> Result<(u32, DType), ConvertError> {
        let (dtype, bytes) = tensor_bytes(name, t)?;
        let dims: Vec<u64> = t.dims.iter().map(|&d| d as u64).collect();
        let name = self.unique_tensor_name(name);
        let id = self.ir.add_tensor(IrTensor {
            name,
            dtype,
            dims,
            bytes,
        });
        self.report.tensors += 1;
        Ok((id, dtype))
    }

    /// Adds a constant value named `name` holding `t`.
    fn constant(&mut self, name: &str, t: &Tensor) -> Result<ValueId, ConvertError> {
        let (tensor, dtype) = self.store_tensor(name, t)?;
        let dims = t.dims.iter().map(|&d| d as u64).collect::<Vec<_>>();
        Ok(self.new_value(name, dtype, Some(Shape::fixed(&dims)), Some(tensor)))
    }

    fn graph(&mut self, g: &onnx::Graph) -> Result<GraphId, ConvertError> {
        let id = self.ir.graphs.len() as GraphId;
        self.ir.graphs.push(Graph::default());
        for proto in &g.initializers {
            let t = self.model.decode_tensor(proto)?;
            self.constant(&proto.name, &t)?;
        }
        let mut inputs = Vec::new();
        for v in &g.inputs {
            if self.values.contains_key(&v.name) {
                continue; // an initializer also listed as an input (IR version < 4)
            }
            let Some(TypeProto::Tensor(ty)) = &v.ty else {
                return Err(ConvertError::UnsupportedType {
                    value: format!("graph input {:?}", v.name),
                    reason: "only tensors are supported (not sequences, maps, optionals or sparse tensors)".into(),
                });
            };
            let dtype = dtypes::from_onnx(ty.elem_type).ok_or_else(|| {
                ConvertError::UnsupportedDataType {
                    tensor: format!("graph input {}", v.name),
                    data_type: ty.elem_type,
                }
            })?;
            let (_, shape) = declared_type(&v.name, &v.ty);
            inputs.push(self.new_value(&v.name, dtype, shape, None));
        }
        let mut nodes = Vec::with_capacity(g.nodes.len());
        for (index, n) in g.nodes.iter().enumerate() {
            self.node(g, index, n, &mut nodes)?;
        }
        let outputs = g
            .outputs
            .iter()
            .map(|v| {
                self.values
                    .get(&v.name)
                    .copied()
                    .ok_or_else(|| ConvertError::InvalidGraph {
                        graph: g.name.clone(),
                        location: format!("output {:?}", v.name),
                        reason: "no node produces it".into(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.report.nodes += nodes.len();
        self.ir.graphs[id as usize] = Graph {
            name: g.name.clone(),
            inputs,
            outputs,
            nodes,
        };
        Ok(id)
    }

    /// Imports one node into `nodes` (several when it is rewritten, none for `Constant` nodes,
    /// which become stored tensors).
    fn node(
        &mut self,
        g: &onnx::Graph,
        index: usize,
        n: &onnx::Node,
        nodes: &mut Vec<Node>,
    ) -> Result<(), ConvertError> {
        let name = if n.name.is_empty() {
            format!("{}_{index}", n.op_type)
        } else {
            n.name.clone()
        };
        let unsupported = |reason: String| ConvertError::UnsupportedOp {
            node: name.clone(),
            op: n.op_type.clone(),
            reason,
        };
        if !n.is_default_domain() {
            return Err(unsupported(format!(
                "operators of domain {:?} are not supported",
                n.domain
            )));
        }
        let opset = self.model.opset_version();
        let take = opset::resolve(&n.op_type, opset).map_err(unsupported)?;
        if n.op_type == "Constant" {
            let t = self.constant_node_value(n, &unsupported)?;
            let out = n
                .outputs
                .first()
                .ok_or_else(|| unsupported("it has no output".into()))?;
            self.constant(out, &t)?;
            self.report.constants_folded += 1;
            return Ok(());
        }
        let mut inputs = Vec::with_capacity(n.inputs.len());
        for input in &n.inputs {
            if input.is_empty() {
                inputs.push(None);
                continue;
            }
            let v = self
                .values
                .get(input)
                .copied()
                .ok_or_else(|| ConvertError::InvalidGraph {
                    graph: g.name.clone(),
                    location: format!("node {name:?} ({})", n.op_type),
                    reason: format!("input {input:?} is not defined before it"),
                })?;
            inputs.push(Some(v));
        }
        let moves: Vec<(&str, usize)> =
            normalize::attribute_to_input_moves(&n.op_type, self.model.opset_version()).collect();
        let mut attributes = Vec::with_capacity(n.attributes.len());
        let mut body_outputs = Vec::new();
        for a in &n.attributes {
            if let Some(&(_, position)) = moves.iter().find(|(attr, _)| *attr == a.name) {
                let AttributeValue::Ints(values) = &a.value else {
                    return Err(unsupported(format!(
                        "attribute {:?} is not a list of ints",
                        a.name
                    )));
                };
                let t = Tensor {
                    name: format!("{name}.{}", a.name),
                    dims: vec![values.len()],
                    source_type: onnx::DataType::Int64,
                    data: TensorData::I64(values.clone()),
                };
                let v = self.constant(&format!("{name}.{}", a.name), &t)?;
                if inputs.len() <= position {
                    inputs.resize(position + 1, None);
                }
                inputs[position] = Some(v);
                continue;
            }
            let value = match &a.value {
                AttributeValue::Int(i) => AttrValue::Int(*i),
                AttributeValue::Float(f) => AttrValue::Float(*f),
                AttributeValue::Ints(v) => AttrValue::Ints(v.clone()),
                AttributeValue::Floats(v) => AttrValue::Floats(v.clone()),
                AttributeValue::String(s) => AttrValue::String(
                    String::from_utf8(s.clone())
                        .map_err(|_| unsupported(format!("attribute {:?} is not UTF-8", a.name)))?,
                ),
                AttributeValue::Strings(v) => AttrValue::Strings(
                    v.iter()
                        .map(|s| String::from_utf8(s.clone()))
                        .collect::<Result<_, _>>()
                        .map_err(|_| unsupported(format!("attribute {:?} is not UTF-8", a.name)))?,
                ),
                AttributeValue::Tensor(proto) => {
                    let t = self.model.decode_tensor(proto)?;
                    AttrValue::Tensor(self.store_tensor(&format!("{name}.{}", a.name), &t)?.0)
                }
                AttributeValue::Graph(body) => {
                    let id = self.graph(body)?;
                    if body_outputs.is_empty() {
                        body_outputs = self.ir.graphs[id as usize]
                            .outputs
                            .iter()
                            .map(|&v| self.ir.values[v as usize].dtype)
                            .collect();
                    }
                    AttrValue::Graph(id)
                }
                other => {
                    return Err(unsupported(format!(
                        "attribute {:?} has a kind MobiQuant does not store ({})",
                        a.name,
                        attribute_kind(other)
                    )));
                }
            };
            attributes.push(Attribute {
                name: a.name.clone(),
                value,
            });
        }
        let input_dtypes: Vec<Option<DType>> = inputs
            .iter()
            .map(|v| v.map(|v| self.ir.values[v as usize].dtype))
            .collect();
        let mut outputs = Vec::with_capacity(n.outputs.len());
        for (i, out) in n.outputs.iter().enumerate() {
            let out_name = if out.is_empty() {
                format!("{name}:unused{i}")
            } else {
                out.clone()
            };
            let (declared_dtype, shape) = self.declared.get(out).cloned().unwrap_or((None, None));
            let dtype = declared_dtype
                .or_else(|| dtypes::output_dtype(n, i, &input_dtypes, &body_outputs))
                .ok_or_else(|| {
                    unsupported(format!(
                        "the dtype of output {out_name:?} cannot be determined"
                    ))
                })?;
            outputs.push(self.new_value(&out_name, dtype, shape, None));
        }
        let node = Node {
            name: name.clone(),
            op: n.op_type.clone(),
            inputs,
            outputs,
            attributes,
        };
        match take {
            opset::Take::Rewrite => nodes.extend(self.one_axis_form(node).map_err(unsupported)?),
            opset::Take::AsIs | opset::Take::Unknown => nodes.push(node),
        }
        Ok(())
    }

    /// Softmax, LogSoftmax and Hardmax before opset 13 work on the input flattened to 2-D at
    /// `axis` (default 1). `Flatten(axis)`, the op over the last axis, and a `Reshape` to
    /// `Shape(x)` compute that with the runtime's one-axis op (Flatten and Reshape are views,
    /// Shape folds at plan time).
    fn one_axis_form(&mut self, node: Node) -> Result<[Node; 4], String> {
        let (Some(&Some(x)), &[y]) = (node.inputs.first(), node.outputs.as_slice()) else {
            return Err("it needs one input and one output".into());
        };
        let axis = match node.attributes.iter().find(|a| a.name == "axis") {
            None => 1,
            Some(Attribute {
                value: AttrValue::Int(axis),
                ..
            }) => *axis,
            Some(_) => return Err("attribute \"axis\" is not an int".into()),
        };
        let dtype = self.ir.values[x as usize].dtype;
        let name = node.name;
        let flat = self.new_value(&format!("{name}.flat"), dtype, None, None);
        let rows = self.new_value(&format!("{name}.rows"), dtype, None, None);
        let shape = self.new_value(&format!("{name}.shape"), DType::I64, None, None);
        let int = |name: &str, v: i64| Attribute {
            name: name.into(),
            value: AttrValue::Int(v),
        };
        let one = |suffix: &str, op: &str, inputs: Vec<ValueId>, output, attributes| Node {
            name: format!("{name}{suffix}"),
            op: op.into(),
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: vec![output],
            attributes,
        };
        Ok([
            one(
                ".flatten",
                "Flatten",
                vec![x],
                flat,
                vec![int("axis", axis)],
            ),
            one("", &node.op, vec![flat], rows, vec![int("axis", -1)]),
            one(".shape", "Shape", vec![x], shape, vec![]),
            one(".reshape", "Reshape", vec![rows, shape], y, vec![]),
        ])
    }

    /// The tensor a `Constant` node holds.
    fn constant_node_value(
        &self,
        n: &onnx::Node,
        unsupported: &dyn Fn(String) -> ConvertError,
    ) -> Result<Tensor, ConvertError> {
        let [a] = n.attributes.as_slice() else {
            return Err(unsupported(
                "a Constant node needs exactly one attribute".into(),
            ));
        };
        let scalar = |data: TensorData, ty| Tensor {
            name: String::new(),
            dims: vec![],
            source_type: ty,
            data,
        };
        let list = |data: TensorData, len: usize, ty| Tensor {
            name: String::new(),
            dims: vec![len],
            source_type: ty,
            data,
        };
        Ok(match (a.name.as_str(), &a.value) {
            ("value", AttributeValue::Tensor(proto)) => return self.model.decode_tensor(proto),
            ("value_float", AttributeValue::Float(f)) => {
                scalar(TensorData::F32(vec![*f]), onnx::DataType::Float)
            }
            ("value_int", AttributeValue::Int(i)) => {
                scalar(TensorData::I64(vec![*i]), onnx::DataType::Int64)
            }
            ("value_floats", AttributeValue::Floats(v)) => {
                list(TensorData::F32(v.clone()), v.len(), onnx::DataType::Float)
            }
            ("value_ints", AttributeValue::Ints(v)) => {
                list(TensorData::I64(v.clone()), v.len(), onnx::DataType::Int64)
            }
            (other, _) => {
                return Err(unsupported(format!(
                    "Constant attribute {other:?} is not supported"
                )));
            }
        })
    }
}

/// A decoded ONNX tensor as MobiQuant stores and runs it: dtype and little-endian bytes.
pub fn tensor_bytes(name: &str, t: &Tensor) -> Result<(DType, Vec<u8>), ConvertError> {
    Ok(match &t.data {
        TensorData::F32(v) => (DType::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I8(v) => (DType::I8, v.iter().map(|&x| x as u8).collect()),
        TensorData::U8(v) => (DType::U8, v.clone()),
        TensorData::I32(v) => (DType::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I64(v) => (DType::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::Bool(v) => (DType::Bool, v.iter().map(|&b| u8::from(b)).collect()),
        TensorData::I16(_) => {
            return Err(ConvertError::UnsupportedDataType {
                tensor: name.to_string(),
                data_type: t.source_type,
            });
        }
    })
}

fn attribute_kind(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::SparseTensor(_) | AttributeValue::SparseTensors(_) => "sparse tensor",
        AttributeValue::Tensors(_) => "list of tensors",
        AttributeValue::Graphs(_) => "list of graphs",
        AttributeValue::Type(_) | AttributeValue::Types(_) => "type",
        _ => "scalar",
    }
}
