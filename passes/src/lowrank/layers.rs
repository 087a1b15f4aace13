//! The layers `low-rank` can split (Gemm, MatMul and k×k Conv with a constant f32 weight) and
//! the rewrite that replaces one by its two factors.

use super::rank::Cost;
use super::svd::Svd;
use crate::PassError;
use crate::rewrite::{Names, add_const, captured_values, remove_if_dead, replace_value};
use nnslim_ir::op::{Conv, Gemm, Window};
use nnslim_ir::stats::node_macs;
use nnslim_ir::{DType, Graph, NodeId, Op, Tensor, TensorData, ValueId, node_label};

/// The op of a splittable layer, with the attributes the split keeps.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Gemm(Gemm),
    MatMul,
    Conv(Conv),
}

/// A layer whose weight can be factored: the weight as a `rows × cols` matrix (a Gemm or
/// MatMul weight as stored; a Conv weight `[O, I, k…]` as `[O, I·Πk]`).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub node: NodeId,
    pub label: String,
    pub op: String,
    pub kind: Kind,
    pub weight: ValueId,
    pub weight_name: String,
    pub dims: Vec<i64>,
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub cost: Cost,
}

/// A Gemm, MatMul or Conv with a constant weight that is left as it is, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Ineligible {
    /// The node's label (its name, or `<first output>`).
    pub label: String,
    pub op: String,
    pub reason: String,
}

/// The splittable layers of the main graph in topological order, and the weight layers that
/// are not (with the reason). Layers whose weight is not a constant (products of two
/// activations) are not listed at all.
pub(crate) fn find_layers(g: &Graph) -> Result<(Vec<Layer>, Vec<Ineligible>), PassError> {
    let captured = captured_values(g);
    let mut layers = Vec::new();
    let mut skipped = Vec::new();
    for id in g.topo_order()? {
        let node = g.node(id);
        let kind = match &node.op {
            Op::Gemm(gm) => Kind::Gemm(gm.clone()),
            Op::MatMul => Kind::MatMul,
            Op::Conv(c) => Kind::Conv(c.clone()),
            _ => continue,
        };
        let (Some(Some(x)), Some(Some(w))) = (node.inputs().first(), node.inputs().get(1)) else {
            continue;
        };
        let (x, w) = (*x, *w);
        let Some(t) = g.constant(w) else {
            continue;
        };
        let label = node_label(node);
        let op = node.op.op_type().to_string();
        let mut skip = |reason: String| {
            skipped.push(Ineligible {
                label: label.clone(),
                op: op.clone(),
                reason,
            })
        };
        if t.dtype != DType::F32 || !matches!(t.data, TensorData::Dense(_)) {
            skip(format!("weight is {:?}, not dense f32", t.dtype));
            continue;
        }
        let dims = t.dims.clone();
        let (rows, cols) = match (&kind, dims.as_slice()) {
            (Kind::Gemm(_) | Kind::MatMul, [a, b]) => (*a, *b),
            (Kind::Gemm(_) | Kind::MatMul, _) => {
                skip(format!("weight has rank {}, not 2", dims.len()));
                continue;
            }
            (Kind::Conv(c), _) if c.group != 1 => {
                skip(format!("grouped convolution (group={})", c.group));
                continue;
            }
            (Kind::Conv(_), [o, i, k @ ..]) if !k.is_empty() => {
                let kernel: i64 = k.iter().product();
                if kernel <= 1 {
                    skip("1×1 kernel (a split needs a kernel larger than 1)".into());
                    continue;
                }
                (*o, i * kernel)
            }
            (Kind::Conv(_), _) => {
                skip(format!("weight has rank {}", dims.len()));
                continue;
            }
        };
        let (Ok(rows), Ok(cols)) = (usize::try_from(rows), usize::try_from(cols)) else {
            continue;
        };
        if rows < 2 || cols < 2 {
            skip(format!("weight matrix {rows}×{cols} has rank at most 1"));
            continue;
        }
        let out = ValueId { node: id, slot: 0 };
        if g.uses(w).len() != 1
            || g.outputs().contains(&w)
            || g.is_input(w.node)
            || captured.contains(&w)
        {
            skip("weight is shared, a graph input or output".into());
            continue;
        }
        if captured.contains(&out) || captured.contains(&x) {
            skip("read by a subgraph".into());
            continue;
        }
        let Some(values) = t.to_f32_vec().ok().filter(|v| v.len() == rows * cols) else {
            skip("weight data does not match its shape".into());
            continue;
        };
        if values.iter().any(|v| !v.is_finite()) {
            skip("weight has non-finite values".into());
            continue;
        }
        let positions = node_macs(g, id).map(|m| m / (rows * cols) as u64);
        layers.push(Layer {
            node: id,
            label,
            op,
            kind,
            weight: w,
            weight_name: g.value(w).name.clone(),
            dims,
            values,
            rows,
            cols,
            cost: Cost {
                rows: rows as u64,
                cols: cols as u64,
                positions,
            },
        });
    }
    Ok((layers, skipped))
}

fn tensor(dims: Vec<i64>, values: &[f32]) -> Result<Tensor, PassError> {
    Tensor::from_f32(dims, values).map_err(|e| PassError::Unsupported {
        pass: "low-rank".into(),
        message: format!("factor tensor: {e}"),
    })
}

/// Replaces `layer` by two layers whose weights are the rank-`r` factors of `svd` (the SVD of
/// its weight matrix): the first keeps the layer's input-side attributes (Gemm `transA`,
/// `alpha` and `transB`; Conv strides, pads, dilations), the second reads the first's output
/// and adds the bias (Gemm `beta`·C, Conv B) under the layer's output name. Only adds nodes
/// (so the ids of other layers stay valid); the caller removes the layer and its weight with
/// [`remove_split`] once every layer is split.
pub(crate) fn split(
    g: &mut Graph,
    names: &mut Names,
    layer: &Layer,
    svd: &Svd,
    r: usize,
    opset: i64,
) -> Result<(), PassError> {
    let (left, right) = svd.factors(r);
    let (rows, cols, ri) = (layer.rows as i64, layer.cols as i64, r as i64);
    let node = g.node(layer.node).clone();
    let x = node.inputs().first().copied().flatten();
    let bias = node.inputs().get(2).copied().flatten();
    let out = ValueId {
        node: layer.node,
        slot: 0,
    };
    let out_name = g.value(out).name.clone();
    let base = &layer.weight_name;
    // (first weight, second weight), each as (dims, values).
    let (first_w, second_w, first_op, second_op) = match &layer.kind {
        Kind::Gemm(gm) => {
            // Stored W = U·S·Vᵀ. Without transB it is [K, N]: x·(U√S)·(√S·Vᵀ). With transB it
            // is [N, K] and Wᵀ = V·S·Uᵀ: the factors keep the transposed layout.
            let (w1, w2) = if gm.trans_b {
                ((vec![ri, cols], right), (vec![rows, ri], left))
            } else {
                ((vec![rows, ri], left), (vec![ri, cols], right))
            };
            let first = Gemm {
                alpha: gm.alpha,
                beta: 1.0,
                trans_a: gm.trans_a,
                trans_b: gm.trans_b,
            };
            let second = Gemm {
                alpha: 1.0,
                beta: gm.beta,
                trans_a: false,
                trans_b: gm.trans_b,
            };
            (w1, w2, Op::Gemm(first), Op::Gemm(second))
        }
        Kind::MatMul => (
            (vec![rows, ri], left),
            (vec![ri, cols], right),
            Op::MatMul,
            Op::MatMul,
        ),
        Kind::Conv(c) => {
            // W [O, I·Πk] = U·S·Vᵀ: a k×k conv with the r filters √S·Vᵀ, then a 1×1 conv U√S.
            let spatial = layer.dims.len() - 2;
            let mut d1 = vec![ri];
            d1.extend_from_slice(&layer.dims[1..]);
            let mut d2 = vec![rows, ri];
            d2.extend(std::iter::repeat_n(1, spatial));
            let pointwise = Conv {
                window: Window {
                    kernel_shape: Some(vec![1; spatial]),
                    ..Window::default()
                },
                group: 1,
            };
            (
                (d1, right),
                (d2, left),
                Op::Conv(Conv {
                    window: c.window.clone(),
                    group: 1,
                }),
                Op::Conv(pointwise),
            )
        }
    };
    let w1 = add_const(
        g,
        names,
        &format!("{base}.lowrank_a"),
        tensor(first_w.0, &first_w.1)?,
    );
    let w2 = add_const(
        g,
        names,
        &format!("{base}.lowrank_b"),
        tensor(second_w.0, &second_w.1)?,
    );
    let mut first_inputs = vec![x, Some(w1)];
    if matches!(layer.kind, Kind::Gemm(_)) && opset < 11 {
        // Gemm's C is required before opset 11.
        let zeros = add_const(
            g,
            names,
            &format!("{base}.lowrank_zero"),
            tensor(vec![ri], &vec![0.0; r])?,
        );
        first_inputs.push(Some(zeros));
    }
    let hidden = names.fresh(&format!("{out_name}.lowrank"));
    let first_name = if node.name.is_empty() {
        String::new()
    } else {
        format!("{}/lowrank", node.name)
    };
    let first = g.add_node(
        nnslim_ir::NewNode::new(first_op, first_inputs, vec![hidden]).named(first_name),
    )?;
    let h = ValueId {
        node: first,
        slot: 0,
    };
    let mut second_inputs = vec![Some(h), Some(w2)];
    if let Some(b) = bias {
        second_inputs.push(Some(b));
    }
    replace_value(g, names, out, &node.name, second_op, second_inputs)?;
    Ok(())
}

/// Removes split layers and the weights nothing reads any more.
pub(crate) fn remove_split(g: &mut Graph, done: &[(NodeId, ValueId)]) -> Result<(), PassError> {
    // Layers first (their weights are then unread), names as the identity: ids are reused.
    let weights: Vec<String> = done.iter().map(|(_, w)| g.value(*w).name.clone()).collect();
    for (node, _) in done {
        g.remove_node(*node)?;
    }
    for name in weights {
        if let Some(w) = g.find_value(&name) {
            remove_if_dead(g, w.node)?;
        }
    }
    Ok(())
}
