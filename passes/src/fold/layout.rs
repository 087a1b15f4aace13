//! `merge-layout`: chains of layout ops collapse. Two Transposes become one (or none); a
//! Reshape/Flatten/Squeeze/Unsqueeze that reads another becomes a single Reshape from the start
//! of the chain. Also home of the value-replacement helpers the other fold files share.

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{self, Names, captured_values, redirect_possible, replace_value};
use nnslim_ir::op::{Reshape, Transpose};
use nnslim_ir::{Graph, NodeId, Op, Tensor, ValueId};

/// Merges consecutive layout ops:
///
/// - `Transpose(Transpose(x, p1), p2)` → `Transpose(x, p1∘p2)`, or `x` itself when the composed
///   permutation is the identity;
/// - `Reshape(L(x), s)` where `L` is a chain of Reshape/Flatten/Squeeze/Unsqueeze and `s` is a
///   constant without 0 (or the Reshape has `allowzero`) → the Reshape reads `x` directly
///   (symbolic dims are fine: only the element count matters);
/// - any Reshape/Flatten/Squeeze/Unsqueeze reading such a chain whose own output shape is fully
///   static → `Reshape(x, <static shape>)` with a new i64 shape initializer (opset 5+, the
///   first to spell Reshape with a shape input; a 0-sized dim needs `allowzero`, opset 14+).
///
/// Replacing nodes keep the replaced node's name and output value name; intermediate nodes
/// stay while something else reads them. Values read by subgraphs are left alone.
pub fn merge_layout(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    let mut changed = false;
    // Every match removes one layout-reads-layout edge; the cap only guards against a bug.
    let cap = g.node_count() + 1;
    for _ in 0..cap {
        // Each change adds and removes nodes: re-scan from scratch after every one.
        let Some(m) = find(g, cx)? else {
            return Ok(changed);
        };
        apply(g, cx, m)?;
        changed = true;
    }
    Ok(changed)
}

/// One match, by values (the nodes are those values' producers).
enum Match {
    /// `outer` = Transpose(`inner` = Transpose(`x`)) becomes `Transpose(x, perm)`, or `x` itself
    /// when `perm` is `None` (the identity, and `outer`'s readers can be moved to `x`).
    Transposes {
        outer: ValueId,
        inner: ValueId,
        x: ValueId,
        perm: Option<Vec<i64>>,
    },
    /// A Reshape (output `outer`) with a constant target re-pointed at the chain start `start`.
    Repoint { outer: ValueId, start: ValueId },
    /// A layout op (output `outer`, fully static `dims`) replaced by `Reshape(start, dims)`.
    Static {
        outer: ValueId,
        start: ValueId,
        dims: Vec<i64>,
    },
}

/// Whether the op only relabels the shape of input 0, keeping the row-major element order.
fn is_reshape_like(op: &Op) -> bool {
    matches!(
        op,
        Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_)
    )
}

/// Input 0 of a node, if present.
fn data_input(g: &Graph, id: NodeId) -> Option<ValueId> {
    g.node(id).inputs().first().copied().flatten()
}

/// The first value of the chain of reshape-like ops that ends in `v`.
fn chain_start(g: &Graph, mut v: ValueId) -> ValueId {
    // Bounded by the node count: the graph is acyclic, the bound only guards a broken one.
    for _ in 0..g.node_count() {
        if !is_reshape_like(&g.node(v.node).op) {
            break;
        }
        match data_input(g, v.node) {
            Some(x) => v = x,
            None => break,
        }
    }
    v
}

fn find(g: &Graph, cx: &FoldCx) -> Result<Option<Match>, PassError> {
    let captured = captured_values(g);
    for id in g.compute_nodes()? {
        let outer = ValueId { node: id, slot: 0 };
        if captured.contains(&outer) {
            continue;
        }
        let Some(inner) = data_input(g, id) else {
            continue;
        };
        let inner_op = &g.node(inner.node).op;
        match &g.node(id).op {
            Op::Transpose(t2) => {
                let (Op::Transpose(t1), Some(x)) = (inner_op, data_input(g, inner.node)) else {
                    continue;
                };
                let Some(p) = compose(g, x, &t1.perm, &t2.perm) else {
                    continue;
                };
                let perm = if !is_identity(&p) {
                    Some(p)
                } else if redirect_possible(g, &captured, outer, x) {
                    None
                } else if let Some(id) = identity_perm(g, x) {
                    Some(id)
                } else {
                    continue;
                };
                return Ok(Some(Match::Transposes {
                    outer,
                    inner,
                    x,
                    perm,
                }));
            }
            op if is_reshape_like(op) && is_reshape_like(inner_op) => {
                let start = chain_start(g, inner);
                if start == inner {
                    continue;
                }
                if let Op::Reshape(r) = op
                    && let Some(target) =
                        node_input(g, id, 1).and_then(|s| rewrite::const_i64(g, s))
                    && (r.allowzero || !target.contains(&0))
                {
                    return Ok(Some(Match::Repoint { outer, start }));
                }
                let Some(dims) = rewrite::static_shape(g, outer) else {
                    continue;
                };
                if cx.opset < 5 || (dims.contains(&0) && cx.opset < 14) {
                    continue;
                }
                return Ok(Some(Match::Static { outer, start, dims }));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Input `slot` of a node, if present.
fn node_input(g: &Graph, id: NodeId, slot: usize) -> Option<ValueId> {
    g.node(id).inputs().get(slot).copied().flatten()
}

/// A permutation as a vector: `None` (reverse the axes) spelled out for `rank` axes.
fn perm_or_reverse(perm: &Option<Vec<i64>>, rank: usize) -> Vec<i64> {
    match perm {
        Some(p) => p.clone(),
        None => (0..rank as i64).rev().collect(),
    }
}

/// `Transpose(Transpose(x, p1), p2)` as one permutation of `x`'s axes, or `None` when it cannot
/// be spelled (unknown rank with one permutation implicit, or mismatched lengths).
fn compose(
    g: &Graph,
    x: ValueId,
    p1: &Option<Vec<i64>>,
    p2: &Option<Vec<i64>>,
) -> Option<Vec<i64>> {
    if p1.is_none() && p2.is_none() {
        // Reversing twice is the identity at any rank.
        return Some(Vec::new());
    }
    let rank = p1
        .as_ref()
        .or(p2.as_ref())
        .map(Vec::len)
        .or_else(|| g.value(x).ty.shape().map(Vec::len))?;
    let (p1, p2) = (perm_or_reverse(p1, rank), perm_or_reverse(p2, rank));
    if p1.len() != rank || p2.len() != rank {
        return None;
    }
    // out axis i is axis p2[i] of the middle value, which is axis p1[p2[i]] of x.
    p2.iter()
        .map(|&i| usize::try_from(i).ok().and_then(|i| p1.get(i)).copied())
        .collect()
}

/// Whether a permutation keeps every axis in place (the empty one stands for any rank).
fn is_identity(perm: &[i64]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| p == i as i64)
}

/// The identity permutation of `x`'s axes, when its rank is known.
fn identity_perm(g: &Graph, x: ValueId) -> Option<Vec<i64>> {
    let rank = g.value(x).ty.shape()?.len();
    Some((0..rank as i64).collect())
}

fn apply(g: &mut Graph, cx: &FoldCx, m: Match) -> Result<(), PassError> {
    let mut names = Names::of(g);
    match m {
        Match::Transposes {
            outer,
            inner,
            x,
            perm,
        } => {
            let node_name = g.node(outer.node).name.clone();
            let replaced = match &perm {
                None => rewrite::redirect(g, &mut names, outer, x)?,
                Some(_) => false,
            };
            if !replaced {
                // A real permutation, or an identity whose output cannot be renamed onto `x`
                // (both are graph interface): one Transpose of `x` either way.
                let perm = match perm {
                    Some(p) => p,
                    None => identity_perm(g, x).ok_or_else(|| {
                        rewrite::node_error(g, outer.node, "cannot spell the identity permutation")
                    })?,
                };
                let op = Op::Transpose(Transpose { perm: Some(perm) });
                replace_value(g, &mut names, outer, &node_name, op, vec![Some(x)])?;
            }
            rewrite::remove_if_dead(g, outer.node)?;
            rewrite::remove_if_dead(g, inner.node)?;
        }
        Match::Repoint { outer, start } => {
            let inner = data_input(g, outer.node);
            g.set_input(outer.node, 0, Some(start))?;
            if let Some(inner) = inner {
                remove_chain_if_dead(g, inner)?;
            }
        }
        Match::Static { outer, start, dims } => {
            let inner = data_input(g, outer.node);
            let base = format!("{}.shape", g.value(outer).name);
            let shape = Tensor::from_i64(vec![dims.len() as i64], &dims)
                .map_err(|e| rewrite::node_error(g, outer.node, e.to_string()))?;
            let shape = rewrite::add_const(g, &mut names, &base, shape);
            let op = Op::Reshape(Reshape {
                allowzero: dims.contains(&0) && cx.opset >= 14,
            });
            let node_name = g.node(outer.node).name.clone();
            replace_value(
                g,
                &mut names,
                outer,
                &node_name,
                op,
                vec![Some(start), Some(shape)],
            )?;
            rewrite::remove_if_dead(g, outer.node)?;
            if let Some(inner) = inner {
                remove_chain_if_dead(g, inner)?;
            }
        }
    }
    Ok(())
}

/// Removes the reshape-like producers of `v`, walking up the chain, while nothing reads them.
fn remove_chain_if_dead(g: &mut Graph, mut v: ValueId) -> Result<(), PassError> {
    for _ in 0..g.node_count() {
        let id = v.node;
        if !is_reshape_like(&g.node(id).op) {
            break;
        }
        let next = data_input(g, id);
        if !rewrite::remove_if_dead(g, id)? {
            break;
        }
        match next {
            Some(n) => v = n,
            None => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::{parse_model, print_graph};
    use std::collections::BTreeMap;

    /// Parses, applies the rewrite, checks the result (verifies, writable at the opset, same
    /// output names, same outputs on random inputs, idempotent) and returns the graph, whether
    /// it changed, its op histogram and its text.
    fn run(text: &str) -> (Graph, bool, BTreeMap<String, usize>, String) {
        let m = parse_model(text).unwrap();
        let cx = FoldCx {
            opset: m.opset("").unwrap(),
            ..FoldCx::default()
        };
        let before = m.graph.clone();
        let mut g = m.graph;
        let changed = merge_layout(&mut g, &cx).unwrap();
        nnslim_ir::verify(&g).unwrap();
        for id in g.compute_nodes().unwrap() {
            g.node(id).op.to_onnx(cx.opset).unwrap();
        }
        let names = |g: &Graph| -> Vec<String> {
            g.outputs()
                .iter()
                .chain(&g.inputs())
                .map(|&v| g.value(v).name.clone())
                .collect()
        };
        assert_eq!(names(&before), names(&g));
        crate::testing::differential(&before, &g, 0, 3).unwrap();
        assert!(!merge_layout(&mut g, &cx).unwrap(), "not idempotent");
        let ops = graph_stats(&g).ops;
        let text = print_graph(&g, cx.opset);
        (g, changed, ops, text)
    }

    fn count(ops: &BTreeMap<String, usize>, op: &str) -> usize {
        ops.get(op).copied().unwrap_or(0)
    }

    #[test]
    fn composes_transposes() {
        let (_, changed, ops, text) = run(r#"model ir_version=8 opsets=[""=13]
graph "t" {
  input %x: f32[2,3,4]
  %a = Transpose(%x) {perm=[1,0,2]}
  %b = Transpose(%a) {perm=[0,2,1]} @"second"
  %y = Relu(%b)
  output %y
}"#);
        assert!(changed);
        assert_eq!(count(&ops, "Transpose"), 1);
        assert!(text.contains("%b = Transpose(%x) {perm=[1,2,0]}"), "{text}");
        assert!(text.contains("@\"second\""), "{text}");
    }

    #[test]
    fn cancelling_transposes_disappear() {
        let (_, changed, ops, _) = run(r#"model ir_version=8 opsets=[""=13]
graph "t" {
  input %x: f32[2,3]
  %r = Relu(%x)
  %a = Transpose(%r)
  %b = Transpose(%a)
  %c = Transpose(%b) {perm=[1,0]}
  %d = Transpose(%c) {perm=[1,0]}
  output %d
}"#);
        assert!(changed);
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["Relu"]);
    }

    #[test]
    fn interface_identity_stays_one_transpose() {
        // Output `y` cannot be renamed onto graph input `x`: one identity Transpose remains.
        let (_, changed, ops, text) = run(r#"model ir_version=8 opsets=[""=13]
graph "t" {
  input %x: f32[2,3]
  %a = Transpose(%x) {perm=[1,0]}
  %y = Transpose(%a) {perm=[1,0]}
  output %y
}"#);
        assert!(changed);
        assert_eq!(count(&ops, "Transpose"), 1);
        assert!(text.contains("%y = Transpose(%x) {perm=[0,1]}"), "{text}");
    }

    #[test]
    fn shared_intermediate_stays() {
        let (_, changed, ops, _) = run(r#"model ir_version=8 opsets=[""=13]
graph "t" {
  input %x: f32[2,3,4]
  %a = Transpose(%x) {perm=[2,0,1]}
  %b = Transpose(%a) {perm=[2,0,1]}
  %r = Relu(%a)
  output %b
  output %r
}"#);
        assert!(changed);
        assert_eq!(count(&ops, "Transpose"), 2);
    }

    #[test]
    fn static_chain_becomes_one_reshape() {
        let (g, changed, ops, text) = run(r#"model ir_version=8 opsets=[""=13]
graph "r" {
  input %x: f32[2,3,4]
  const %one: i64[1] = [0]
  %r = Relu(%x)
  %a = Flatten(%r) {axis=1}
  %b = Unsqueeze(%a, %one)
  %c = Squeeze(%b, %one) @"last"
  output %c
}"#);
        assert!(changed);
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["Relu", "Reshape"]);
        assert!(
            text.contains("%c = Reshape(%r, %c.shape) : f32[2,12] @\"last\""),
            "{text}"
        );
        let shape = g.find_value("c.shape").unwrap();
        assert_eq!(rewrite::const_i64(&g, shape), Some(vec![2, 12]));
    }

    #[test]
    fn reshape_of_reshape_with_symbolic_dims() {
        let (_, changed, ops, text) = run(r#"model ir_version=8 opsets=[""=13]
graph "r" {
  input %x: f32[N,6,4]
  const %s1: i64[2] = [0, -1]
  const %s2: i64[3] = [-1, 4, 6]
  const %keep: i64[3] = [0, 2, 12]
  %a = Reshape(%x, %s1)
  %b = Reshape(%a, %s2)
  %c = Reshape(%x, %s1)
  %d = Reshape(%c, %keep)
  output %b
  output %d
}"#);
        assert!(changed);
        // %b reads %x; %d's target copies an axis of %c, so it stays on %c.
        assert!(text.contains("%b = Reshape(%x, %s2)"), "{text}");
        assert!(text.contains("%d = Reshape(%c, %keep)"), "{text}");
        assert_eq!(count(&ops, "Reshape"), 3);
    }

    #[test]
    fn no_reshape_before_opset_5() {
        let (_, changed, ops, _) = run(r#"model ir_version=3 opsets=[""=4]
graph "r" {
  input %x: f32[2,3,4]
  %a = Flatten(%x) {axis=1}
  %b = Unsqueeze(%a) {axes=[0]}
  output %b
}"#);
        assert!(!changed);
        assert_eq!(count(&ops, "Unsqueeze"), 1);
    }

    #[test]
    fn attribute_forms_at_opset_11() {
        let (_, changed, ops, _) = run(r#"model ir_version=6 opsets=[""=11]
graph "r" {
  input %x: f32[2,1,4]
  %a = Squeeze(%x) {axes=[1]}
  %b = Unsqueeze(%a) {axes=[0,3]}
  output %b
}"#);
        assert!(changed);
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["Reshape"]);
    }

    #[test]
    fn leaves_values_read_by_subgraphs() {
        let (_, changed, ops, _) = run(r#"model ir_version=8 opsets=[""=13]
graph "captured" {
  input %x: f32[2,3]
  input %c: bool[]
  %a = Transpose(%x) {perm=[1,0]}
  %b = Transpose(%a) {perm=[1,0]}
  %y = If(%c) {
    then_branch=graph "then" {
      %t = Relu(%b)
      output %t
    },
    else_branch=graph "else" {
      %e = Neg(%b)
      output %e
    }
  }
  output %y
}"#);
        assert!(!changed);
        assert_eq!(count(&ops, "Transpose"), 2);
    }
}
