//! Dead-code elimination: compute nodes and initializers that nothing reads are removed.

use super::FoldCx;
use crate::PassError;
use nnslim_ir::{Graph, NodeId, Op, ValueId};

/// Removes compute nodes none of whose outputs is read (by a node input, a subgraph capture or
/// a graph output), to a fixed point within one call: nodes are visited in reverse topological
/// order, so a node's readers are gone before it is looked at. Then removes initializers that
/// nothing reads and that are not listed as graph inputs — or that are, in a file of IR version
/// 3 or older, where every weight was listed as an input (they are weights, not the model's
/// interface). Other graph inputs and outer-value placeholders (`Op::Outer`) are never removed.
/// Works on the main graph only.
pub fn eliminate_dead(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    let mut changed = false;
    // Removing a node frees only its own id, which comes after the ids still to visit.
    for id in g.compute_nodes()?.into_iter().rev() {
        if !any_output_used(g, id) {
            g.remove_node(id)?;
            changed = true;
        }
    }
    for v in g.initializers() {
        let removable = matches!(g.node(v.node).op, Op::Initializer(_))
            && (!g.is_input(v.node) || cx.ir_version < 4)
            && !g.is_used(v);
        if removable {
            g.remove_node(v.node)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Whether anything reads one of the node's outputs.
fn any_output_used(g: &Graph, id: NodeId) -> bool {
    (0..g.node(id).outputs().len()).any(|slot| {
        g.is_used(ValueId {
            node: id,
            slot: slot as u32,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::differential;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::{parse_model, print_graph};
    use nnslim_ir::verify;

    fn run(body: &str) -> (Graph, Graph, bool) {
        let text = format!(
            "model ir_version=8 opsets=[\"\"=13] producer=\"t\"\ngraph \"g\" {{\n{body}\n}}"
        );
        let before = parse_model(&text).unwrap_or_else(|e| panic!("{e}")).graph;
        let mut g = before.clone();
        let cx = FoldCx::default();
        let changed = eliminate_dead(&mut g, &cx).unwrap();
        verify(&g).unwrap_or_else(|e| panic!("{e}\n{}", print_graph(&g, 13)));
        differential(&before, &g, 0, 3).unwrap();
        assert!(!eliminate_dead(&mut g, &cx).unwrap(), "not idempotent");
        (before, g, changed)
    }

    fn names(g: &Graph, vs: Vec<ValueId>) -> Vec<String> {
        vs.iter().map(|v| g.value(*v).name.clone()).collect()
    }

    #[test]
    fn removes_dead_chains_and_initializers() {
        let (_, g, changed) = run(r#"input %x: f32[2,3]
  const %w: f32[2,3] = random(seed=1)
  const %unused: f32[4] = splat(1.0)
  %a = Mul(%x, %w)
  %b = Relu(%a)
  %c = Sigmoid(%b)
  %y = Add(%x, %x)
  output %y"#);
        assert!(changed);
        let stats = graph_stats(&g);
        assert_eq!(stats.nodes, 1, "{}", print_graph(&g, 13));
        assert!(g.initializers().is_empty());
        assert_eq!(names(&g, g.inputs()), ["x"]);
    }

    #[test]
    fn keeps_inputs_outputs_and_partially_used_nodes() {
        let (_, g, changed) = run(r#"input %x: f32[4]
  input %unread: f32[4]
  input const %default: f32[4] = splat(2.0)
  const %k: f32[4] = splat(3.0)
  const %split: i64[2] = [1, 3]
  %p, %q = Split(%x, %split) {axis=0}
  %d, %mask = Dropout(%x)
  %y = Add(%d, %k)
  output %y
  output %q"#);
        assert!(!changed, "{}", print_graph(&g, 13));
        assert_eq!(names(&g, g.inputs()), ["x", "unread", "default"]);
        assert_eq!(graph_stats(&g).ops.get("Split"), Some(&1));
    }

    #[test]
    fn unread_ir3_weights_listed_as_inputs_go() {
        let text = r#"model ir_version=3 opsets=[""=8]
graph "g" {
  input %x: f32[4]
  input const %w: f32[4] = splat(2.0)
  input const %old: f32[4] = splat(3.0)
  %y = Mul(%x, %w)
  output %y
}"#;
        let m = parse_model(text).unwrap();
        let mut g = m.graph.clone();
        let cx = FoldCx {
            ir_version: 3,
            ..FoldCx::default()
        };
        assert!(eliminate_dead(&mut g, &cx).unwrap());
        assert_eq!(names(&g, g.inputs()), ["x", "w"]);
        differential(&m.graph, &g, 0, 2).unwrap();
        // At IR 4 and later such an initializer is an overridable input: it stays.
        let mut g = m.graph.clone();
        assert!(!eliminate_dead(&mut g, &FoldCx::default()).unwrap());
        assert_eq!(names(&g, g.inputs()), ["x", "w", "old"]);
    }

    #[test]
    fn captured_values_are_live() {
        let (_, g, changed) = run(r#"input %c: bool[]
  input %x: f32[2]
  const %k: f32[2] = [1.0, 2.0]
  const %dead: f32[2] = [3.0, 4.0]
  %m = Mul(%x, %k)
  %y = If(%c) {
    then_branch=graph "then" {
      %t = Add(%m, %k)
      output %t: f32[2]
    },
    else_branch=graph "else" {
      %e = Sub(%x, %x)
      %unused = Neg(%e)
      output %e: f32[2]
    }
  } : f32[2]
  %z = Neg(%y)
  output %y"#);
        assert!(changed);
        let ops = graph_stats(&g).ops;
        assert_eq!(ops.get("Mul"), Some(&1));
        assert_eq!(ops.get("Neg"), Some(&1), "only the subgraph's Neg is left");
        assert_eq!(names(&g, g.initializers()), ["k"]);
    }
}
