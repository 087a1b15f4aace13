//! Common-subexpression elimination: identical nodes reading identical inputs are computed
//! once, and identical dense initializers are stored once.

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{Names, captured_values, redirect, remove_if_dead};
use nnslim_ir::{DType, Graph, NodeId, Op, TensorData, ValueId};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

/// Merges common subexpressions of the main graph, in topological order:
///
/// - Two typed nodes (not sources, not opaque, without subgraphs or captures, not a
///   training-mode `Dropout`) with the same op and attributes (compared through their `Debug`
///   form, which is deterministic and stricter than ONNX equality) and the same input values:
///   readers of the later one's outputs read the earlier one's. When a later output is a graph
///   output the earlier value takes its name; if the earlier one is itself a graph output (or
///   an output is captured by a subgraph) that node is kept. The later node is removed once
///   nothing reads it. Merges cascade in one call (readers of merged nodes match next).
/// - Dense initializers with the same element type, dims and bytes (any size; compared
///   exactly): the first in file order is kept, and the later ones are removed after their
///   readers moved. Initializers listed as graph inputs (overridable), graph outputs and
///   values captured by a subgraph are not merged away.
pub fn eliminate_common(g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    let mut names = Names::of(g);
    let captured = captured_values(g);
    let initializers = merge_initializers(g, &captured)?;
    let nodes = merge_nodes(g, &mut names, &captured)?;
    Ok(initializers || nodes)
}

/// What two candidate nodes must share; the op is compared in full on a match.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct NodeKey {
    op_hash: u64,
    inputs: Vec<Option<ValueId>>,
    outputs: usize,
}

fn merge_nodes(
    g: &mut Graph,
    names: &mut Names,
    captured: &HashSet<ValueId>,
) -> Result<bool, PassError> {
    let mut seen: BTreeMap<NodeKey, Vec<NodeId>> = BTreeMap::new();
    let mut changed = false;
    // Only the node being visited is ever removed, so the ids still to visit and the kept
    // representatives in `seen` stay valid.
    for id in g.compute_nodes()? {
        if !mergeable(g, id) {
            continue;
        }
        let node = g.node(id);
        let key = NodeKey {
            op_hash: op_hash(&node.op),
            inputs: node.inputs().to_vec(),
            outputs: node.outputs().len(),
        };
        let reps = seen.entry(key).or_default();
        let Some(&rep) = reps
            .iter()
            .find(|&&r| same_op(&g.node(r).op, &g.node(id).op))
        else {
            reps.push(id);
            continue;
        };
        for slot in 0..g.node(id).outputs().len() as u32 {
            let old = ValueId { node: id, slot };
            let new = ValueId { node: rep, slot };
            if !g.is_used(old) || captured.contains(&old) {
                continue;
            }
            if g.value(old).name.is_empty() || g.value(new).name.is_empty() {
                continue;
            }
            changed |= redirect(g, names, old, new)?;
        }
        remove_if_dead(g, id)?;
    }
    Ok(changed)
}

/// Nodes CSE may merge: deterministic typed computations without nested graphs.
fn mergeable(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    let op = &node.op;
    if op.is_source() || op.is_opaque() || !op.subgraphs().is_empty() {
        return false;
    }
    if !node.captures().is_empty() {
        return false;
    }
    // A Dropout in training mode is random: two of them differ.
    if matches!(op, Op::Dropout(_))
        && let Some(Some(train)) = node.inputs().get(2)
    {
        let off = g
            .constant(*train)
            .and_then(|t| t.raw())
            .is_some_and(|b| b.iter().all(|&x| x == 0));
        if !off {
            return false;
        }
    }
    true
}

/// A hash of the op's full `Debug` form (a constant's tensor hashed by its bytes).
fn op_hash(op: &Op) -> u64 {
    let mut h = HashWriter(DefaultHasher::new());
    match op {
        Op::Constant(c) => {
            let t = c.value();
            "Constant".hash(&mut h.0);
            (t.dtype, &t.dims).hash(&mut h.0);
            match &t.data {
                TensorData::Dense(b) => b.hash(&mut h.0),
                _ => {
                    let _ = write!(h, "{:?}", t.data);
                }
            }
        }
        op => {
            let _ = write!(h, "{op:?}");
        }
    }
    h.0.finish()
}

/// Whether two ops are the same computation.
fn same_op(a: &Op, b: &Op) -> bool {
    match (a, b) {
        (Op::Constant(x), Op::Constant(y)) => x == y,
        (Op::Constant(_), _) | (_, Op::Constant(_)) => false,
        _ => a.op_type() == b.op_type() && format!("{a:?}") == format!("{b:?}"),
    }
}

/// Feeds formatted text into a hasher without building the string.
struct HashWriter(DefaultHasher);

impl std::fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// Readers of duplicate dense initializers move to the first copy; the copies are removed.
/// Only initializers sharing element type and dims with another one are fingerprinted.
fn merge_initializers(g: &mut Graph, captured: &HashSet<ValueId>) -> Result<bool, PassError> {
    let mut groups: BTreeMap<(DType, Vec<i64>), Vec<ValueId>> = BTreeMap::new();
    for v in g.initializers() {
        if let Op::Initializer(t) = &g.node(v.node).op
            && t.raw().is_some()
            && !g.is_input(v.node)
        {
            groups.entry((t.dtype, t.dims.clone())).or_default().push(v);
        }
    }
    let mut changed = false;
    for group in groups.into_values().filter(|vs| vs.len() > 1) {
        // Representatives by a fingerprint of their bytes, in file order.
        let mut reps: BTreeMap<u64, Vec<ValueId>> = BTreeMap::new();
        for v in group {
            let bytes = raw_bytes(g, v);
            let same = reps.entry(fingerprint(bytes)).or_default();
            let Some(&rep) = same.iter().find(|r| raw_bytes(g, **r) == bytes) else {
                same.push(v);
                continue;
            };
            if g.outputs().contains(&v) || captured.contains(&v) {
                continue;
            }
            g.replace_all_uses(v, rep)?;
            g.remove_node(v.node)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// A hash of up to 256 bytes sampled evenly from `bytes` (and its length): cheap for large
/// weights, and candidates that share it are compared in full.
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.len().hash(&mut h);
    let step = (bytes.len() / 256).max(1);
    for b in bytes.iter().step_by(step) {
        b.hash(&mut h);
    }
    h.finish()
}

/// The dense bytes of an initializer (empty for anything else).
fn raw_bytes(g: &Graph, v: ValueId) -> &[u8] {
    match &g.node(v.node).op {
        Op::Initializer(t) => t.raw().map(|b| &b[..]).unwrap_or_default(),
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::differential;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::print_graph;
    use nnslim_ir::verify;

    fn run(body: &str) -> (Graph, bool) {
        let before = crate::testing::model_of(13, body).graph;
        let mut g = before.clone();
        let cx = FoldCx::default();
        let changed = eliminate_common(&mut g, &cx).unwrap();
        verify(&g).unwrap_or_else(|e| panic!("{e}\n{}", print_graph(&g, 13)));
        differential(&before, &g, 0, 3).unwrap();
        assert!(
            !eliminate_common(&mut g, &cx).unwrap(),
            "not idempotent:\n{}",
            print_graph(&g, 13)
        );
        (g, changed)
    }

    fn ops(g: &Graph, op: &str) -> usize {
        graph_stats(g).ops.get(op).copied().unwrap_or(0)
    }

    fn init_names(g: &Graph) -> Vec<String> {
        g.initializers()
            .iter()
            .map(|v| g.value(*v).name.clone())
            .collect()
    }

    #[test]
    fn merges_identical_nodes_in_cascade() {
        let (g, changed) = run(r#"input %x: f32[2,4]
  %a = Relu(%x)
  %b = Relu(%x)
  %c = Transpose(%a) {perm=[1,0]}
  %d = Transpose(%b) {perm=[1,0]}
  %e = Transpose(%b) {perm=[0,1]}
  %f = Add(%c, %d)
  %s = Softmax(%e) {axis=1}
  output %f
  output %s"#);
        assert!(changed);
        assert_eq!(ops(&g, "Relu"), 1);
        assert_eq!(ops(&g, "Transpose"), 2, "different perms stay apart");
    }

    #[test]
    fn different_attributes_or_inputs_stay() {
        let (g, changed) = run(r#"input %x: f32[2,4]
  input %y: f32[2,4]
  %a = Softmax(%x) {axis=1}
  %b = Softmax(%x) {axis=0}
  %c = Sub(%x, %y)
  %d = Sub(%y, %x)
  %e = Add(%a, %b)
  %f = Add(%c, %d)
  output %e
  output %f"#);
        assert!(!changed, "{}", print_graph(&g, 13));
    }

    #[test]
    fn graph_outputs_keep_their_names() {
        // The later duplicate is a graph output: the earlier value takes its name. Two
        // duplicates that are both outputs are both kept.
        let (g, changed) = run(r#"input %x: f32[3]
  %a = Neg(%x)
  %b = Neg(%x)
  %p = Exp(%x)
  %q = Exp(%x)
  %s = Sigmoid(%a)
  output %s
  output %b
  output %p
  output %q"#);
        assert!(changed);
        assert_eq!(ops(&g, "Neg"), 1);
        assert_eq!(ops(&g, "Exp"), 2);
        let outs: Vec<&str> = g
            .outputs()
            .iter()
            .map(|v| g.value(*v).name.as_str())
            .collect();
        assert_eq!(outs, ["s", "b", "p", "q"]);
    }

    #[test]
    fn merges_identical_initializers() {
        let (g, changed) = run(r#"input %x: f32[64]
  const %w1: f32[64] = random(seed=5)
  const %w2: f32[64] = random(seed=5)
  const %w3: f32[64] = random(seed=6)
  const %i: i32[64] = random(seed=5)
  input const %default: f32[64] = random(seed=5)
  %a = Mul(%x, %w1)
  %b = Mul(%x, %w2)
  %c = Add(%a, %w3)
  %d = Add(%b, %default)
  %e = Add(%c, %d)
  output %e
  output %i"#);
        assert!(changed);
        assert_eq!(init_names(&g), ["w1", "w3", "i", "default"]);
        // The two Muls now read the same weight and merged too.
        assert_eq!(ops(&g, "Mul"), 1);
    }

    #[test]
    fn output_and_captured_initializers_stay() {
        let (g, changed) = run(r#"input %c: bool[]
  input %x: f32[2]
  const %k1: f32[2] = [1.0, 2.0]
  const %k2: f32[2] = [1.0, 2.0]
  const %k3: f32[2] = [1.0, 2.0]
  %y = If(%c) {
    then_branch=graph "then" {
      %t = Add(%x, %k2)
      output %t: f32[2]
    },
    else_branch=graph "else" {
      %e = Sub(%x, %k1)
      output %e: f32[2]
    }
  } : f32[2]
  output %y
  output %k3"#);
        assert!(!changed, "{}", print_graph(&g, 13));
    }

    #[test]
    fn training_dropout_is_not_merged() {
        let (g, changed) = run(r#"input %x: f32[4]
  const %ratio: f32[] = 0.5
  const %train: bool[] = [false]
  %a, _ = Dropout(%x, %ratio, %train)
  %b, _ = Dropout(%x, %ratio, %train)
  %y = Add(%a, %b)
  output %y"#);
        assert!(changed);
        assert_eq!(ops(&g, "Dropout"), 1);
    }
}
