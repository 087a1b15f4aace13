//! ONNX `ModelProto`/`GraphProto` → IR model and graphs, with subgraphs as nested IR graphs
//! that capture outer values by name.

use super::external::ExternalData;
use super::tensor::{TensorReadError, read_sparse, read_tensor, read_type, sparse_name};
use nnslim_ir::{
    AttrValue, Attribute, Foreign, Graph, Model, NewNode, Op, OpsetId, Scope, ScopedGraph, ValueId,
};
use nnslim_proto::Message;
use nnslim_proto::onnx;
use nnslim_proto::onnx::attribute_proto::AttributeType;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// A problem in the model, with where it is: graph path, node, field.
#[derive(Debug)]
pub struct ImportError {
    /// `graph "main"`, `graph "main" / node "loop1" (Loop) / attribute body`, ...
    pub location: String,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ImportError {}

/// Reads a decoded model. `base_dir` is the folder external data must stay inside (`None` for
/// a model read from memory: external data is then refused).
pub fn import_model(
    proto: onnx::ModelProto,
    base_dir: Option<&Path>,
) -> Result<Model, ImportError> {
    import_with_files(proto, base_dir).map(|(m, _)| m)
}

/// Like [`import_model`], also returning the external data files the model read (canonical
/// paths, sorted).
pub fn import_with_files(
    proto: onnx::ModelProto,
    base_dir: Option<&Path>,
) -> Result<(Model, Vec<std::path::PathBuf>), ImportError> {
    let opsets: Vec<OpsetId> = proto
        .opset_import
        .iter()
        .map(|o| OpsetId {
            domain: o.domain().to_string(),
            version: o.version(),
        })
        .collect();
    let mut ctx = Ctx {
        opsets: opsets
            .iter()
            .map(|o| (canonical_domain(&o.domain).to_string(), o.version))
            .collect(),
        ext: ExternalData::new(base_dir),
    };
    let gp = proto.graph.as_ref().ok_or_else(|| ImportError {
        location: "model".into(),
        message: "the model has no graph".into(),
    })?;
    let path = format!("graph {:?}", gp.name());
    let (graph, captured) = import_graph(gp, &mut ctx, None, &path)?;
    if let Some(name) = captured.first() {
        return Err(ImportError {
            location: path,
            message: format!("value {name:?} is used but never defined"),
        });
    }
    let mut foreign = Vec::new();
    for t in &proto.training_info {
        foreign.push(Foreign {
            field: 20,
            bytes: t.encode_to_vec(),
        });
    }
    for f in &proto.functions {
        foreign.push(Foreign {
            field: 25,
            bytes: f.encode_to_vec(),
        });
    }
    for c in &proto.configuration {
        foreign.push(Foreign {
            field: 26,
            bytes: c.encode_to_vec(),
        });
    }
    let files = ctx.ext.files();
    Ok((
        Model {
            graph,
            ir_version: proto.ir_version(),
            opsets,
            producer_name: proto.producer_name().to_string(),
            producer_version: proto.producer_version().to_string(),
            domain: proto.domain().to_string(),
            model_version: proto.model_version(),
            doc_string: proto.doc_string().to_string(),
            metadata_props: pairs(&proto.metadata_props),
            foreign,
        },
        files,
    ))
}

fn canonical_domain(d: &str) -> &str {
    if d == "ai.onnx" { "" } else { d }
}

fn pairs(entries: &[onnx::StringStringEntryProto]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| (e.key().to_string(), e.value().to_string()))
        .collect()
}

struct Ctx {
    opsets: HashMap<String, i64>,
    ext: ExternalData,
}

/// One graph being read: its IR graph, names in scope, and outer names it captured.
struct Reader<'s> {
    scoped: ScopedGraph<'s>,
    path: String,
}

impl<'s> std::ops::Deref for Reader<'s> {
    type Target = ScopedGraph<'s>;
    fn deref(&self) -> &ScopedGraph<'s> {
        &self.scoped
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.scoped
    }
}

impl Reader<'_> {
    fn err(&self, message: impl Into<String>) -> ImportError {
        ImportError {
            location: self.path.clone(),
            message: message.into(),
        }
    }

    fn define(&mut self, name: &str, v: ValueId, what: &str) -> Result<(), ImportError> {
        if name.is_empty() {
            return Err(self.err(format!("{what} has an empty name")));
        }
        if self.names.insert(name.to_string(), v).is_some() {
            return Err(self.err(format!(
                "value {name:?} is defined more than once (graph input, initializer or node output)"
            )));
        }
        Ok(())
    }
}

fn import_graph(
    gp: &onnx::GraphProto,
    ctx: &mut Ctx,
    outer: Option<&Scope<'_>>,
    path: &str,
) -> Result<(Graph, Vec<String>), ImportError> {
    let mut r = Reader {
        scoped: ScopedGraph::new(outer),
        path: path.to_string(),
    };
    r.graph.name = gp.name().to_string();
    r.graph.doc_string = gp.doc_string().to_string();
    r.graph.metadata_props = pairs(&gp.metadata_props);
    r.graph.quantization_annotation = gp
        .quantization_annotation
        .iter()
        .map(|a| {
            (
                a.tensor_name().to_string(),
                pairs(&a.quant_parameter_tensor_names),
            )
        })
        .collect();

    // Initializers first (dense, then sparse), in file order.
    let mut inits: HashMap<String, ValueId> = HashMap::new();
    for t in &gp.initializer {
        let tensor =
            read_tensor(t, &mut ctx.ext).map_err(|e| tensor_err(&r, "initializer", t.name(), e))?;
        let v = r.graph.add_initializer(t.name(), tensor);
        r.define(t.name(), v, "an initializer")?;
        inits.insert(t.name().to_string(), v);
    }
    for s in &gp.sparse_initializer {
        let name = sparse_name(s).to_string();
        let tensor = read_sparse(s, &mut ctx.ext)
            .map_err(|e| tensor_err(&r, "sparse initializer", &name, e))?;
        let v = r.graph.add_initializer(&name, tensor);
        r.define(&name, v, "a sparse initializer")?;
        inits.insert(name, v);
    }

    // Graph inputs; an input that names an initializer makes that initializer overridable.
    for vi in &gp.input {
        let ty = vi
            .r#type
            .as_ref()
            .map(read_type)
            .transpose()
            .map_err(|e| r.err(format!("graph input {:?}: type: {e}", vi.name())))?;
        let v = match inits.get(vi.name()) {
            Some(&v) => {
                r.graph.list_initializer_as_input(v);
                v
            }
            None => {
                let v = r.graph.add_input(vi.name(), ty.clone().unwrap_or_default());
                r.define(vi.name(), v, "a graph input")?;
                v
            }
        };
        if let Some(ty) = ty {
            r.graph.declare(v, ty);
        }
        let info = r.graph.value_mut(v);
        info.doc_string = vi.doc_string().to_string();
        info.metadata_props = pairs(&vi.metadata_props);
    }

    // What value_info says about a node's outputs is applied as soon as the node is read, so
    // the nodes after it infer from the declared types.
    let value_info: HashMap<&str, &onnx::ValueInfoProto> =
        gp.value_info.iter().map(|vi| (vi.name(), vi)).collect();
    for i in node_order(gp).map_err(|m| r.err(m))? {
        import_node(&gp.node[i], &mut r, ctx)?;
        for o in &gp.node[i].output {
            if let (Some(vi), Some(&v)) = (value_info.get(o.as_str()), r.names.get(o.as_str())) {
                apply_value_info(&mut r, v, vi)?;
            }
        }
    }

    // Inputs and initializers described by value_info (node outputs were handled as they came).
    for vi in &gp.value_info {
        if let Some(&v) = r.names.get(vi.name())
            && !r.graph.value(v).in_value_info
        {
            apply_value_info(&mut r, v, vi)?;
        }
    }

    for vi in &gp.output {
        let v = r.resolve(vi.name()).ok_or_else(|| {
            r.err(format!(
                "graph output {:?} is not produced by any node, graph input or initializer",
                vi.name()
            ))
        })?;
        if let Some(t) = &vi.r#type {
            let ty = read_type(t)
                .map_err(|e| r.err(format!("graph output {:?}: type: {e}", vi.name())))?;
            r.graph.declare(v, ty);
        }
        let info = r.graph.value_mut(v);
        if info.doc_string.is_empty() {
            info.doc_string = vi.doc_string().to_string();
        }
        if info.metadata_props.is_empty() {
            info.metadata_props = pairs(&vi.metadata_props);
        }
        r.graph.add_output(v);
    }
    Ok((r.scoped.graph, r.scoped.captured))
}

/// Records a `value_info` entry on its value: declared type, doc string, metadata.
fn apply_value_info(
    r: &mut Reader<'_>,
    v: ValueId,
    vi: &onnx::ValueInfoProto,
) -> Result<(), ImportError> {
    if let Some(t) = &vi.r#type {
        let ty =
            read_type(t).map_err(|e| r.err(format!("value_info {:?}: type: {e}", vi.name())))?;
        r.graph.declare(v, ty);
    }
    let info = r.graph.value_mut(v);
    info.in_value_info = true;
    if info.doc_string.is_empty() {
        info.doc_string = vi.doc_string().to_string();
    }
    if info.metadata_props.is_empty() {
        info.metadata_props = pairs(&vi.metadata_props);
    }
    Ok(())
}

fn tensor_err(r: &Reader<'_>, what: &str, name: &str, e: TensorReadError) -> ImportError {
    r.err(format!("{what} {name:?}: {e}"))
}

/// Node indices in a topological order: file order when the file is sorted (as ONNX requires),
/// otherwise a stable sort by data dependencies. A cycle is an error.
fn node_order(gp: &onnx::GraphProto) -> Result<Vec<usize>, String> {
    let n = gp.node.len();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in gp.node.iter().enumerate() {
        for o in &node.output {
            if !o.is_empty() {
                producer.entry(o.as_str()).or_insert(i);
            }
        }
    }
    let mut sorted = true;
    let mut indeg = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (j, node) in gp.node.iter().enumerate() {
        for inp in &node.input {
            if let Some(&i) = producer.get(inp.as_str()) {
                if i >= j {
                    sorted = false;
                }
                indeg[j] += 1;
                users[i].push(j);
            }
        }
    }
    if sorted {
        return Ok((0..n).collect());
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&j| indeg[j] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &users[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() < n {
        let stuck = (0..n).find(|j| !order.contains(j)).unwrap_or(0);
        let node = &gp.node[stuck];
        return Err(format!(
            "the graph has a cycle through node {:?} ({}) producing {:?}",
            node.name(),
            node.op_type(),
            node.output.first().map(String::as_str).unwrap_or("")
        ));
    }
    Ok(order)
}

fn node_label(node: &onnx::NodeProto) -> String {
    if node.name().is_empty() {
        format!(
            "node <{}> ({})",
            node.output.first().map(String::as_str).unwrap_or(""),
            node.op_type()
        )
    } else {
        format!("node {:?} ({})", node.name(), node.op_type())
    }
}

fn import_node(
    node: &onnx::NodeProto,
    r: &mut Reader<'_>,
    ctx: &mut Ctx,
) -> Result<(), ImportError> {
    let label = node_label(node);
    let nerr = |r: &Reader<'_>, m: String| r.err(format!("{label}: {m}"));
    if node.op_type().is_empty() {
        return Err(nerr(r, "the node has an empty op_type".into()));
    }
    let domain = node.domain();
    let opset = *ctx.opsets.get(canonical_domain(domain)).ok_or_else(|| {
        nerr(
            r,
            format!(
                "domain {:?} is not imported by the model (opset_import lists {:?})",
                domain,
                ctx.opsets.keys().collect::<Vec<_>>()
            ),
        )
    })?;

    let mut attrs = Vec::with_capacity(node.attribute.len());
    let mut sub_captures: Vec<String> = Vec::new();
    for a in &node.attribute {
        let path = format!("{} / {label} / attribute {}", r.path, a.name());
        let scope = r.scope();
        let (attr, caps) = read_attr(a, ctx, &scope, &path)?;
        for c in caps {
            if !sub_captures.contains(&c) {
                sub_captures.push(c);
            }
        }
        attrs.push(attr);
    }
    let mut captures = Vec::with_capacity(sub_captures.len());
    for name in &sub_captures {
        let v = r.resolve(name).ok_or_else(|| {
            nerr(
                r,
                format!("a subgraph reads {name:?}, which no enclosing graph defines"),
            )
        })?;
        captures.push(v);
    }

    let op = Op::from_onnx(canonical_domain(domain), node.op_type(), opset, attrs)
        .map_err(|e| nerr(r, e.to_string()))?;

    let mut inputs = Vec::with_capacity(node.input.len());
    for (slot, name) in node.input.iter().enumerate() {
        if name.is_empty() {
            inputs.push(None);
            continue;
        }
        let v = r.resolve(name).ok_or_else(|| {
            nerr(
                r,
                format!(
                    "input {slot} {name:?} is not produced by any node, graph input or initializer"
                ),
            )
        })?;
        inputs.push(Some(v));
    }
    let id = r
        .graph
        .add_node(NewNode {
            name: node.name().to_string(),
            op,
            inputs,
            outputs: node.output.clone(),
            captures,
            doc_string: node.doc_string().to_string(),
        })
        .map_err(|e| nerr(r, graph_error_message(e)))?;
    r.graph.set_node_extras(
        id,
        node.doc_string().to_string(),
        node.overload().to_string(),
        pairs(&node.metadata_props),
    );
    for (slot, name) in node.output.iter().enumerate() {
        if !name.is_empty() {
            let v = ValueId {
                node: id,
                slot: slot as u32,
            };
            r.define(name, v, "a node output")?;
        }
    }
    Ok(())
}

/// The message of a graph error without the node prefix the caller already adds.
fn graph_error_message(e: nnslim_ir::GraphError) -> String {
    match e {
        nnslim_ir::GraphError::Op { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn read_attr(
    a: &onnx::AttributeProto,
    ctx: &mut Ctx,
    scope: &Scope<'_>,
    path: &str,
) -> Result<(Attribute, Vec<String>), ImportError> {
    let err = |m: String| ImportError {
        location: path.to_string(),
        message: m,
    };
    let terr = |e: TensorReadError| err(e.to_string());
    let kind = match a.r#type {
        Some(t) if t != AttributeType::Undefined as i32 => {
            AttributeType::try_from(t).map_err(|_| err(format!("unknown attribute type {t}")))?
        }
        _ => guess_kind(a).ok_or_else(|| err("the attribute has no value".into()))?,
    };
    let mut captured = Vec::new();
    let mut sub = |g: &onnx::GraphProto, ctx: &mut Ctx, i: usize| -> Result<Graph, ImportError> {
        let p = format!("{path}[{i}] graph {:?}", g.name());
        let (graph, caps) = import_graph(g, ctx, Some(scope), &p)?;
        for c in caps {
            if !captured.contains(&c) {
                captured.push(c);
            }
        }
        Ok(graph)
    };
    use AttributeType as K;
    let value = match kind {
        K::Float => AttrValue::Float(a.f()),
        K::Int => AttrValue::Int(a.i()),
        K::String => AttrValue::String(a.s().to_vec()),
        K::Tensor => AttrValue::Tensor(
            read_tensor(
                a.t.as_ref()
                    .ok_or_else(|| err("TENSOR attribute without a tensor".into()))?,
                &mut ctx.ext,
            )
            .map_err(terr)?,
        ),
        K::Graph => AttrValue::Graph(Box::new(sub(
            a.g.as_ref()
                .ok_or_else(|| err("GRAPH attribute without a graph".into()))?,
            ctx,
            0,
        )?)),
        K::SparseTensor => AttrValue::SparseTensor(
            read_sparse(
                a.sparse_tensor
                    .as_ref()
                    .ok_or_else(|| err("SPARSE_TENSOR attribute without a tensor".into()))?,
                &mut ctx.ext,
            )
            .map_err(terr)?,
        ),
        K::TypeProto => AttrValue::Type(
            read_type(
                a.tp.as_ref()
                    .ok_or_else(|| err("TYPE_PROTO attribute without a type".into()))?,
            )
            .map_err(terr)?,
        ),
        K::Floats => AttrValue::Floats(a.floats.clone()),
        K::Ints => AttrValue::Ints(a.ints.clone()),
        K::Strings => AttrValue::Strings(a.strings.clone()),
        K::Tensors => AttrValue::Tensors(
            a.tensors
                .iter()
                .map(|t| read_tensor(t, &mut ctx.ext))
                .collect::<Result<_, _>>()
                .map_err(terr)?,
        ),
        K::Graphs => {
            let mut gs = Vec::with_capacity(a.graphs.len());
            for (i, g) in a.graphs.iter().enumerate() {
                gs.push(sub(g, ctx, i)?);
            }
            AttrValue::Graphs(gs)
        }
        K::SparseTensors => AttrValue::SparseTensors(
            a.sparse_tensors
                .iter()
                .map(|t| read_sparse(t, &mut ctx.ext))
                .collect::<Result<_, _>>()
                .map_err(terr)?,
        ),
        K::TypeProtos => AttrValue::Types(
            a.type_protos
                .iter()
                .map(read_type)
                .collect::<Result<_, _>>()
                .map_err(terr)?,
        ),
        K::Undefined => return Err(err("the attribute has no value".into())),
    };
    Ok((
        Attribute {
            name: a.name().to_string(),
            value,
            doc_string: a.doc_string().to_string(),
            ref_attr_name: a.ref_attr_name.clone(),
        },
        captured,
    ))
}

/// The kind of an attribute written without its `type` field (old files): whichever value is set.
fn guess_kind(a: &onnx::AttributeProto) -> Option<AttributeType> {
    use AttributeType as K;
    Some(if a.f.is_some() {
        K::Float
    } else if a.i.is_some() {
        K::Int
    } else if a.s.is_some() {
        K::String
    } else if a.t.is_some() {
        K::Tensor
    } else if a.g.is_some() {
        K::Graph
    } else if a.sparse_tensor.is_some() {
        K::SparseTensor
    } else if a.tp.is_some() {
        K::TypeProto
    } else if !a.floats.is_empty() {
        K::Floats
    } else if !a.ints.is_empty() {
        K::Ints
    } else if !a.strings.is_empty() {
        K::Strings
    } else if !a.tensors.is_empty() {
        K::Tensors
    } else if !a.graphs.is_empty() {
        K::Graphs
    } else if !a.sparse_tensors.is_empty() {
        K::SparseTensors
    } else if !a.type_protos.is_empty() {
        K::TypeProtos
    } else {
        return None;
    })
}
