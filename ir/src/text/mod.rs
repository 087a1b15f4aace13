//! nnslim's text IR: a deterministic printer and a parser that reads the printed text back.
//!
//! The text is what snapshots and filetests compare, so it is stable: no node indices, nodes in
//! [`Graph::topo_order`](crate::Graph::topo_order) (ties by insertion order), no hash-map
//! order, shortest round-trip float spellings, and large weights summarised. [`parse_model`]
//! rebuilds a model through the [`Graph`](crate::Graph) API and
//! [`Op::from_onnx`](crate::Op::from_onnx), so typed ops are parsed exactly as ONNX import
//! parses them, and `print(parse(print(m))) == print(m)` for every model.
//!
//! ```text
//! model ir_version=7 opsets=[""=13, "com.microsoft"=1] producer="pytorch"
//! graph "main_graph" {
//!   input %input: f32[N,1,28,28]
//!   input const %w0: f32[3] = [0.1, 0.2, 0.3]
//!   const %conv1.weight: f32[32,1,3,3] = range(-0.6132, 0.5921)
//!   const %shape: i64[2] = [1, -1]
//!   %x = Conv(%input, %conv1.weight, _) {kernel_shape=[3,3], pads=[1,1,1,1]} : f32[N,32,28,28] @"Conv_0"
//!   %a, _ = Dropout(%x) : f32[N,32,28,28], ?
//!   %y = If(%c) {
//!     then_branch=graph "then" {
//!       %t = Identity(%a) : f32[N,32,28,28]
//!       output %t: f32[N,32,28,28]
//!     },
//!     else_branch=graph "else" { ... }
//!   } : f32[N,32,28,28]
//!   output %y: f32[N,32,28,28]
//! }
//! ```
//!
//! - Statements: `input`, `input const` (an initializer also listed as a graph input, IR 3
//!   style), `const` (an initializer), nodes, `output`. The printer writes inputs, then
//!   initializers in file order, then nodes in topological order, then outputs; the parser
//!   accepts them in any order where every name is defined before it is used. Layout is free
//!   (the parser reads tokens, not lines); `#` starts a comment.
//! - Values are `%name`, or `%"quoted"` when the name has characters outside `[A-Za-z0-9_./]`.
//!   An omitted input or an unused (empty-named) output is `_`. A subgraph reads an enclosing
//!   graph's value by its name; the parser adds the `Op::Outer` placeholder and the owning node's
//!   capture. Outer placeholders are not printed.
//! - Nodes: `outputs = [domain::]Op(inputs) {attributes} : output types @"node name"`; the op
//!   and attributes are ONNX's spelling at the model's opset ([`crate::Op::to_onnx`]). Attribute
//!   values: `3`, `1.0`, `1e-5`, `"text"` (`\"`, `\\`, `\n`, `\t`, `\r`, `\xNN` escapes),
//!   `[1,2]`, `[1.0,2.0]`, `["a","b"]`, `ints[]`/`floats[]`/`strings[]` when empty,
//!   `tensor(f32[2] = [1.0, 2.0])`, `sparse_tensor(...)`, `graph "name" { ... }`,
//!   `type(f32[N])`, and `tensors[...]`, `sparse_tensors[...]`, `graphs[...]`, `types[...]`.
//!   Types after `:` are each value's best-known type (`ValueInfo::ty`). The parser keeps a
//!   node's written types as they are (declaring them where they differ from what the op
//!   infers, so opaque ops get theirs) and infers them when they are left out; the type on an
//!   `output` line is recorded as declared only (the value's readers were already built).
//! - Types: `f32[N,3,?]` (static, symbolic, unknown dims; a symbol that is not a plain
//!   identifier is quoted), `f32[*]` (unknown rank), `?` (unknown), `sparse<...>`, `seq<...>`,
//!   `map<i64,...>`, `opt<...>`, `opaque<"domain","name">`.
//! - Tensor literals (after `TYPE =`): `[1, 2, 3]` (nesting optional), `range(MIN, MAX)`
//!   (values spaced evenly from MIN to MAX; `range(MIN, MAX, nan)` when NaNs are present too),
//!   `splat(V)`, `random(seed=S)` / `random(seed=S, scale=X)` (deterministic), `bytes(LIT)`
//!   (the raw little-endian storage as `u8`, used for float8/float4/float6/complex types) and
//!   `sparse(values: TYPE = LIT, indices: TYPE = LIT)`. The printer writes values inline up to
//!   16 elements (64 for integer and bool tensors, 64 storage bytes for `bytes`), and larger
//!   tensors as `splat(V)` when all elements are equal, else `range(MIN, MAX)` — which parses
//!   back to a tensor with the same summary. Floats are `nan`, `inf` and `-inf` when not finite.
//! - Not printed (and so not round-tripped through text): doc strings, metadata properties,
//!   quantization annotations, node overloads, `Foreign` model parts, tensor doc strings.

mod elems;
mod lexer;
mod literal;
mod literal_parse;
mod parse;
mod parse_attr;
mod print;
#[cfg(test)]
mod tests;

pub use parse::{parse_graph, parse_model};
pub use print::{print_graph, print_model};

/// A syntax or construction error in text IR, with the position (1-based line and column, in
/// characters) where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Whether a value name can follow `%` without quotes: a non-empty run of `[A-Za-z0-9_./]`.
pub(crate) fn is_bare_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_name_byte)
}

/// Bytes of an unquoted value name.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'/'
}

/// Whether `s` reads back as one identifier token: `[A-Za-z_][A-Za-z0-9_.]*`.
pub(crate) fn is_ident(s: &str) -> bool {
    s.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// `bytes` as a double-quoted string literal: printable ASCII as is, `\"`, `\\`, `\n`, `\t`,
/// `\r`, and `\xNN` for every other byte.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}
