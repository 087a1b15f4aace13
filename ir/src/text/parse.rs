//! The parser: text IR → model and graphs, built through the `Graph` API with ops parsed by
//! `Op::from_onnx` (exactly as ONNX import parses them).

use super::ParseError;
use super::lexer::{Cursor, Tok};
use super::literal_parse::parse_literal_for;
use super::parse_attr::{parse_attrs, parse_type};
use crate::{Graph, Model, NewNode, Op, OpsetId, Scope, ScopedGraph, Type, ValueId, tensor_type};

/// Parses a whole model: the `model ...` header line and its graph.
pub fn parse_model(text: &str) -> Result<Model, ParseError> {
    let mut cur = Cursor::new(text)?;
    let mut model = Model::default();
    cur.expect_ident("model")?;
    let mut seen: Vec<String> = Vec::new();
    while !cur.is_ident("graph") {
        let at = cur.mark();
        let key = match cur.next() {
            Tok::Ident(k) => k,
            t => {
                return Err(cur.err_at(
                    at,
                    format!("expected a model field or 'graph', found {}", t.describe()),
                ));
            }
        };
        if seen.contains(&key) {
            return Err(cur.err_at(at, format!("model field '{key}' given twice")));
        }
        cur.expect_punct('=')?;
        match key.as_str() {
            "ir_version" => model.ir_version = cur.int("an IR version")?,
            "model_version" => model.model_version = cur.int("a model version")?,
            "producer" => model.producer_name = cur.utf8("a producer name")?,
            "producer_version" => model.producer_version = cur.utf8("a producer version")?,
            "domain" => model.domain = cur.utf8("a model domain")?,
            "opsets" => {
                cur.expect_punct('[')?;
                while !cur.eat_punct(']') {
                    let domain = cur.utf8("an opset domain (a quoted string)")?;
                    cur.expect_punct('=')?;
                    let version = cur.int("an opset version")?;
                    model.opsets.push(OpsetId { domain, version });
                    if !cur.eat_punct(',') {
                        cur.expect_punct(']')?;
                        break;
                    }
                }
            }
            _ => {
                return Err(cur.err_at(
                    at,
                    format!(
                        "unknown model field '{key}' (ir_version, opsets, producer, \
                         producer_version, domain, model_version)"
                    ),
                ));
            }
        }
        seen.push(key);
    }
    let ctx = Ctx::Opsets(model.opsets.clone());
    let (graph, captured) = graph_block(&mut cur, &ctx, None)?;
    if let Some(name) = captured.first() {
        return Err(cur.err(format!("value %{name} is used but never defined")));
    }
    model.graph = graph;
    expect_end(&cur)?;
    Ok(model)
}

/// Parses one graph (`graph "name" { ... }`); ops of every domain are read at `opset`.
pub fn parse_graph(text: &str, opset: i64) -> Result<Graph, ParseError> {
    let mut cur = Cursor::new(text)?;
    let (graph, captured) = graph_block(&mut cur, &Ctx::All(opset), None)?;
    if let Some(name) = captured.first() {
        return Err(cur.err(format!("value %{name} is used but never defined")));
    }
    expect_end(&cur)?;
    Ok(graph)
}

fn expect_end(cur: &Cursor) -> Result<(), ParseError> {
    match cur.peek() {
        Tok::Eof => Ok(()),
        _ => Err(cur.expected("end of input")),
    }
}

/// Which opset each domain's ops are read at.
pub(crate) enum Ctx {
    /// The model's opset imports (`""` and `"ai.onnx"` are the same domain).
    Opsets(Vec<OpsetId>),
    /// One version for every domain (a graph parsed on its own).
    All(i64),
}

impl Ctx {
    fn opset(&self, domain: &str) -> Option<i64> {
        match self {
            Ctx::All(v) => Some(*v),
            Ctx::Opsets(list) => list
                .iter()
                .find(|o| canonical_domain(&o.domain) == canonical_domain(domain))
                .map(|o| o.version),
        }
    }
}

fn canonical_domain(d: &str) -> &str {
    if d == "ai.onnx" { "" } else { d }
}

/// A graph being parsed, with its names in scope.
struct Builder<'s>(ScopedGraph<'s>);

impl<'s> std::ops::Deref for Builder<'s> {
    type Target = ScopedGraph<'s>;
    fn deref(&self) -> &ScopedGraph<'s> {
        &self.0
    }
}

impl std::ops::DerefMut for Builder<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Builder<'_> {
    fn resolve_at(
        &mut self,
        cur: &Cursor,
        name: &str,
        at: (usize, usize),
    ) -> Result<ValueId, ParseError> {
        self.resolve(name)
            .ok_or_else(|| cur.err_at(at, format!("value %{name} is not defined")))
    }

    fn define(
        &mut self,
        cur: &Cursor,
        name: &str,
        v: ValueId,
        at: (usize, usize),
    ) -> Result<(), ParseError> {
        if name.is_empty() {
            return Err(cur.err_at(at, "a graph input or constant needs a name"));
        }
        if self.names.insert(name.to_string(), v).is_some() {
            return Err(cur.err_at(at, format!("value %{name} is defined more than once")));
        }
        Ok(())
    }
}

/// Records a written type: declared where it differs from what inference found, and kept as
/// the value's type exactly as written (the verifier reports a contradiction).
fn annotate(g: &mut Graph, v: ValueId, ty: Type) {
    if g.value(v).ty != ty {
        g.declare(v, ty.clone());
        g.value_mut(v).ty = ty;
    }
}

/// Parses `graph "name" { statements }`; returns the graph and the outer names it reads.
pub(crate) fn graph_block(
    cur: &mut Cursor,
    ctx: &Ctx,
    outer: Option<&Scope<'_>>,
) -> Result<(Graph, Vec<String>), ParseError> {
    cur.enter()?;
    cur.expect_ident("graph")?;
    let mut b = Builder(ScopedGraph::new(outer));
    b.graph.name = cur.utf8("a graph name (a quoted string)")?;
    cur.expect_punct('{')?;
    loop {
        let at = cur.mark();
        match cur.peek().clone() {
            Tok::Punct('}') => {
                cur.next();
                break;
            }
            Tok::Ident(k) if k == "input" => {
                cur.next();
                if cur.eat_ident("const") {
                    constant(cur, &mut b, true)?;
                } else {
                    let (name, nat) = value_token(cur)?;
                    let ty = if cur.eat_punct(':') {
                        parse_type(cur)?
                    } else {
                        Type::Unknown
                    };
                    let v = b.graph.add_input(name.clone(), ty.clone());
                    if ty != Type::Unknown {
                        b.graph.declare(v, ty);
                    }
                    b.define(cur, &name, v, nat)?;
                }
            }
            Tok::Ident(k) if k == "const" => {
                cur.next();
                constant(cur, &mut b, false)?;
            }
            Tok::Ident(k) if k == "output" => {
                cur.next();
                let (name, nat) = value_token(cur)?;
                let v = b.resolve_at(cur, &name, nat)?;
                if cur.eat_punct(':') {
                    // Recorded as declared only: the value's type was fixed where it was
                    // defined, and its readers were built with it.
                    let ty = parse_type(cur)?;
                    b.graph.value_mut(v).declared = Some(ty);
                }
                b.graph.add_output(v);
            }
            Tok::Value(_) | Tok::Ident(_) | Tok::Str(_) => node(cur, ctx, &mut b)?,
            Tok::Eof => return Err(cur.err_at(at, "expected '}' to close the graph")),
            _ => return Err(cur.expected("a statement (input, const, a node, output) or '}'")),
        }
    }
    cur.leave();
    Ok((b.0.graph, b.0.captured))
}

/// `%name` (returns the name and where it was).
fn value_token(cur: &mut Cursor) -> Result<(String, (usize, usize)), ParseError> {
    let at = cur.mark();
    match cur.peek().clone() {
        Tok::Value(v) => {
            cur.next();
            Ok((v, at))
        }
        _ => Err(cur.expected("a value (%name)")),
    }
}

/// `%name: TYPE = LITERAL` after `const` or `input const`.
fn constant(cur: &mut Cursor, b: &mut Builder<'_>, as_input: bool) -> Result<(), ParseError> {
    let (name, nat) = value_token(cur)?;
    cur.expect_punct(':')?;
    let tat = cur.mark();
    let ty = parse_type(cur)?;
    cur.expect_punct('=')?;
    let t = parse_literal_for(cur, &ty, tat)?;
    let ty = tensor_type(&t);
    let v = b.graph.add_initializer(name.clone(), t);
    if as_input {
        b.graph.list_initializer_as_input(v);
        b.graph.declare(v, ty);
    }
    b.define(cur, &name, v, nat)
}

/// `outputs = [domain::]Op(inputs) {attributes} : types @"name"` (no `outputs =` for a node
/// without outputs).
fn node(cur: &mut Cursor, ctx: &Ctx, b: &mut Builder<'_>) -> Result<(), ParseError> {
    let at = cur.mark();
    let mut outputs: Vec<(String, (usize, usize))> = Vec::new();
    if matches!(cur.peek(), Tok::Value(_)) || cur.is_ident("_") {
        loop {
            let oat = cur.mark();
            match cur.next() {
                Tok::Value(v) => outputs.push((v, oat)),
                Tok::Ident(s) if s == "_" => outputs.push((String::new(), oat)),
                t => {
                    return Err(cur.err_at(
                        oat,
                        format!("expected an output (%name or _), found {}", t.describe()),
                    ));
                }
            }
            if !cur.eat_punct(',') {
                break;
            }
        }
        cur.expect_punct('=')?;
    }
    let op_at = cur.mark();
    let first = cur.name("an op type")?;
    let (domain, op_type) = if matches!(cur.peek(), Tok::Path) {
        cur.next();
        (first, cur.name("an op type")?)
    } else {
        (String::new(), first)
    };
    cur.expect_punct('(')?;
    let mut inputs = Vec::new();
    while !cur.eat_punct(')') {
        let iat = cur.mark();
        match cur.next() {
            Tok::Value(v) => inputs.push(Some(b.resolve_at(cur, &v, iat)?)),
            Tok::Ident(s) if s == "_" => inputs.push(None),
            t => {
                return Err(cur.err_at(
                    iat,
                    format!("expected an input (%name or _), found {}", t.describe()),
                ));
            }
        }
        if !cur.eat_punct(',') {
            cur.expect_punct(')')?;
            break;
        }
    }
    let (attrs, sub_captures) = if cur.is_punct('{') {
        let scope = b.scope();
        parse_attrs(cur, ctx, &scope)?
    } else {
        (Vec::new(), Vec::new())
    };
    let mut captures = Vec::with_capacity(sub_captures.len());
    for name in &sub_captures {
        captures.push(b.resolve(name).ok_or_else(|| {
            cur.err_at(
                op_at,
                format!("a subgraph reads %{name}, which no enclosing graph defines"),
            )
        })?);
    }
    let types_at = cur.mark();
    let mut types = Vec::new();
    if cur.eat_punct(':') {
        loop {
            types.push(parse_type(cur)?);
            if !cur.eat_punct(',') {
                break;
            }
        }
        if types.len() != outputs.len() {
            return Err(cur.err_at(
                types_at,
                format!("{} types for {} outputs", types.len(), outputs.len()),
            ));
        }
    }
    let name = if cur.eat_punct('@') {
        cur.utf8("a node name (a quoted string)")?
    } else {
        String::new()
    };

    let label = if name.is_empty() {
        format!("{op_type} node")
    } else {
        format!("node {name:?} ({op_type})")
    };
    let opset = ctx.opset(&domain).ok_or_else(|| {
        cur.err_at(
            op_at,
            format!("{label}: domain {domain:?} is not imported by the model (add it to opsets)"),
        )
    })?;
    let op = Op::from_onnx(canonical_domain(&domain), &op_type, opset, attrs)
        .map_err(|e| cur.err_at(op_at, format!("{label}: {e}")))?;
    let id = b
        .graph
        .add_node(NewNode {
            name,
            op,
            inputs,
            outputs: outputs.iter().map(|(n, _)| n.clone()).collect(),
            captures,
            doc_string: String::new(),
        })
        .map_err(|e| cur.err_at(at, e.to_string()))?;
    for (slot, (oname, oat)) in outputs.iter().enumerate() {
        let v = ValueId {
            node: id,
            slot: slot as u32,
        };
        if !oname.is_empty() && b.names.insert(oname.clone(), v).is_some() {
            return Err(cur.err_at(*oat, format!("value %{oname} is defined more than once")));
        }
        if let Some(ty) = types.get(slot) {
            annotate(&mut b.graph, v, ty.clone());
        }
    }
    Ok(())
}
