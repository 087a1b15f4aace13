//! Dynamic int8 quantization (`quantize(dynamic)`): int8 weights stored in the file,
//! activations quantized at run time — the form ONNX Runtime's `quantize_dynamic` emits, so
//! that ONNX Runtime fuses it into its `DynamicQuantizeMatMul` / `MatMulIntegerToFloat` kernels.
//!
//! For each `MatMul` (constant 2-D f32 B), `Gemm` (constant f32 B, `transA = 0`) and, when
//! asked ([`quantize_dynamic_with`]), `Conv` (constant f32 W, constant or no bias) whose
//! activation is f32:
//!
//! ```text
//! x ─ DynamicQuantizeLinear ─┬ x_q ──────┐
//!                            ├ x_zp ─────┤ MatMulInteger(x_q, W_q, x_zp, W_zp)   (or ConvInteger)
//!                            └ x_scale ─ Mul(x_scale, W_scale) ─┐
//!                                          Cast(to=FLOAT) ── Mul ── Add(bias)   (bias if any)
//! ```
//!
//! - Weights are int8, symmetric (zero point 0, range [-127, 127]) with one scale per output
//!   channel: per column of the `[K, N]` matrix (a `Gemm` with `transB = 1` stores its weight
//!   transposed; `alpha` is folded into it, `beta` into a constant C), per output channel of a
//!   convolution. The zero point is one int8 0 per weight: the scales only enter the float
//!   `Mul`, and ONNX Runtime's `ConvInteger` takes only per-tensor zero points (its fused
//!   `DynamicQuantizeMatMul` takes either; measured as fast).
//! - Each layer gets its own `DynamicQuantizeLinear`, even when layers share an input: ONNX
//!   Runtime fuses `DynamicQuantizeLinear` into `DynamicQuantizeMatMul` only when its outputs
//!   feed exactly one `MatMulInteger` and its scale `Mul`.
//! - `Mul(x_scale, W_scale)` keeps that input order and the bias is a constant second input of
//!   the `Add`, as ONNX Runtime's fusions match them.
//!
//! Needs opset 11 (`DynamicQuantizeLinear`). The graph's inputs and outputs are unchanged
//! (f32); a quantized weight shared by several layers is stored once. Only the main graph is
//! rewritten.

use super::LayerReport;
use super::weights::{dequantize_per_channel, sqnr_db, symmetric_int8};
use crate::PassError;
use crate::rewrite::{Names, add_const, node_error, redirect, remove_if_dead};
use nnslim_ir::op::{Binary, Cast, Conv};
use nnslim_ir::{
    DType, Graph, Model, NewNode, NodeId, Op, Tensor, TensorData, ValueId, node_label,
};
use std::collections::BTreeMap;

/// The first opset with `DynamicQuantizeLinear`.
const MIN_OPSET: i64 = 11;

/// What kind of layer a node is, with what its rewrite needs.
#[derive(Clone, Debug)]
enum Layer {
    /// `MatMul` with weight `[K, N]`.
    MatMul,
    /// `Gemm` (`transA = 0`).
    Gemm {
        alpha: f32,
        beta: f32,
        trans_b: bool,
    },
    /// `Conv`, rewritten to `ConvInteger` with the same attributes.
    Conv(Conv),
}

/// A quantized weight as stored: the int8 values, scales and zero point (value names).
#[derive(Clone, Debug)]
struct StoredWeight {
    q: ValueId,
    scale: ValueId,
    zero_point: ValueId,
}

/// Quantizes every `MatMul` and `Gemm` of the main graph that qualifies (see the module docs);
/// convolutions stay float. Returns one report per quantized layer, in topological order; an
/// empty list when nothing qualified.
///
/// Errors: the model imports an opset below 11 (no `DynamicQuantizeLinear`) while it has
/// layers to quantize, or a graph edit fails (a bug).
pub fn quantize_dynamic(model: &mut Model) -> Result<Vec<LayerReport>, PassError> {
    quantize_dynamic_with(model, false)
}

/// [`quantize_dynamic`], and with `convs` also every qualifying `Conv` as `ConvInteger`.
///
/// Convolutions are off by default because ONNX Runtime has no fused kernel for the
/// `ConvInteger → Cast → Mul → Add` chain: measured on the seed CNN (1 thread), its
/// `ConvInteger` form ran 7.5× slower than the float model, for a file 26 % of the float one
/// instead of 37 %.
pub fn quantize_dynamic_with(
    model: &mut Model,
    convs: bool,
) -> Result<Vec<LayerReport>, PassError> {
    let opset = model.opset("").unwrap_or(1);
    let g = &mut model.graph;
    // Layers by output value name: node ids do not survive the removals below.
    let mut todo = Vec::new();
    for id in g.topo_order()? {
        if eligible(g, id, convs).is_some() {
            todo.push(g.value(ValueId { node: id, slot: 0 }).name.clone());
        }
    }
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    if opset < MIN_OPSET {
        return Err(PassError::Unsupported {
            pass: "quantize".into(),
            message: format!(
                "dynamic quantization needs opset {MIN_OPSET} (DynamicQuantizeLinear); the model \
                 imports opset {opset}"
            ),
        });
    }
    let mut names = Names::of(g);
    let mut stored: BTreeMap<(String, String), StoredWeight> = BTreeMap::new();
    let mut reports = Vec::new();
    for out in todo {
        let Some(v) = g.find_value(&out) else {
            continue;
        };
        if let Some(r) = rewrite(g, &mut names, &mut stored, v.node, convs)? {
            reports.push(r);
        }
    }
    Ok(reports)
}

/// The layer kind of `id` when dynamic quantization handles it.
fn eligible(g: &Graph, id: NodeId, convs: bool) -> Option<Layer> {
    let node = g.node(id);
    let input = |i: usize| node.inputs().get(i).copied().flatten();
    let x = input(0)?;
    if g.value(x).ty.dtype() != Some(DType::F32) || node.outputs().len() != 1 {
        return None;
    }
    let w = g.constant(input(1)?)?;
    let dense_f32 = |t: &Tensor| t.dtype == DType::F32 && matches!(t.data, TensorData::Dense(_));
    if !dense_f32(w) || w.is_empty() {
        return None;
    }
    let captured = g.node_ids().any(|n| {
        g.node(n)
            .captures()
            .contains(&ValueId { node: id, slot: 0 })
    });
    if captured {
        return None;
    }
    match &node.op {
        Op::MatMul if w.dims.len() == 2 => Some(Layer::MatMul),
        Op::Gemm(gm) if w.dims.len() == 2 && !gm.trans_a => Some(Layer::Gemm {
            alpha: gm.alpha,
            beta: gm.beta,
            trans_b: gm.trans_b,
        }),
        Op::Conv(c) if convs && w.dims.len() >= 3 => {
            // The bias becomes a constant `[M, 1, ...]` addend.
            let bias_ok = match input(2) {
                None => true,
                Some(b) => g
                    .constant(b)
                    .is_some_and(|t| dense_f32(t) && t.dims.len() == 1),
            };
            bias_ok.then(|| Layer::Conv(c.clone()))
        }
        _ => None,
    }
}

/// The weight as the integer op reads it — `[K, N]` for matrix products (transposed and scaled
/// by `alpha` for `Gemm`), unchanged for `Conv` — with its dims and output-channel axis.
fn weight_layout(layer: &Layer, w: &[f32], dims: &[i64]) -> (Vec<f32>, Vec<i64>, usize) {
    match layer {
        Layer::MatMul => (w.to_vec(), dims.to_vec(), 1),
        Layer::Gemm { alpha, trans_b, .. } => {
            let (r, c) = (dims[0] as usize, dims[1] as usize);
            let mut out = vec![0f32; w.len()];
            if *trans_b {
                // [N, K] → [K, N].
                for i in 0..r {
                    for j in 0..c {
                        out[j * r + i] = w[i * c + j] * alpha;
                    }
                }
                (out, vec![dims[1], dims[0]], 1)
            } else {
                for (o, &v) in out.iter_mut().zip(w) {
                    *o = v * alpha;
                }
                (out, dims.to_vec(), 1)
            }
        }
        Layer::Conv(_) => (w.to_vec(), dims.to_vec(), 0),
    }
}

fn tensor_err(g: &Graph, id: NodeId, e: impl std::fmt::Display) -> PassError {
    node_error(g, id, format!("building a quantized weight: {e}"))
}

/// What a layer's weight cost before and after, for its report.
#[derive(Clone, Copy, Debug)]
struct WeightCost {
    params: u64,
    bytes_before: u64,
    bytes_after: u64,
    sqnr_db: f64,
}

/// Quantizes the weight of layer `id` — or reuses the copy made for an earlier layer reading
/// the same weight the same way, whose bytes are then reported as 0 — and returns the stored
/// values and their cost; `None` when the weight is not a finite dense f32 constant.
fn store_weight(
    g: &mut Graph,
    names: &mut Names,
    stored: &mut BTreeMap<(String, String), StoredWeight>,
    id: NodeId,
    layer: &Layer,
) -> Result<Option<(StoredWeight, WeightCost)>, PassError> {
    let Some(wv) = g.node(id).inputs().get(1).copied().flatten() else {
        return Ok(None);
    };
    let w_name = g.value(wv).name.clone();
    let Some(t) = g.constant(wv) else {
        return Ok(None);
    };
    let dims = t.dims.clone();
    let Ok(values) = t.to_f32_vec() else {
        return Ok(None);
    };
    if values.iter().any(|v| !v.is_finite()) {
        return Ok(None);
    }
    let (w, qdims, axis) = weight_layout(layer, &values, &dims);
    let (q, scales) = symmetric_int8(&w, &qdims, axis);
    let mut cost = WeightCost {
        params: w.len() as u64,
        bytes_before: 4 * w.len() as u64,
        bytes_after: 0,
        sqnr_db: sqnr_db(&w, &dequantize_per_channel(&q, &scales, &qdims, axis)),
    };
    let conv = matches!(layer, Layer::Conv(_));
    let form = match layer {
        Layer::Gemm { alpha, trans_b, .. } => format!("gemm:{trans_b}:{:08x}", alpha.to_bits()),
        Layer::MatMul => "matmul".to_string(),
        Layer::Conv(_) => "conv".to_string(),
    };
    let key = (w_name.clone(), form);
    if let Some(s) = stored.get(&key) {
        cost.bytes_before = 0;
        return Ok(Some((s.clone(), cost)));
    }
    // Scales broadcast against the integer op's output: [N] on a matrix product's last axis,
    // [M, 1, ...] on a convolution's channel axis. The zero point is a scalar 0.
    let scale_dims = if conv {
        let mut d = vec![1i64; qdims.len() - 1];
        d[0] = qdims[0];
        d
    } else {
        vec![qdims[1]]
    };
    let raw: Vec<u8> = q.iter().map(|&v| v as u8).collect();
    let q_t = Tensor::from_raw(DType::I8, qdims, raw.into()).map_err(|e| tensor_err(g, id, e))?;
    let scale_t = Tensor::from_f32(scale_dims, &scales).map_err(|e| tensor_err(g, id, e))?;
    let zp_t = Tensor::from_raw(DType::I8, Vec::new(), vec![0u8].into())
        .map_err(|e| tensor_err(g, id, e))?;
    cost.bytes_after = q_t.storage_size() + scale_t.storage_size() + zp_t.storage_size();
    let s = StoredWeight {
        q: add_const(g, names, &format!("{w_name}_quantized"), q_t),
        scale: add_const(g, names, &format!("{w_name}_scale"), scale_t),
        zero_point: add_const(g, names, &format!("{w_name}_zero_point"), zp_t),
    };
    stored.insert(key, s.clone());
    Ok(Some((s, cost)))
}

/// Adds a one-output node named `name` and returns its output.
fn add1(
    g: &mut Graph,
    name: &str,
    op: Op,
    inputs: Vec<ValueId>,
    output: String,
) -> Result<ValueId, PassError> {
    let inputs = inputs.into_iter().map(Some).collect();
    let id = g.add_node(NewNode::new(op, inputs, vec![output]).named(name))?;
    Ok(ValueId { node: id, slot: 0 })
}

/// The value the rescaled product is added to, if any: Gemm's `beta · C` (folded into a new
/// constant when C is constant) or Conv's bias as `[M, 1, ...]`.
fn bias(
    g: &mut Graph,
    names: &mut Names,
    id: NodeId,
    layer: &Layer,
    label: &str,
) -> Result<Option<ValueId>, PassError> {
    let Some(c) = g.node(id).inputs().get(2).copied().flatten() else {
        return Ok(None);
    };
    let c_name = g.value(c).name.clone();
    match layer {
        Layer::MatMul => Ok(None),
        Layer::Gemm { beta, .. } if *beta == 1.0 => Ok(Some(c)),
        Layer::Gemm { beta, .. } => {
            if let Some(t) = g.constant(c).filter(|t| t.dtype == DType::F32)
                && let Ok(v) = t.to_f32_vec()
            {
                let dims = t.dims.clone();
                let scaled: Vec<f32> = v.iter().map(|x| x * beta).collect();
                let t = Tensor::from_f32(dims, &scaled).map_err(|e| tensor_err(g, id, e))?;
                return Ok(Some(add_const(g, names, &format!("{c_name}_scaled"), t)));
            }
            let b = Tensor::from_f32(Vec::new(), &[*beta]).map_err(|e| tensor_err(g, id, e))?;
            let b = add_const(g, names, &format!("{c_name}_beta"), b);
            let out = names.fresh(&format!("{c_name}_times_beta"));
            add1(g, label, Op::Binary(Binary::Mul), vec![c, b], out).map(Some)
        }
        Layer::Conv(_) => {
            let Some(t) = g.constant(c) else {
                return Ok(None);
            };
            let v = t.to_f32_vec().map_err(|e| tensor_err(g, id, e))?;
            let w_rank = g
                .node(id)
                .inputs()
                .get(1)
                .copied()
                .flatten()
                .and_then(|w| g.constant(w))
                .map_or(4, |w| w.dims.len());
            let mut dims = vec![1i64; w_rank - 1];
            dims[0] = v.len() as i64;
            let t = Tensor::from_f32(dims, &v).map_err(|e| tensor_err(g, id, e))?;
            Ok(Some(add_const(g, names, &format!("{c_name}_reshaped"), t)))
        }
    }
}

/// Rewrites layer `id` (see the module docs); `None` when it is not eligible after all.
fn rewrite(
    g: &mut Graph,
    names: &mut Names,
    stored: &mut BTreeMap<(String, String), StoredWeight>,
    id: NodeId,
    convs: bool,
) -> Result<Option<LayerReport>, PassError> {
    let Some(layer) = eligible(g, id, convs) else {
        return Ok(None);
    };
    let node = g.node(id);
    let label = node_label(node);
    let op = node.op.op_type().to_string();
    let base = node.name.clone();
    let inputs: Vec<Option<ValueId>> = node.inputs().to_vec();
    let (Some(x), Some(w)) = (inputs[0], inputs[1]) else {
        return Ok(None);
    };
    let out = ValueId { node: id, slot: 0 };
    let out_name = g.value(out).name.clone();
    let x_name = g.value(x).name.clone();
    let Some((sw, cost)) = store_weight(g, names, stored, id, &layer)? else {
        return Ok(None);
    };
    let named = |what: &str| {
        if base.is_empty() {
            String::new()
        } else {
            format!("{base}/{what}")
        }
    };
    let outs = vec![
        names.fresh(&format!("{x_name}_quantized")),
        names.fresh(&format!("{x_name}_scale")),
        names.fresh(&format!("{x_name}_zero_point")),
    ];
    let dql = g.add_node(
        NewNode::new(Op::DynamicQuantizeLinear, vec![Some(x)], outs)
            .named(named("DynamicQuantizeLinear")),
    )?;
    let at = |slot| ValueId { node: dql, slot };
    let scales = add1(
        g,
        &named("scales"),
        Op::Binary(Binary::Mul),
        vec![at(1), sw.scale],
        names.fresh(&format!("{out_name}_scales")),
    )?;
    let (int_op, int_name) = match &layer {
        Layer::Conv(c) => (Op::ConvInteger(c.clone()), "ConvInteger"),
        _ => (Op::MatMulInteger, "MatMulInteger"),
    };
    let product = add1(
        g,
        &named(int_name),
        int_op,
        vec![at(0), sw.q, at(2), sw.zero_point],
        names.fresh(&format!("{out_name}_int32")),
    )?;
    let cast = add1(
        g,
        &named("Cast"),
        Op::Cast(Cast::to(DType::F32)),
        vec![product],
        names.fresh(&format!("{out_name}_cast")),
    )?;
    let mut result = add1(
        g,
        &named("Mul"),
        Op::Binary(Binary::Mul),
        vec![cast, scales],
        names.fresh(&format!("{out_name}_rescaled")),
    )?;
    if let Some(b) = bias(g, names, id, &layer, &named("beta"))? {
        let sum = names.fresh(&format!("{out_name}_biased"));
        result = add1(
            g,
            &named("Add"),
            Op::Binary(Binary::Add),
            vec![result, b],
            sum,
        )?;
    }
    if !redirect(g, names, out, result)? {
        return Err(node_error(g, id, "its output cannot be redirected"));
    }
    g.remove_node(id)?;
    // The result takes the layer's output name (a graph output already has it).
    if g.value(result).name != out_name {
        g.value_mut(result).name = out_name;
    }
    let w_node = w.node;
    remove_if_dead(g, w_node)?;
    if let Some(c) = inputs.get(2).copied().flatten()
        && c.node != w_node
        && g.node_ids().any(|n| n == c.node)
        && g.node(c.node).op.is_source()
    {
        remove_if_dead(g, c.node)?;
    }
    Ok(Some(LayerReport {
        layer: label,
        op,
        params: cost.params,
        bytes_before: cost.bytes_before,
        bytes_after: cost.bytes_after,
        weight_sqnr_db: cost.sqnr_db,
        output_sqnr_db: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{random_inputs, run};
    use nnslim_eval::Value;
    use nnslim_ir::stats::graph_stats;

    use crate::testing::model_of as model;

    const MLP: &str = r#"
  input %x: f32[N,16]
  input %c: f32[8]
  const %w1: f32[8,16] = random(seed=1, scale=0.5)
  const %b1: f32[8] = random(seed=2, scale=0.1)
  const %w2: f32[8,4] = random(seed=3, scale=0.5)
  const %w3: f32[16,8] = random(seed=4, scale=0.5)
  %h = Gemm(%x, %w1, %b1) {alpha=0.5, beta=2.0, transB=1} @"fc1"
  %r = Relu(%h)
  %y = MatMul(%r, %w2)
  %z = Gemm(%x, %w3, %c) {beta=0.5}
  output %y
  output %z"#;

    /// SQNR in dB of every output of `after` against `before` on seeded random inputs.
    fn output_sqnr(before: &Model, after: &Model) -> Vec<f64> {
        let inputs = random_inputs(&before.graph, 7).unwrap();
        let want = run(&before.graph, &inputs).unwrap();
        let got = run(&after.graph, &inputs).unwrap();
        let f = |v: &Value| v.as_tensor().unwrap().to_f32_vec().unwrap();
        want.iter()
            .zip(&got)
            .map(|(w, g)| sqnr_db(&f(w), &f(g)))
            .collect()
    }

    fn ops(m: &Model) -> BTreeMap<String, usize> {
        graph_stats(&m.graph).ops
    }

    fn names(g: &Graph, vs: &[ValueId]) -> Vec<String> {
        vs.iter().map(|v| g.value(*v).name.clone()).collect()
    }

    #[test]
    fn matrix_products_become_integer_products() {
        let before = model(13, MLP);
        let mut after = before.clone();
        let reports = quantize_dynamic(&mut after).unwrap();
        let g = &after.graph;
        nnslim_ir::verify(g).unwrap();
        let ops = ops(&after);
        assert_eq!(ops.get("DynamicQuantizeLinear"), Some(&3), "{ops:?}");
        assert_eq!(ops.get("MatMulInteger"), Some(&3));
        assert_eq!(ops.get("Cast"), Some(&3));
        assert!(!ops.contains_key("Gemm") && !ops.contains_key("MatMul"));
        // The interface and the names of the layers' outputs are kept.
        assert_eq!(names(g, &g.inputs()), ["x", "c"]);
        assert_eq!(names(g, g.outputs()), ["y", "z"]);
        assert!(g.find_value("h").is_some());
        // Reports in order, with int8 storage and a high weight SQNR.
        let labels: Vec<&str> = reports.iter().map(|r| r.layer.as_str()).collect();
        assert_eq!(labels, ["fc1", "<y>", "<z>"]);
        for r in &reports {
            assert!(r.weight_sqnr_db > 38.0, "{r:?}");
            assert_eq!(r.bytes_before, 4 * r.params);
            // int8 values, an f32 scale per column and one int8 zero point.
            let cols = if r.layer == "<y>" { 4 } else { 8 };
            assert_eq!(r.bytes_after, r.params + 4 * cols + 1, "{r:?}");
        }
        // The float weights are gone; the outputs stay close (alpha, beta, transB honoured).
        assert!(g.find_value("w1").is_none() && g.find_value("w3").is_none());
        for s in output_sqnr(&before, &after) {
            assert!(s > 25.0, "output SQNR {s} dB");
        }
    }

    #[test]
    fn emits_the_pattern_onnx_runtime_fuses() {
        let mut m = model(13, MLP);
        quantize_dynamic(&mut m).unwrap();
        let g = &m.graph;
        let mut checked = 0;
        for id in g.compute_nodes().unwrap() {
            let node = g.node(id);
            if !matches!(node.op, Op::MatMulInteger) {
                continue;
            }
            let ins: Vec<ValueId> = node.inputs().iter().map(|v| v.unwrap()).collect();
            // A, a_zero_point from one DynamicQuantizeLinear that feeds nothing else but the
            // scale Mul; B and b_zero_point constant int8.
            let dql = ins[0].node;
            assert!(matches!(g.node(dql).op, Op::DynamicQuantizeLinear));
            assert_eq!(ins[2], ValueId { node: dql, slot: 2 });
            for slot in 0..3 {
                assert_eq!(g.uses(ValueId { node: dql, slot }).len(), 1);
            }
            assert_eq!(g.constant(ins[1]).unwrap().dtype, DType::I8);
            assert_eq!(g.constant(ins[3]).unwrap().dtype, DType::I8);
            // MatMulInteger → Cast → Mul(cast, Mul(x_scale, w_scale)).
            let out = ValueId { node: id, slot: 0 };
            let [(cast, 0)] = g.uses(out)[..] else {
                panic!("MatMulInteger read more than once")
            };
            assert!(matches!(g.node(cast).op, Op::Cast(c) if c.to == DType::F32));
            let [(mul, 0)] = g.uses(ValueId {
                node: cast,
                slot: 0,
            })[..] else {
                panic!("Cast read more than once")
            };
            let scales = g.node(mul).inputs()[1].unwrap();
            let s_ins = g.node(scales.node).inputs();
            assert_eq!(s_ins[0], Some(ValueId { node: dql, slot: 1 }));
            assert!(g.constant(s_ins[1].unwrap()).is_some());
            checked += 1;
        }
        assert_eq!(checked, 3);
    }

    #[test]
    fn convolutions_stay_float_unless_asked() {
        let body = r#"
  input %x: f32[N,2,8,8]
  const %w: f32[4,2,3,3] = random(seed=1, scale=0.4)
  const %b: f32[4] = [0.1, -0.2, 0.3, 0.0]
  const %w2: f32[4,2,1,1] = random(seed=2, scale=0.4)
  %y = Conv(%x, %w, %b) {pads=[1,1,1,1]}
  %z = Conv(%x, %w2) {strides=[2,2]}
  output %y
  output %z"#;
        let before = model(13, body);
        let mut plain = before.clone();
        assert!(quantize_dynamic(&mut plain).unwrap().is_empty());
        assert_eq!(ops(&plain).get("Conv"), Some(&2));
        let mut after = before.clone();
        let reports = quantize_dynamic_with(&mut after, true).unwrap();
        assert_eq!(reports.len(), 2);
        nnslim_ir::verify(&after.graph).unwrap();
        assert_eq!(ops(&after).get("ConvInteger"), Some(&2));
        assert!(!ops(&after).contains_key("Conv"));
        // Per output channel scales; a scalar zero point (4 int8 + 4 f32 + 1 byte for w2).
        assert_eq!(reports[1].bytes_after, 8 + 16 + 1);
        for s in output_sqnr(&before, &after) {
            assert!(s > 25.0, "output SQNR {s} dB");
        }
    }

    #[test]
    fn shared_weights_are_stored_once() {
        let body = r#"
  input %a: f32[2,6]
  input %b: f32[3,6]
  const %w: f32[6,5] = random(seed=1, scale=0.5)
  %y = MatMul(%a, %w)
  %z = MatMul(%b, %w)
  output %y
  output %z"#;
        let mut m = model(13, body);
        let reports = quantize_dynamic(&mut m).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!((reports[1].bytes_before, reports[1].bytes_after), (0, 0));
        let int8: usize = m
            .graph
            .initializers()
            .iter()
            .filter(|v| m.graph.constant(**v).unwrap().dims == [6, 5])
            .count();
        assert_eq!(int8, 1);
        assert_eq!(ops(&m).get("DynamicQuantizeLinear"), Some(&2));
    }

    #[test]
    fn skips_what_it_cannot_quantize_and_needs_opset_11() {
        let body = r#"
  input %x: f32[4,3]
  input %v: f32[3,2]
  const %w: f32[4,2] = random(seed=1, scale=0.5)
  const %bad: f32[3,2] = [1.0, inf, 0.0, 1.0, 2.0, 3.0]
  %t = Gemm(%x, %w) {transA=1}
  %u = MatMul(%x, %v)
  %n = MatMul(%x, %bad)
  output %t
  output %u
  output %n"#;
        let mut m = model(13, body);
        assert!(quantize_dynamic(&mut m).unwrap().is_empty());
        assert_eq!(ops(&m).get("MatMul"), Some(&2));
        // Opset 10 has no DynamicQuantizeLinear: an error when there is work, else nothing.
        let mut old = model(10, MLP);
        let e = quantize_dynamic(&mut old).unwrap_err();
        assert!(e.to_string().contains("opset 11"), "{e}");
        let mut nothing = model(10, "  input %x: f32[2]\n  %y = Relu(%x)\n  output %y");
        assert!(quantize_dynamic(&mut nothing).unwrap().is_empty());
    }
}
