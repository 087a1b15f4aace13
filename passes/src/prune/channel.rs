//! Structured channel pruning: whole output filters of Conv (group 1), Gemm and MatMul layers
//! are removed, ranked by their L1 or L2 norm, together with the matching input channels of
//! every consumer.
//!
//! A layer's output channels are followed forward ("traced") through ops that keep channel `c`
//! in channel `c`: element-wise activations and arithmetic (other operands: the same traced
//! value, broadcasts without a channel extent, or constants that are sliced too),
//! BatchNormalization (its parameters are sliced), pools, depthwise convolutions (their
//! filters are sliced and `group` shrinks), `Flatten(axis=1)` (channel `c` of `[C, H, W]`
//! becomes features `c·H·W .. (c+1)·H·W`) and `Concat` along channels (at an offset), down to
//! the layers that sum over them (Conv, ConvTranspose, Gemm, MatMul), whose weights lose the
//! matching input slices. A layer whose channels reach anything else — a graph output, a
//! residual `Add` with another branch, a reshape, a subgraph — is left alone, with the reason.

use super::LayerReport;
use super::weights::{count_for, slice_axis};
use crate::PassError;
use crate::rewrite::{Names, add_const, captured_values, const_f32, remove_if_dead};
use nnslim_ir::{Dim, Graph, NodeId, Op, ValueId, node_label};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

/// How filters are ranked: the smallest norms go first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    L1,
    L2,
}

/// What channel pruning did: pruned layers and the layers left alone with the reason.
#[derive(Clone, Debug, Default)]
pub struct ChannelOutcome {
    pub layers: Vec<LayerReport>,
    /// (layer, why it was not pruned).
    pub skipped: Vec<(String, String)>,
    /// Layers whose output channels were removed (the pruned layers and the depthwise
    /// convolutions after them), by output name: the original channels they keep, in order.
    pub kept: BTreeMap<String, Vec<usize>>,
}

/// Removes `round(ratio · C)` output channels (at most `C − 1`) from every Conv, Gemm and
/// MatMul layer of `g` whose channels can be followed safely (see the module doc), ranked by
/// filter norm. Shapes shrink and the graph's interface is unchanged. Numerical contract: a
/// removed channel contributes nothing downstream any more, so when its filter and bias are
/// zero the outputs are unchanged up to summation order.
pub fn prune_channels(g: &mut Graph, ratio: f64, norm: Norm) -> Result<ChannelOutcome, PassError> {
    let mut out = ChannelOutcome::default();
    let mut names = Names::of(g);
    // Layers by output name: node ids do not survive the edits of earlier layers.
    let candidates: Vec<String> = g
        .topo_order()?
        .into_iter()
        .filter(|&id| producer(g, id).is_some())
        .map(|id| g.value(ValueId { node: id, slot: 0 }).name.clone())
        .collect();
    for name in candidates {
        let Some(v) = g.find_value(&name) else {
            continue;
        };
        let Some(p) = producer(g, v.node) else {
            continue;
        };
        let label = node_label(g.node(p.node));
        let k = count_for(ratio, p.channels).min(p.channels - 1);
        if k == 0 {
            out.skipped
                .push((label, format!("{} channels: none to remove", p.channels)));
            continue;
        }
        let trace = match trace(g, &p) {
            Ok(t) => t,
            Err(reason) => {
                out.skipped.push((label, reason));
                continue;
            }
        };
        let removed = weakest(g, &p, k, norm)?;
        let op = g.node(p.node).op.op_type().to_string();
        let before = weight_len(g, p.node);
        apply(g, &mut names, &p, &trace, &removed, &mut out.kept)?;
        out.layers.push(LayerReport {
            layer: label,
            op,
            params_before: before,
            params: weight_len(g, p.node),
            zeros: 0,
            ratio: Some(k as f64 / p.channels as f64),
            channels: Some((p.channels as u64, (p.channels - k) as u64)),
        });
    }
    Ok(out)
}

/// A layer whose output channels may be removed.
#[derive(Clone, Copy, Debug)]
struct Producer {
    node: NodeId,
    out: ValueId,
    /// The weight's output-channel axis.
    out_axis: usize,
    channels: usize,
}

/// Conv with `group = 1`, Gemm (not `transA`) and 2-D MatMul with constant weights.
fn producer(g: &Graph, id: NodeId) -> Option<Producer> {
    let node = g.node(id);
    let w = g.constant(node.inputs().get(1).copied().flatten()?)?;
    let out_axis = match &node.op {
        Op::Conv(c) if c.group == 1 && w.dims.len() >= 3 => 0,
        Op::Gemm(gm) if !gm.trans_a && w.dims.len() == 2 => usize::from(!gm.trans_b),
        Op::MatMul if w.dims.len() == 2 && rank(g, node.inputs()[0]?) == Some(2) => 1,
        _ => return None,
    };
    let channels = usize::try_from(w.dims[out_axis]).ok()?;
    (channels > 1).then_some(Producer {
        node: id,
        out: ValueId { node: id, slot: 0 },
        out_axis,
        channels,
    })
}

fn weight_len(g: &Graph, id: NodeId) -> u64 {
    g.node(id).inputs()[1]
        .and_then(|v| g.constant(v))
        .map_or(0, |t| t.len())
}

/// Where the producer's channels sit along axis 1 of a traced value: channel `c` is the
/// indices `offset + c·block .. offset + (c+1)·block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    offset: usize,
    block: usize,
}

impl Layout {
    /// The indices to keep along an axis of `size` when `removed` channels go.
    fn keep(&self, size: usize, removed: &BTreeSet<usize>) -> Vec<usize> {
        (0..size)
            .filter(|&i| i < self.offset || !removed.contains(&((i - self.offset) / self.block)))
            .collect()
    }
}

/// A change that removing channels makes at one node.
#[derive(Clone, Copy, Debug)]
enum Edit {
    /// Slice the constant input `slot` along `axis`.
    Slice {
        node: NodeId,
        slot: usize,
        axis: usize,
        layout: Layout,
    },
    /// A depthwise convolution loses as many groups as channels are removed.
    Group(NodeId),
}

/// Where a producer's channels go.
#[derive(Debug, Default)]
struct Trace {
    layouts: BTreeMap<ValueId, Layout>,
    edits: Vec<Edit>,
    /// Every node reached, in topological order.
    nodes: Vec<NodeId>,
}

fn rank(g: &Graph, v: ValueId) -> Option<usize> {
    g.value(v).ty.as_tensor()?.rank()
}

fn dim(g: &Graph, v: ValueId, axis: usize) -> Option<usize> {
    match g.value(v).ty.shape()?.get(axis)? {
        Dim::Known(d) => usize::try_from(*d).ok(),
        _ => None,
    }
}

fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a).ok().filter(|&a| a < rank)
}

/// Follows the producer's channels to the layers that sum over them; `Err` names the first
/// place where they cannot be followed.
fn trace(g: &Graph, p: &Producer) -> Result<Trace, String> {
    let order = g.topo_order().map_err(|e| e.to_string())?;
    let position: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let captured = captured_values(g);
    let mut t = Trace::default();
    let mut queue: BinaryHeap<Reverse<(usize, NodeId)>> = BinaryHeap::new();
    let mut queued = HashSet::new();
    let mut mark =
        |t: &mut Trace, v: ValueId, l: Layout, queue: &mut BinaryHeap<Reverse<(usize, NodeId)>>| {
            let name = &g.value(v).name;
            if g.outputs().contains(&v) {
                return Err(format!("its channels reach the graph output '{name}'"));
            }
            if captured.contains(&v) {
                return Err(format!("its channels reach '{name}', read by a subgraph"));
            }
            if dim(g, v, 1).is_none() {
                return Err(format!("the channel dim of '{name}' is not known"));
            }
            if t.layouts.insert(v, l).is_some_and(|old| old != l) {
                return Err(format!("'{name}' carries its channels twice"));
            }
            for (n, _) in g.uses(v) {
                if queued.insert(n) {
                    queue.push(Reverse((position[&n], n)));
                }
            }
            Ok(())
        };
    mark(
        &mut t,
        p.out,
        Layout {
            offset: 0,
            block: 1,
        },
        &mut queue,
    )?;
    while let Some(Reverse((_, id))) = queue.pop() {
        t.nodes.push(id);
        if let Some((v, l)) = follow(g, id, &mut t)? {
            mark(&mut t, v, l, &mut queue)?;
        }
    }
    Ok(t)
}

/// What node `id` does with traced inputs: records its edits and returns its output (and its
/// layout) when the channels go on through it.
fn follow(g: &Graph, id: NodeId, t: &mut Trace) -> Result<Option<(ValueId, Layout)>, String> {
    let node = g.node(id);
    let what = format!("{} '{}'", node.op.op_type(), node_label(node));
    let traced: Vec<(usize, ValueId, Layout)> = node
        .inputs()
        .iter()
        .enumerate()
        .filter_map(|(s, v)| {
            let v = (*v)?;
            t.layouts.get(&v).map(|l| (s, v, *l))
        })
        .collect();
    let Some(&(slot0, v0, l0)) = traced.first() else {
        return Ok(None);
    };
    let first_only = traced.len() == 1 && slot0 == 0;
    let out = ValueId { node: id, slot: 0 };
    let constant = |slot: usize| {
        node.inputs()
            .get(slot)
            .copied()
            .flatten()
            .and_then(|v| g.constant(v))
    };
    let extra_outputs_unused = (1..node.outputs().len()).all(|s| {
        !g.is_used(ValueId {
            node: id,
            slot: s as u32,
        })
    });
    let cut = |t: &mut Trace, slot: usize, axis: usize| {
        t.edits.push(Edit::Slice {
            node: id,
            slot,
            axis,
            layout: l0,
        })
    };
    match &node.op {
        _ if !(first_only
            || matches!(node.op, Op::Binary(_) | Op::Variadic(_))
            || (traced.len() == 1 && matches!(node.op, Op::Concat(_)))) =>
        {
            Err(format!(
                "{what} reads its channels as a parameter or more than once"
            ))
        }
        Op::Conv(c) => {
            let w = constant(1).ok_or(format!("{what} has no constant weight"))?;
            if c.group == 1 {
                cut(t, 1, 1);
                return Ok(None);
            }
            let depthwise = w.dims.len() >= 3
                && w.dims[1] == 1
                && w.dims[0] == c.group
                && dim(g, v0, 1) == usize::try_from(c.group).ok();
            if !depthwise {
                return Err(format!("{what} is a grouped convolution"));
            }
            cut(t, 1, 0);
            if constant(2).is_some() {
                cut(t, 2, 0);
            } else if node.inputs().get(2).copied().flatten().is_some() {
                return Err(format!("{what} has a bias that is not constant"));
            }
            t.edits.push(Edit::Group(id));
            Ok(Some((out, l0)))
        }
        Op::ConvTranspose(c) if c.group == 1 && constant(1).is_some() => {
            cut(t, 1, 0);
            Ok(None)
        }
        Op::Gemm(gm) if !gm.trans_a && constant(1).is_some() => {
            cut(t, 1, usize::from(gm.trans_b));
            Ok(None)
        }
        Op::MatMul if rank(g, v0) == Some(2) && constant(1).is_some_and(|w| w.dims.len() == 2) => {
            cut(t, 1, 0);
            Ok(None)
        }
        Op::BatchNormalization(_) if extra_outputs_unused => {
            for slot in 1..=4 {
                if constant(slot).is_none() {
                    return Err(format!("{what} has parameters that are not constant"));
                }
                cut(t, slot, 0);
            }
            Ok(Some((out, l0)))
        }
        Op::Unary(_) | Op::Cast(_) | Op::Identity | Op::Clip(_) => Ok(Some((out, l0))),
        Op::Dropout(_) | Op::Pool(_) if extra_outputs_unused => Ok(Some((out, l0))),
        Op::GlobalPool(_) => Ok(Some((out, l0))),
        Op::Binary(_) | Op::Variadic(_) => {
            elementwise(g, id, &traced, t, &what)?;
            Ok(Some((out, l0)))
        }
        Op::Flatten(f) => {
            let r = rank(g, v0).ok_or(format!("{what}: rank unknown"))?;
            if norm_axis(f.axis, r + 1) != Some(1) {
                return Err(format!("{what} does not flatten from axis 1"));
            }
            let inner = (2..r)
                .map(|a| dim(g, v0, a))
                .product::<Option<usize>>()
                .ok_or(format!("{what}: spatial dims unknown"))?;
            Ok(Some((
                out,
                Layout {
                    offset: l0.offset * inner,
                    block: l0.block * inner,
                },
            )))
        }
        Op::Concat(c) => {
            let r = rank(g, v0).ok_or(format!("{what}: rank unknown"))?;
            if norm_axis(c.axis, r) != Some(1) {
                return Err(format!("{what} does not concatenate along channels"));
            }
            let before = node.inputs()[..slot0]
                .iter()
                .map(|v| v.and_then(|v| dim(g, v, 1)))
                .sum::<Option<usize>>()
                .ok_or(format!("{what}: channel counts unknown"))?;
            Ok(Some((
                out,
                Layout {
                    offset: before + l0.offset,
                    block: l0.block,
                },
            )))
        }
        _ => Err(format!("its channels reach {what}")),
    }
}

/// Checks an element-wise node with traced inputs: every traced operand has the same layout
/// and the output's rank; other operands either do not extend along the channel axis
/// (broadcast) or are constants spanning it, which are sliced.
fn elementwise(
    g: &Graph,
    id: NodeId,
    traced: &[(usize, ValueId, Layout)],
    t: &mut Trace,
    what: &str,
) -> Result<(), String> {
    let node = g.node(id);
    let out = ValueId { node: id, slot: 0 };
    let out_rank = rank(g, out).ok_or(format!("{what}: rank unknown"))?;
    let (_, v0, l0) = traced[0];
    let channels = dim(g, v0, 1);
    for (slot, v) in node.inputs().iter().enumerate() {
        let Some(v) = *v else { continue };
        if let Some((_, _, l)) = traced.iter().find(|(s, _, _)| *s == slot) {
            if *l != l0 || rank(g, v) != Some(out_rank) {
                return Err(format!("{what} combines its channels in different layouts"));
            }
            continue;
        }
        let r = rank(g, v).ok_or(format!("{what}: rank of an operand unknown"))?;
        let Some(pos) = (1 + r).checked_sub(out_rank) else {
            continue; // broadcast without a channel axis
        };
        match dim(g, v, pos) {
            Some(1) => {}
            d if d == channels && g.constant(v).is_some() => t.edits.push(Edit::Slice {
                node: id,
                slot,
                axis: pos,
                layout: l0,
            }),
            _ => {
                return Err(format!("its channels meet '{}' at {what}", g.value(v).name));
            }
        }
    }
    Ok(())
}

/// The `k` output channels of the producer with the smallest weight norms (ties: lower index).
fn weakest(g: &Graph, p: &Producer, k: usize, norm: Norm) -> Result<BTreeSet<usize>, PassError> {
    let w = g.node(p.node).inputs()[1]
        .and_then(|v| const_f32(g, v).map(|x| (v, x)))
        .ok_or_else(|| {
            crate::rewrite::node_error(g, p.node, "weight is not a dense f32 constant")
        })?;
    let dims = g.constant(w.0).map(|t| t.dims.clone()).unwrap_or_default();
    let d: Vec<usize> = dims.iter().map(|&x| x.max(0) as usize).collect();
    let outer: usize = d[..p.out_axis].iter().product();
    let inner: usize = d[p.out_axis + 1..].iter().product();
    let mut score = vec![0f64; p.channels];
    for o in 0..outer {
        for (c, s) in score.iter_mut().enumerate() {
            let base = (o * p.channels + c) * inner;
            for &x in &w.1[base..base + inner] {
                let x = f64::from(x);
                *s += match norm {
                    Norm::L1 => x.abs(),
                    Norm::L2 => x * x,
                };
            }
        }
    }
    let mut order: Vec<usize> = (0..p.channels).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]).then(a.cmp(&b)));
    Ok(order.into_iter().take(k).collect())
}

/// Slices the producer's weight (and bias) and every traced constant, shrinks depthwise
/// groups, and re-infers the reached nodes.
fn apply(
    g: &mut Graph,
    names: &mut Names,
    p: &Producer,
    t: &Trace,
    removed: &BTreeSet<usize>,
    kept: &mut BTreeMap<String, Vec<usize>>,
) -> Result<(), PassError> {
    let own = Layout {
        offset: 0,
        block: 1,
    };
    // Output channels kept, in the original numbering (a layer may lose channels twice: a
    // depthwise convolution between two pruned layers).
    let mut keep_outputs = |g: &Graph, node: NodeId, layout: Layout, size: usize| {
        let name = g.value(ValueId { node, slot: 0 }).name.clone();
        let now = layout.keep(size, removed);
        let entry = kept.entry(name).or_insert_with(|| (0..size).collect());
        *entry = now.iter().filter_map(|&i| entry.get(i).copied()).collect();
    };
    keep_outputs(g, p.node, own, p.channels);
    slice_input(g, names, p.node, 1, p.out_axis, own, removed)?;
    if let Some(b) = g.node(p.node).inputs().get(2).copied().flatten() {
        // Conv bias [C]; Gemm bias broadcasting to [M, C]: sliced when it spans the channels.
        let dims = g.constant(b).map(|t| t.dims.clone());
        match dims.as_deref() {
            Some([.., last]) if *last as usize == p.channels => {
                let axis = dims.as_ref().map_or(0, |d| d.len() - 1);
                slice_input(g, names, p.node, 2, axis, own, removed)?;
            }
            Some(_) => {}
            None => {
                return Err(crate::rewrite::node_error(
                    g,
                    p.node,
                    "bias is not constant",
                ));
            }
        }
    }
    for e in &t.edits {
        match *e {
            Edit::Slice {
                node,
                slot,
                axis,
                layout,
            } => {
                let depthwise = matches!(&g.node(node).op, Op::Conv(c) if c.group != 1);
                if depthwise && slot == 1 {
                    let size = g.node(node).inputs()[1]
                        .and_then(|v| g.constant(v))
                        .map_or(0, |t| t.dims[0].max(0) as usize);
                    keep_outputs(g, node, layout, size);
                }
                slice_input(g, names, node, slot, axis, layout, removed)?
            }
            Edit::Group(node) => {
                if let Op::Conv(c) = &mut g.node_mut(node).op {
                    c.group -= removed.len() as i64;
                }
            }
        }
    }
    let mut changed: Vec<NodeId> = vec![p.node];
    changed.extend(&t.nodes);
    for id in changed {
        let declared: Vec<bool> = g
            .node(id)
            .outputs()
            .iter()
            .map(|o| o.declared.is_some())
            .collect();
        for (slot, had) in declared.iter().enumerate() {
            if *had {
                g.value_mut(ValueId {
                    node: id,
                    slot: slot as u32,
                })
                .declared = None;
            }
        }
        g.reinfer(id)?;
        for (slot, had) in declared.into_iter().enumerate() {
            let v = ValueId {
                node: id,
                slot: slot as u32,
            };
            if had && !g.outputs().contains(&v) {
                let ty = g.value(v).ty.clone();
                g.value_mut(v).declared = Some(ty);
            }
        }
    }
    Ok(())
}

/// Replaces constant input `slot` of `node` with a copy keeping only what `layout` says
/// survives along `axis`; the old constant goes when nothing else reads it.
fn slice_input(
    g: &mut Graph,
    names: &mut Names,
    node: NodeId,
    slot: usize,
    axis: usize,
    layout: Layout,
    removed: &BTreeSet<usize>,
) -> Result<(), PassError> {
    let err = |g: &Graph, m: String| crate::rewrite::node_error(g, node, m);
    let Some(v) = g.node(node).inputs().get(slot).copied().flatten() else {
        return Err(err(g, format!("input {slot} is missing")));
    };
    let Some(t) = g.constant(v) else {
        return Err(err(g, format!("input {slot} is not constant")));
    };
    let size = t.dims.get(axis).map_or(0, |&d| d.max(0) as usize);
    let keep = layout.keep(size, removed);
    let sliced = slice_axis(t, axis, &keep).map_err(|m| err(g, format!("input {slot}: {m}")))?;
    let base = format!("{}.pruned", g.value(v).name);
    let new = add_const(g, names, &base, sliced);
    // Inference may fail until every input of the node is sliced: `apply` re-infers at the end.
    let _ = g.set_input(node, slot, Some(new));
    if g.node(node).inputs().get(slot).copied().flatten() != Some(new) {
        return Err(err(g, format!("input {slot} could not be replaced")));
    }
    if !g.is_input(v.node) && matches!(g.node(v.node).op, Op::Initializer(_) | Op::Constant(_)) {
        remove_if_dead(g, v.node)?;
    }
    Ok(())
}
