//! Parsing of types and node attributes (graph attributes recurse into the graph parser).

use super::ParseError;
use super::lexer::{Cursor, Tok};
use super::literal_parse::parse_tensor;
use super::parse::{Ctx, graph_block};
use crate::Scope;
use crate::{AttrValue, Attribute, DType, Dim, Graph, Tensor, TensorData, TensorType, Type};

/// Parses a type: `?`, `f32[N,3]`, `f32[*]`, `sparse<..>`, `seq<..>`, `map<k,v>`, `opt<..>`,
/// `opaque<"domain","name">`.
pub(crate) fn parse_type(cur: &mut Cursor) -> Result<Type, ParseError> {
    cur.enter()?;
    let at = cur.mark();
    let ty = match cur.next() {
        Tok::Punct('?') => Type::Unknown,
        Tok::Ident(s) => {
            let inner = |cur: &mut Cursor, f: fn(&mut Cursor) -> Result<Type, ParseError>| {
                cur.expect_punct('<')?;
                let t = f(cur)?;
                cur.expect_punct('>')?;
                Ok::<Type, ParseError>(t)
            };
            match s.as_str() {
                "sparse" => {
                    cur.expect_punct('<')?;
                    let tat = cur.mark();
                    let Type::Tensor(tt) = parse_type(cur)? else {
                        return Err(cur.err_at(tat, "sparse<..> holds a tensor type"));
                    };
                    cur.expect_punct('>')?;
                    Type::SparseTensor(tt)
                }
                "seq" => Type::Sequence(Box::new(inner(cur, parse_type)?)),
                "opt" => Type::Optional(Box::new(inner(cur, parse_type)?)),
                "map" => {
                    cur.expect_punct('<')?;
                    let kat = cur.mark();
                    let k = match cur.next() {
                        Tok::Ident(k) => DType::from_name(&k),
                        _ => None,
                    }
                    .ok_or_else(|| cur.err_at(kat, "expected a map key type such as i64"))?;
                    cur.expect_punct(',')?;
                    let v = parse_type(cur)?;
                    cur.expect_punct('>')?;
                    Type::Map(k, Box::new(v))
                }
                "opaque" => {
                    cur.expect_punct('<')?;
                    let d = cur.utf8("an opaque type's domain")?;
                    cur.expect_punct(',')?;
                    let n = cur.utf8("an opaque type's name")?;
                    cur.expect_punct('>')?;
                    Type::Opaque(d, n)
                }
                name => {
                    let dtype = DType::from_name(name)
                        .ok_or_else(|| cur.err_at(at, format!("unknown type '{name}'")))?;
                    Type::Tensor(TensorType {
                        dtype,
                        shape: parse_shape(cur)?,
                    })
                }
            }
        }
        t => {
            return Err(cur.err_at(at, format!("expected a type, found {}", t.describe())));
        }
    };
    cur.leave();
    Ok(ty)
}

/// `[d, ...]` or `[*]` (unknown rank: `None`).
fn parse_shape(cur: &mut Cursor) -> Result<Option<Vec<Dim>>, ParseError> {
    cur.expect_punct('[')?;
    if cur.eat_punct('*') {
        cur.expect_punct(']')?;
        return Ok(None);
    }
    let mut dims = Vec::new();
    while !cur.eat_punct(']') {
        let at = cur.mark();
        dims.push(match cur.next() {
            Tok::Num(s) => Dim::Known(
                s.parse::<i64>()
                    .map_err(|_| cur.err_at(at, format!("dimension {s} is not an integer")))?,
            ),
            Tok::Punct('?') => Dim::Unknown,
            Tok::Ident(s) => Dim::Symbol(s),
            Tok::Str(b) => Dim::Symbol(
                String::from_utf8(b).map_err(|_| cur.err_at(at, "a dimension must be UTF-8"))?,
            ),
            t => {
                return Err(cur.err_at(at, format!("expected a dimension, found {}", t.describe())));
            }
        });
        if !cur.eat_punct(',') {
            cur.expect_punct(']')?;
            break;
        }
    }
    Ok(Some(dims))
}

/// Parses `{name=value, ...}`; returns the attributes and the outer names their graphs read.
pub(crate) fn parse_attrs(
    cur: &mut Cursor,
    ctx: &Ctx,
    scope: &Scope<'_>,
) -> Result<(Vec<Attribute>, Vec<String>), ParseError> {
    cur.expect_punct('{')?;
    let mut attrs = Vec::new();
    let mut captured = Vec::new();
    while !cur.eat_punct('}') {
        if cur.is_punct('!') {
            let at = cur.mark();
            cur.next();
            cur.expect_ident("error")?;
            let msg = cur.utf8("a message")?;
            return Err(cur.err_at(at, format!("the printer could not spell this op: {msg}")));
        }
        let name = cur.name("an attribute name")?;
        cur.expect_punct('=')?;
        let value = attr_value(cur, ctx, scope, &mut captured)?;
        attrs.push(Attribute::new(name, value));
        if !cur.eat_punct(',') {
            cur.expect_punct('}')?;
            break;
        }
    }
    Ok((attrs, captured))
}

fn is_float_text(s: &str) -> bool {
    s.contains(['.', 'e', 'E']) || s.ends_with("inf") || s.ends_with("nan")
}

fn parse_f32(cur: &Cursor, s: &str, at: (usize, usize)) -> Result<f32, ParseError> {
    match s {
        "nan" | "-nan" | "+nan" => Ok(f32::NAN),
        "inf" | "+inf" => Ok(f32::INFINITY),
        "-inf" => Ok(f32::NEG_INFINITY),
        _ => s
            .parse::<f32>()
            .map_err(|_| cur.err_at(at, format!("{s} is not a float"))),
    }
}

fn parse_i64(cur: &Cursor, s: &str, at: (usize, usize)) -> Result<i64, ParseError> {
    s.parse::<i64>()
        .map_err(|_| cur.err_at(at, format!("{s} is not a 64-bit integer")))
}

/// `kw(` — a keyword followed by an opening parenthesis or bracket.
fn keyword_then(cur: &Cursor, kw: &str, open: char) -> bool {
    cur.is_ident(kw) && *cur.peek2() == Tok::Punct(open)
}

fn attr_value(
    cur: &mut Cursor,
    ctx: &Ctx,
    scope: &Scope<'_>,
    captured: &mut Vec<String>,
) -> Result<AttrValue, ParseError> {
    let at = cur.mark();
    let mut graph = |cur: &mut Cursor| -> Result<Graph, ParseError> {
        let (g, caps) = graph_block(cur, ctx, Some(scope))?;
        for c in caps {
            if !captured.contains(&c) {
                captured.push(c);
            }
        }
        Ok(g)
    };
    let within = |cur: &mut Cursor, open: char| -> Result<(), ParseError> {
        cur.next();
        cur.expect_punct(open)
    };
    if cur.is_ident("graph") {
        return Ok(AttrValue::Graph(Box::new(graph(cur)?)));
    }
    for (kw, sparse) in [("tensor", false), ("sparse_tensor", true)] {
        if keyword_then(cur, kw, '(') {
            within(cur, '(')?;
            let t = tensor_of_kind(cur, sparse)?;
            cur.expect_punct(')')?;
            return Ok(if sparse {
                AttrValue::SparseTensor(t)
            } else {
                AttrValue::Tensor(t)
            });
        }
    }
    if keyword_then(cur, "type", '(') {
        within(cur, '(')?;
        let t = parse_type(cur)?;
        cur.expect_punct(')')?;
        return Ok(AttrValue::Type(t));
    }
    for kw in [
        "ints",
        "floats",
        "strings",
        "tensors",
        "sparse_tensors",
        "graphs",
        "types",
    ] {
        if keyword_then(cur, kw, '[') {
            within(cur, '[')?;
            return Ok(match kw {
                "ints" => AttrValue::Ints(items(cur, |cur| {
                    let at = cur.mark();
                    match cur.next() {
                        Tok::Num(s) => parse_i64(cur, &s, at),
                        t => {
                            Err(cur
                                .err_at(at, format!("expected an integer, found {}", t.describe())))
                        }
                    }
                })?),
                "floats" => AttrValue::Floats(items(cur, |cur| {
                    let at = cur.mark();
                    match cur.next() {
                        Tok::Num(s) | Tok::Ident(s) => parse_f32(cur, &s, at),
                        t => {
                            Err(cur.err_at(at, format!("expected a float, found {}", t.describe())))
                        }
                    }
                })?),
                "strings" => AttrValue::Strings(items(cur, |cur| cur.string("a string"))?),
                "tensors" => AttrValue::Tensors(items(cur, |cur| tensor_of_kind(cur, false))?),
                "sparse_tensors" => {
                    AttrValue::SparseTensors(items(cur, |cur| tensor_of_kind(cur, true))?)
                }
                "types" => AttrValue::Types(items(cur, parse_type)?),
                _ => AttrValue::Graphs(items(cur, &mut graph)?),
            });
        }
    }
    match cur.peek().clone() {
        Tok::Num(s) => {
            cur.next();
            Ok(if is_float_text(&s) {
                AttrValue::Float(parse_f32(cur, &s, at)?)
            } else {
                AttrValue::Int(parse_i64(cur, &s, at)?)
            })
        }
        Tok::Ident(s) if s == "inf" || s == "nan" => {
            cur.next();
            Ok(AttrValue::Float(parse_f32(cur, &s, at)?))
        }
        Tok::Str(b) => {
            cur.next();
            Ok(AttrValue::String(b))
        }
        Tok::Punct('[') => bare_list(cur),
        _ => Err(cur.expected("an attribute value")),
    }
}

/// Comma-separated items up to the closing `]` (the opening bracket already read).
fn items<T>(
    cur: &mut Cursor,
    mut item: impl FnMut(&mut Cursor) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    let mut out = Vec::new();
    while !cur.eat_punct(']') {
        out.push(item(cur)?);
        if !cur.eat_punct(',') {
            cur.expect_punct(']')?;
            break;
        }
    }
    Ok(out)
}

/// A `TYPE = LITERAL` tensor whose storage must be sparse (or must not be).
fn tensor_of_kind(cur: &mut Cursor, sparse: bool) -> Result<Tensor, ParseError> {
    let at = cur.mark();
    let t = parse_tensor(cur)?;
    if matches!(t.data, TensorData::Sparse(_)) != sparse {
        let want = if sparse { "a sparse" } else { "a dense" };
        return Err(cur.err_at(at, format!("expected {want} tensor")));
    }
    Ok(t)
}

/// `[1,2]` (ints), `[1.0,2]` (floats), `["a","b"]` (strings); `[]` is an empty ints list.
fn bare_list(cur: &mut Cursor) -> Result<AttrValue, ParseError> {
    let at = cur.mark();
    cur.next();
    let toks = items(cur, |cur| {
        let iat = cur.mark();
        match cur.next() {
            t @ (Tok::Num(_) | Tok::Str(_)) => Ok((t, iat)),
            Tok::Ident(s) if s == "inf" || s == "nan" => Ok((Tok::Num(s), iat)),
            t => Err(cur.err_at(iat, format!("expected a list item, found {}", t.describe()))),
        }
    })?;
    let strings = toks
        .iter()
        .filter(|(t, _)| matches!(t, Tok::Str(_)))
        .count();
    if strings == toks.len() && strings > 0 {
        return Ok(AttrValue::Strings(
            toks.into_iter()
                .filter_map(|(t, _)| match t {
                    Tok::Str(b) => Some(b),
                    _ => None,
                })
                .collect(),
        ));
    }
    if strings > 0 {
        return Err(cur.err_at(at, "a list mixes strings and numbers"));
    }
    let texts: Vec<(String, (usize, usize))> = toks
        .into_iter()
        .filter_map(|(t, a)| match t {
            Tok::Num(s) => Some((s, a)),
            _ => None,
        })
        .collect();
    if texts.iter().any(|(s, _)| is_float_text(s)) {
        let v = texts
            .iter()
            .map(|(s, a)| parse_f32(cur, s, *a))
            .collect::<Result<_, _>>()?;
        Ok(AttrValue::Floats(v))
    } else {
        let v = texts
            .iter()
            .map(|(s, a)| parse_i64(cur, s, *a))
            .collect::<Result<_, _>>()?;
        Ok(AttrValue::Ints(v))
    }
}
