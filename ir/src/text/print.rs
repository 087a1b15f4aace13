//! The printer: models, graphs, nodes, attributes and types as deterministic text.

use super::literal::{fmt_f32, write_tensor};
use super::{is_bare_name, is_ident, quote};
use crate::op::MAX_KNOWN_OPSET;
use crate::{AttrValue, Attribute, Dim, Graph, Model, Node, Op, TensorType, Type};
use std::fmt::Write as _;

/// Words the parser reads as statement keywords; an op type spelled like one is quoted.
const KEYWORDS: [&str; 5] = ["input", "const", "output", "graph", "_"];

/// Prints a model: a header line with IR version, opsets and producer, then its graph.
pub fn print_model(model: &Model) -> String {
    let mut out = String::new();
    let _ = write!(out, "model ir_version={} opsets=[", model.ir_version);
    for (i, o) in model.opsets.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}={}", quote(o.domain.as_bytes()), o.version);
    }
    out.push(']');
    for (key, v) in [
        ("producer", &model.producer_name),
        ("producer_version", &model.producer_version),
        ("domain", &model.domain),
    ] {
        if !v.is_empty() {
            let _ = write!(out, " {key}={}", quote(v.as_bytes()));
        }
    }
    if model.model_version != 0 {
        let _ = write!(out, " model_version={}", model.model_version);
    }
    out.push('\n');
    let opset = model.opset("").unwrap_or(MAX_KNOWN_OPSET);
    Printer { out, opset }.graph(&model.graph, 0)
}

/// Prints a graph (and its subgraphs); typed ops are spelled as `opset` of the default domain
/// spells them.
pub fn print_graph(graph: &Graph, opset: i64) -> String {
    Printer {
        out: String::new(),
        opset,
    }
    .graph(graph, 0)
}

struct Printer {
    out: String,
    opset: i64,
}

impl Printer {
    fn graph(mut self, g: &Graph, indent: usize) -> String {
        self.write_graph(g, indent);
        self.out.push('\n');
        self.out
    }

    fn pad(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    /// `graph "name" { ... }`, the closing brace at `indent`, no newline after it.
    fn write_graph(&mut self, g: &Graph, indent: usize) {
        let _ = writeln!(self.out, "graph {} {{", quote(g.name.as_bytes()));
        let inner = indent + 2;
        for v in g.inputs() {
            let node = g.node(v.node);
            self.pad(inner);
            match &node.op {
                Op::Initializer(t) => {
                    self.out.push_str("input const ");
                    self.out.push_str(&value_name(&g.value(v).name));
                    self.out.push_str(": ");
                    write_tensor(&mut self.out, t);
                }
                _ => {
                    self.out.push_str("input ");
                    self.out.push_str(&value_name(&g.value(v).name));
                    self.out.push_str(": ");
                    write_type(&mut self.out, &g.value(v).ty);
                }
            }
            self.out.push('\n');
        }
        for v in g.initializers() {
            if g.is_input(v.node) {
                continue;
            }
            if let Op::Initializer(t) = &g.node(v.node).op {
                self.pad(inner);
                self.out.push_str("const ");
                self.out.push_str(&value_name(&g.value(v).name));
                self.out.push_str(": ");
                write_tensor(&mut self.out, t);
                self.out.push('\n');
            }
        }
        let order = match g.topo_order() {
            Ok(order) => order,
            Err(e) => {
                self.pad(inner);
                let _ = writeln!(self.out, "# error: {e}");
                let mut ids: Vec<_> = g.node_ids().collect();
                ids.sort();
                ids
            }
        };
        for id in order {
            let node = g.node(id);
            if !node.op.is_source() {
                self.write_node(g, node, inner);
            }
        }
        for v in g.outputs() {
            self.pad(inner);
            let info = g.value(*v);
            self.out.push_str("output ");
            self.out.push_str(&value_name(&info.name));
            self.out.push_str(": ");
            write_type(&mut self.out, &info.ty);
            self.out.push('\n');
        }
        self.pad(indent);
        self.out.push('}');
    }

    fn write_node(&mut self, g: &Graph, node: &Node, indent: usize) {
        self.pad(indent);
        if !node.outputs().is_empty() {
            for (i, o) in node.outputs().iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.out.push_str(&output_name(&o.name));
            }
            self.out.push_str(" = ");
        }
        let onnx = node.op.to_onnx(self.opset);
        let (domain, op_type) = match &onnx {
            Ok(o) => (o.domain.as_str(), o.op_type.as_str()),
            Err(_) => (node.op.domain(), node.op.op_type()),
        };
        if !domain.is_empty() {
            self.out.push_str(&op_name(domain));
            self.out.push_str("::");
        }
        self.out.push_str(&op_name(op_type));
        self.out.push('(');
        for (i, v) in node.inputs().iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            match v {
                Some(v) => self.out.push_str(&value_name(&g.value(*v).name)),
                None => self.out.push('_'),
            }
        }
        self.out.push(')');
        match &onnx {
            Ok(o) => self.write_attrs(&o.attrs, indent),
            Err(e) => {
                let _ = write!(self.out, " {{!error {}}}", quote(e.to_string().as_bytes()));
            }
        }
        if !node.outputs().is_empty() {
            self.out.push_str(" : ");
            for (i, o) in node.outputs().iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                write_type(&mut self.out, &o.ty);
            }
        }
        if !node.name.is_empty() {
            self.out.push_str(" @");
            self.out.push_str(&quote(node.name.as_bytes()));
        }
        self.out.push('\n');
    }

    /// ` {a=1, b=[1,2]}` on one line, or one attribute per line when any holds a graph.
    fn write_attrs(&mut self, attrs: &[Attribute], indent: usize) {
        if attrs.is_empty() {
            return;
        }
        let multiline = attrs.iter().any(|a| !a.value.graphs().is_empty());
        self.out.push_str(" {");
        for (i, a) in attrs.iter().enumerate() {
            if multiline {
                self.out.push('\n');
                self.pad(indent + 2);
            } else if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&attr_name(&a.name));
            self.out.push('=');
            self.write_attr_value(&a.value, indent + 2);
            if multiline && i + 1 < attrs.len() {
                self.out.push(',');
            }
        }
        if multiline {
            self.out.push('\n');
            self.pad(indent);
        }
        self.out.push('}');
    }

    fn write_attr_value(&mut self, v: &AttrValue, indent: usize) {
        let out = &mut self.out;
        match v {
            AttrValue::Float(x) => out.push_str(&fmt_f32(*x)),
            AttrValue::Int(x) => {
                let _ = write!(out, "{x}");
            }
            AttrValue::String(s) => out.push_str(&quote(s)),
            AttrValue::Tensor(t) => {
                out.push_str("tensor(");
                write_tensor(out, t);
                out.push(')');
            }
            AttrValue::SparseTensor(t) => {
                out.push_str("sparse_tensor(");
                write_tensor(out, t);
                out.push(')');
            }
            AttrValue::Graph(g) => self.write_graph(g, indent),
            AttrValue::Type(t) => {
                out.push_str("type(");
                write_type(out, t);
                out.push(')');
            }
            AttrValue::Ints(xs) => list(out, "ints", xs.iter().map(|x| x.to_string())),
            AttrValue::Floats(xs) => list(out, "floats", xs.iter().map(|x| fmt_f32(*x))),
            AttrValue::Strings(xs) => list(out, "strings", xs.iter().map(|s| quote(s))),
            AttrValue::Tensors(ts) => {
                out.push_str("tensors[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_tensor(out, t);
                }
                out.push(']');
            }
            AttrValue::SparseTensors(ts) => {
                out.push_str("sparse_tensors[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_tensor(out, t);
                }
                out.push(']');
            }
            AttrValue::Types(ts) => {
                out.push_str("types[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_type(out, t);
                }
                out.push(']');
            }
            AttrValue::Graphs(gs) => {
                self.out.push_str("graphs[");
                for (i, g) in gs.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.write_graph(g, indent);
                }
                self.out.push(']');
            }
        }
    }
}

/// `[a,b]`, or `kind[]` when empty (so that the parser knows the kind).
fn list(out: &mut String, kind: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        out.push_str(kind);
    }
    out.push('[');
    out.push_str(&items.join(","));
    out.push(']');
}

/// `%name`, or `%"name"` when it needs quoting.
pub(crate) fn value_name(name: &str) -> String {
    if is_bare_name(name) {
        format!("%{name}")
    } else {
        format!("%{}", quote(name.as_bytes()))
    }
}

/// A node output: its name, or `_` for an unused optional output.
fn output_name(name: &str) -> String {
    if name.is_empty() {
        "_".into()
    } else {
        value_name(name)
    }
}

fn op_name(s: &str) -> String {
    if is_ident(s) && !KEYWORDS.contains(&s) {
        s.to_string()
    } else {
        quote(s.as_bytes())
    }
}

fn attr_name(s: &str) -> String {
    if is_ident(s) {
        s.to_string()
    } else {
        quote(s.as_bytes())
    }
}

/// Writes a type: `f32[N,3]`, `f32[*]`, `?`, `seq<...>`, ... (symbols quoted when needed).
pub(crate) fn write_type(out: &mut String, t: &Type) {
    match t {
        Type::Unknown => out.push('?'),
        Type::Tensor(tt) => write_tensor_type(out, tt),
        Type::SparseTensor(tt) => {
            out.push_str("sparse<");
            write_tensor_type(out, tt);
            out.push('>');
        }
        Type::Sequence(t) => {
            out.push_str("seq<");
            write_type(out, t);
            out.push('>');
        }
        Type::Map(k, v) => {
            let _ = write!(out, "map<{k},");
            write_type(out, v);
            out.push('>');
        }
        Type::Optional(t) => {
            out.push_str("opt<");
            write_type(out, t);
            out.push('>');
        }
        Type::Opaque(d, n) => {
            let _ = write!(
                out,
                "opaque<{},{}>",
                quote(d.as_bytes()),
                quote(n.as_bytes())
            );
        }
    }
}

fn write_tensor_type(out: &mut String, tt: &TensorType) {
    out.push_str(tt.dtype.name());
    let Some(dims) = &tt.shape else {
        out.push_str("[*]");
        return;
    };
    out.push('[');
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match d {
            Dim::Known(v) => {
                let _ = write!(out, "{v}");
            }
            Dim::Unknown => out.push('?'),
            Dim::Symbol(s) if is_ident(s) => out.push_str(s),
            Dim::Symbol(s) => out.push_str(&quote(s.as_bytes())),
        }
    }
    out.push(']');
}
