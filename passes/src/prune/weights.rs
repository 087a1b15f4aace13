//! Weight access shared by the pruning modes: which weights are prunable (constant f32 weights
//! of Conv, ConvTranspose, Gemm and MatMul), their reduction and output axes, writing pruned
//! values back, magnitude selection, and slicing constants along an axis.

use crate::PassError;
use crate::rewrite::{captured_values, const_f32};
use nnslim_ir::{DType, Graph, Op, Tensor, TensorData, TensorError, ValueId, node_label};
use std::collections::BTreeSet;

/// A prunable weight: a dense f32 initializer read only as the weight (input 1) of layers
/// that agree on its axes.
#[derive(Clone, Debug)]
pub(crate) struct Weight {
    pub value: ValueId,
    /// Label and op type of the first layer reading it.
    pub layer: String,
    pub op: String,
    pub dims: Vec<i64>,
    pub values: Vec<f32>,
    /// The axis a layer sums over (Conv: input channels; Gemm/MatMul: input features), when
    /// the layer has one.
    pub reduction_axis: Option<usize>,
}

impl Weight {
    /// Number of weight elements.
    pub fn params(&self) -> usize {
        self.values.len()
    }
}

/// The reduction axis of a layer's weight (input 1) of rank `rank`: `None` when the node is
/// not a layer whose weight is pruned, `Some(None)` when it is one without a reduction axis.
pub(crate) fn reduction_axis(op: &Op, rank: usize) -> Option<Option<usize>> {
    let axis = match op {
        Op::Conv(_) => 1,
        Op::ConvTranspose(_) => 0,
        Op::Gemm(g) => usize::from(g.trans_b),
        Op::MatMul if rank >= 2 => rank - 2,
        Op::MatMul => 0,
        _ => return None,
    };
    Some((axis < rank).then_some(axis))
}

/// The prunable weights of the main graph, in the topological order of their first reader.
pub(crate) fn prunable_weights(g: &Graph) -> Result<Vec<Weight>, PassError> {
    let captured = captured_values(g);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in g.topo_order()? {
        let node = g.node(id);
        let Some(Some(v)) = node.inputs().get(1).copied() else {
            continue;
        };
        let Op::Initializer(t) = &g.node(v.node).op else {
            continue;
        };
        let rank = t.dims.len();
        let Some(axis) = reduction_axis(&node.op, rank) else {
            continue;
        };
        if !seen.insert(v)
            || t.dtype != DType::F32
            || !matches!(t.data, TensorData::Dense(_))
            || g.is_input(v.node)
            || g.outputs().contains(&v)
            || captured.contains(&v)
        {
            continue;
        }
        // Every reader reads it as a weight with the same reduction axis.
        let agree = g
            .uses(v)
            .into_iter()
            .all(|(n, slot)| slot == 1 && reduction_axis(&g.node(n).op, rank) == Some(axis));
        let Some(values) = const_f32(g, v) else {
            continue;
        };
        if !agree || values.is_empty() {
            continue;
        }
        out.push(Weight {
            value: v,
            layer: node_label(node),
            op: node.op.op_type().to_string(),
            dims: t.dims.clone(),
            values,
            reduction_axis: axis,
        });
    }
    Ok(out)
}

/// Replaces the values of weight `w` (same dims) in its initializer.
pub(crate) fn write_weight(g: &mut Graph, w: &Weight, values: &[f32]) -> Result<(), PassError> {
    let doc = match &g.node(w.value.node).op {
        Op::Initializer(t) => t.doc_string.clone(),
        _ => String::new(),
    };
    let mut t =
        Tensor::from_f32(w.dims.clone(), values).map_err(|e| tensor_error(g, w.value, e))?;
    t.doc_string = doc;
    g.node_mut(w.value.node).op = Op::Initializer(t);
    Ok(())
}

/// A node error for a tensor that could not be built.
pub(crate) fn tensor_error(g: &Graph, v: ValueId, e: TensorError) -> PassError {
    PassError::Node {
        node: g.value(v).name.clone(),
        op: "Initializer".into(),
        message: e.to_string(),
    }
}

/// Indices of `values` ordered by magnitude, smallest first (ties: lower index first; NaN
/// counts as largest).
pub(crate) fn by_magnitude(values: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
    order
}

/// `values` with its `k` smallest magnitudes set to zero.
pub(crate) fn zero_smallest(values: &[f32], k: usize) -> Vec<f32> {
    let mut out = values.to_vec();
    for i in by_magnitude(values).into_iter().take(k) {
        out[i] = 0.0;
    }
    out
}

/// How many elements to prune for `ratio` of `n`.
pub(crate) fn count_for(ratio: f64, n: usize) -> usize {
    ((ratio * n as f64).round() as usize).min(n)
}

/// Elements that are exactly zero.
pub(crate) fn zeros(values: &[f32]) -> usize {
    values.iter().filter(|&&x| x == 0.0).count()
}

/// A dense tensor keeping only the indices `keep` (in order) along `axis`.
pub(crate) fn slice_axis(t: &Tensor, axis: usize, keep: &[usize]) -> Result<Tensor, String> {
    let TensorData::Dense(raw) = &t.data else {
        return Err("the tensor is not stored densely".into());
    };
    let bits = t.dtype.bits();
    if bits < 8 || !bits.is_multiple_of(8) {
        return Err(format!("cannot slice {} elements", t.dtype));
    }
    let width = bits / 8;
    let d: Vec<usize> = t.dims.iter().map(|&x| x.max(0) as usize).collect();
    let Some(&size) = d.get(axis) else {
        return Err(format!("axis {axis} out of range for dims {:?}", t.dims));
    };
    if let Some(bad) = keep.iter().find(|&&i| i >= size) {
        return Err(format!(
            "index {bad} out of range for axis {axis} of size {size}"
        ));
    }
    let outer: usize = d[..axis].iter().product();
    let inner: usize = d[axis + 1..].iter().product::<usize>() * width;
    let mut out = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &k in keep {
            let start = (o * size + k) * inner;
            out.extend_from_slice(&raw[start..start + inner]);
        }
    }
    let mut dims = t.dims.clone();
    dims[axis] = keep.len() as i64;
    let mut s = Tensor::from_raw(t.dtype, dims, out.into()).map_err(|e| e.to_string())?;
    s.doc_string = t.doc_string.clone();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_magnitudes_are_zeroed_and_slices_keep_order() {
        let v = [0.5, -0.1, 0.3, -2.0, 0.1];
        // |0.1| ties: the lower index goes first.
        assert_eq!(zero_smallest(&v, 2), [0.5, 0.0, 0.3, -2.0, 0.0]);
        assert_eq!(count_for(0.5, 5), 3);
        let t = Tensor::from_f32(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let s = slice_axis(&t, 1, &[0, 2]).unwrap();
        assert_eq!(s.dims, [2, 2]);
        assert_eq!(s.to_f32_vec().unwrap(), [1.0, 3.0, 4.0, 6.0]);
        let s = slice_axis(&t, 0, &[1]).unwrap();
        assert_eq!(s.to_f32_vec().unwrap(), [4.0, 5.0, 6.0]);
        assert!(slice_axis(&t, 1, &[3]).is_err());
    }
}
