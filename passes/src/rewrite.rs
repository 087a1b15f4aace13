//! Helpers shared by graph rewrites: fresh value names, reading and adding constants, and
//! redirecting the readers of a value while keeping the graph's interface (output names) intact.

use crate::PassError;
use nnslim_ir::{DType, Graph, NewNode, NodeId, Op, Tensor, TensorData, ValueId, node_label};
use std::collections::HashSet;

/// Hands out value names not yet used anywhere in a graph (its subgraphs included).
#[derive(Debug, Default)]
pub struct Names {
    used: HashSet<String>,
}

impl Names {
    /// The names used in `graph` and every graph nested in it.
    pub fn of(graph: &Graph) -> Names {
        let mut n = Names::default();
        n.collect(graph);
        n
    }

    fn collect(&mut self, g: &Graph) {
        for id in g.node_ids() {
            let node = g.node(id);
            for o in node.outputs() {
                self.used.insert(o.name.clone());
            }
            for sub in node.op.subgraphs() {
                self.collect(sub);
            }
        }
    }

    /// A new name starting with `base`: `base` itself if free, else `base_1`, `base_2`, ...
    pub fn fresh(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "v" } else { base };
        let mut name = base.to_string();
        let mut i = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// The values of a dense f32 constant (initializer or `Constant` node).
pub fn const_f32(g: &Graph, v: ValueId) -> Option<Vec<f32>> {
    let t = g.constant(v)?;
    if t.dtype != DType::F32 || !matches!(t.data, TensorData::Dense(_)) {
        return None;
    }
    t.to_f32_vec().ok()
}

/// The values of a dense integer constant as i64 (initializer or `Constant` node).
pub fn const_i64(g: &Graph, v: ValueId) -> Option<Vec<i64>> {
    let t = g.constant(v)?;
    if !matches!(t.data, TensorData::Dense(_)) {
        return None;
    }
    t.to_i64_vec().ok()
}

/// Adds an initializer named after `base` (made unique) and returns its value.
pub fn add_const(g: &mut Graph, names: &mut Names, base: &str, t: Tensor) -> ValueId {
    let name = names.fresh(base);
    g.add_initializer(name, t)
}

/// Makes every reader of `old` read `new`. When `old` is a graph output, `new` takes over its
/// name and declared type so the graph's interface does not change, and `old` gets a fresh
/// name. Nothing changes and `false` is returned when a subgraph reads `old` (captures are not
/// moved), or when `old` is a graph output and `new` cannot be renamed (it is a graph input,
/// an initializer, already a graph output, or read by a subgraph).
pub fn redirect(
    g: &mut Graph,
    names: &mut Names,
    old: ValueId,
    new: ValueId,
) -> Result<bool, PassError> {
    if old == new {
        return Ok(false);
    }
    // Subgraphs read outer values by name through captures, which `replace_all_uses` does not
    // move, and renaming a captured value would break the subgraph's reference.
    if !redirect_possible(g, &captured_values(g), old, new) {
        return Ok(false);
    }
    if !g.outputs().contains(&old) {
        g.replace_all_uses(old, new)?;
        return Ok(true);
    }
    let info = g.value(old).clone();
    let placeholder = names.fresh(&format!("{}.replaced", info.name));
    g.value_mut(old).name = placeholder;
    g.replace_all_uses(old, new)?;
    let nv = g.value_mut(new);
    nv.name = info.name;
    nv.doc_string = info.doc_string;
    nv.metadata_props = info.metadata_props;
    nv.in_value_info = nv.in_value_info || info.in_value_info;
    if let Some(declared) = info.declared {
        g.declare(new, declared);
    }
    Ok(true)
}

/// Values read by a subgraph of some node (captures): their readers cannot be moved.
pub fn captured_values(g: &Graph) -> HashSet<ValueId> {
    g.node_ids()
        .flat_map(|id| g.node(id).captures().to_vec())
        .collect()
}

/// Whether [`redirect`] would move the readers of `old` to `new` (`captured`: the values
/// subgraphs read).
pub fn redirect_possible(
    g: &Graph,
    captured: &HashSet<ValueId>,
    old: ValueId,
    new: ValueId,
) -> bool {
    if old == new || captured.contains(&old) {
        return false;
    }
    if !g.outputs().contains(&old) {
        return true;
    }
    let interface =
        g.node(new.node).op.is_source() || g.outputs().contains(&new) || g.is_input(new.node);
    !interface && !captured.contains(&new)
}

/// Adds a node (`op` on `inputs`, named `node_name`) whose single output replaces `old`: it
/// takes `old`'s name, declared type and doc, every reader of `old` (graph outputs included)
/// reads it, and `old` is renamed to a fresh name until its node is removed. The caller makes
/// sure no subgraph captures `old`.
pub fn replace_value(
    g: &mut Graph,
    names: &mut Names,
    old: ValueId,
    node_name: &str,
    op: Op,
    inputs: Vec<Option<ValueId>>,
) -> Result<ValueId, PassError> {
    let info = g.value(old).clone();
    let temp = names.fresh(&format!("{}.replaced", info.name));
    let id = g.add_node(NewNode::new(op, inputs, vec![temp.clone()]).named(node_name))?;
    let new = ValueId { node: id, slot: 0 };
    g.value_mut(old).name = temp;
    let nv = g.value_mut(new);
    nv.name = info.name;
    nv.doc_string = info.doc_string;
    nv.metadata_props = info.metadata_props;
    nv.in_value_info = info.in_value_info;
    if let Some(declared) = info.declared {
        g.declare(new, declared);
    }
    g.replace_all_uses(old, new)?;
    Ok(new)
}

/// Removes `id` if none of its outputs is read any more. Returns whether it was removed.
pub fn remove_if_dead(g: &mut Graph, id: NodeId) -> Result<bool, PassError> {
    let n = g.node(id).outputs().len();
    let dead = (0..n).all(|slot| {
        !g.is_used(ValueId {
            node: id,
            slot: slot as u32,
        })
    });
    if dead && !g.is_input(id) {
        g.remove_node(id)?;
        return Ok(true);
    }
    Ok(false)
}

/// The single consumer of a value, if it has exactly one reader (a node input; not a graph
/// output or a capture).
pub fn single_use(g: &Graph, v: ValueId) -> Option<(NodeId, usize)> {
    if g.outputs().contains(&v) {
        return None;
    }
    let uses = g.uses(v);
    if uses.len() != 1 {
        return None;
    }
    // A capture by a subgraph is also a read that `uses` does not list.
    let captured = g.node_ids().any(|n| g.node(n).captures().contains(&v));
    if captured { None } else { Some(uses[0]) }
}

/// A node error with the node's label and op type.
pub fn node_error(g: &Graph, id: NodeId, message: impl Into<String>) -> PassError {
    let node = g.node(id);
    PassError::Node {
        node: node_label(node),
        op: node.op.op_type().to_string(),
        message: message.into(),
    }
}

/// The op of a value's producer.
pub fn producer(g: &Graph, v: ValueId) -> &Op {
    &g.node(v.node).op
}

/// The static shape of a value, if every dim is known.
pub fn static_shape(g: &Graph, v: ValueId) -> Option<Vec<i64>> {
    g.value(v).ty.as_tensor()?.static_dims()
}
