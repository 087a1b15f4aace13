//! Unit tests of the text IR: literal forms, lexing, and robustness of the parser against
//! truncated and mutated text (errors, never panics).

use super::{parse_graph, parse_model, print_model};
use crate::{DType, Op, Tensor, TensorData};

/// A model using most of the syntax.
const SAMPLE: &str = r#"model ir_version=8 opsets=[""=13, "com.microsoft"=1] producer="t" model_version=3
graph "main" {
  input %x: f32[N,3,8,8]
  input %c: bool[]
  input const %k: i64[1] = [2]
  const %w: f32[4,3,3,3] = range(-0.5, 0.5)
  const %b: f32[4] = [0.1, -0.2, 3e-5, inf]
  const %s: string[2] = ["a\"b", "\x00\xff"]
  const %sp: sparse<f32[4,4]> = sparse(values: f32[2] = [1.0, 2.0], indices: i64[2] = [0, 15])
  const %h: f16[20] = splat(1.5)
  %y = Conv(%x, %w, %b) {kernel_shape=[3,3], pads=[1,1,1,1]} : f32[N,4,8,8] @"conv"
  %z, _ = Dropout(%y) : f32[N,4,8,8], bool[N,4,8,8]
  %q = com.microsoft::Fancy(%z, _, %k) {alpha=0.5, names=["p", "q"], e=floats[], t=tensor(i32[2] = [1, 2]), ty=type(seq<f32[*]>)} : ?
  %r = If(%c) {
    then_branch=graph "then" {
      %t = Relu(%z) : f32[N,4,8,8]
      output %t: f32[N,4,8,8]
    },
    else_branch=graph "else" {
      output %z: f32[N,4,8,8]
    }
  } : f32[N,4,8,8]
  output %r: f32[N,4,8,8]
  output %q: map<i64,opt<f32["a b",?]>>
}
"#;

#[test]
fn sample_parses_and_round_trips() {
    let m = parse_model(SAMPLE).unwrap();
    let text = print_model(&m);
    assert_eq!(print_model(&parse_model(&text).unwrap()), text);
    assert_eq!(m.model_version, 3);
    assert_eq!(m.opset("com.microsoft"), Some(1));
    // `_` inputs and outputs, and captures of the If node.
    let g = &m.graph;
    let nodes = g.compute_nodes().unwrap();
    assert_eq!(g.node(nodes[1]).outputs()[1].name, "");
    assert_eq!(g.node(nodes[2]).inputs()[1], None);
    assert_eq!(g.node(nodes[3]).captures().len(), 1);
}

fn constant(text_literal: &str, ty: &str) -> Result<Tensor, super::ParseError> {
    let text = format!("graph \"g\" {{\n  const %c: {ty} = {text_literal}\n  output %c\n}}");
    let g = parse_graph(&text, 13)?;
    let v = g.find_value("c").expect("c");
    match &g.node(v.node).op {
        Op::Initializer(t) => Ok(t.clone()),
        _ => panic!("not an initializer"),
    }
}

#[test]
fn range_fills_evenly_and_keeps_its_extremes() {
    let t = constant("range(-1.0, 1.0)", "f32[5]").unwrap();
    assert_eq!(t.to_f32_vec().unwrap(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    let t = constant("range(0, 10)", "i32[3]").unwrap();
    assert_eq!(t.to_i64_vec().unwrap(), vec![0, 5, 10]);
    let t = constant("range(-1.0, 1.0, nan)", "f16[5]").unwrap();
    let v = t.to_f32_vec().unwrap();
    assert!(v[2].is_nan() && v[0] == -1.0 && v[4] == 1.0);
    // Infinite ends stay within the range (no NaN from inf - inf).
    let t = constant("range(-inf, inf)", "f32[4]").unwrap();
    let v = t.to_f32_vec().unwrap();
    assert!(v.iter().all(|x| !x.is_nan()) && v[0] == f32::NEG_INFINITY && v[3] == f32::INFINITY);
    assert!(constant("range(1.0, -1.0)", "f32[3]").is_err());
    assert!(constant("range(nan, 1.0)", "f32[3]").is_err());
}

#[test]
fn splat_random_bytes_and_scalars() {
    let t = constant("splat(true)", "bool[3]").unwrap();
    assert_eq!(t.to_i64_vec().unwrap(), vec![1, 1, 1]);
    let a = constant("random(seed=3)", "f32[64]").unwrap();
    let b = constant("random(seed=3)", "f32[64]").unwrap();
    let c = constant("random(seed=4)", "f32[64]").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(
        a.to_f32_vec()
            .unwrap()
            .iter()
            .all(|v| (-1.0..1.0).contains(v))
    );
    let r = constant("random(seed=1, scale=3)", "i8[100]").unwrap();
    assert!(r.to_i64_vec().unwrap().iter().all(|v| (-3..=3).contains(v)));
    let f8 = constant("bytes([1, 2, 255])", "f8e5m2[3]").unwrap();
    assert_eq!(f8.raw().unwrap().as_ref(), &[1, 2, 255]);
    let f4 = constant("bytes(splat(7))", "f4e2m1[3]").unwrap();
    assert_eq!(f4.raw().unwrap().as_ref(), &[7, 7]);
    let s = constant("7", "i64[]").unwrap();
    assert_eq!(s.to_i64_vec().unwrap(), vec![7]);
    let nested = constant("[[1, 2], [3, 4]]", "u16[2,2]").unwrap();
    assert_eq!(nested.to_i64_vec().unwrap(), vec![1, 2, 3, 4]);
    let strs = constant("range(\"a\", \"c\")", "string[3]").unwrap();
    assert!(
        matches!(&strs.data, TensorData::Strings(s) if s.as_slice() == [b"a".to_vec(), b"a".to_vec(), b"c".to_vec()])
    );
    assert_eq!(strs.dtype, DType::String);
}

#[test]
fn literal_errors_are_clear() {
    let msg = |lit: &str, ty: &str| constant(lit, ty).unwrap_err().to_string();
    assert_eq!(msg("[300]", "u8[1]"), "2:22: 300 is out of range [0, 255]");
    assert_eq!(
        msg("[1.5]", "i32[1]"),
        "2:23: expected an integer, found number 1.5"
    );
    assert_eq!(
        msg("3.0", "f32[2]"),
        "2:22: one value for 2 elements: write splat(V) or a list"
    );
    assert_eq!(
        msg("[1, 2]", "f8e4m3fn[2]"),
        "2:27: expected bytes(...): f8e4m3fn values are written as raw bytes, found '['"
    );
    assert_eq!(
        msg("[1.0]", "f32[N]"),
        "2:13: a constant needs a static shape, found f32[N]"
    );
    assert_eq!(
        msg("splat(0)", "f32[100000,100000]"),
        "2:34: f32 tensor too large for the text IR"
    );
    assert_eq!(
        msg("zeros(1)", "f32[1]"),
        "2:22: unknown tensor literal 'zeros(' (use [..], range, splat, random, bytes)"
    );
}

#[test]
fn lexer_positions_and_comments() {
    let e = parse_graph("graph \"g\" { # comment\n\n   $ }", 13).unwrap_err();
    assert_eq!((e.line, e.col), (3, 4));
    assert_eq!(e.message, "unexpected character '$'");
    let e = parse_graph("graph \"g\" {\n  input %x: f32[2] \"\\q\"\n}", 13).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:21: unknown escape (use \\\" \\\\ \\n \\t \\r \\xNN)"
    );
    let e = parse_graph("graph \"g\" {\n  %y = Foo(%x) {!error \"no\"}\n}", 13).unwrap_err();
    assert_eq!(e.to_string(), "2:12: value %x is not defined");
    let e = parse_graph("graph \"g\" {\n  %y = Foo() {!error \"no\"}\n}", 13).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:15: the printer could not spell this op: no"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        "graph \"g\" {{\n  const %c: f32[1] = {}1.0{}\n}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let e = parse_graph(&deep, 13).unwrap_err();
    assert!(e.message.contains("nested more than"), "{e}");
    let types = format!(
        "graph \"g\" {{\n  input %x: {}f32[1]\n}}",
        "seq<".repeat(10_000)
    );
    assert!(parse_graph(&types, 13).is_err());
}

/// Every prefix of the sample fails cleanly or parses; none panics.
#[test]
fn truncated_text_never_panics() {
    let mut ends: Vec<usize> = SAMPLE.char_indices().map(|(i, _)| i).collect();
    ends.push(SAMPLE.len());
    let mut ok = 0;
    for end in ends {
        if parse_model(&SAMPLE[..end]).is_ok() {
            ok += 1;
        }
    }
    assert_eq!(
        ok, 2,
        "only the whole text (with or without its last newline) is a model"
    );
}

/// A small deterministic generator for mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Random deletions, duplications, swaps and punctuation replacements: errors or models, and
/// what parses prints and parses back to the same text.
#[test]
fn mutated_text_never_panics() {
    let chars: Vec<char> = SAMPLE.chars().collect();
    let noise = [
        '%', '"', '[', ']', '{', '}', '(', ')', ',', '=', ':', '_', '?', '<', '>', '@', 'x', '-',
        '.', '#', '\n',
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut parsed = 0;
    for _ in 0..3000 {
        let mut c = chars.clone();
        for _ in 0..1 + rng.next(3) {
            let i = rng.next(c.len());
            match rng.next(4) {
                0 => {
                    c.remove(i);
                }
                1 => {
                    let ch = c[i];
                    if !ch.is_ascii_digit() {
                        c.insert(i, ch);
                    }
                }
                2 if i + 1 < c.len() => c.swap(i, i + 1),
                _ => c[i] = noise[rng.next(noise.len())],
            }
        }
        let text: String = c.into_iter().collect();
        if let Ok(m) = parse_model(&text) {
            parsed += 1;
            let printed = print_model(&m);
            let again = parse_model(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
            assert_eq!(print_model(&again), printed, "from mutated text:\n{text}");
        }
    }
    assert!(
        parsed > 0,
        "some mutations (inside strings, comments) still parse"
    );
}
