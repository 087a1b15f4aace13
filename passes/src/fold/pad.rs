//! `fuse-pad`: a constant-mode `Pad` that only feeds a Conv (or a pool that pads the same way)
//! is folded into that op's `pads` attribute.

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{const_i64, remove_if_dead, single_use};
use nnslim_ir::op::{AutoPad, Conv, PadMode, Pool, PoolKind, Window};
use nnslim_ir::{DType, Graph, NodeId, Op, ValueId};

/// Folds every `Pad` (mode `constant`, constant non-negative pads that are zero on the batch
/// and channel axes) whose output's only reader is, as its data input:
/// - a `Conv` with `auto_pad = NOTSET`, when the pad value is 0 (or absent);
/// - an `AveragePool` with `count_include_pad = 1`, pad value 0;
/// - a `MaxPool` (without the `Indices` output), pad value −inf (or the lowest f32);
///
/// pools only without `ceil_mode` and while every pad stays smaller than the (dilated) kernel.
/// The op then reads the Pad's input and its pads grow by the Pad's spatial pads. Returns
/// whether anything changed.
pub fn fuse_pad(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    // Only the matched Pad is ever removed: the other ids stay valid.
    let pads: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|&id| matches!(g.node(id).op, Op::Pad(_)))
        .collect();
    let mut changed = false;
    for id in pads {
        changed |= fuse_one(g, id, cx)?;
    }
    Ok(changed)
}

fn fuse_one(g: &mut Graph, id: NodeId, cx: &FoldCx) -> Result<bool, PassError> {
    let node = g.node(id);
    let Op::Pad(pad) = &node.op else {
        return Ok(false);
    };
    if pad.mode != PadMode::Constant || node.outputs().len() != 1 {
        return Ok(false);
    }
    let Some(x) = node.inputs().first().copied().flatten() else {
        return Ok(false);
    };
    let Some((pads, value)) = pad_spec(g, id) else {
        return Ok(false);
    };
    let rank = pads.len() / 2;
    let ok = rank >= 3
        && pads.iter().all(|&p| p >= 0)
        && [0, 1, rank, rank + 1].iter().all(|&i| pads[i] == 0);
    if !ok {
        return Ok(false);
    }
    let begin = &pads[2..rank];
    let end = &pads[rank + 2..];
    let out = ValueId { node: id, slot: 0 };
    let Some((reader, 0)) = single_use(g, out) else {
        return Ok(false);
    };
    let reader_node = g.node(reader);
    let new_op = match &reader_node.op {
        Op::Conv(c) if value == 0.0 => match grow(&c.window, begin, end) {
            Some(window) => Op::Conv(Conv {
                window,
                group: c.group,
            }),
            None => return Ok(false),
        },
        Op::Pool(p) if !p.ceil_mode => {
            let fits = match p.kind {
                PoolKind::Average {
                    count_include_pad: true,
                } => value == 0.0,
                PoolKind::Max { .. } => {
                    let lowest = value == f32::MIN && g.value(x).ty.dtype() == Some(DType::F32);
                    reader_node.outputs().len() == 1 && (value == f32::NEG_INFINITY || lowest)
                }
                _ => false,
            };
            match grow(&p.window, begin, end) {
                Some(window) if fits && pads_fit_kernel(&window) => Op::Pool(Pool {
                    kind: p.kind.clone(),
                    window,
                    ceil_mode: false,
                }),
                _ => return Ok(false),
            }
        }
        _ => return Ok(false),
    };
    if new_op.to_onnx(cx.opset).is_err() {
        return Ok(false);
    }
    g.node_mut(reader).op = new_op;
    g.set_input(reader, 0, Some(x))?;
    remove_if_dead(g, id)?;
    Ok(true)
}

/// The Pad's full pads (`[begin_0.., end_0..]` over every axis of its input) and its value,
/// if both are constant.
fn pad_spec(g: &Graph, id: NodeId) -> Option<(Vec<i64>, f32)> {
    let node = g.node(id);
    let Op::Pad(pad) = &node.op else {
        return None;
    };
    if let Some(a) = &pad.attrs {
        return Some((a.pads.clone(), a.value));
    }
    let input = |slot: usize| node.inputs().get(slot).copied().flatten();
    let pads = const_i64(g, input(1)?)?;
    let value = match input(2) {
        None => 0.0,
        Some(v) => match g.constant(v)?.to_f32_vec().ok()?.as_slice() {
            [v] => *v,
            _ => return None,
        },
    };
    let Some(axes_v) = input(3) else {
        return pads.len().is_multiple_of(2).then_some((pads, value));
    };
    // `axes` (opset 18+): spread the pads over the input's rank.
    let axes = const_i64(g, axes_v)?;
    let rank = g.value(input(0)?).ty.as_tensor()?.rank()?;
    if pads.len() != 2 * axes.len() {
        return None;
    }
    let mut full = vec![0i64; 2 * rank];
    let mut seen = vec![false; rank];
    for (j, &a) in axes.iter().enumerate() {
        let axis = if a < 0 { a + rank as i64 } else { a };
        let axis = usize::try_from(axis).ok().filter(|&a| a < rank)?;
        if std::mem::replace(&mut seen[axis], true) {
            return None;
        }
        full[axis] = pads[j];
        full[rank + axis] = pads[axes.len() + j];
    }
    Some((full, value))
}

/// `window` with its explicit pads grown by `begin`/`end` (one per spatial axis), if its
/// padding is explicit (`auto_pad = NOTSET`) and its attribute lists fit that many axes.
fn grow(window: &Window, begin: &[i64], end: &[i64]) -> Option<Window> {
    let n = begin.len();
    if window.auto_pad != AutoPad::NotSet
        || !(window.pads.is_empty() || window.pads.len() == 2 * n)
        || window.kernel_shape.as_ref().is_some_and(|k| k.len() != n)
        || !(window.strides.is_empty() || window.strides.len() == n)
        || !(window.dilations.is_empty() || window.dilations.len() == n)
    {
        return None;
    }
    let mut pads = Vec::with_capacity(2 * n);
    for (i, &b) in begin.iter().enumerate() {
        pads.push(window.pad_begin(i).checked_add(b)?);
    }
    for (i, &e) in end.iter().enumerate() {
        pads.push(window.pad_end(i).checked_add(e)?);
    }
    if pads.iter().all(|&p| p == 0) {
        pads.clear();
    }
    Some(Window {
        pads,
        ..window.clone()
    })
}

/// Whether every pad of a pool is smaller than its dilated kernel (what ONNX requires of
/// pools; a window made only of padding would differ between the two forms).
fn pads_fit_kernel(window: &Window) -> bool {
    let Some(kernel) = &window.kernel_shape else {
        return false;
    };
    kernel.iter().enumerate().all(|(i, &k)| {
        let extent = (k - 1).saturating_mul(window.dilation(i)).saturating_add(1);
        window.pad_begin(i) < extent && window.pad_end(i) < extent
    })
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
        let text = format!(
            "model ir_version=8 opsets=[\"\"={opset}] producer=\"t\"
             graph \"g\" {{
               input %x: f32[N,2,7,6]
               const %w: f32[3,2,3,3] = random(seed=1, scale=0.5)
               const %p: i64[8] = [0, 0, 1, 2, 0, 0, 2, 1]
               const %zero: f32[] = [0.0]
               const %ninf: f32[] = [-inf]
               const %lowest: f32[] = [-3.4028235e38]
               {body}
               output %y
             }}"
        );
        let m = parse_model(&text).unwrap();
        let before = m.graph.clone();
        let mut g = m.graph;
        let cx = FoldCx {
            opset,
            ..FoldCx::default()
        };
        let changed = fuse_pad(&mut g, &cx).unwrap();
        nnslim_ir::verify(&g).unwrap();
        differential(&before, &g, 0, 3).unwrap();
        assert!(!fuse_pad(&mut g, &cx).unwrap(), "not idempotent");
        (g, changed)
    }

    fn window_pads(g: &Graph) -> Vec<i64> {
        g.node_ids()
            .find_map(|n| match &g.node(n).op {
                Op::Conv(c) => Some(c.window.pads.clone()),
                Op::Pool(p) => Some(p.window.pads.clone()),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn into_conv() {
        let cases = [
            (
                13,
                "%px = Pad(%x, %p)
                 %y = Conv(%px, %w, _) {pads=[1,0,0,1], strides=[2,1]} @\"conv\"",
                vec![2, 2, 2, 2],
            ),
            (
                13,
                "%px = Pad(%x, %p, %zero)
                 %y = Conv(%px, %w, _) {group=1}",
                vec![1, 2, 2, 1],
            ),
            (
                9,
                "%px = Pad(%x) {pads=[0,0,1,1,0,0,0,3]}
                 %y = Conv(%px, %w, _) {dilations=[2,1]}",
                vec![1, 1, 0, 3],
            ),
            (
                18,
                "const %ax: i64[2] = [-1, 2]
                 const %p4: i64[4] = [1, 0, 2, 3]
                 %px = Pad(%x, %p4, _, %ax)
                 %y = Conv(%px, %w, _)",
                vec![0, 1, 3, 2],
            ),
        ];
        for (opset, body, pads) in &cases {
            let (g, changed) = apply(*opset, body);
            assert!(changed, "{body}");
            assert_eq!(graph_stats(&g).ops.get("Pad"), None);
            assert_eq!(&window_pads(&g), pads, "{body}");
        }
        let (g, _) = apply(13, cases[0].1);
        let conv = g.node_ids().find(|&n| g.node(n).op.op_type() == "Conv");
        assert_eq!(g.node(conv.unwrap()).name, "conv");
    }

    #[test]
    fn into_pools() {
        let bodies = [
            "%px = Pad(%x, %p)
             %y = AveragePool(%px) {kernel_shape=[3,3], count_include_pad=1}",
            "%px = Pad(%x, %p, %ninf)
             %y = MaxPool(%px) {kernel_shape=[3,3], strides=[2,2]}",
            "%px = Pad(%x, %p, %lowest)
             %y = MaxPool(%px) {kernel_shape=[3,3], pads=[1,0,0,0]}",
        ];
        for body in bodies {
            let (g, changed) = apply(13, body);
            assert!(changed, "{body}");
            assert_eq!(graph_stats(&g).ops.get("Pad"), None);
        }
    }

    #[test]
    fn left_alone() {
        let bodies = [
            // Not zero, not constant mode, not a constant.
            "const %one: f32[] = [1.0]
             %px = Pad(%x, %p, %one)
             %y = Conv(%px, %w, _)",
            "%px = Pad(%x, %p) {mode=\"reflect\"}
             %y = Conv(%px, %w, _)",
            "%pp = Identity(%p)
             %px = Pad(%x, %pp)
             %y = Conv(%px, %w, _)",
            // Padding the channel axis, or cropping.
            "const %pc: i64[8] = [0, 1, 1, 1, 0, 0, 1, 1]
             const %wc: f32[3,3,3,3] = random(seed=2)
             %px = Pad(%x, %pc)
             %y = Conv(%px, %wc, _)",
            "const %pn: i64[8] = [0, 0, 1, -1, 0, 0, 2, 1]
             %px = Pad(%x, %pn)
             %y = Conv(%px, %w, _)",
            // auto_pad.
            "%px = Pad(%x, %p)
             %y = Conv(%px, %w, _) {auto_pad=\"SAME_UPPER\"}",
            // Another reader.
            "%px = Pad(%x, %p)
             %c = Conv(%px, %w, _)
             %r = ReduceSum(%px)
             %y = Add(%c, %r)",
            // Pools that do not pad the same way.
            "%px = Pad(%x, %p)
             %y = AveragePool(%px) {kernel_shape=[3,3]}",
            "%px = Pad(%x, %p)
             %y = MaxPool(%px) {kernel_shape=[3,3]}",
            "%px = Pad(%x, %p, %ninf)
             %y = MaxPool(%px) {kernel_shape=[3,3], ceil_mode=1, strides=[2,2]}",
            "%px = Pad(%x, %p, %ninf)
             %y = MaxPool(%px) {kernel_shape=[2,2]}",
            "%px = Pad(%x, %p, %ninf)
             %y, %i = MaxPool(%px) {kernel_shape=[3,3]}",
        ];
        for body in bodies {
            let (_, changed) = apply(13, body);
            assert!(!changed, "{body}");
        }
    }
}
