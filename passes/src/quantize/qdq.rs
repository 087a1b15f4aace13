//! Static int8 quantization emitted as QDQ: the form ONNX Runtime turns into integer kernels
//! (`DequantizeLinear → Conv → QuantizeLinear` becomes `QLinearConv`).
//!
//! - Layers: Conv, Gemm and MatMul with a constant f32 weight. Weights are int8 per output
//!   channel, symmetric (zero point 0, range [-127, 127]); biases int32 with scale
//!   `s_input · s_weight[c]`, both behind `DequantizeLinear`.
//! - Activations: every layer input and output gets `QuantizeLinear → DequantizeLinear` with a
//!   per-tensor asymmetric scale from calibration (uint8 by default, or int8). A Relu (or a Clip
//!   from 0) that is the only reader of a layer's output is removed and the layer's output takes
//!   the Relu output's range, whose zero point makes the quantizer clamp exactly like the Relu.
//! - Layout-only and max-pooling ops (MaxPool, Flatten, Reshape, Transpose, Squeeze,
//!   Unsqueeze) after a quantized tensor get QDQ with the same scale and zero point, so ONNX
//!   Runtime runs them on int8 too.
//!
//! Everything else stays float between a `DequantizeLinear` and the next `QuantizeLinear`.

use super::LayerReport;
use super::calib::Range;
use super::weights::{dequantize_per_channel, sqnr_db, symmetric_int8};
use crate::PassError;
use crate::rewrite::{Names, remove_if_dead};
use nnslim_ir::op::{DequantizeLinear, QuantizeLinear};
use nnslim_ir::{DType, Graph, NewNode, NodeId, Op, Tensor, TensorData, ValueId, node_label};
use std::collections::{BTreeMap, BTreeSet};

/// A layer to quantize, identified by names (node ids do not survive removals).
#[derive(Clone, Debug)]
pub struct LayerPlan {
    /// The node's label (name or `<output>`), as reports and `keep` lists use it.
    pub label: String,
    pub op: String,
    /// The layer's output value.
    pub output: String,
    /// The activation input (slot 0).
    pub input: String,
    /// Axis of the weight's output channels.
    pub weight_axis: usize,
}

/// How one activation tensor is quantized.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// Its own calibrated range, taken from this float value (itself, or the Relu after it).
    Calibrated(String),
    /// The same scale and zero point as another quantized tensor (layout and max-pool ops).
    SharedWith(String),
}

/// What static quantization will do to a float graph.
#[derive(Clone, Debug, Default)]
pub struct QdqPlan {
    pub layers: Vec<LayerPlan>,
    /// Activation tensors by value name, in topological order of their producers.
    tensors: Vec<(String, Source)>,
    /// Relu/Clip nodes (by output value) to remove, with the layer output they follow.
    fused: Vec<(String, String)>,
}

/// Ops whose output is quantized with their input's parameters.
fn passes_through(op: &Op) -> bool {
    match op {
        Op::Pool(p) => p.op_type() == "MaxPool",
        Op::Flatten(_) | Op::Reshape(_) | Op::Transpose(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => {
            true
        }
        _ => false,
    }
}

fn is_f32(g: &Graph, v: ValueId) -> bool {
    g.value(v).ty.dtype() == Some(DType::F32)
}

fn const_f32(g: &Graph, v: Option<ValueId>) -> Option<(Vec<f32>, Vec<i64>)> {
    let t = g.constant(v?)?;
    if t.dtype != DType::F32 || !matches!(t.data, TensorData::Dense(_)) {
        return None;
    }
    Some((t.to_f32_vec().ok()?, t.dims.clone()))
}

/// The weight's output-channel axis when `id` is a layer static quantization handles.
fn layer_axis(g: &Graph, id: NodeId) -> Option<usize> {
    let node = g.node(id);
    let x = (*node.inputs().first()?)?;
    if !is_f32(g, x) || node.outputs().len() != 1 {
        return None;
    }
    let (_, wd) = const_f32(g, node.inputs().get(1).copied().flatten())?;
    let bias = node.inputs().get(2).copied().flatten();
    let bias_ok = bias.is_none() || const_f32(g, bias).is_some_and(|(_, d)| d.len() == 1);
    match &node.op {
        Op::Conv(_) if wd.len() >= 3 && bias_ok => Some(0),
        Op::Gemm(gm) if wd.len() == 2 && bias_ok && !gm.trans_a => {
            Some(if gm.trans_b { 0 } else { 1 })
        }
        Op::MatMul if wd.len() == 2 => Some(1),
        _ => None,
    }
}

/// The single Relu (or Clip with a constant lower bound of 0) reading `v`, if that is its only
/// reader and `v` is not a graph output.
fn fusable_relu(g: &Graph, v: ValueId) -> Option<ValueId> {
    if g.outputs().contains(&v) {
        return None;
    }
    let uses = g.uses(v);
    let [(r, 0)] = uses[..] else {
        return None;
    };
    let node = g.node(r);
    let ok = match &node.op {
        Op::Unary(u) => matches!(u, nnslim_ir::op::Unary::Relu),
        Op::Clip(c) => {
            let lo = match &c.attrs {
                Some(a) => Some(a.min),
                None => node
                    .inputs()
                    .get(1)
                    .copied()
                    .flatten()
                    .and_then(|m| g.constant(m))
                    .and_then(|t| t.to_f32_vec().ok())
                    .and_then(|v| v.first().copied()),
            };
            lo == Some(0.0)
        }
        _ => false,
    };
    let out = ValueId { node: r, slot: 0 };
    (ok && node.captures().is_empty()).then_some(out)
}

/// Plans static quantization of `g`; layers whose label is in `keep` stay float.
pub fn plan(g: &Graph, keep: &BTreeSet<String>) -> Result<QdqPlan, PassError> {
    let mut p = QdqPlan::default();
    let mut quantized: BTreeSet<ValueId> = BTreeSet::new();
    let mut sources: BTreeMap<ValueId, Source> = BTreeMap::new();
    let name = |v: ValueId| g.value(v).name.clone();
    let order = g.compute_nodes()?;
    for &id in &order {
        let Some(axis) = layer_axis(g, id) else {
            continue;
        };
        let node = g.node(id);
        let label = node_label(node);
        if keep.contains(&label) {
            continue;
        }
        let x = node.inputs()[0].expect("layer_axis checked input 0");
        let y = ValueId { node: id, slot: 0 };
        p.layers.push(LayerPlan {
            label,
            op: node.op.op_type().to_string(),
            output: name(y),
            input: name(x),
            weight_axis: axis,
        });
        sources
            .entry(x)
            .or_insert_with(|| Source::Calibrated(name(x)));
        match fusable_relu(g, y) {
            Some(r) => {
                p.fused.push((name(r), name(y)));
                sources.insert(y, Source::Calibrated(name(r)));
            }
            None => {
                sources.insert(y, Source::Calibrated(name(y)));
            }
        }
    }
    // Layout and max-pool ops after quantized tensors share their parameters, transitively.
    let fused_relus: BTreeSet<String> = p.fused.iter().map(|(r, _)| r.clone()).collect();
    for &id in &order {
        let node = g.node(id);
        if !passes_through(&node.op) || node.outputs().len() != 1 {
            continue;
        }
        let Some(Some(x)) = node.inputs().first().copied() else {
            continue;
        };
        // A fused Relu's readers read the layer output after the rewrite.
        let x = if fused_relus.contains(&name(x)) {
            g.node(x.node).inputs()[0].unwrap_or(x)
        } else {
            x
        };
        if !sources.contains_key(&x) || !is_f32(g, x) {
            continue;
        }
        let out = ValueId { node: id, slot: 0 };
        sources.insert(out, Source::SharedWith(name(x)));
    }
    quantized.extend(sources.keys().copied());
    let pos: BTreeMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut items: Vec<(usize, u32, String, Source)> = quantized
        .iter()
        .map(|&v| {
            let at = pos.get(&v.node).map_or(0, |&i| i + 1);
            (at, v.slot, name(v), sources[&v].clone())
        })
        .collect();
    items.sort_by_key(|a| (a.0, a.1));
    p.tensors = items.into_iter().map(|(_, _, n, s)| (n, s)).collect();
    Ok(p)
}

impl QdqPlan {
    /// Names of the float values whose ranges any plan with a subset of these layers needs
    /// (every layer's input, and its output or else the Relu fused after it): calibrating these
    /// once serves the sensitivity scan and the accuracy-floor search.
    pub fn candidate_values(&self) -> Vec<String> {
        let fused: BTreeMap<&str, &str> = self
            .fused
            .iter()
            .map(|(r, y)| (y.as_str(), r.as_str()))
            .collect();
        let mut v: Vec<String> = self.calibrated_values();
        // Fusion does not depend on which layers are kept, so a fused layer's own output is
        // never quantized: only the Relu after it is.
        for l in &self.layers {
            v.push(l.input.clone());
            match fused.get(l.output.as_str()) {
                Some(r) => v.push(r.to_string()),
                None => v.push(l.output.clone()),
            }
        }
        v.sort();
        v.dedup();
        v
    }

    /// Names of the float values whose ranges calibration must measure.
    pub fn calibrated_values(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tensors
            .iter()
            .filter_map(|(_, s)| match s {
                Source::Calibrated(n) => Some(n.clone()),
                Source::SharedWith(_) => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Scale and zero point of a range: uint8 (0..255) or int8 (-128..127), covering 0.
fn params(r: Range, signed: bool) -> (f32, i32) {
    let (lo, hi) = (r.min.min(0.0), r.max.max(0.0));
    let scale = if hi > lo && (hi - lo).is_finite() {
        (hi - lo) / 255.0
    } else {
        1.0
    };
    let qmin = if signed { -128.0 } else { 0.0 };
    let zp = (qmin - lo / scale).round().clamp(qmin, qmin + 255.0) as i32;
    (scale, zp)
}

fn scalar_zp(zp: i32, signed: bool) -> Tensor {
    if signed {
        Tensor::from_raw(DType::I8, vec![], vec![zp as i8 as u8].into()).expect("one i8")
    } else {
        Tensor::from_raw(DType::U8, vec![], vec![zp as u8].into()).expect("one u8")
    }
}

fn q_op() -> Op {
    Op::QuantizeLinear(QuantizeLinear {
        axis: 1,
        saturate: true,
        block_size: 0,
        output_dtype: None,
        precision: None,
    })
}

fn dq_op(axis: i64) -> Op {
    Op::DequantizeLinear(DequantizeLinear {
        axis,
        block_size: 0,
        output_dtype: None,
    })
}

/// Inserts `QuantizeLinear → DequantizeLinear` after `t`: every reader of `t` (graph outputs
/// included: the DequantizeLinear output takes over the name) reads the dequantized value.
fn insert_qdq(
    g: &mut Graph,
    names: &mut Names,
    t: ValueId,
    scale: ValueId,
    zp: ValueId,
) -> Result<ValueId, PassError> {
    let base = g.value(t).name.clone();
    let readers = g.uses(t);
    let q = g.add_node(
        NewNode::new(
            q_op(),
            vec![Some(t), Some(scale), Some(zp)],
            vec![names.fresh(&format!("{base}_QuantizeLinear_Output"))],
        )
        .named(names.fresh(&format!("{base}_QuantizeLinear"))),
    )?;
    let dq = g.add_node(
        NewNode::new(
            dq_op(1),
            vec![Some(ValueId { node: q, slot: 0 }), Some(scale), Some(zp)],
            vec![names.fresh(&format!("{base}_DequantizeLinear_Output"))],
        )
        .named(names.fresh(&format!("{base}_DequantizeLinear"))),
    )?;
    let dq_out = ValueId { node: dq, slot: 0 };
    for (n, slot) in readers {
        g.set_input(n, slot, Some(dq_out))?;
    }
    if g.outputs().contains(&t) {
        // The graph output keeps its name: the dequantized value takes it.
        let info = g.value(t).clone();
        g.value_mut(t).name = names.fresh(&format!("{base}_QuantizeLinear_Input"));
        let outs: Vec<ValueId> = g
            .outputs()
            .iter()
            .map(|&o| if o == t { dq_out } else { o })
            .collect();
        g.set_outputs(outs);
        let v = g.value_mut(dq_out);
        v.name = info.name;
        v.doc_string = info.doc_string;
        if let Some(d) = info.declared {
            g.declare(dq_out, d);
        }
    }
    Ok(dq_out)
}

/// Applies static quantization to `g`: removes fused Relus, inserts activation QDQ pairs from
/// the calibrated `ranges` (by float value name), and replaces weights and biases with int8 /
/// int32 initializers behind `DequantizeLinear`. Returns one report per layer.
pub fn apply(
    g: &mut Graph,
    plan: &QdqPlan,
    ranges: &BTreeMap<String, Range>,
    signed: bool,
) -> Result<Vec<LayerReport>, PassError> {
    let mut names = Names::of(g);
    let find = |g: &Graph, n: &str| {
        g.find_value(n).ok_or_else(|| PassError::Unsupported {
            pass: "quantize".into(),
            message: format!("value {n:?} disappeared while quantizing"),
        })
    };
    // 1. Fused Relus go: their readers read the layer output (graph-output names are kept by
    //    the plan, which never fuses a Relu whose input is a graph output).
    for (relu, _) in &plan.fused {
        let r = find(g, relu)?;
        let y = g.node(r.node).inputs()[0].expect("a Relu has an input");
        if g.outputs().contains(&r) {
            let info = g.value(r).clone();
            g.value_mut(r).name = names.fresh(&format!("{relu}.fused"));
            g.replace_all_uses(r, y)?;
            g.value_mut(y).name = info.name;
        } else {
            g.replace_all_uses(r, y)?;
        }
        g.remove_node(r.node)?;
    }
    // Value names after the Relus are gone: a fused Relu's range applies to the layer output.
    let renamed: BTreeMap<&str, &str> = plan
        .fused
        .iter()
        .map(|(r, y)| (r.as_str(), y.as_str()))
        .collect();
    let resolve = |n: &str| renamed.get(n).copied().unwrap_or(n).to_string();
    // The layer nodes, found before QDQ pairs take over graph-output names (only nodes are
    // added from here on, so these ids stay valid).
    let mut layer_nodes = Vec::new();
    for layer in &plan.layers {
        layer_nodes.push(find(g, &resolve(&layer.output))?.node);
    }
    // 2. Activation parameters and QDQ pairs, in topological order.
    let mut qparams: BTreeMap<String, (ValueId, ValueId, f32)> = BTreeMap::new();
    let mut ids: Vec<(String, ValueId, Source)> = Vec::new();
    for (n, s) in &plan.tensors {
        let n = resolve(n);
        ids.push((n.clone(), find(g, &n)?, s.clone()));
    }
    for (n, v, source) in ids {
        let (scale_v, zp_v, scale) = match &source {
            Source::Calibrated(from) => {
                let r = ranges
                    .get(from)
                    .copied()
                    .ok_or_else(|| PassError::Unsupported {
                        pass: "quantize".into(),
                        message: format!("no calibrated range for {from:?}"),
                    })?;
                let (scale, zp) = params(r, signed);
                let sv = g.add_initializer(
                    names.fresh(&format!("{n}_scale")),
                    Tensor::from_f32(vec![], &[scale]).expect("scalar"),
                );
                let zv = g.add_initializer(
                    names.fresh(&format!("{n}_zero_point")),
                    scalar_zp(zp, signed),
                );
                (sv, zv, scale)
            }
            Source::SharedWith(other) => match qparams.get(&resolve(other)) {
                Some(&p) => p,
                None => continue,
            },
        };
        qparams.insert(n.clone(), (scale_v, zp_v, scale));
        insert_qdq(g, &mut names, v, scale_v, zp_v)?;
    }
    // 3. Weights and biases.
    let mut reports = Vec::new();
    let mut replaced: Vec<String> = Vec::new();
    for (layer, &id) in plan.layers.iter().zip(&layer_nodes) {
        let w = g.node(id).inputs()[1].expect("layers have a weight");
        let (wv, wd) = const_f32(g, Some(w)).ok_or_else(|| PassError::Unsupported {
            pass: "quantize".into(),
            message: format!("layer {}: weight is no longer constant", layer.label),
        })?;
        let (q, scales) = symmetric_int8(&wv, &wd, layer.weight_axis);
        let wname = g.value(w).name.clone();
        let channels = scales.len();
        let wq = g.add_initializer(
            names.fresh(&format!("{wname}_quantized")),
            Tensor::from_raw(
                DType::I8,
                wd.clone(),
                q.iter().map(|&x| x as u8).collect::<Vec<u8>>().into(),
            )
            .map_err(|e| PassError::Unsupported {
                pass: "quantize".into(),
                message: format!("{wname}: {e}"),
            })?,
        );
        let ws = g.add_initializer(
            names.fresh(&format!("{wname}_scale")),
            Tensor::from_f32(vec![channels as i64], &scales).expect("scales"),
        );
        let wz = g.add_initializer(
            names.fresh(&format!("{wname}_zero_point")),
            Tensor::from_raw(DType::I8, vec![channels as i64], vec![0u8; channels].into())
                .expect("zero points"),
        );
        let wdq = g.add_node(
            NewNode::new(
                dq_op(layer.weight_axis as i64),
                vec![Some(wq), Some(ws), Some(wz)],
                vec![names.fresh(&format!("{wname}_DequantizeLinear_Output"))],
            )
            .named(names.fresh(&format!("{wname}_DequantizeLinear"))),
        )?;
        g.set_input(id, 1, Some(ValueId { node: wdq, slot: 0 }))?;
        replaced.push(wname.clone());
        // Bias: int32 with scale s_x · s_w[c] when the input is quantized.
        let s_x = qparams.get(&resolve(&layer.input)).map(|p| p.2);
        if let (Some(s_x), Some(b)) = (s_x, g.node(id).inputs().get(2).copied().flatten())
            && let Some((bv, bd)) = const_f32(g, Some(b))
            && bv.len() == channels
        {
            let bscale: Vec<f32> = scales.iter().map(|&s| s * s_x).collect();
            let bq: Vec<u8> = bv
                .iter()
                .zip(&bscale)
                .flat_map(|(&x, &s)| {
                    ((x as f64 / s as f64)
                        .round()
                        .clamp(i32::MIN as f64, i32::MAX as f64) as i32)
                        .to_le_bytes()
                })
                .collect();
            let bname = g.value(b).name.clone();
            let bqv = g.add_initializer(
                names.fresh(&format!("{bname}_quantized")),
                Tensor::from_raw(DType::I32, bd.clone(), bq.into()).expect("bias"),
            );
            let bs = g.add_initializer(
                names.fresh(&format!("{bname}_quantized_scale")),
                Tensor::from_f32(vec![channels as i64], &bscale).expect("scales"),
            );
            let bz = g.add_initializer(
                names.fresh(&format!("{bname}_quantized_zero_point")),
                Tensor::from_raw(
                    DType::I32,
                    vec![channels as i64],
                    vec![0u8; channels * 4].into(),
                )
                .expect("zero points"),
            );
            let bdq = g.add_node(
                NewNode::new(
                    dq_op(0),
                    vec![Some(bqv), Some(bs), Some(bz)],
                    vec![names.fresh(&format!("{bname}_DequantizeLinear_Output"))],
                )
                .named(names.fresh(&format!("{bname}_DequantizeLinear"))),
            )?;
            g.set_input(id, 2, Some(ValueId { node: bdq, slot: 0 }))?;
            replaced.push(bname);
        }
        let back = dequantize_per_channel(&q, &scales, &wd, layer.weight_axis);
        reports.push(LayerReport {
            layer: layer.label.clone(),
            op: layer.op.clone(),
            params: wv.len() as u64,
            bytes_before: 4 * wv.len() as u64,
            bytes_after: (wv.len() + 5 * channels) as u64,
            weight_sqnr_db: sqnr_db(&wv, &back),
            output_sqnr_db: None,
        });
    }
    // The float weights and biases go unless something else still reads them.
    for n in replaced {
        if let Some(v) = g.find_value(&n)
            && matches!(g.node(v.node).op, Op::Initializer(_))
        {
            remove_if_dead(g, v.node)?;
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnslim_ir::text::parse_model;

    const CNN: &str = r#"model ir_version=8 opsets=[""=13]
graph "cnn" {
  input %x: f32[N,1,8,8]
  const %w1: f32[4,1,3,3] = random(seed=1, scale=0.5)
  const %b1: f32[4] = [0.1, -0.1, 0.2, 0.0]
  const %w2: f32[3,16] = random(seed=2, scale=0.5)
  const %b2: f32[3] = [0.0, 0.1, 0.2]
  %c = Conv(%x, %w1, %b1) {kernel_shape=[3,3]}
  %r = Relu(%c)
  %p = MaxPool(%r) {kernel_shape=[3,3], strides=[3,3]}
  %f = Flatten(%p) {axis=1}
  %y = Gemm(%f, %w2, %b2) {transB=1}
  output %y
}
"#;

    #[test]
    fn plans_relu_fusion_and_shared_parameters() {
        let g = parse_model(CNN).unwrap().graph;
        let p = plan(&g, &BTreeSet::new()).unwrap();
        assert_eq!(
            p.layers
                .iter()
                .map(|l| l.label.as_str())
                .collect::<Vec<_>>(),
            ["<c>", "<y>"]
        );
        assert_eq!(p.fused, [("r".to_string(), "c".to_string())]);
        assert_eq!(
            p.tensors,
            [
                ("x".to_string(), Source::Calibrated("x".into())),
                ("c".to_string(), Source::Calibrated("r".into())),
                ("p".to_string(), Source::SharedWith("c".into())),
                ("f".to_string(), Source::SharedWith("p".into())),
                ("y".to_string(), Source::Calibrated("y".into())),
            ]
        );
        assert_eq!(p.calibrated_values(), ["r", "x", "y"]);
    }

    #[test]
    fn quantized_graph_runs_close_to_the_float_one() {
        let m = parse_model(CNN).unwrap();
        let float = m.graph.clone();
        let mut g = m.graph.clone();
        let p = plan(&g, &BTreeSet::new()).unwrap();
        let ranges: BTreeMap<String, Range> = [
            ("x", Range { min: 0.0, max: 1.0 }),
            ("r", Range { min: 0.0, max: 3.0 }),
            (
                "y",
                Range {
                    min: -4.0,
                    max: 4.0,
                },
            ),
        ]
        .into_iter()
        .map(|(n, r)| (n.to_string(), r))
        .collect();
        let reports = apply(&mut g, &p, &ranges, false).unwrap();
        nnslim_ir::verify(&g).unwrap();
        assert_eq!(reports.len(), 2);
        let ops = nnslim_ir::stats::graph_stats(&g).ops;
        assert_eq!(ops.get("Relu"), None, "the Relu is fused");
        assert_eq!(ops["QuantizeLinear"], 5);
        // 5 activations + 2 weights + 2 biases.
        assert_eq!(
            ops["DequantizeLinear"],
            9,
            "{}",
            nnslim_ir::text::print_graph(&g, 13)
        );
        assert_eq!(g.value(g.outputs()[0]).name, "y");
        let inputs = crate::testing::random_inputs(&float, 3).unwrap();
        let want = crate::testing::run(&float, &inputs).unwrap();
        let got = crate::testing::run(&g, &inputs).unwrap();
        let (a, b) = (
            want[0].as_tensor().unwrap().to_f32_vec().unwrap(),
            got[0].as_tensor().unwrap().to_f32_vec().unwrap(),
        );
        assert!(sqnr_db(&a, &b) > 20.0, "{a:?} vs {b:?}");
    }
}
