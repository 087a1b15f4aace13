//! `eliminate-nop`: ops that pass their input through unchanged are removed and their readers
//! read the input instead (Identity, inference Dropout, and layout, cast, pad, slice and
//! arithmetic ops whose parameters make them the identity).

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{self, Names, captured_values, redirect_possible};
use nnslim_ir::op::{Binary, Dropout};
use nnslim_ir::{DType, Dim, Graph, Node, NodeId, Op, TensorData, Type, ValueId};

/// Removes nodes that change nothing, redirecting their readers to their input:
///
/// - `Identity`; `Concat` of a single input;
/// - `Dropout` at inference (opsets 7–11, or from 12 with `training_mode` absent or a constant
///   false, or a constant `ratio` of 0) whose mask output nothing reads;
/// - `Transpose` with the identity permutation (or none at rank ≤ 1); `Cast` to the input's
///   element type; `Pad` with constant all-zero pads (any mode);
/// - `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze` whose output shape is the input's (every dim
///   static or the same symbol); `Unsqueeze` with an empty axes list; `Squeeze` with an empty
///   axes list of an input with static dims none of which is 1 (an empty list means "none" to
///   some runtimes and "all" to others: equal here);
/// - `Slice` with all steps 1 whose output shape is the input's;
/// - `Add`/`Sub` of a constant 0 and `Mul`/`Div` by a constant 1 (`0 + x` and `1 * x` too)
///   when the output has the input's element type and shape (no broadcasting effect).
///
/// In every case the input's and output's types must agree. A node stays when the redirect
/// would change the graph's interface (its output is a graph output and its input a graph
/// input, initializer or another output) or when a subgraph reads its output. `Expand` is not
/// a typed op and is left alone.
pub fn eliminate_nop(g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    let mut names = Names::of(g);
    let captured = captured_values(g);
    let mut changed = false;
    // Nothing below adds a node and only the node being visited may be removed; petgraph
    // reuses indices only on insertion, so the ids still to visit stay valid.
    for id in g.compute_nodes()? {
        let Some(input) = nop_input(g, id) else {
            continue;
        };
        let output = ValueId { node: id, slot: 0 };
        if !redirect_possible(g, &captured, output, input) {
            continue;
        }
        if !rewrite::redirect(g, &mut names, output, input)? {
            continue;
        }
        rewrite::remove_if_dead(g, id)?;
        changed = true;
    }
    Ok(changed)
}

/// The value a node passes through unchanged as its output 0, if it is a no-op.
fn nop_input(g: &Graph, id: NodeId) -> Option<ValueId> {
    let node = g.node(id);
    let x = node.inputs().first().copied().flatten()?;
    if node.outputs().is_empty() {
        return None;
    }
    let out = ValueId { node: id, slot: 0 };
    let ty_in = &g.value(x).ty;
    let ty_out = &g.value(out).ty;
    let nop = match &node.op {
        Op::Identity => true,
        Op::Concat(_) => node.inputs().len() == 1,
        Op::Dropout(d) => dropout_is_identity(g, node, d) && !mask_used(g, id),
        Op::Transpose(t) => match &t.perm {
            Some(p) => p.iter().enumerate().all(|(i, &v)| v == i as i64),
            None => ty_in.shape().is_some_and(|s| s.len() <= 1),
        },
        Op::Cast(c) => ty_in.dtype() == Some(c.to),
        Op::Pad(p) => {
            let pads = match &p.attrs {
                Some(a) => Some(a.pads.clone()),
                None => input(node, 1).and_then(|v| rewrite::const_i64(g, v)),
            };
            pads.is_some_and(|p| p.iter().all(|&v| v == 0))
        }
        Op::Reshape(_) | Op::Flatten(_) => same_known(ty_in, ty_out),
        Op::Squeeze(s) => {
            let axes = match &s.axes {
                Some(a) => Some(a.clone()),
                None => input(node, 1).and_then(|v| rewrite::const_i64(g, v)),
            };
            let empty_and_nothing_to_squeeze = axes.is_some_and(|a| a.is_empty())
                && ty_in
                    .as_tensor()
                    .and_then(|t| t.static_dims())
                    .is_some_and(|d| !d.contains(&1));
            empty_and_nothing_to_squeeze || same_known(ty_in, ty_out)
        }
        Op::Unsqueeze(u) => {
            let axes = match &u.axes {
                Some(a) => Some(a.clone()),
                None => input(node, 1).and_then(|v| rewrite::const_i64(g, v)),
            };
            axes.is_some_and(|a| a.is_empty()) || same_known(ty_in, ty_out)
        }
        Op::Slice(s) => {
            let unit_steps = s.attrs.is_some()
                || match input(node, 4) {
                    None => true,
                    Some(v) => {
                        rewrite::const_i64(g, v).is_some_and(|st| st.iter().all(|&s| s == 1))
                    }
                };
            unit_steps && same_known(ty_in, ty_out)
        }
        Op::Binary(b) => return neutral_operand(g, node, *b, out),
        _ => false,
    };
    (nop && agree(ty_in, ty_out)).then_some(x)
}

/// Input `slot` of a node, if present.
fn input(node: &Node, slot: usize) -> Option<ValueId> {
    node.inputs().get(slot).copied().flatten()
}

/// Whether a Dropout passes its input through: no training mode (the attribute forms of
/// opsets 7–11 have none), or a constant ratio of 0.
fn dropout_is_identity(g: &Graph, node: &Node, d: &Dropout) -> bool {
    if d.ratio.is_some() {
        return true;
    }
    let not_training = match input(node, 2) {
        None => true,
        Some(v) => const_all(g, v, |x| x == 0.0),
    };
    let zero_ratio = input(node, 1).is_some_and(|v| const_all(g, v, |x| x == 0.0));
    not_training || zero_ratio
}

/// Whether anything reads a node's output 1 (Dropout's mask).
fn mask_used(g: &Graph, id: NodeId) -> bool {
    g.node(id).outputs().len() > 1 && g.is_used(ValueId { node: id, slot: 1 })
}

/// Whether a dense numeric constant is non-empty and every element satisfies `pred` (read as
/// f64; integers and bools exactly).
fn const_all(g: &Graph, v: ValueId, pred: impl Fn(f64) -> bool) -> bool {
    let Some(t) = g.constant(v) else {
        return false;
    };
    if !matches!(t.data, TensorData::Dense(_)) || t.dims.contains(&0) {
        return false;
    }
    if t.dtype.is_float() {
        t.to_f32_vec()
            .is_ok_and(|v| v.iter().all(|&x| pred(f64::from(x))))
    } else {
        t.to_i64_vec()
            .is_ok_and(|v| v.iter().all(|&x| pred(x as f64)))
    }
}

/// For `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x` and `x / 1` with the output's type equal to
/// `x`'s: `x`.
fn neutral_operand(g: &Graph, node: &Node, op: Binary, out: ValueId) -> Option<ValueId> {
    let (a, b) = (input(node, 0)?, input(node, 1)?);
    let (neutral, commutes) = match op {
        Binary::Add => (0.0, true),
        Binary::Sub => (0.0, false),
        Binary::Mul => (1.0, true),
        Binary::Div => (1.0, false),
        _ => return None,
    };
    let ty_out = &g.value(out).ty;
    let candidates: &[(ValueId, ValueId)] = if commutes {
        &[(a, b), (b, a)]
    } else {
        &[(a, b)]
    };
    candidates.iter().find_map(|&(x, c)| {
        // The type check first: it is cheap, and rules out every broadcasting constant.
        let ty_x = &g.value(x).ty;
        let c_dtype = g.value(c).ty.dtype();
        let ok = same_known(ty_x, ty_out)
            && c_dtype == ty_x.dtype()
            && const_all(g, c, |v| v == neutral);
        ok.then_some(x)
    })
}

/// Whether two types are tensors of the same element type and the same shape, every dim of
/// which is static or symbolic (an unknown dim proves nothing).
fn same_known(a: &Type, b: &Type) -> bool {
    let (Some(a), Some(b)) = (a.as_tensor(), b.as_tensor()) else {
        return false;
    };
    let known = |s: &[Dim]| !s.iter().any(|d| matches!(d, Dim::Unknown));
    a.dtype == b.dtype
        && a.dtype != DType::Undefined
        && match (&a.shape, &b.shape) {
            (Some(x), Some(y)) => x == y && known(x),
            _ => false,
        }
}

/// Whether nothing known about two types contradicts their being equal: same kind, the same
/// element type where both are known, and compatible shapes where both ranks are known.
fn agree(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Unknown, _) | (_, Type::Unknown) => true,
        (Type::Tensor(x), Type::Tensor(y)) | (Type::SparseTensor(x), Type::SparseTensor(y)) => {
            let dtype =
                x.dtype == y.dtype || x.dtype == DType::Undefined || y.dtype == DType::Undefined;
            let shape = match (&x.shape, &y.shape) {
                (Some(s), Some(t)) => {
                    s.len() == t.len()
                        && s.iter().zip(t).all(|(p, q)| match (p, q) {
                            (Dim::Known(m), Dim::Known(n)) => m == n,
                            _ => true,
                        })
                }
                _ => true,
            };
            dtype && shape
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::parse_model;
    use std::collections::BTreeMap;

    /// Parses, applies the rewrite, checks the result (verifies, writable at the opset, same
    /// interface, same outputs on random inputs, idempotent) and returns the graph, whether it
    /// changed and its op histogram.
    fn run(text: &str) -> (Graph, bool, BTreeMap<String, usize>) {
        let m = parse_model(text).unwrap();
        let cx = FoldCx {
            opset: m.opset("").unwrap(),
            ..FoldCx::default()
        };
        let before = m.graph.clone();
        let mut g = m.graph;
        let changed = eliminate_nop(&mut g, &cx).unwrap();
        nnslim_ir::verify(&g).unwrap();
        for id in g.compute_nodes().unwrap() {
            g.node(id).op.to_onnx(cx.opset).unwrap();
        }
        // Same interface: names, and types that can only have become more precise.
        for (b, a) in [
            (before.inputs(), g.inputs()),
            (before.outputs().to_vec(), g.outputs().to_vec()),
        ] {
            assert_eq!(b.len(), a.len());
            for (&b, &a) in b.iter().zip(&a) {
                assert_eq!(before.value(b).name, g.value(a).name);
                assert!(agree(&before.value(b).ty, &g.value(a).ty));
            }
        }
        crate::testing::differential(&before, &g, 0, 3).unwrap();
        assert!(!eliminate_nop(&mut g, &cx).unwrap(), "not idempotent");
        let ops = graph_stats(&g).ops;
        (g, changed, ops)
    }

    fn count(ops: &BTreeMap<String, usize>, op: &str) -> usize {
        ops.get(op).copied().unwrap_or(0)
    }

    #[test]
    fn removes_every_kind_of_nop() {
        let (_, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "nops" {
  input %x: f32[2,3,4]
  const %zero: f32[] = 0.0
  const %one: f32[1] = [1.0]
  const %shape: i64[3] = [2, 3, 4]
  const %pads: i64[6] = [0, 0, 0, 0, 0, 0]
  const %starts: i64[1] = [0]
  const %ends: i64[1] = [100]
  const %axes: i64[1] = [1]
  const %steps: i64[1] = [1]
  const %none: i64[0] = []
  %a = Identity(%x)
  %b = Relu(%a)
  %c = Reshape(%b, %shape)
  %d = Transpose(%c) {perm=[0,1,2]}
  %e = Cast(%d) {to=1}
  %f = Pad(%e, %pads)
  %h = Slice(%f, %starts, %ends, %axes, %steps)
  %i = Add(%h, %zero)
  %j = Mul(%one, %i)
  %k, _ = Dropout(%j)
  %l = Concat(%k) {axis=0}
  %m = Sub(%l, %zero)
  %n = Div(%m, %one)
  %o = Unsqueeze(%n, %none)
  %p = Add(%zero, %o)
  %y = Sigmoid(%p)
  output %y
}"#);
        assert!(changed);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!((count(&ops, "Relu"), count(&ops, "Sigmoid")), (1, 1));
    }

    #[test]
    fn graph_output_keeps_its_name() {
        let (g, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "out" {
  input %x: f32[N,3]
  const %shape: i64[2] = [-1, 3]
  %r = Relu(%x)
  %s = Reshape(%r, %shape)
  %y = Identity(%s)
  output %y
}"#);
        assert!(changed);
        assert_eq!(ops.len(), 1, "{ops:?}");
        let y = g.outputs()[0];
        assert_eq!(g.value(y).name, "y");
        assert!(matches!(g.node(y.node).op, Op::Unary(_)));
    }

    #[test]
    fn keeps_nops_between_graph_input_and_output() {
        let (_, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "io" {
  input %x: f32[3]
  const %w: f32[3] = [1.0, 2.0, 3.0]
  %y = Identity(%x)
  %z = Identity(%w)
  %r = Relu(%x)
  output %y
  output %z
  output %r
}"#);
        assert!(!changed);
        assert_eq!(count(&ops, "Identity"), 2);
    }

    #[test]
    fn keeps_ops_that_change_something() {
        let (_, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "keep" {
  input %x: f32[1,3]
  input %n: f32[N,3]
  const %zeros: f32[2,3] = splat(0.0)
  const %two: f32[] = 2.0
  const %one: f32[] = 1.0
  const %zero: f32[] = 0.0
  const %shape: i64[2] = [3, 1]
  const %pads: i64[4] = [0, 1, 0, 0]
  const %starts: i64[1] = [-1]
  const %ends: i64[1] = [-100]
  const %axes: i64[1] = [1]
  const %back: i64[1] = [-1]
  const %none: i64[0] = []
  %a = Add(%x, %zeros)
  %b = Mul(%x, %two)
  %c = Sub(%zero, %x)
  %d = Div(%one, %x)
  %e = Reshape(%x, %shape)
  %f = Transpose(%x) {perm=[1,0]}
  %g = Cast(%x) {to=10}
  %h = Pad(%x, %pads)
  %i = Slice(%x, %starts, %ends, %axes, %back)
  %j = Squeeze(%x, %none)
  %k = Mul(%n, %one)
  %kr = Relu(%k)
  output %a
  output %b
  output %c
  output %d
  output %e
  output %f
  output %g
  output %h
  output %i
  output %j
  output %kr
}"#);
        assert!(changed, "only Mul(%n, 1) goes");
        let want = [
            "Add",
            "Cast",
            "Div",
            "Mul",
            "Pad",
            "Relu",
            "Reshape",
            "Slice",
            "Squeeze",
            "Sub",
            "Transpose",
        ];
        assert_eq!(ops.keys().collect::<Vec<_>>(), want);
        assert!(ops.values().all(|&n| n == 1), "{ops:?}");
    }

    #[test]
    fn dropout_only_at_inference_and_without_a_read_mask() {
        let (_, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "dropout" {
  input %x: f32[2,3]
  const %ratio: f32[] = 0.5
  const %no: bool[] = false
  const %yes: bool[] = true
  %a, _ = Dropout(%x, %ratio, %no)
  %b = Dropout(%a)
  %c, _ = Dropout(%b, %ratio, %yes) {seed=3}
  %d, %mask = Dropout(%c)
  %y = Relu(%d)
  output %y
  output %mask
}"#);
        assert!(changed);
        assert_eq!(
            count(&ops, "Dropout"),
            2,
            "training mode and used mask stay"
        );
    }

    #[test]
    fn attribute_forms_of_old_opsets() {
        let (_, changed, ops) = run(r#"model ir_version=4 opsets=[""=9]
graph "old" {
  input %x: f32[2,3]
  %a, %mask = Dropout(%x) {ratio=0.3}
  %b = Pad(%a) {pads=[0,0,0,0]}
  %c = Slice(%b) {starts=[0], ends=[9], axes=[1]}
  %d = Squeeze(%c) {axes=ints[]}
  %e = Unsqueeze(%d) {axes=ints[]}
  %f = Flatten(%e) {axis=1}
  %y = Relu(%f)
  output %y
}"#);
        assert!(changed);
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["Relu"]);
    }

    #[test]
    fn leaves_values_read_by_subgraphs() {
        let (_, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "captured" {
  input %x: f32[3]
  input %c: bool[]
  %a = Identity(%x)
  %y = If(%c) {
    then_branch=graph "then" {
      %t = Relu(%a)
      output %t
    },
    else_branch=graph "else" {
      %e = Neg(%a)
      output %e
    }
  }
  output %y
}"#);
        assert!(!changed);
        assert_eq!(count(&ops, "Identity"), 1);
    }

    #[test]
    fn symbolic_shapes_must_match_exactly() {
        let (_, changed, ops) = run(r#"model ir_version=8 opsets=[""=13]
graph "sym" {
  input %x: f32[N,6]
  input %z: f32[M,6]
  const %keep: i64[2] = [0, 6]
  const %zero: f32[6] = splat(0.0)
  %a = Reshape(%x, %keep)
  %b = Add(%a, %zero)
  %c = Add(%b, %z)
  %y = Relu(%c)
  output %y
}"#);
        assert!(changed);
        assert_eq!(count(&ops, "Reshape") + count(&ops, "Add"), 1);
    }
}
