//! Size and cost statistics of a graph: op counts, parameters and their bytes by dtype, and
//! estimated multiply-accumulates. Shared by `inspect` and the pass reports.

use crate::{DType, Dim, Graph, NodeId, Op, Tensor, TensorData, Type, ValueId};
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
    /// Elements of weight initializers (rank >= 2: not biases, scales or zero points) that are
    /// exactly zero, a sparse initializer's implicit zeros included: pruning's effect, whatever
    /// the storage.
    pub zero_params: u64,
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
    let constant = constant_nodes(g);
    for id in ids {
        let node = g.node(id);
        match &node.op {
            Op::Input | Op::Outer => continue,
            Op::Initializer(t) => {
                add_params(s, t.dtype, t.len(), t.storage_size());
                if t.dims.len() >= 2 {
                    s.zero_params += zeros(t);
                }
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
        // A node that reads only constants runs once when a runtime loads the model (e.g.
        // the `MatMul` rebuilding a sparse-coded weight): not a cost of each run.
        let macs = if constant.contains(&id) {
            Some(0)
        } else {
            node_macs(g, id)
        };
        match macs {
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

/// Nodes whose value does not depend on a graph input (or an outer-scope value): constants
/// and what is computed from constants only.
fn constant_nodes(g: &Graph) -> BTreeSet<NodeId> {
    let Ok(order) = g.topo_order() else {
        return BTreeSet::new();
    };
    let mut live: BTreeSet<NodeId> = BTreeSet::new();
    let mut constant = BTreeSet::new();
    for id in order {
        let node = g.node(id);
        let depends = match node.op {
            Op::Input | Op::Outer => true,
            // Initializers listed as graph inputs (IR 3) may be fed: not constants.
            Op::Initializer(_) => g.is_input(id),
            _ => node
                .inputs()
                .iter()
                .flatten()
                .chain(node.captures())
                .any(|v| live.contains(&v.node)),
        };
        if depends || !node.op.subgraphs().is_empty() {
            live.insert(id);
        } else {
            constant.insert(id);
        }
    }
    constant
}

/// Elements of `t` that are exactly zero (±0.0 for floats); 0 for types not counted (strings,
/// sub-byte and 8-bit float types).
pub fn zeros(t: &Tensor) -> u64 {
    match &t.data {
        TensorData::Dense(raw) => {
            let width = match t.dtype {
                DType::F32 | DType::I32 | DType::U32 => 4,
                DType::F64 | DType::I64 | DType::U64 => 8,
                DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
                DType::I8 | DType::U8 | DType::Bool => 1,
                _ => return 0,
            };
            // Floats: both zeros (the sign bit masked); integers: all bits clear.
            let float = matches!(t.dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16);
            raw.chunks_exact(width)
                .filter(|e| {
                    let (last, rest) = e.split_last().expect("width >= 1");
                    rest.iter().all(|&b| b == 0) && (*last & if float { 0x7f } else { 0xff }) == 0
                })
                .count() as u64
        }
        TensorData::Sparse(sp) => t.len().saturating_sub(sp.values.len()) + zeros(&sp.values),
        TensorData::Strings(_) => 0,
    }
}

/// One weighted layer (Conv, ConvTranspose, Gemm, MatMul and their integer forms) of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStats {
    /// The node's label (name, or `<output>`).
    pub name: String,
    pub op: String,
    /// Dims of the constant weight (the second input), when it is a constant.
    pub weight_dims: Option<Vec<i64>>,
    /// Weight elements, and those that are exactly zero.
    pub params: u64,
    pub zeros: u64,
    /// Multiply-accumulates of one run (symbolic dims as 1), when shapes are known.
    pub macs: Option<u64>,
    /// The weight as a matrix (output channels × everything else) has at most this rank: for
    /// a factor of a low-rank split it is the inner dimension.
    pub rank: Option<u64>,
}

/// The weighted layers of the main graph that run on its inputs, in topological order.
pub fn layer_stats(g: &Graph) -> Vec<LayerStats> {
    let Ok(order) = g.topo_order() else {
        return Vec::new();
    };
    let constant = constant_nodes(g);
    let mut out = Vec::new();
    for id in order {
        let node = g.node(id);
        // Computed once at load (e.g. a sparse-coded weight's decode): part of a weight.
        if constant.contains(&id) {
            continue;
        }
        if !matches!(
            node.op,
            Op::Conv(_)
                | Op::ConvTranspose(_)
                | Op::Gemm(_)
                | Op::MatMul
                | Op::ConvInteger(_)
                | Op::MatMulInteger
        ) {
            continue;
        }
        let t = weight_constant(g, node.inputs().get(1).copied().flatten());
        let dims = t.map(|t| t.dims.clone());
        let rank = dims.as_ref().and_then(|d| {
            let (first, rest) = d.split_first()?;
            let rows = u64::try_from(*first).ok()?;
            let cols = u64::try_from(rest.iter().product::<i64>()).ok()?;
            Some(rows.min(cols))
        });
        out.push(LayerStats {
            name: crate::node_label(node),
            op: op_key(&node.op),
            weight_dims: dims,
            params: t.map_or(0, Tensor::len),
            zeros: t.map_or(0, zeros),
            macs: node_macs(g, id),
            rank,
        });
    }
    out
}

/// The constant a layer's weight comes from: itself, or the constant behind a chain of
/// `DequantizeLinear` (quantized weights: zeros stay zeros), `Cast` (half-precision storage),
/// `Reshape`, `Transpose` and `Identity`.
fn weight_constant(g: &Graph, mut v: Option<ValueId>) -> Option<&Tensor> {
    for _ in 0..8 {
        let id = v?;
        if let Some(t) = g.constant(id) {
            return Some(t);
        }
        let node = g.node(id.node);
        match node.op {
            Op::DequantizeLinear(_)
            | Op::Cast(_)
            | Op::Reshape(_)
            | Op::Transpose(_)
            | Op::Identity => {
                v = node.inputs().first().copied().flatten();
            }
            _ => return None,
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SparseData;
    use std::sync::Arc;

    #[test]
    fn zeros_count_both_float_zeros_and_a_sparse_tensors_implicit_ones() {
        let t = Tensor::from_f32(vec![2, 3], &[0.0, -0.0, 1.0, 1e-30, 0.0, -2.0]).unwrap();
        assert_eq!(zeros(&t), 3);
        let values = Tensor::from_f32(vec![3], &[5.0, 0.0, 7.0]).unwrap();
        let indices = Tensor::from_i64(vec![3], &[1, 4, 9]).unwrap();
        let sparse = Tensor {
            dtype: DType::F32,
            dims: vec![2, 5],
            data: TensorData::Sparse(Arc::new(SparseData { values, indices })),
            doc_string: String::new(),
        };
        // 10 elements, 3 stored of which one is zero: 8 zeros.
        assert_eq!(zeros(&sparse), 8);
    }

    #[test]
    fn macs_leave_out_nodes_computed_from_constants_only() {
        // W = D x C is rebuilt once at load (a sparse-coded weight); only x W runs each time.
        let m = crate::text::parse_model(
            r#"model ir_version=8 opsets=[""=13]
graph "g" {
  input %x: f32[2,8]
  const %d: f32[8,3] = random(seed=1, scale=1.0)
  const %c: f32[3,4] = random(seed=2, scale=1.0)
  %w = MatMul(%d, %c)
  %y = MatMul(%x, %w)
  output %y
}
"#,
        )
        .unwrap();
        let s = graph_stats(&m.graph);
        assert_eq!(s.macs, 2 * 8 * 4);
        assert_eq!(s.ops.get("MatMul"), Some(&2));
        let layers = layer_stats(&m.graph);
        assert_eq!(layers.len(), 1, "only the MatMul reading x is a layer");
        assert_eq!(layers[0].macs, Some(2 * 8 * 4));
    }
}
