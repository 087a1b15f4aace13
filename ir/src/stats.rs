//! Size and cost statistics of a graph: op counts, parameters and their bytes by dtype, and
//! estimated multiply-accumulates. Shared by `inspect` and the pass reports.

use crate::{DType, Dim, Graph, NodeId, Op, Type, ValueId};
use std::collections::{BTreeMap, BTreeSet};

/// What a graph (with its subgraphs) holds and costs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphStats {
    /// ONNX nodes (sources — inputs, initializers, outer values — not counted), subgraphs included.
    pub nodes: usize,
    /// Node count by op type (`domain::Op` outside the default domain).
    pub ops: BTreeMap<String, usize>,
    /// Elements of initializers (sparse ones at their dense size) and of constant-producing nodes
    /// (`Constant`, `ConstantOfShape` with a constant shape).
    pub params: u64,
    /// Storage bytes of those parameters by element type.
    pub param_bytes: BTreeMap<DType, u64>,
    /// Estimated multiply-accumulates of one run, symbolic dims counted as 1
    /// (Conv, ConvTranspose, Gemm, MatMul, and the integer ConvInteger and MatMulInteger).
    pub macs: u64,
    pub macs_by_op: BTreeMap<String, u64>,
    /// Nodes whose MACs could not be estimated (shapes not static), by label.
    pub macs_unknown: Vec<String>,
    /// Op types kept opaque.
    pub opaque: BTreeSet<String>,
}

/// The op type as reports show it: `Conv`, or `com.microsoft::FusedConv`.
pub fn op_key(op: &Op) -> String {
    match op.domain() {
        "" | "ai.onnx" => op.op_type().to_string(),
        d => format!("{d}::{}", op.op_type()),
    }
}

/// Statistics of a graph and everything nested in it.
pub fn graph_stats(g: &Graph) -> GraphStats {
    let mut s = GraphStats::default();
    add_graph(g, &mut s);
    s
}

fn add_params(s: &mut GraphStats, dtype: DType, elements: u64, bytes: u64) {
    s.params += elements;
    *s.param_bytes.entry(dtype).or_default() += bytes;
}

fn add_graph(g: &Graph, s: &mut GraphStats) {
    let mut ids: Vec<NodeId> = g.node_ids().collect();
    ids.sort();
    for id in ids {
        let node = g.node(id);
        match &node.op {
            Op::Input | Op::Outer => continue,
            Op::Initializer(t) => {
                add_params(s, t.dtype, t.len(), t.storage_size());
                continue;
            }
            Op::Constant(c) => {
                let t = c.value();
                add_params(s, t.dtype, t.len(), t.storage_size());
            }
            Op::ConstantOfShape(c) => {
                let shape = node.inputs().first().copied().flatten();
                if let Some(n) = shape
                    .and_then(|v| g.constant(v))
                    .and_then(|t| t.to_i64_vec().ok())
                    .and_then(|d| crate::element_count(&d).ok())
                {
                    let bytes = c.value.dtype.storage_bytes(n).unwrap_or(0);
                    add_params(s, c.value.dtype, n, bytes);
                }
            }
            _ => {}
        }
        s.nodes += 1;
        let key = op_key(&node.op);
        *s.ops.entry(key.clone()).or_default() += 1;
        if node.op.is_opaque() {
            s.opaque.insert(key.clone());
        }
        match node_macs(g, id) {
            Some(0) => {}
            Some(m) => {
                s.macs = s.macs.saturating_add(m);
                let e = s.macs_by_op.entry(key).or_default();
                *e = e.saturating_add(m);
            }
            None => s.macs_unknown.push(crate::node_label(node)),
        }
        for sub in node.op.subgraphs() {
            add_graph(sub, s);
        }
    }
}

fn static_dims(g: &Graph, v: Option<ValueId>) -> Option<Vec<u64>> {
    let ty: &Type = &g.value(v?).ty;
    ty.shape()?
        .iter()
        .map(|d| match d {
            Dim::Known(n) => u64::try_from(*n).ok(),
            Dim::Symbol(_) => Some(1),
            Dim::Unknown => None,
        })
        .collect()
}

fn product(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// Estimated multiply-accumulates of one node (symbolic dims as 1): `Some(0)` for ops that do
/// none, `None` when a MAC-heavy op's shapes are not known.
pub fn node_macs(g: &Graph, id: NodeId) -> Option<u64> {
    let node = g.node(id);
    let input = |i: usize| node.inputs().get(i).copied().flatten();
    let output = Some(ValueId { node: id, slot: 0 });
    match &node.op {
        // out elements × (input channels per group × kernel elements) = out × |W| / C_out
        Op::Conv(_) | Op::ConvInteger(_) => {
            let out = static_dims(g, output)?;
            let w = static_dims(g, input(1))?;
            product(&out)?.checked_mul(product(w.get(1..)?)?)
        }
        // input elements × (output channels per group × kernel elements)
        Op::ConvTranspose(_) => {
            let x = static_dims(g, input(0))?;
            let w = static_dims(g, input(1))?;
            product(&x)?.checked_mul(product(w.get(1..)?)?)
        }
        Op::Gemm(gemm) => {
            let out = static_dims(g, output)?;
            let a = static_dims(g, input(0))?;
            let k = if gemm.trans_a {
                *a.first()?
            } else {
                *a.get(1)?
            };
            product(&out)?.checked_mul(k)
        }
        Op::MatMul | Op::MatMulInteger => {
            let out = static_dims(g, output)?;
            let a = static_dims(g, input(0))?;
            product(&out)?.checked_mul(*a.last()?)
        }
        _ => Some(0),
    }
}
