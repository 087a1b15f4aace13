//! `fuse-batchnorm`: an inference `BatchNormalization` after a Conv, ConvTranspose, Gemm or
//! MatMul with constant weights is folded into those weights and the bias. Also home of the
//! per-output-channel affine folding (`y ↦ a·y + d`) that `fuse-affine` shares.
//!
//! Numerics: the new weights and bias are computed in f64 from the f32 originals and rounded
//! once. New constants always get fresh initializers (a weight may be shared with other nodes).

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{
    Names, add_const, const_f32, node_error, redirect, remove_if_dead, single_use,
};
use nnslim_ir::op::{Binary, Gemm};
use nnslim_ir::{DType, Graph, NewNode, NodeId, Op, Tensor, ValueId};

/// Folds every inference BatchNormalization whose input is the single-use output of a
/// Conv/ConvTranspose/Gemm/MatMul with constant f32 weights (and constant or absent bias) into
/// that layer. Returns whether anything changed.
pub fn fuse_batchnorm(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    // Only the matched BatchNormalization is ever removed, so the other ids stay valid.
    let bns: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|&id| matches!(g.node(id).op, Op::BatchNormalization(_)))
        .collect();
    if bns.is_empty() {
        return Ok(false);
    }
    let mut names = Names::of(g);
    let mut changed = false;
    for id in bns {
        changed |= fuse_one(g, &mut names, id, cx)?;
    }
    Ok(changed)
}

fn fuse_one(g: &mut Graph, names: &mut Names, id: NodeId, cx: &FoldCx) -> Result<bool, PassError> {
    let node = g.node(id);
    let Op::BatchNormalization(bn) = &node.op else {
        return Ok(false);
    };
    // Extra outputs mean training mode before opset 14 (and are training-only after).
    if bn.training_mode || node.outputs().len() != 1 {
        return Ok(false);
    }
    let eps = bn.epsilon as f64;
    let ins: Vec<ValueId> = match node.inputs().iter().copied().collect::<Option<Vec<_>>>() {
        Some(v) if v.len() == 5 => v,
        _ => return Ok(false),
    };
    let x = ins[0];
    if single_use(g, x) != Some((id, 0)) {
        return Ok(false);
    }
    let Some(target) = channel_target(g, x) else {
        return Ok(false);
    };
    let mut params = Vec::with_capacity(4);
    for &p in &ins[1..] {
        match const_f32(g, p) {
            Some(v) if v.len() == target.channels => params.push(v),
            _ => return Ok(false),
        }
    }
    let (scale, shift, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
    let mut a = Vec::with_capacity(target.channels);
    let mut d = Vec::with_capacity(target.channels);
    for c in 0..target.channels {
        let s = scale[c] as f64 / (var[c] as f64 + eps).sqrt();
        let dc = shift[c] as f64 - mean[c] as f64 * s;
        if !s.is_finite() || !dc.is_finite() {
            return Ok(false);
        }
        a.push(s);
        d.push(dc);
    }
    let bn_out = ValueId { node: id, slot: 0 };
    let bn_name = g.node(id).name.clone();
    let fold = ChannelAffine {
        scale: &a,
        shift: Some(&d),
        suffix: "bn",
        add_node_name: &bn_name,
        allow_add: true,
    };
    let Some(new) = fold_into(g, names, &target, &fold, cx)? else {
        return Ok(false);
    };
    if !redirect(g, names, bn_out, new)? {
        return Err(node_error(g, id, "cannot redirect the folded output"));
    }
    remove_if_dead(g, id)?;
    Ok(true)
}

/// The kind of layer an affine map is folded into, with what the folding needs of its op.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Weights `[M, C/group, k...]`.
    Conv,
    /// Weights `[C_in, M/group, k...]`.
    ConvTranspose { group: usize },
    /// `alpha·A·B + beta·C`; the weights are B (`[K, N]`, or `[N, K]` with `trans_b`).
    Gemm(Gemm),
    /// `A · W[K, N]` with a rank-2 output; `gemm` when A is known to be rank 2 (so the MatMul
    /// can become a Gemm).
    MatMul { gemm: bool },
}

/// A layer whose output channels (axis 1 of its output, the last axis for Gemm/MatMul) a
/// per-channel affine map can be folded into: its weights and bias are constant f32.
pub(super) struct Target {
    node: NodeId,
    kind: Kind,
    /// The number of output channels.
    pub(super) channels: usize,
    /// Rank of the output.
    pub(super) rank: usize,
    weight: ValueId,
    w: Vec<f32>,
    w_dims: Vec<i64>,
    /// Bias (Conv `B`, Gemm `C`): value, dims and elements.
    bias: Option<(ValueId, Vec<i64>, Vec<f32>)>,
}

/// The layer producing `v`, if a per-channel affine map on `v` can be folded into it. The
/// caller checks that `v` has no other reader.
pub(super) fn channel_target(g: &Graph, v: ValueId) -> Option<Target> {
    if v.slot != 0 {
        return None;
    }
    let node = g.node(v.node);
    let out = g.value(v).ty.as_tensor()?;
    if out.dtype != DType::F32 || node.outputs().len() != 1 {
        return None;
    }
    let rank = out.shape.as_ref()?.len();
    let weight = node.inputs().get(1).copied().flatten()?;
    let w_dims = g.constant(weight)?.dims.clone();
    let w = const_f32(g, weight)?;
    let bias = match node.inputs().get(2).copied().flatten() {
        Some(b) => Some((b, g.constant(b)?.dims.clone(), const_f32(g, b)?)),
        None => None,
    };
    if node.inputs().len() > 3 || !matches!(node.inputs().first(), Some(Some(_))) {
        return None;
    }
    let dim = |i: usize| w_dims.get(i).and_then(|&d| usize::try_from(d).ok());
    let (kind, channels) = match &node.op {
        Op::Conv(_) if rank >= 3 && w_dims.len() == rank => (Kind::Conv, dim(0)?),
        Op::ConvTranspose(c) if rank >= 3 && w_dims.len() == rank => {
            let group = usize::try_from(c.group).ok()?;
            if group == 0 || !dim(0)?.is_multiple_of(group) {
                return None;
            }
            (Kind::ConvTranspose { group }, dim(1)?.checked_mul(group)?)
        }
        Op::Gemm(gm) if rank == 2 && w_dims.len() == 2 => {
            (Kind::Gemm(gm.clone()), dim(if gm.trans_b { 0 } else { 1 })?)
        }
        Op::MatMul if rank == 2 && w_dims.len() == 2 && bias.is_none() => {
            let a = node.inputs()[0]?;
            let gemm = g.value(a).ty.as_tensor().and_then(|t| t.rank()) == Some(2);
            (Kind::MatMul { gemm }, dim(1)?)
        }
        _ => return None,
    };
    if channels == 0 {
        return None;
    }
    if let Some((_, dims, _)) = &bias {
        let ok = match kind {
            Kind::Gemm(_) if dims.contains(&0) => false,
            Kind::Gemm(_) => match dims.as_slice() {
                [] => true,
                [n] | [_, n] => *n == 1 || *n == channels as i64,
                _ => false,
            },
            _ => dims.as_slice() == [channels as i64],
        };
        if !ok {
            return None;
        }
    }
    Some(Target {
        node: v.node,
        kind,
        channels,
        rank,
        weight,
        w,
        w_dims,
        bias,
    })
}

/// A per-output-channel affine map `y ↦ scale·y + shift` to fold, and how.
pub(super) struct ChannelAffine<'a> {
    /// One factor per channel.
    pub(super) scale: &'a [f64],
    /// One offset per channel (`None`: zero).
    pub(super) shift: Option<&'a [f64]>,
    /// Suffix of the new initializers' names (`conv1.weight.bn`).
    pub(super) suffix: &'a str,
    /// Name of the `Add` node a MatMul gets when it cannot become a Gemm.
    pub(super) add_node_name: &'a str,
    /// Whether that `Add` may be made (else such a MatMul is left alone).
    pub(super) allow_add: bool,
}

/// Folds `f` into `t`'s weights and bias, in place. Returns the value that now computes the
/// mapped output (the layer's output, or a new `Add` after a MatMul), or `None` when the
/// result cannot be written at `cx.opset` or is not finite (then nothing changed).
pub(super) fn fold_into(
    g: &mut Graph,
    names: &mut Names,
    t: &Target,
    f: &ChannelAffine<'_>,
    cx: &FoldCx,
) -> Result<Option<ValueId>, PassError> {
    let m = t.channels;
    if f.scale.len() != m || f.shift.is_some_and(|d| d.len() != m) {
        return Ok(None);
    }
    let shift = |c: usize| f.shift.map_or(0.0, |d| d[c]);
    // Output channel of every weight element.
    let w_len = t.w.len();
    let channel_of: Box<dyn Fn(usize) -> usize> = match t.kind {
        Kind::Conv => {
            let per = w_len / m;
            Box::new(move |i| i / per)
        }
        Kind::ConvTranspose { group } => {
            let cin = t.w_dims[0] as usize;
            let per_group_out = t.w_dims[1] as usize;
            let kernel = w_len / (cin * per_group_out).max(1);
            let cin_per_group = cin / group;
            Box::new(move |i| {
                let ci = i / (per_group_out * kernel);
                let j = (i / kernel) % per_group_out;
                (ci / cin_per_group) * per_group_out + j
            })
        }
        Kind::Gemm(Gemm { trans_b: true, .. }) => {
            let k = w_len / m;
            Box::new(move |i| i / k)
        }
        Kind::Gemm(_) | Kind::MatMul { .. } => Box::new(move |i| i % m),
    };
    // Weights scaled by 1 everywhere stay as they are.
    let keep_w = f.scale.iter().all(|&s| s == 1.0);
    let new_w: Vec<f32> = if keep_w {
        Vec::new()
    } else {
        (0..w_len)
            .map(|i| (t.w[i] as f64 * f.scale[channel_of(i)]) as f32)
            .collect()
    };
    // The new bias (Conv B / Gemm C) and its dims.
    let new_bias: Option<(Vec<i64>, Vec<f32>)> = match (&t.kind, &t.bias) {
        (_, None) if f.shift.is_none() => None,
        (Kind::Gemm(gm), bias) => {
            let beta = gm.beta as f64;
            let (rows, at): (usize, Box<dyn Fn(usize, usize) -> f64>) = match bias {
                None => (1, Box::new(|_, _| 0.0)),
                Some((_, dims, vals)) => {
                    let (r0, c1) = match dims.as_slice() {
                        [r, c] => (*r as usize, *c as usize),
                        [c] => (1, *c as usize),
                        _ => (1, 1),
                    };
                    let vals = vals.clone();
                    let f = move |r: usize, c: usize| {
                        let (r, c) = (if r0 == 1 { 0 } else { r }, if c1 == 1 { 0 } else { c });
                        if beta == 0.0 {
                            0.0
                        } else {
                            beta * vals[r * c1 + c] as f64
                        }
                    };
                    (r0.max(1), Box::new(f))
                }
            };
            let mut vals = Vec::with_capacity(rows * m);
            for r in 0..rows {
                for c in 0..m {
                    vals.push((at(r, c) * f.scale[c] + shift(c)) as f32);
                }
            }
            let dims = if rows > 1 {
                vec![rows as i64, m as i64]
            } else {
                vec![m as i64]
            };
            Some((dims, vals))
        }
        (_, bias) => {
            let b = |c: usize| bias.as_ref().map_or(0.0, |(_, _, v)| v[c] as f64);
            let vals = (0..m)
                .map(|c| (b(c) * f.scale[c] + shift(c)) as f32)
                .collect();
            Some((vec![m as i64], vals))
        }
    };
    let finite = new_w.iter().all(|v| v.is_finite())
        && new_bias
            .as_ref()
            .is_none_or(|(_, v)| v.iter().all(|x| x.is_finite()));
    if !finite {
        return Ok(None);
    }
    // A MatMul that gets a bias becomes a Gemm, or is followed by an Add.
    let gemm = Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: false,
    };
    let mut matmul_add = false;
    if let Kind::MatMul { gemm: gemm_ok } = t.kind
        && new_bias.is_some()
        && (!gemm_ok || Op::Gemm(gemm.clone()).to_onnx(cx.opset).is_err())
    {
        if !f.allow_add || Op::Binary(Binary::Add).to_onnx(cx.opset).is_err() {
            return Ok(None);
        }
        matmul_add = true;
    }

    // Mutations from here on.
    let w_name = g.value(t.weight).name.clone();
    let new_wv = if keep_w {
        None
    } else {
        let tensor = Tensor::from_f32(t.w_dims.clone(), &new_w)
            .map_err(|e| node_error(g, t.node, e.to_string()))?;
        Some(add_const(g, names, &derived(&w_name, f.suffix), tensor))
    };
    let bias_v = match new_bias {
        None => None,
        Some((dims, vals)) => {
            let base = match &t.bias {
                Some((b, _, _)) => g.value(*b).name.clone(),
                None => bias_base(strip_suffix(&w_name, f.suffix)),
            };
            let tensor =
                Tensor::from_f32(dims, &vals).map_err(|e| node_error(g, t.node, e.to_string()))?;
            Some(add_const(g, names, &derived(&base, f.suffix), tensor))
        }
    };
    let out = ValueId {
        node: t.node,
        slot: 0,
    };
    match &t.kind {
        Kind::Gemm(gm) => {
            let mut gm = gm.clone();
            if bias_v.is_some() {
                gm.beta = 1.0;
            }
            g.node_mut(t.node).op = Op::Gemm(gm);
        }
        Kind::MatMul { .. } if bias_v.is_some() && !matmul_add => {
            g.node_mut(t.node).op = Op::Gemm(gemm)
        }
        _ => {}
    }
    if let Some(w) = new_wv {
        g.set_input(t.node, 1, Some(w))?;
    }
    if matmul_add {
        let bias_v = bias_v.ok_or_else(|| node_error(g, t.node, "bias missing"))?;
        let name = names.fresh(&format!("{}.bias", g.value(out).name));
        let add = g.add_node(
            NewNode::new(
                Op::Binary(Binary::Add),
                vec![Some(out), Some(bias_v)],
                vec![name],
            )
            .named(f.add_node_name),
        )?;
        return Ok(Some(ValueId { node: add, slot: 0 }));
    }
    if let Some(b) = bias_v {
        g.set_input(t.node, 2, Some(b))?;
    }
    g.reinfer(t.node)?;
    Ok(Some(out))
}

/// A base name for a bias made for weights `w_name`: `conv1.weight` → `conv1.bias`.
fn bias_base(w_name: &str) -> String {
    match w_name.strip_suffix(".weight") {
        Some(stem) => format!("{stem}.bias"),
        None => format!("{w_name}.bias"),
    }
}

/// The name of a constant derived from `name` by a fold: `conv1.weight` → `conv1.weight.bn`
/// (not `conv1.weight.bn.bn` when folded twice; `Names::fresh` then makes it unique).
fn derived(name: &str, suffix: &str) -> String {
    format!("{}.{suffix}", strip_suffix(name, suffix))
}

/// `name` without a trailing `.suffix`.
fn strip_suffix<'a>(name: &'a str, suffix: &str) -> &'a str {
    name.strip_suffix(suffix)
        .and_then(|s| s.strip_suffix('.'))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::differential;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::parse_model;

    /// Parses `body` at `opset`, applies the rewrite, checks validity, numerics and
    /// idempotence; returns the graph after and whether it changed.
    fn apply(opset: i64, body: &str) -> (Graph, bool) {
        let m = crate::testing::model_of(opset, body);
        let before = m.graph.clone();
        let mut g = m.graph;
        let cx = FoldCx {
            opset,
            ..FoldCx::default()
        };
        let changed = fuse_batchnorm(&mut g, &cx).unwrap();
        nnslim_ir::verify(&g).unwrap();
        differential(&before, &g, 0, 3).unwrap();
        assert!(!fuse_batchnorm(&mut g, &cx).unwrap(), "not idempotent");
        (g, changed)
    }

    fn count(g: &Graph, op: &str) -> usize {
        graph_stats(g).ops.get(op).copied().unwrap_or(0)
    }

    const BN4: &str = "
        const %s: f32[4] = [0.5, -1.5, 2.0, 0.9]
        const %b: f32[4] = [0.1, -0.2, 0.3, 1.0]
        const %m: f32[4] = [0.3, -0.7, 1.1, 0.05]
        const %v: f32[4] = [0.2, 1.7, 0.01, 3.0]";

    #[test]
    fn conv_with_bias() {
        let (g, changed) = apply(
            13,
            &format!(
                "input %x: f32[N,3,9,9]
                 const %w: f32[4,3,3,3] = random(seed=1, scale=0.5)
                 const %cb: f32[4] = [0.2, -0.1, 0.0, 0.4]
                 {BN4}
                 %c = Conv(%x, %w, %cb) {{strides=[2,2], pads=[1,0,1,2]}} @\"conv1\"
                 %y = BatchNormalization(%c, %s, %b, %m, %v) {{epsilon=0.001}}
                 %r = Relu(%y)
                 output %r"
            ),
        );
        assert!(changed);
        assert_eq!(count(&g, "BatchNormalization"), 0);
        let conv = g
            .node_ids()
            .find(|&n| matches!(g.node(n).op, Op::Conv(_)))
            .unwrap();
        assert_eq!(g.node(conv).name, "conv1");
        // The original weights are untouched (they may be shared).
        let w = g.find_value("w").unwrap();
        assert!(g.uses(w).is_empty());
    }

    #[test]
    fn grouped_conv_without_bias_as_graph_output() {
        let (g, changed) = apply(
            13,
            &format!(
                "input %x: f32[2,4,6,6]
                 const %w: f32[4,2,3,3] = random(seed=2, scale=0.5)
                 {BN4}
                 %c = Conv(%x, %w, _) {{group=2, pads=[1,1,1,1]}}
                 %y = BatchNormalization(%c, %s, %b, %m, %v)
                 output %y"
            ),
        );
        assert!(changed);
        assert_eq!(count(&g, "BatchNormalization"), 0);
        assert_eq!(g.value(g.outputs()[0]).name, "y");
    }

    #[test]
    fn conv_transpose_grouped_strided() {
        for bias in ["_", "%cb"] {
            let (g, changed) = apply(
                13,
                &format!(
                    "input %x: f32[1,6,4,5]
                     const %w: f32[6,2,3,2] = random(seed=3, scale=0.5)
                     const %cb: f32[4] = [0.2, -0.1, 0.0, 0.4]
                     {BN4}
                     %c = ConvTranspose(%x, %w, {bias}) {{group=2, strides=[2,3], pads=[1,0,0,1], output_padding=[1,0]}}
                     %y = BatchNormalization(%c, %s, %b, %m, %v) {{epsilon=0.01}}
                     output %y"
                ),
            );
            assert!(changed);
            assert_eq!(count(&g, "BatchNormalization"), 0);
        }
    }

    #[test]
    fn gemm_variants() {
        let cases = [
            (
                "%x, %w, %c0",
                "transB=1, alpha=0.5, beta=0.7",
                "f32[4,6]",
                "f32[4]",
            ),
            ("%x, %w, %c0", "alpha=2.0", "f32[6,4]", "f32[1,4]"),
            ("%x, %w, %c0", "beta=0.5", "f32[6,4]", "f32[3,4]"),
            ("%x, %w, %c0", "transB=1", "f32[4,6]", "f32[3,1]"),
            ("%x, %w, %c0", "beta=0.0", "f32[6,4]", "f32[]"),
            ("%x, %w", "transB=1", "f32[4,6]", "f32[1]"),
        ];
        for (ins, attrs, wty, cty) in cases {
            let (g, changed) = apply(
                13,
                &format!(
                    "input %x: f32[3,6]
                     const %w: {wty} = random(seed=4, scale=0.5)
                     const %c0: {cty} = random(seed=5, scale=1.0)
                     {BN4}
                     %g = Gemm({ins}) {{{attrs}}}
                     %y = BatchNormalization(%g, %s, %b, %m, %v) {{epsilon=0.0001}}
                     output %y"
                ),
            );
            assert!(changed, "{attrs} {cty}");
            assert_eq!(count(&g, "BatchNormalization"), 0);
        }
    }

    #[test]
    fn matmul_becomes_gemm() {
        let (g, changed) = apply(
            13,
            &format!(
                "input %x: f32[5,6]
                 const %w: f32[6,4] = random(seed=6, scale=0.5)
                 {BN4}
                 %mm = MatMul(%x, %w)
                 %y = BatchNormalization(%mm, %s, %b, %m, %v)
                 output %y"
            ),
        );
        assert!(changed);
        assert_eq!((count(&g, "MatMul"), count(&g, "Gemm")), (0, 1));
    }

    #[test]
    fn matmul_with_unknown_input_rank_gets_an_add() {
        let (g, changed) = apply(
            13,
            &format!(
                "input %x: f32[5,6]
                 const %w: f32[6,4] = random(seed=6, scale=0.5)
                 {BN4}
                 %xs = Identity(%x) : f32[*]
                 %mm = MatMul(%xs, %w) : f32[5,4]
                 %y = BatchNormalization(%mm, %s, %b, %m, %v)
                 output %y"
            ),
        );
        assert!(changed);
        assert_eq!((count(&g, "MatMul"), count(&g, "Add")), (1, 1));
    }

    #[test]
    fn shared_weights_and_chained_bns() {
        let (g, changed) = apply(
            13,
            &format!(
                "input %x: f32[1,3,5,5]
                 const %w: f32[4,3,1,1] = random(seed=7, scale=0.5)
                 const %s2: f32[4] = [1.5, 0.5, 2.0, 1.0]
                 {BN4}
                 %c1 = Conv(%x, %w, _)
                 %c2 = Conv(%x, %w, _)
                 %y1 = BatchNormalization(%c1, %s, %b, %m, %v)
                 %z1 = BatchNormalization(%y1, %s2, %m, %b, %s2)
                 %y2 = BatchNormalization(%c2, %s2, %b, %m, %v)
                 %sum = Add(%z1, %y2)
                 output %sum"
            ),
        );
        assert!(changed);
        assert_eq!(count(&g, "BatchNormalization"), 0);
    }

    #[test]
    fn left_alone() {
        let cases = [
            // Training mode.
            (
                15,
                "%c = Conv(%x, %w, _)
                 %y = BatchNormalization(%c, %s, %b, %m, %v) {training_mode=1}
                 output %y",
            ),
            // Extra outputs (training mode before opset 14).
            (
                9,
                "%c = Conv(%x, %w, _)
                 %y, %rm, %rv = BatchNormalization(%c, %s, %b, %m, %v)
                 output %y",
            ),
            // Statistics not constant.
            (
                13,
                "%c = Conv(%x, %w, _)
                 %y = BatchNormalization(%c, %s, %b, %m, %vin)
                 output %y",
            ),
            // Weights not constant.
            (
                13,
                "%c = Conv(%x, %win, _)
                 %y = BatchNormalization(%c, %s, %b, %m, %v)
                 output %y",
            ),
            // The Conv output has another reader.
            (
                13,
                "%c = Conv(%x, %w, _)
                 %y = BatchNormalization(%c, %s, %b, %m, %v)
                 %r = Relu(%c)
                 %o = Add(%y, %r)
                 output %o",
            ),
            // The Conv output is a graph output.
            (
                13,
                "%c = Conv(%x, %w, _)
                 %y = BatchNormalization(%c, %s, %b, %m, %v)
                 output %y
                 output %c",
            ),
            // Not after a layer.
            (
                13,
                "%c = Conv(%x, %w, _)
                 %r = Relu(%c)
                 %y = BatchNormalization(%r, %s, %b, %m, %v)
                 output %y",
            ),
        ];
        for (opset, body) in cases {
            let (_, changed) = apply(
                opset,
                &format!(
                    "input %x: f32[1,3,5,5]
                     input %win: f32[4,3,3,3]
                     input %vin: f32[4]
                     const %w: f32[4,3,3,3] = random(seed=1, scale=0.5)
                     {BN4}
                     {body}"
                ),
            );
            assert!(!changed, "{body}");
        }
    }

    #[test]
    fn other_shapes_and_types_left_alone() {
        // MatMul with a rank-3 output (BN's channel axis is not the last).
        let (_, changed) = apply(
            13,
            &format!(
                "input %x: f32[2,4,6]
                 const %w: f32[6,5] = random(seed=6, scale=0.5)
                 {BN4}
                 %mm = MatMul(%x, %w)
                 %y = BatchNormalization(%mm, %s, %b, %m, %v)
                 output %y"
            ),
        );
        assert!(!changed);
        // f64 models are not folded.
        let m = parse_model(
            "model ir_version=8 opsets=[\"\"=13] producer=\"t\"
             graph \"g\" {
               input %x: f64[1,2,4,4]
               const %w: f64[2,2,1,1] = [1.0, 2.0, 3.0, 4.0]
               const %p: f64[2] = [1.0, 2.0]
               %c = Conv(%x, %w, _)
               %y = BatchNormalization(%c, %p, %p, %p, %p)
               output %y
             }",
        )
        .unwrap();
        let mut g = m.graph;
        assert!(!fuse_batchnorm(&mut g, &FoldCx::default()).unwrap());
    }
}
