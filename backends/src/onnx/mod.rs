//! The ONNX writer: IR model → `ModelProto` (→ bytes). What no pass changed comes back with the
//! same meaning; large tensors can go to an external data file.

mod tensor;

pub use tensor::{tensor_to_proto, type_to_proto};

use bytes::Bytes;
use nnslim_ir::{AttrValue, Attribute, Graph, Model, Op, TensorData, Type, ValueId, node_label};
use nnslim_proto::onnx;
use nnslim_proto::{Message, onnx::attribute_proto::AttributeType};
use std::fmt;

/// Where tensor data goes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ExternalPolicy {
    /// Everything inline, unless the file would pass protobuf's 2 GiB limit; then as `Threshold(1024)`.
    #[default]
    Auto,
    /// Everything inline (a model over 2 GiB then cannot be written).
    Never,
    /// Initializers of at least this many bytes go to the external data file.
    Threshold(u64),
}

/// Options of the ONNX writer.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub external: ExternalPolicy,
    /// File name (relative to the model's folder) of the external data file; the driver
    /// derives it from the output name (`model.onnx` → `model.onnx.data`).
    pub external_location: String,
}

/// Tensor payloads destined for the external data file, in file order.
#[derive(Clone, Debug, Default)]
pub struct ExternalFile {
    pub location: String,
    /// Chunks with their offsets; gaps between them are alignment padding (zeros).
    pub chunks: Vec<(u64, Bytes)>,
    pub len: u64,
}

/// Why a model could not be written.
#[derive(Debug)]
pub struct WriteError {
    pub location: String,
    pub message: String,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for WriteError {}

/// Protobuf cannot hold a message of 2 GiB or more.
const PROTOBUF_LIMIT: u64 = (1 << 31) - 1;
/// External data offsets are aligned for memory mapping.
const EXTERNAL_ALIGN: u64 = 4096;

/// The IR version to write: the model's, raised to 4 when the graph has an initializer that is
/// not also a graph input (IR 3 required every initializer to be listed as an input; passes
/// create weights that are not).
fn ir_version(model: &Model) -> i64 {
    let g = &model.graph;
    let unlisted = g.initializers().iter().any(|v| !g.is_input(v.node));
    if model.ir_version < 4 && unlisted {
        4
    } else {
        model.ir_version
    }
}

/// Converts a model to its ONNX form. Returns the `ModelProto` and, when tensors went external,
/// the external data to write beside it.
pub fn model_to_proto(
    model: &Model,
    opts: &WriteOptions,
) -> Result<(onnx::ModelProto, Option<ExternalFile>), WriteError> {
    let threshold = match opts.external {
        ExternalPolicy::Never => None,
        ExternalPolicy::Threshold(t) => Some(t),
        ExternalPolicy::Auto => {
            let total: u64 = initializer_bytes(&model.graph);
            (total >= PROTOBUF_LIMIT / 2).then_some(1024)
        }
    };
    let mut w = Writer {
        model,
        threshold,
        external: ExternalFile {
            location: opts.external_location.clone(),
            ..ExternalFile::default()
        },
    };
    let graph = w.graph(&model.graph, "graph")?;
    let mut proto = onnx::ModelProto {
        ir_version: Some(ir_version(model)),
        opset_import: model
            .opsets
            .iter()
            .map(|o| onnx::OperatorSetIdProto {
                domain: Some(o.domain.clone()),
                version: Some(o.version),
            })
            .collect(),
        producer_name: non_empty(&model.producer_name),
        producer_version: non_empty(&model.producer_version),
        domain: non_empty(&model.domain),
        model_version: (model.model_version != 0).then_some(model.model_version),
        doc_string: non_empty(&model.doc_string),
        graph: Some(graph),
        metadata_props: entries(&model.metadata_props),
        ..Default::default()
    };
    for f in &model.foreign {
        let bad = |e: nnslim_proto::prost::DecodeError| WriteError {
            location: "model".into(),
            message: format!("carried model field {} does not decode: {e}", f.field),
        };
        match f.field {
            20 => proto
                .training_info
                .push(onnx::TrainingInfoProto::decode(&f.bytes[..]).map_err(bad)?),
            25 => proto
                .functions
                .push(onnx::FunctionProto::decode(&f.bytes[..]).map_err(bad)?),
            26 => proto
                .configuration
                .push(onnx::DeviceConfigurationProto::decode(&f.bytes[..]).map_err(bad)?),
            other => {
                return Err(WriteError {
                    location: "model".into(),
                    message: format!("no ONNX model field {other} to carry"),
                });
            }
        }
    }
    let external = (!w.external.chunks.is_empty()).then_some(w.external);
    if external.is_none() && proto.encoded_len() as u64 > PROTOBUF_LIMIT {
        return Err(WriteError {
            location: "model".into(),
            message: "the model is over protobuf's 2 GiB limit: write its tensors as external data"
                .into(),
        });
    }
    Ok((proto, external))
}

/// Encodes a model to `.onnx` bytes with every tensor inline.
pub fn model_to_bytes(model: &Model) -> Result<Vec<u8>, WriteError> {
    let opts = WriteOptions {
        external: ExternalPolicy::Never,
        ..WriteOptions::default()
    };
    Ok(model_to_proto(model, &opts)?.0.encode_to_vec())
}

fn initializer_bytes(g: &Graph) -> u64 {
    g.initializers()
        .iter()
        .filter_map(|v| match &g.node(v.node).op {
            Op::Initializer(t) => Some(t.storage_size()),
            _ => None,
        })
        .sum()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn entries(p: &[(String, String)]) -> Vec<onnx::StringStringEntryProto> {
    p.iter()
        .map(|(k, v)| onnx::StringStringEntryProto {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

struct Writer<'m> {
    model: &'m Model,
    threshold: Option<u64>,
    external: ExternalFile,
}

impl Writer<'_> {
    fn graph(&mut self, g: &Graph, path: &str) -> Result<onnx::GraphProto, WriteError> {
        let err = |location: String, message: String| WriteError { location, message };
        let order = g
            .topo_order()
            .map_err(|e| err(path.to_string(), e.to_string()))?;
        let mut gp = onnx::GraphProto {
            name: Some(g.name.clone()),
            doc_string: non_empty(&g.doc_string),
            metadata_props: entries(&g.metadata_props),
            quantization_annotation: g
                .quantization_annotation
                .iter()
                .map(|(name, pairs)| onnx::TensorAnnotation {
                    tensor_name: Some(name.clone()),
                    quant_parameter_tensor_names: entries(pairs),
                })
                .collect(),
            ..Default::default()
        };
        for v in g.initializers() {
            let name = &g.value(v).name;
            let Op::Initializer(t) = &g.node(v.node).op else {
                continue;
            };
            if let TensorData::Sparse(_) = t.data {
                gp.sparse_initializer.push(tensor::sparse_to_proto(name, t));
            } else {
                let mut tp = tensor_to_proto(name, t);
                self.maybe_external(&mut tp);
                gp.initializer.push(tp);
            }
        }
        for v in g.inputs() {
            gp.input.push(value_info(g, v, false));
        }
        for &id in &order {
            let node = g.node(id);
            if node.op.is_source() {
                continue;
            }
            let label = format!("{path} / node {}", node_label(node));
            let opset = self.model.opset(node.op.domain()).ok_or_else(|| {
                err(
                    label.clone(),
                    format!(
                        "domain {:?} is not in the model's opset_import",
                        node.op.domain()
                    ),
                )
            })?;
            let spelled = node
                .op
                .to_onnx(opset)
                .map_err(|e| err(label.clone(), e.to_string()))?;
            let mut attribute = Vec::with_capacity(spelled.attrs.len());
            for a in &spelled.attrs {
                attribute.push(self.attr(a, &format!("{label} / attribute {}", a.name))?);
            }
            gp.node.push(onnx::NodeProto {
                input: node
                    .inputs()
                    .iter()
                    .map(|i| i.map(|v| g.value(v).name.clone()).unwrap_or_default())
                    .collect(),
                output: node.outputs().iter().map(|o| o.name.clone()).collect(),
                name: Some(node.name.clone()),
                op_type: Some(spelled.op_type),
                domain: Some(spelled.domain),
                overload: non_empty(&node.overload),
                attribute,
                doc_string: non_empty(&node.doc_string),
                metadata_props: entries(&node.metadata_props),
                device_configurations: Vec::new(),
            });
            for slot in 0..node.outputs().len() {
                let v = ValueId {
                    node: id,
                    slot: slot as u32,
                };
                if g.value(v).in_value_info {
                    gp.value_info.push(value_info(g, v, false));
                }
            }
        }
        for &v in g.outputs() {
            gp.output.push(value_info(g, v, true));
        }
        Ok(gp)
    }

    fn maybe_external(&mut self, tp: &mut onnx::TensorProto) {
        let Some(threshold) = self.threshold else {
            return;
        };
        let Some(raw) = tp.raw_data.as_ref() else {
            return;
        };
        if (raw.len() as u64) < threshold || raw.is_empty() {
            return;
        }
        let raw = tp.raw_data.take().unwrap_or_default();
        let offset = self.external.len.next_multiple_of(EXTERNAL_ALIGN);
        let len = raw.len() as u64;
        self.external.chunks.push((offset, raw));
        self.external.len = offset + len;
        tp.data_location = Some(onnx::tensor_proto::DataLocation::External as i32);
        tp.external_data = entries(&[
            ("location".to_string(), self.external.location.clone()),
            ("offset".to_string(), offset.to_string()),
            ("length".to_string(), len.to_string()),
        ]);
    }

    fn attr(&mut self, a: &Attribute, path: &str) -> Result<onnx::AttributeProto, WriteError> {
        use AttributeType as K;
        let mut p = onnx::AttributeProto {
            name: Some(a.name.clone()),
            ref_attr_name: a.ref_attr_name.clone(),
            doc_string: non_empty(&a.doc_string),
            ..Default::default()
        };
        let kind = match &a.value {
            AttrValue::Float(f) => {
                p.f = Some(*f);
                K::Float
            }
            AttrValue::Int(i) => {
                p.i = Some(*i);
                K::Int
            }
            AttrValue::String(s) => {
                p.s = Some(s.clone());
                K::String
            }
            AttrValue::Tensor(t) => {
                p.t = Some(tensor_to_proto("", t));
                K::Tensor
            }
            AttrValue::Graph(g) => {
                p.g = Some(self.graph(g, &format!("{path} graph {:?}", g.name))?);
                K::Graph
            }
            AttrValue::SparseTensor(t) => {
                p.sparse_tensor = Some(tensor::sparse_to_proto("", t));
                K::SparseTensor
            }
            AttrValue::Type(t) => {
                p.tp = Some(type_to_proto(t));
                K::TypeProto
            }
            AttrValue::Floats(v) => {
                p.floats = v.clone();
                K::Floats
            }
            AttrValue::Ints(v) => {
                p.ints = v.clone();
                K::Ints
            }
            AttrValue::Strings(v) => {
                p.strings = v.clone();
                K::Strings
            }
            AttrValue::Tensors(v) => {
                p.tensors = v.iter().map(|t| tensor_to_proto("", t)).collect();
                K::Tensors
            }
            AttrValue::Graphs(gs) => {
                for g in gs {
                    let sub = self.graph(g, &format!("{path} graph {:?}", g.name))?;
                    p.graphs.push(sub);
                }
                K::Graphs
            }
            AttrValue::SparseTensors(v) => {
                p.sparse_tensors = v.iter().map(|t| tensor::sparse_to_proto("", t)).collect();
                K::SparseTensors
            }
            AttrValue::Types(v) => {
                p.type_protos = v.iter().map(type_to_proto).collect();
                K::TypeProtos
            }
        };
        p.r#type = Some(kind as i32);
        Ok(p)
    }
}

/// A value's `ValueInfoProto`: the declared type where the file had one, else the inferred
/// type. Graph outputs get a shape whenever one is known (`onnx.checker` wants it).
fn value_info(g: &Graph, v: ValueId, is_output: bool) -> onnx::ValueInfoProto {
    let info = g.value(v);
    let ty = match (&info.declared, is_output) {
        (Some(Type::Tensor(d)), true) if d.shape.is_none() && info.ty.shape().is_some() => {
            Some(info.ty.clone())
        }
        (Some(d), _) => Some(d.clone()),
        (None, _) => Some(info.ty.clone()),
    };
    onnx::ValueInfoProto {
        name: Some(info.name.clone()),
        r#type: ty
            .filter(|t| *t != Type::Unknown)
            .map(|t| type_to_proto(&t)),
        doc_string: non_empty(&info.doc_string),
        metadata_props: entries(&info.metadata_props),
    }
}
