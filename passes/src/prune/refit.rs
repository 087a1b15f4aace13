//! Least-squares refit of pruned layers on calibration data (no retraining): each layer's
//! remaining weights (and its bias) are refitted so that its outputs on the calibration
//! samples, computed from its inputs in the pruned model, come as close as possible to the
//! float layer's outputs.
//!
//! For a layer with inputs `X̃` (rows: im2col patches for Conv, input rows for Gemm/MatMul,
//! with a column of ones for the bias) in the pruned model and outputs `Y` in the float model,
//! every output row `o` solves, over its free entries `S` (the kept weights and the bias),
//!
//! ```text
//! minimize ‖X̃_S w_S − y_o‖² + λ‖w_S − w0_S‖²   ⇔   (G_SS + λI) w_S = C_S,o + λ w0_S
//! ```
//!
//! with `G = X̃ᵀX̃`, `C = X̃ᵀY` accumulated over the calibration batches (memory bounded by the
//! reduction size, not the sample count), `w0` the weights before the refit and
//! `λ = α · mean(diag G)`. The ridge pulls towards `w0` rather than towards zero, so a layer
//! with fewer calibration rows than inputs (a wide Gemm on 256 images) stays near its pruned
//! weights instead of overfitting them. The bias is always free, which also corrects the mean
//! shift pruning causes. Layers are refitted in topological order with inputs taken from the
//! already refitted model, so errors do not compound.

use crate::{PassError, Progress, Samples};
use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, Par, Side};
use nnslim_eval::{Plan, Value};
use nnslim_ir::op::AutoPad;
use nnslim_ir::{Graph, NodeId, Op, Tensor, ValueId, node_label};
use rayon::prelude::*;
use std::collections::HashMap;

/// The default ridge strength, as a fraction of the mean diagonal of the Gram matrix.
pub const DEFAULT_ALPHA: f64 = 1e-2;

/// Rows of the least-squares problem materialised at once.
const CHUNK: usize = 4096;

/// A layer to refit.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Name of the layer's first output, the same in the pruned and the float graph.
    pub output: String,
    /// The float layer's output channels that the pruned layer still has, in order (`None`:
    /// all of them).
    pub kept_out: Option<Vec<usize>>,
    /// Whether weights that are exactly zero stay zero (the mask of unstructured pruning).
    pub masked: bool,
}

/// What the refit did to one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct RefitReport {
    /// The node's label.
    pub layer: String,
    /// Rows of the least-squares problem (samples × output positions).
    pub rows: u64,
    /// The layer's output SQNR (dB) against the float layer on the calibration samples, with
    /// the inputs of the pruned model, before and after the refit.
    pub sqnr_before: f64,
    pub sqnr_after: f64,
}

/// Outcome of [`refit_layers`]: refitted layers and the ones left as they were, with the
/// reason.
#[derive(Clone, Debug, Default)]
pub struct RefitOutcome {
    pub layers: Vec<RefitReport>,
    pub skipped: Vec<(String, String)>,
}

/// Sliding-window geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug)]
struct ConvGeometry {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    /// Padding before each spatial axis.
    pad: [usize; 2],
    /// Padding after each spatial axis.
    pad_end: [usize; 2],
}

/// A layer in matrix form: `outs` rows of `k` weights per group (`groups` groups, each with
/// `outs / groups` rows reading its own `k` features).
#[derive(Clone, Debug)]
struct Layer {
    input: ValueId,
    weight: ValueId,
    bias: Option<ValueId>,
    conv: Option<ConvGeometry>,
    groups: usize,
    outs: usize,
    k: usize,
    /// Dense weight stored `[K, O]` (MatMul, Gemm without `transB`).
    transposed: bool,
    /// Weights, `outs × k` row-major.
    w: Vec<f32>,
    b: Option<Vec<f32>>,
}

impl Layer {
    /// Free entries per row: `k` weights and the bias.
    fn width(&self) -> usize {
        self.k + usize::from(self.b.is_some())
    }

    /// Output channels per group.
    fn per_group(&self) -> usize {
        self.outs / self.groups
    }
}

/// A dense f32 initializer read by `node` only.
fn own_initializer(g: &Graph, v: ValueId, node: NodeId) -> Result<Vec<f32>, String> {
    let name = &g.value(v).name;
    let Op::Initializer(t) = &g.node(v.node).op else {
        return Err(format!("'{name}' is not an initializer"));
    };
    if g.is_input(v.node) || g.outputs().contains(&v) {
        return Err(format!("'{name}' is a graph input or output"));
    }
    if g.uses(v).iter().any(|&(n, _)| n != node) {
        return Err(format!("'{name}' is shared with another node"));
    }
    if t.dtype != nnslim_ir::DType::F32 {
        return Err(format!("'{name}' is not f32"));
    }
    t.to_f32_vec().map_err(|e| format!("'{name}': {e}"))
}

/// The layer `node` in matrix form, or why it cannot be refitted.
fn layer_of(g: &Graph, node: NodeId) -> Result<Layer, String> {
    let n = g.node(node);
    let input = n.inputs().first().copied().flatten().ok_or("no input")?;
    let weight = n.inputs().get(1).copied().flatten().ok_or("no weight")?;
    let dims: Vec<usize> = g
        .constant(weight)
        .ok_or("the weight is not constant")?
        .dims
        .iter()
        .map(|&d| d.max(0) as usize)
        .collect();
    let w = own_initializer(g, weight, node)?;
    let bias = n.inputs().get(2).copied().flatten();
    let (conv, groups, outs, k, transposed) = match &n.op {
        Op::Conv(c) => {
            let [o, cg, kh, kw] = dims[..] else {
                return Err("only 2-D convolutions are refitted".into());
            };
            let win = &c.window;
            let pad = match win.auto_pad {
                AutoPad::NotSet => [
                    win.pad_begin(0),
                    win.pad_begin(1),
                    win.pad_end(0),
                    win.pad_end(1),
                ],
                AutoPad::Valid => [0; 4],
                _ => return Err("auto_pad SAME is not refitted".into()),
            };
            let groups = usize::try_from(c.group).map_err(|_| "bad group")?;
            if groups == 0 || !o.is_multiple_of(groups) {
                return Err("bad group".into());
            }
            let pos = |x: i64| usize::try_from(x).map_err(|_| "negative geometry".to_string());
            let geometry = ConvGeometry {
                kernel: [kh, kw],
                stride: [pos(win.stride(0))?, pos(win.stride(1))?],
                dilation: [pos(win.dilation(0))?, pos(win.dilation(1))?],
                pad: [pos(pad[0])?, pos(pad[1])?],
                pad_end: [pos(pad[2])?, pos(pad[3])?],
            };
            if geometry.stride.contains(&0) || geometry.dilation.contains(&0) {
                return Err("zero stride or dilation".into());
            }
            (Some(geometry), groups, o, cg * kh * kw, false)
        }
        Op::Gemm(gm) => {
            if gm.trans_a || gm.alpha != 1.0 || (bias.is_some() && gm.beta != 1.0) {
                return Err("Gemm with transA, alpha or beta is not refitted".into());
            }
            let [a, b] = dims[..] else {
                return Err("the weight is not 2-D".into());
            };
            if gm.trans_b {
                (None, 1, a, b, false)
            } else {
                (None, 1, b, a, true)
            }
        }
        Op::MatMul => {
            let [a, b] = dims[..] else {
                return Err("the weight is not 2-D".into());
            };
            (None, 1, b, a, true)
        }
        _ => return Err(format!("{} is not refitted", n.op.op_type())),
    };
    let w = if transposed {
        (0..outs * k).map(|i| w[(i % k) * outs + i / k]).collect()
    } else {
        w
    };
    let b = match bias {
        None => None,
        Some(v) => {
            let b = own_initializer(g, v, node)?;
            if b.len() != outs {
                return Err("the bias does not have one value per output".into());
            }
            Some(b)
        }
    };
    Ok(Layer {
        input,
        weight,
        bias,
        conv,
        groups,
        outs,
        k,
        transposed,
        w,
        b,
    })
}

/// `g` computing only `v` (as its single output).
fn truncated(g: &Graph, v: ValueId) -> Result<Graph, PassError> {
    let mut t = g.clone();
    t.set_outputs(vec![v]);
    for id in t.topo_order()?.into_iter().rev() {
        let outs = t.node(id).outputs().len();
        let used = (0..outs).any(|s| {
            t.is_used(ValueId {
                node: id,
                slot: s as u32,
            })
        });
        if !used && !t.is_input(id) {
            t.remove_node(id)?;
        }
    }
    Ok(t)
}

/// Per-group sums over the calibration rows.
#[derive(Clone, Debug)]
struct Stats {
    /// `X̃ᵀX̃` per group (`width × width`).
    gram: Vec<Mat<f64>>,
    /// `X̃ᵀY` per group (`width × per_group`).
    cross: Vec<Mat<f64>>,
    /// `Σ y²` per output channel.
    yy: Vec<f64>,
    rows: u64,
}

impl Stats {
    fn new(l: &Layer) -> Stats {
        let w = l.width();
        Stats {
            gram: (0..l.groups).map(|_| Mat::zeros(w, w)).collect(),
            cross: (0..l.groups)
                .map(|_| Mat::zeros(w, l.per_group()))
                .collect(),
            yy: vec![0.0; l.outs],
            rows: 0,
        }
    }

    fn add(mut self, other: Stats) -> Stats {
        for (a, b) in self.gram.iter_mut().zip(&other.gram) {
            *a += b;
        }
        for (a, b) in self.cross.iter_mut().zip(&other.cross) {
            *a += b;
        }
        for (a, b) in self.yy.iter_mut().zip(&other.yy) {
            *a += b;
        }
        self.rows += other.rows;
        self
    }
}

/// An f32 tensor value and its shape.
fn tensor(v: &Value, what: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
    let a = v.as_tensor().ok_or(format!("{what} is not a tensor"))?;
    let x = a.to_f32_vec().ok_or(format!("{what} is not float"))?;
    Ok((a.shape.clone(), x))
}

/// Adds one batch: `x` the layer's input in the pruned model, `y` the float layer's output.
fn accumulate(
    s: &mut Stats,
    l: &Layer,
    kept: &[usize],
    x: &Value,
    y: &Value,
) -> Result<(), String> {
    let (xs, x) = tensor(x, "the input")?;
    let (ys, y) = tensor(y, "the float output")?;
    let og = l.per_group();
    let width = l.width();
    let bias = l.b.is_some();
    let float_outs = *ys.get(1).ok_or("the float output has no channel axis")?;
    if kept.iter().any(|&c| c >= float_outs) || kept.len() != l.outs {
        return Err("the output channels do not match the float layer".into());
    }
    match l.conv {
        Some(cg) => {
            let (&[n, c, h, w], &[yn, _, oh, ow]) = (&xs[..], &ys[..]) else {
                return Err("convolution activations are not 4-D".into());
            };
            let cpg = l.k / (cg.kernel[0] * cg.kernel[1]);
            if yn != n || cpg * l.groups != c {
                return Err("input and output shapes do not agree".into());
            }
            let size = |i: usize, input: usize| {
                let span = cg.dilation[i] * (cg.kernel[i].max(1) - 1) + 1;
                (input + cg.pad[i] + cg.pad_end[i])
                    .checked_sub(span)
                    .map(|d| d / cg.stride[i] + 1)
            };
            if size(0, h) != Some(oh) || size(1, w) != Some(ow) {
                return Err("the output size does not match the convolution".into());
            }
            let total = n * oh * ow;
            let kk = cg.kernel[0] * cg.kernel[1];
            for start in (0..total).step_by(CHUNK) {
                let rows = CHUNK.min(total - start);
                for gi in 0..l.groups {
                    let xm = Mat::<f64>::from_fn(rows, width, |r, f| {
                        if f == l.k {
                            return 1.0;
                        }
                        let r = start + r;
                        let (b, p) = (r / (oh * ow), r % (oh * ow));
                        let (py, px) = (p / ow, p % ow);
                        let (ci, q) = (f / kk, f % kk);
                        let (ky, kx) = (q / cg.kernel[1], q % cg.kernel[1]);
                        let iy = (py * cg.stride[0] + ky * cg.dilation[0]).checked_sub(cg.pad[0]);
                        let ix = (px * cg.stride[1] + kx * cg.dilation[1]).checked_sub(cg.pad[1]);
                        match (iy, ix) {
                            (Some(iy), Some(ix)) if iy < h && ix < w => {
                                f64::from(x[((b * c + gi * cpg + ci) * h + iy) * w + ix])
                            }
                            _ => 0.0,
                        }
                    });
                    let ym = Mat::<f64>::from_fn(rows, og, |r, o| {
                        let r = start + r;
                        let (b, p) = (r / (oh * ow), r % (oh * ow));
                        f64::from(y[(b * float_outs + kept[gi * og + o]) * oh * ow + p])
                    });
                    add_products(s, gi, &xm, &ym);
                }
            }
            s.rows += total as u64;
        }
        None => {
            let total = x.len() / l.k.max(1);
            if x.len() != total * l.k || y.len() != total * float_outs || xs.is_empty() {
                return Err("input and output shapes do not agree".into());
            }
            for start in (0..total).step_by(CHUNK) {
                let rows = CHUNK.min(total - start);
                let xm = Mat::<f64>::from_fn(rows, width, |r, f| {
                    if f == l.k {
                        1.0
                    } else {
                        f64::from(x[(start + r) * l.k + f])
                    }
                });
                let ym = Mat::<f64>::from_fn(rows, og, |r, o| {
                    f64::from(y[(start + r) * float_outs + kept[o]])
                });
                add_products(s, 0, &xm, &ym);
            }
            s.rows += total as u64;
        }
    }
    debug_assert!(!bias || width == l.k + 1);
    Ok(())
}

/// `gram += xᵀx`, `cross += xᵀy`, `yy += Σ y²` for group `gi`.
fn add_products(s: &mut Stats, gi: usize, x: &Mat<f64>, y: &Mat<f64>) {
    matmul(
        s.gram[gi].as_mut(),
        Accum::Add,
        x.transpose(),
        x.as_ref(),
        1.0,
        Par::Seq,
    );
    matmul(
        s.cross[gi].as_mut(),
        Accum::Add,
        x.transpose(),
        y.as_ref(),
        1.0,
        Par::Seq,
    );
    let og = y.ncols();
    for o in 0..og {
        s.yy[gi * og + o] += (0..y.nrows()).map(|r| y[(r, o)] * y[(r, o)]).sum::<f64>();
    }
}

/// Squared error `wᵀGw − 2wᵀc + yy` of one output row.
fn row_error(gram: &Mat<f64>, c: &[f64], yy: f64, w: &[f64]) -> f64 {
    let n = w.len();
    let mut quad = 0.0;
    for a in 0..n {
        if w[a] == 0.0 {
            continue;
        }
        let ga: f64 = (0..n).map(|b| gram[(a, b)] * w[b]).sum();
        quad += w[a] * ga;
    }
    let lin: f64 = w.iter().zip(c).map(|(a, b)| a * b).sum();
    (quad - 2.0 * lin + yy).max(0.0)
}

/// Solves every output row; returns the new weights (`outs × k`), bias, and the summed
/// squared errors before and after.
fn solve(l: &Layer, s: &Stats, masked: bool, alpha: f64) -> (Vec<f32>, Option<Vec<f32>>, f64, f64) {
    let (k, width, og) = (l.k, l.width(), l.per_group());
    let rows: Vec<(Vec<f64>, f64, f64)> = (0..l.outs)
        .into_par_iter()
        .map(|o| {
            let gi = o / og;
            let gram = &s.gram[gi];
            let c: Vec<f64> = (0..width).map(|a| s.cross[gi][(a, o % og)]).collect();
            let mut w0: Vec<f64> = l.w[o * k..(o + 1) * k]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            if let Some(b) = &l.b {
                w0.push(f64::from(b[o]));
            }
            let before = row_error(gram, &c, s.yy[o], &w0);
            let mean_diag = (0..k).map(|a| gram[(a, a)]).sum::<f64>() / k.max(1) as f64;
            let lambda = alpha * mean_diag.max(1e-12);
            let free: Vec<usize> = (0..width)
                .filter(|&a| a >= k || !masked || w0[a] != 0.0)
                .collect();
            let n = free.len();
            let a = Mat::<f64>::from_fn(n, n, |i, j| {
                gram[(free[i], free[j])] + if i == j { lambda } else { 0.0 }
            });
            let mut rhs = Mat::<f64>::from_fn(n, 1, |i, _| c[free[i]] + lambda * w0[free[i]]);
            let Ok(llt) = a.llt(Side::Lower) else {
                return (w0, before, before);
            };
            llt.solve_in_place(rhs.as_mut());
            let mut w = vec![0.0; width];
            for (i, &f) in free.iter().enumerate() {
                w[f] = rhs[(i, 0)];
            }
            if w.iter().any(|x| !x.is_finite()) {
                return (w0, before, before);
            }
            let after = row_error(gram, &c, s.yy[o], &w);
            if after > before {
                (w0, before, before)
            } else {
                (w, before, after)
            }
        })
        .collect();
    let mut w = Vec::with_capacity(l.outs * k);
    let mut b = l.b.as_ref().map(|_| Vec::with_capacity(l.outs));
    let (mut before, mut after) = (0.0, 0.0);
    for (row, e0, e1) in rows {
        w.extend(row[..k].iter().map(|&x| x as f32));
        if let Some(b) = &mut b {
            b.push(row[k] as f32);
        }
        before += e0;
        after += e1;
    }
    (w, b, before, after)
}

/// Replaces the values of initializer `v` (same dims and doc string).
fn write(g: &mut Graph, v: ValueId, values: &[f32]) -> Result<(), PassError> {
    let Op::Initializer(old) = &g.node(v.node).op else {
        return Ok(());
    };
    let mut t = Tensor::from_f32(old.dims.clone(), values)
        .map_err(|e| super::weights::tensor_error(g, v, e))?;
    t.doc_string = old.doc_string.clone();
    g.node_mut(v.node).op = Op::Initializer(t);
    Ok(())
}

fn sqnr_db(signal: f64, noise: f64) -> f64 {
    if noise <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Refits `targets` (in topological order) of `pruned` against the same layers of `float` on
/// `samples`, each from the inputs of the model refitted so far; `alpha` sets the ridge.
pub(crate) fn refit_layers(
    pruned: &mut Graph,
    float: &Graph,
    targets: &[Target],
    samples: &Samples,
    alpha: f64,
    progress: &dyn Progress,
) -> Result<RefitOutcome, PassError> {
    let mut out = RefitOutcome::default();
    progress.begin("prune: refit", targets.len() as u64);
    for t in targets {
        let result = refit_one(pruned, float, t, samples, alpha);
        progress.advance(1);
        match result? {
            Ok(r) => out.layers.push(r),
            Err(skip) => out.skipped.push(skip),
        }
    }
    progress.end();
    Ok(out)
}

/// Refits one layer; `Ok(Err((layer, reason)))` when it is left alone.
fn refit_one(
    pruned: &mut Graph,
    float: &Graph,
    t: &Target,
    samples: &Samples,
    alpha: f64,
) -> Result<Result<RefitReport, (String, String)>, PassError> {
    let (Some(v), Some(fv)) = (pruned.find_value(&t.output), float.find_value(&t.output)) else {
        return Ok(Err((t.output.clone(), "not in both graphs".into())));
    };
    let label = node_label(pruned.node(v.node));
    let l = match layer_of(pruned, v.node) {
        Ok(l) => l,
        Err(why) => return Ok(Err((label, why))),
    };
    let kept: Vec<usize> = t.kept_out.clone().unwrap_or_else(|| (0..l.outs).collect());
    let xg = truncated(pruned, l.input)?;
    let yg = truncated(float, fv)?;
    let (xp, yp) = (Plan::new(&xg)?, Plan::new(&yg)?);
    let none = HashMap::new();
    let stats = samples
        .batches
        .par_iter()
        .map(|batch| -> Result<Stats, PassError> {
            let inputs = batch.values();
            let x = xp.run(&inputs, &none)?;
            let y = yp.run(&inputs, &none)?;
            let mut s = Stats::new(&l);
            if let (Some(x), Some(y)) = (x.first(), y.first()) {
                accumulate(&mut s, &l, &kept, x, y)
                    .map_err(|m| crate::rewrite::node_error(pruned, v.node, m))?;
            }
            Ok(s)
        })
        .try_reduce(|| Stats::new(&l), |a, b| Ok(a.add(b)))?;
    if stats.rows == 0 {
        return Ok(Err((label, "no calibration rows".into())));
    }
    let (w, b, before, after) = solve(&l, &stats, t.masked, alpha);
    let signal: f64 = stats.yy.iter().sum();
    let stored: Vec<f32> = if l.transposed {
        (0..l.outs * l.k)
            .map(|i| w[(i % l.outs) * l.k + i / l.outs])
            .collect()
    } else {
        w
    };
    write(pruned, l.weight, &stored)?;
    if let (Some(bv), Some(b)) = (l.bias, b) {
        write(pruned, bv, &b)?;
    }
    Ok(Ok(RefitReport {
        layer: label,
        rows: stats.rows,
        sqnr_before: sqnr_db(signal, before),
        sqnr_after: sqnr_db(signal, after),
    }))
}

/// Every Conv, Gemm and MatMul layer of `g` with a constant weight, in topological order: the
/// layers to refit. `kept_out` maps a layer's output name to the float output channels it
/// still has (channel pruning); `masked` keeps zero weights at zero.
pub(crate) fn targets(
    g: &Graph,
    kept_out: &std::collections::BTreeMap<String, Vec<usize>>,
    masked: bool,
) -> Result<Vec<Target>, PassError> {
    let mut out = Vec::new();
    for id in g.topo_order()? {
        let node = g.node(id);
        if !matches!(node.op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul) {
            continue;
        }
        let weight = node.inputs().get(1).copied().flatten();
        if weight.and_then(|w| g.constant(w)).is_none() {
            continue;
        }
        let output = g.value(ValueId { node: id, slot: 0 }).name.clone();
        out.push(Target {
            kept_out: kept_out.get(&output).cloned(),
            output,
            masked,
        });
    }
    Ok(out)
}
