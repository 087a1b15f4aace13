//! Weight-only block-wise quantization (`quantize(weights=int8|int4, block=B)`): each constant
//! f32 weight of a Conv, Gemm or MatMul is stored as int8 or packed int4 with one f32 scale per
//! block of `B` consecutive elements along the layer's reduction (input) axis, and rebuilt by a
//! `DequantizeLinear` (opset 21, `axis` + `block_size`) feeding the layer. Activations stay f32.
//!
//! Grids (zero point 0, so no zero-point tensor is stored):
//! - int8: symmetric [-127, 127], scale = max|w| / 127 — the convention of the other int8
//!   modes; giving up -128 costs 1/256 of the codes.
//! - int4: the full [-8, 7] with a sign-aware scale = max(max(w) / 7, -min(w) / 8). With 16
//!   codes, dropping -8 (the symmetric [-7, 7]) would waste 1/16 of the grid; the sign-aware
//!   scale never clips (max(w) ≤ 7·s, min(w) ≥ -8·s) and is finer than max|w| / 7 whenever the
//!   block's largest magnitude is negative.
//!
//! Rounding is half to even. Blocks run along the reduction axis: Gemm's K (axis 0 of B, or 1
//! with `transB`), MatMul's axis -2, and for Conv the input channels — directly on axis 1 of
//! the weight when that axis divides into blocks (or the kernel is 1×1), otherwise over each
//! output channel's flattened `C/group × kernel` elements (the weight is stored as
//! `[M, C/group·∏kernel]` and a `Reshape` restores its shape). A last partial block is allowed
//! (DequantizeLinear-21 scales have `ceil(len / B)` entries along the blocked axis).

use super::LayerReport;
use super::weights::sqnr_db;
use crate::PassError;
use crate::rewrite::{Names, add_const, const_f32, node_error, remove_if_dead};
use crate::upgrade::upgrade_opset;
use nnslim_ir::op::{DequantizeLinear, Reshape};
use nnslim_ir::{
    DType, Graph, Model, NewNode, NodeId, Op, Tensor, TensorData, ValueId, node_label,
};
use std::collections::BTreeMap;

/// The opset (and, through [`upgrade_opset`], IR version 10) that blocked `DequantizeLinear`
/// and int4 need.
const BLOCKED_DQ_OPSET: i64 = 21;

/// What [`weight_only_detailed`] did: one report per quantized layer, and notes on layers left
/// in float and on the opset upgrade.
#[derive(Clone, Debug, Default)]
pub struct WeightOnly {
    pub layers: Vec<LayerReport>,
    pub notes: Vec<String>,
}

/// Weight-only block-wise quantization of every Conv/Gemm/MatMul with a constant f32 weight
/// (see the module docs for grids and blocking); returns one report per quantized layer and
/// notes for the pass report (layers skipped and why, opset upgrade).
///
/// Preconditions: `bits` is 4 or 8, `block` ≥ 1. The model's default opset is raised to 21
/// (IR ≥ 10) first when it is lower and some layer qualifies; an opset the upgrade cannot
/// convert is an error and leaves the model unchanged. Numerical contract: each weight element
/// is reconstructed within half a step (scale / 2) of its block; graph inputs and outputs are
/// unchanged.
pub fn weight_only_detailed(
    model: &mut Model,
    bits: u8,
    block: usize,
) -> Result<WeightOnly, PassError> {
    let grid = Grid::new(bits)?;
    if block == 0 {
        return Err(options("block must be at least 1"));
    }
    let mut out = WeightOnly::default();
    let (plans, skipped) = find_layers(&model.graph, block)?;
    if plans.is_empty() {
        out.notes = skipped;
        return Ok(out);
    }
    let from = model.opset("");
    if from.is_none_or(|v| v < BLOCKED_DQ_OPSET) {
        upgrade_opset(model, BLOCKED_DQ_OPSET)?;
        out.notes.push(format!(
            "opset raised from {} to {BLOCKED_DQ_OPSET} (IR version {}) for blocked \
             DequantizeLinear",
            from.map_or("none".to_string(), |v| v.to_string()),
            model.ir_version
        ));
    }
    // The upgrade may have added nodes: plan again on the upgraded graph.
    let (plans, skipped) = find_layers(&model.graph, block)?;
    out.notes.extend(skipped);
    let g = &mut model.graph;
    let mut names = Names::of(g);
    // Weights shared by several layers are quantized once (and counted at the first).
    let mut done: BTreeMap<(ValueId, Layout), (ValueId, f64)> = BTreeMap::new();
    for p in &plans {
        let key = (p.weight, p.layout);
        let (dq, report) = match done.get(&key) {
            Some(&(dq, sqnr)) => (
                dq,
                LayerReport {
                    layer: String::new(),
                    op: String::new(),
                    params: 0,
                    bytes_before: 0,
                    bytes_after: 0,
                    weight_sqnr_db: sqnr,
                    output_sqnr_db: None,
                },
            ),
            None => {
                let (dq, report) = quantize_weight(g, &mut names, p, grid, block)?;
                done.insert(key, (dq, report.weight_sqnr_db));
                (dq, report)
            }
        };
        g.set_input(p.node, 1, Some(dq))?;
        let node = g.node(p.node);
        let layer = node_label(node);
        if report.params == 0 {
            out.notes.push(format!(
                "{layer}: shares its weight with an earlier layer (counted there)"
            ));
        }
        let op = node.op.op_type().to_string();
        out.layers.push(LayerReport {
            layer,
            op,
            ..report
        });
    }
    for (w, _) in done.keys() {
        if !g.is_used(*w) {
            remove_if_dead(g, w.node)?;
        }
    }
    Ok(out)
}

fn options(message: &str) -> PassError {
    PassError::Options {
        pass: "quantize".into(),
        message: message.into(),
    }
}

/// The integer grid of a bit width.
#[derive(Clone, Copy, Debug)]
struct Grid {
    dtype: DType,
    bits: u8,
    qmin: f32,
    qmax: f32,
}

impl Grid {
    fn new(bits: u8) -> Result<Grid, PassError> {
        match bits {
            8 => Ok(Grid {
                dtype: DType::I8,
                bits,
                qmin: -127.0,
                qmax: 127.0,
            }),
            4 => Ok(Grid {
                dtype: DType::I4,
                bits,
                qmin: -8.0,
                qmax: 7.0,
            }),
            _ => Err(options("weights= takes int8 or int4")),
        }
    }

    /// The scale of a block whose values span [lo, hi] (lo ≤ 0 ≤ hi): the smallest that maps
    /// hi to at most qmax and lo to at least qmin; 1 for an all-zero block.
    fn scale(&self, lo: f32, hi: f32) -> f32 {
        let s = (hi / self.qmax).max(lo / self.qmin);
        if s > 0.0 && s.is_finite() { s } else { 1.0 }
    }
}

/// How a weight is laid out for blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layout {
    /// Blocks along `axis` of the weight as it is.
    Axis(usize),
    /// The weight flattened to `[dims[0], rest]`, blocked along axis 1, reshaped back.
    Flat,
}

/// One layer to quantize.
#[derive(Clone, Debug)]
struct Plan {
    node: NodeId,
    weight: ValueId,
    layout: Layout,
}

/// The layers to quantize (in topological order) and notes on qualifying layers left alone.
fn find_layers(g: &Graph, block: usize) -> Result<(Vec<Plan>, Vec<String>), PassError> {
    let (mut plans, mut notes) = (Vec::new(), Vec::new());
    for id in g.compute_nodes()? {
        let node = g.node(id);
        let (Some(Some(w)), true) = (
            node.inputs().get(1),
            matches!(node.op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul),
        ) else {
            continue;
        };
        let Some(t) = g.constant(*w) else {
            continue;
        };
        let label = node_label(node);
        if t.dtype != DType::F32 || !matches!(t.data, TensorData::Dense(_)) {
            continue;
        }
        if t.to_f32_vec()
            .map_or(true, |v| v.iter().any(|x| !x.is_finite()))
        {
            notes.push(format!(
                "{label}: weight {} holds NaN or infinite values, left in float",
                g.value(*w).name
            ));
            continue;
        }
        if g.is_input(w.node) {
            notes.push(format!(
                "{label}: weight {} is also a graph input (overridable), left in float",
                g.value(*w).name
            ));
            continue;
        }
        let dims = &t.dims;
        let layout = match &node.op {
            Op::Conv(_) if dims.len() >= 3 => {
                let spatial: i64 = dims[2..].iter().product();
                if spatial == 1 || dims[1] % block as i64 == 0 {
                    Layout::Axis(1)
                } else {
                    Layout::Flat
                }
            }
            Op::Gemm(gm) if dims.len() == 2 => Layout::Axis(usize::from(gm.trans_b)),
            Op::MatMul if dims.len() >= 2 => Layout::Axis(dims.len() - 2),
            _ => {
                notes.push(format!(
                    "{label}: weight of shape {dims:?} has no reduction axis to block, left in \
                     float"
                ));
                continue;
            }
        };
        if dims.contains(&0) {
            continue;
        }
        plans.push(Plan {
            node: id,
            weight: *w,
            layout,
        });
    }
    Ok((plans, notes))
}

/// Quantizes one weight: adds the codes and scales, the DequantizeLinear (and the Reshape of
/// the flattened layout) and returns the value that replaces the weight, with the report
/// (layer and op filled in by the caller).
fn quantize_weight(
    g: &mut Graph,
    names: &mut Names,
    p: &Plan,
    grid: Grid,
    block: usize,
) -> Result<(ValueId, LayerReport), PassError> {
    let t = g
        .constant(p.weight)
        .ok_or_else(|| node_error(g, p.node, "the weight is no longer a constant"))?;
    let dims = t.dims.clone();
    let w = const_f32(g, p.weight)
        .ok_or_else(|| node_error(g, p.node, "the weight is not a dense f32 constant"))?;
    let (qdims, axis) = match p.layout {
        Layout::Axis(a) => (dims.clone(), a),
        Layout::Flat => (vec![dims[0], dims[1..].iter().product()], 1),
    };
    let blocked = block_quantize(&w, &qdims, axis, block, grid);
    let wname = g.value(p.weight).name.clone();
    let raw = pack(&blocked.codes, grid.bits);
    let packed_bytes = raw.len() as u64;
    let codes = Tensor::from_raw(grid.dtype, qdims.clone(), raw.into())
        .map_err(|e| node_error(g, p.node, format!("quantized weight: {e}")))?;
    let scales = Tensor::from_f32(blocked.scale_dims.clone(), &blocked.scales)
        .map_err(|e| node_error(g, p.node, format!("scales: {e}")))?;
    let qv = add_const(g, names, &format!("{wname}.q{}", grid.bits), codes);
    let sv = add_const(g, names, &format!("{wname}.scale"), scales);
    let dq = DequantizeLinear {
        axis: axis as i64,
        block_size: block as i64,
        output_dtype: None,
    };
    let out = names.fresh(&format!("{wname}.dq"));
    let n = g.add_node(
        NewNode::new(
            Op::DequantizeLinear(dq),
            vec![Some(qv), Some(sv)],
            vec![out],
        )
        .named(format!("{wname}.dequantize")),
    )?;
    let mut value = ValueId { node: n, slot: 0 };
    let mut extra = 0;
    if p.layout == Layout::Flat {
        let shape = Tensor::from_i64(vec![dims.len() as i64], &dims)
            .map_err(|e| node_error(g, p.node, format!("shape: {e}")))?;
        extra = shape.storage_size();
        let sv = add_const(g, names, &format!("{wname}.shape"), shape);
        let out = names.fresh(&format!("{wname}.dq4d"));
        let r = g.add_node(
            NewNode::new(
                Op::Reshape(Reshape { allowzero: false }),
                vec![Some(value), Some(sv)],
                vec![out],
            )
            .named(format!("{wname}.reshape")),
        )?;
        value = ValueId { node: r, slot: 0 };
    }
    let params = w.len() as u64;
    let report = LayerReport {
        layer: String::new(),
        op: String::new(),
        params,
        bytes_before: params * 4,
        bytes_after: packed_bytes + blocked.scales.len() as u64 * 4 + extra,
        weight_sqnr_db: sqnr_db(&w, &blocked.dequantized(&qdims, axis, block)),
        output_sqnr_db: None,
    };
    Ok((value, report))
}

/// A weight quantized block-wise.
#[derive(Clone, Debug, PartialEq)]
struct Blocked {
    /// One code per element, row-major.
    codes: Vec<i8>,
    /// One scale per block, row-major over `scale_dims`.
    scales: Vec<f32>,
    /// The weight's dims with the blocked axis divided by the block size, rounded up.
    scale_dims: Vec<i64>,
}

/// The geometry of blocking a row-major tensor along an axis.
#[derive(Clone, Copy, Debug)]
struct Blocks {
    len: usize,
    inner: usize,
    block: usize,
    count: usize,
}

impl Blocks {
    fn new(dims: &[i64], axis: usize, block: usize) -> Blocks {
        let d = |i: usize| dims.get(i).map_or(1, |&v| v.max(0) as usize);
        let len = d(axis);
        Blocks {
            len,
            inner: (axis + 1..dims.len()).map(d).product(),
            block,
            count: len.div_ceil(block),
        }
    }

    /// The scale index of element `i`.
    #[inline]
    fn scale_of(&self, i: usize) -> usize {
        let outer = i / (self.len * self.inner);
        let a = (i / self.inner) % self.len;
        (outer * self.count + a / self.block) * self.inner + i % self.inner
    }
}

/// Quantizes `w` (row-major, `dims`) in blocks of `block` along `axis` on `grid`.
fn block_quantize(w: &[f32], dims: &[i64], axis: usize, block: usize, grid: Grid) -> Blocked {
    let b = Blocks::new(dims, axis, block);
    let mut scale_dims = dims.to_vec();
    scale_dims[axis] = b.count as i64;
    let n_scales = w.len() / b.len.max(1) * b.count;
    let (mut lo, mut hi) = (vec![0f32; n_scales], vec![0f32; n_scales]);
    for (i, &v) in w.iter().enumerate() {
        let s = b.scale_of(i);
        lo[s] = lo[s].min(v);
        hi[s] = hi[s].max(v);
    }
    let scales: Vec<f32> = lo
        .iter()
        .zip(&hi)
        .map(|(&l, &h)| grid.scale(l, h))
        .collect();
    let codes = w
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (v / scales[b.scale_of(i)])
                .round_ties_even()
                .clamp(grid.qmin, grid.qmax) as i8
        })
        .collect();
    Blocked {
        codes,
        scales,
        scale_dims,
    }
}

impl Blocked {
    /// The weight as DequantizeLinear rebuilds it: code × scale, in f32.
    fn dequantized(&self, dims: &[i64], axis: usize, block: usize) -> Vec<f32> {
        let b = Blocks::new(dims, axis, block);
        self.codes
            .iter()
            .enumerate()
            .map(|(i, &q)| q as f32 * self.scales[b.scale_of(i)])
            .collect()
    }
}

/// Codes as ONNX stores them: one byte each for 8 bits; for 4 bits two per byte, the first in
/// the low nibble (two's complement), an odd count padded with a zero high nibble.
fn pack(codes: &[i8], bits: u8) -> Vec<u8> {
    if bits == 8 {
        return codes.iter().map(|&q| q as u8).collect();
    }
    codes
        .chunks(2)
        .map(|pair| {
            let lo = pair[0] as u8 & 0x0f;
            let hi = pair.get(1).map_or(0, |&q| q as u8 & 0x0f);
            lo | (hi << 4)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{random_inputs, run};
    use nnslim_eval::Value;
    use nnslim_ir::text::{parse_model, print_model};

    #[test]
    fn int4_uses_the_full_grid_with_a_sign_aware_scale() {
        let g = Grid::new(4).unwrap();
        // The negative extreme sets the scale: -0.8 → -8 exactly.
        assert_eq!(g.scale(-0.8, 0.35), 0.1);
        // The positive extreme sets it: 0.7 → 7, and -0.2 stays inside.
        assert!((g.scale(-0.2, 0.7) - 0.1).abs() < 1e-7);
        assert_eq!(g.scale(0.0, 0.0), 1.0);
        let g8 = Grid::new(8).unwrap();
        assert_eq!(g8.scale(-1.0, 0.5), 1.0 / 127.0);
        assert!(Grid::new(3).is_err());
    }

    #[test]
    fn blocks_run_along_the_axis_with_a_partial_last_block() {
        // [2, 5] blocked by 2 along axis 1: 3 blocks per row, the last holding one element.
        let w = [0.1, -0.2, 0.3, 0.4, -1.0, 1.0, 0.5, 0.25, 0.0, 0.0];
        let b = block_quantize(&w, &[2, 5], 1, 2, Grid::new(8).unwrap());
        assert_eq!(b.scale_dims, [2, 3]);
        let want: Vec<f32> = [0.2, 0.4, 1.0, 1.0, 0.25, 0.0]
            .iter()
            .map(|m| if *m == 0.0 { 1.0 } else { m / 127.0 })
            .collect();
        assert_eq!(b.scales, want);
        assert_eq!(b.codes[4], -127);
        // Along axis 0 of [5, 3] by 2: scales [3, 3], element (4, 2) in block (2, 2).
        let geo = Blocks::new(&[5, 3], 0, 2);
        assert_eq!((geo.count, geo.scale_of(4 * 3 + 2)), (3, 2 * 3 + 2));
        assert_eq!(geo.scale_of(2 * 3), 3);
        // Every element comes back within half a step of its block.
        let w: Vec<f32> = (0..60)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        for (bits, block) in [(4, 4), (4, 7), (8, 5)] {
            let q = block_quantize(&w, &[3, 20], 1, block, Grid::new(bits).unwrap());
            let back = q.dequantized(&[3, 20], 1, block);
            let geo = Blocks::new(&[3, 20], 1, block);
            for (i, (&a, &b)) in w.iter().zip(&back).enumerate() {
                let s = q.scales[geo.scale_of(i)];
                assert!((a - b).abs() <= s / 2.0 + 1e-6, "{bits} bits: {a} vs {b}");
            }
        }
    }

    #[test]
    fn int4_packs_two_codes_per_byte_low_nibble_first() {
        assert_eq!(pack(&[1, -1, -8], 4), [0xf1, 0x08]);
        assert_eq!(pack(&[7, -8], 4), [0x87]);
        assert_eq!(pack(&[-127, 5], 8), [0x81, 0x05]);
    }

    const NET: &str = r#"model ir_version=7 opsets=[""=13]
graph "net" {
  input %x: f32[N,1,8,8]
  input %m: f32[2,N,48]
  const %c1.w: f32[64,1,3,3] = random(seed=1, scale=0.3)
  const %c2.w: f32[32,64,3,3] = random(seed=2, scale=0.05)
  const %c3.w: f32[16,32,1,1] = random(seed=3, scale=0.1)
  const %fc.w: f32[10,144] = random(seed=4, scale=0.05)
  const %kn.w: f32[10,6] = random(seed=5, scale=0.3)
  const %mm.w: f32[2,48,5] = random(seed=6, scale=0.2)
  %c1 = Conv(%x, %c1.w) {kernel_shape=[3,3], pads=[1,1,1,1]}
  %c2 = Conv(%c1, %c2.w) {kernel_shape=[3,3]}
  %c3 = Conv(%c2, %c3.w) {kernel_shape=[1,1], strides=[2,2]}
  %f = Flatten(%c3)
  %fc = Gemm(%f, %fc.w) {transB=1}
  %kn = Gemm(%fc, %kn.w)
  %again = Gemm(%fc, %kn.w)
  %sum = Add(%kn, %again)
  %mm = MatMul(%m, %mm.w)
  output %sum
  output %mm
}
"#;

    /// SQNR (dB) of each output of `after` against `before` on seeded inputs.
    fn output_sqnr(before: &Model, after: &Model) -> Vec<f64> {
        let inputs = random_inputs(&before.graph, 3).unwrap();
        let want = run(&before.graph, &inputs).unwrap();
        let got = run(&after.graph, &inputs).unwrap();
        want.iter()
            .zip(&got)
            .map(|(w, g)| {
                let (Value::Tensor(w), Value::Tensor(g)) = (w, g) else {
                    panic!("tensors expected");
                };
                sqnr_db(&w.to_f32_vec().unwrap(), &g.to_f32_vec().unwrap())
            })
            .collect()
    }

    /// The float model with each weight replaced by its block-wise reconstruction, computed
    /// here rather than by the graph's DequantizeLinear.
    fn reconstructed(before: &Model, bits: u8, layouts: &[(&str, usize, Vec<i64>)]) -> Model {
        let mut m = before.clone();
        for (name, axis, qdims) in layouts {
            let g = &mut m.graph;
            let v = g.find_value(name).unwrap();
            let t = g.constant(v).unwrap().clone();
            let w = t.to_f32_vec().unwrap();
            let q = block_quantize(&w, qdims, *axis, 32, Grid::new(bits).unwrap());
            let back = Tensor::from_f32(t.dims.clone(), &q.dequantized(qdims, *axis, 32));
            g.node_mut(v.node).op = Op::Initializer(back.unwrap());
        }
        m
    }

    #[test]
    fn conv_gemm_and_matmul_weights_are_blocked_along_their_reduction_axis() {
        let before = parse_model(NET).unwrap();
        for (bits, min_out_db) in [(4, 20.0), (8, 45.0)] {
            let mut m = before.clone();
            let r = weight_only_detailed(&mut m, bits, 32).unwrap();
            assert_eq!((m.opset(""), m.ir_version), (Some(21), 10));
            assert!(
                r.notes[0].contains("opset raised from 13 to 21"),
                "{:?}",
                r.notes
            );
            nnslim_ir::verify(&m.graph).unwrap();
            let text = print_model(&m);
            assert!(!text.contains("!error"), "{text}");
            let layers: Vec<(&str, u64)> =
                r.layers.iter().map(|l| (l.op.as_str(), l.params)).collect();
            assert_eq!(
                layers,
                [
                    ("Conv", 576),
                    ("Conv", 18432),
                    ("Conv", 512),
                    ("Gemm", 1440),
                    ("Gemm", 60),
                    ("Gemm", 0),
                    ("MatMul", 480)
                ]
            );
            // c1 (1 input channel, 3×3) is flattened to [64, 9]: one partial block per output
            // channel, reshaped back. c2 blocks its 64 channels on axis 1; the 1×1 c3 blocks
            // axis 1 directly; Gemm blocks K (axis 1 with transB, else 0); MatMul axis -2.
            let layouts = [
                ("c1.w", 1, vec![64, 9], vec![64, 1]),
                ("c2.w", 1, vec![32, 64, 3, 3], vec![32, 2, 3, 3]),
                ("c3.w", 1, vec![16, 32, 1, 1], vec![16, 1, 1, 1]),
                ("fc.w", 1, vec![10, 144], vec![10, 5]),
                ("kn.w", 0, vec![10, 6], vec![1, 6]),
                ("mm.w", 1, vec![2, 48, 5], vec![2, 2, 5]),
            ];
            for (name, axis, _, scale_dims) in layouts.clone() {
                let g = &m.graph;
                assert!(g.find_value(name).is_none(), "float {name} removed");
                let dq = g.find_value(&format!("{name}.dq")).unwrap();
                let Op::DequantizeLinear(d) = &g.node(dq.node).op else {
                    panic!("DequantizeLinear expected");
                };
                assert_eq!((d.axis, d.block_size), (axis as i64, 32), "{name}");
                let s = g.find_value(&format!("{name}.scale")).unwrap();
                assert_eq!(g.constant(s).unwrap().dims, scale_dims, "{name}");
                let q = g.find_value(&format!("{name}.q{bits}")).unwrap();
                let want = if bits == 4 { DType::I4 } else { DType::I8 };
                assert_eq!(g.constant(q).unwrap().dtype, want);
            }
            assert!(m.graph.find_value("c1.w.dq4d").is_some());
            let before_bytes: u64 = r.layers.iter().map(|l| l.bytes_before).sum();
            let after_bytes: u64 = r.layers.iter().map(|l| l.bytes_after).sum();
            let ratio = after_bytes as f64 / before_bytes as f64;
            let bound = if bits == 4 { 0.2 } else { 0.32 };
            assert!(ratio < bound, "{bits} bits: {after_bytes} / {before_bytes}");
            for l in &r.layers {
                let floor = if bits == 4 { 15.0 } else { 38.0 };
                assert!(l.weight_sqnr_db > floor, "{l:?}");
            }
            // The graph rebuilds exactly the weights computed here ...
            let layouts: Vec<(&str, usize, Vec<i64>)> =
                layouts.into_iter().map(|(n, a, q, _)| (n, a, q)).collect();
            crate::testing::differential(
                &reconstructed(&before, bits, &layouts).graph,
                &m.graph,
                1,
                2,
            )
            .unwrap();
            // ... and the one-layer output stays close to the float one (the others pass
            // through a linear chain of random layers, which amplifies the error).
            let mm = output_sqnr(&before, &m)[1];
            assert!(
                mm > min_out_db,
                "{bits} bits: MatMul output SQNR {mm:.1} dB"
            );
        }
    }

    #[test]
    fn layers_without_a_constant_f32_weight_are_left_alone() {
        let text = r#"model ir_version=3 opsets=[""=9]
graph "g" {
  input %x: f32[2,4]
  input %w: f32[4,3]
  const %h: f16[4,3] = splat(0.5)
  %a = MatMul(%x, %w)
  %b = Cast(%h) {to=1}
  %c = MatMul(%x, %b)
  output %a
  output %c
}
"#;
        let before = parse_model(text).unwrap();
        let mut m = before.clone();
        let r = weight_only_detailed(&mut m, 4, 32).unwrap();
        assert!(r.layers.is_empty() && r.notes.is_empty());
        assert_eq!(
            print_model(&m),
            print_model(&before),
            "not even the opset moves"
        );
        // An initializer also listed as a graph input (IR 3) is overridable: kept, noted.
        let mut m = before.clone();
        let text = text.replace("input %w: f32[4,3]", "const %w: f32[4,3] = splat(0.25)");
        let mut m2 = parse_model(&text).unwrap();
        let w = m2.graph.find_value("w").unwrap();
        m2.graph.list_initializer_as_input(w);
        let r = weight_only_detailed(&mut m2, 8, 2).unwrap();
        assert!(r.layers.is_empty());
        assert!(
            r.notes.iter().any(|n| n.contains("graph input")),
            "{:?}",
            r.notes
        );
        assert!(weight_only_detailed(&mut m, 8, 0).is_err());
    }
}
