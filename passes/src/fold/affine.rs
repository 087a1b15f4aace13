//! `fuse-affine`: a constant per-output-channel `Mul`, `Add`, `Sub` or `Div` right after a Conv,
//! ConvTranspose, Gemm or MatMul (constant weights) is folded into its weights and bias — what
//! ONNX Runtime calls Conv+Mul / Conv+Add fusion. After `fuse-batchnorm` it catches exporters
//! that spell a BatchNormalization as `Mul` + `Add`.

use super::FoldCx;
use super::bn::{ChannelAffine, channel_target, fold_into};
use crate::PassError;
use crate::rewrite::{Names, const_f32, node_error, redirect, remove_if_dead, single_use};
use nnslim_ir::op::Binary;
use nnslim_ir::{Graph, NodeId, Op, ValueId};

/// Folds every constant per-channel `Mul`/`Add`/`Sub`/`Div` that is the only reader of a
/// Conv/ConvTranspose/Gemm/MatMul output into that layer. `Sub` only as `layer − c`, `Div` only
/// as `layer / c` with no zero in `c`; the constant must broadcast along the output channels
/// (axis 1; `[C,1,1]`, `[1,C,1,1]`, `[1]`, a scalar, or `[N]`/`[1,N]` after Gemm/MatMul) without
/// changing the output type. A MatMul that needs a bias becomes a Gemm (when Gemm can be
/// written at the model's opset; else it is left alone). Returns whether anything changed.
pub fn fuse_affine(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    // Only the matched Mul/Add/Sub/Div nodes are ever removed: the layer ids stay valid.
    let layers: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|&id| {
            matches!(
                g.node(id).op,
                Op::Conv(_) | Op::ConvTranspose(_) | Op::Gemm(_) | Op::MatMul
            )
        })
        .collect();
    if layers.is_empty() {
        return Ok(false);
    }
    let mut names = Names::of(g);
    let mut changed = false;
    for id in layers {
        // A chain (Conv → Mul → Add) folds one op at a time.
        while fuse_one(g, &mut names, id, cx)? {
            changed = true;
        }
    }
    Ok(changed)
}

fn fuse_one(g: &mut Graph, names: &mut Names, id: NodeId, cx: &FoldCx) -> Result<bool, PassError> {
    if g.node(id).outputs().len() != 1 {
        return Ok(false);
    }
    let out = ValueId { node: id, slot: 0 };
    let Some((reader, slot)) = single_use(g, out) else {
        return Ok(false);
    };
    let rn = g.node(reader);
    let op = match rn.op {
        Op::Binary(op @ (Binary::Add | Binary::Mul)) => op,
        Op::Binary(op @ (Binary::Sub | Binary::Div)) if slot == 0 => op,
        _ => return Ok(false),
    };
    if rn.outputs().len() != 1 || rn.inputs().len() != 2 {
        return Ok(false);
    }
    let Some(other) = rn.inputs()[1 - slot] else {
        return Ok(false);
    };
    let result = ValueId {
        node: reader,
        slot: 0,
    };
    if other == out || g.value(result).ty != g.value(out).ty {
        return Ok(false);
    }
    let (Some(c), Some(c_dims)) = (const_f32(g, other), g.constant(other).map(|t| &t.dims)) else {
        return Ok(false);
    };
    let Some(target) = channel_target(g, out) else {
        return Ok(false);
    };
    let Some(per) = per_channel(c_dims, &c, target.rank, target.channels) else {
        return Ok(false);
    };
    if per.iter().any(|v| !v.is_finite()) || (op == Binary::Div && per.contains(&0.0)) {
        return Ok(false);
    }
    let m = target.channels;
    let (scale, shift) = match op {
        Binary::Mul => (per, None),
        Binary::Div => (per.iter().map(|v| 1.0 / v).collect(), None),
        Binary::Add => (vec![1.0; m], Some(per)),
        _ => (vec![1.0; m], Some(per.iter().map(|v| -v).collect())),
    };
    let reader_name = g.node(reader).name.clone();
    let fold = ChannelAffine {
        scale: &scale,
        shift: shift.as_deref(),
        suffix: "affine",
        add_node_name: &reader_name,
        // A MatMul followed by an Add would be the pattern we started from.
        allow_add: false,
    };
    let Some(new) = fold_into(g, names, &target, &fold, cx)? else {
        return Ok(false);
    };
    if !redirect(g, names, result, new)? {
        return Err(node_error(g, reader, "cannot redirect the folded output"));
    }
    remove_if_dead(g, reader)?;
    Ok(true)
}

/// One value per output channel (axis 1 of a rank-`rank` output with `channels` channels) of a
/// constant with `dims`, if it broadcasts along the channels only and does not grow the output.
fn per_channel(dims: &[i64], values: &[f32], rank: usize, channels: usize) -> Option<Vec<f64>> {
    if dims.len() > rank || values.is_empty() {
        return None;
    }
    let mut by_channel = false;
    for (i, &d) in dims.iter().enumerate() {
        let axis = rank - dims.len() + i;
        if axis == 1 && d == channels as i64 && channels != 1 {
            by_channel = true;
        } else if d != 1 {
            return None;
        }
    }
    Some(if by_channel {
        values.iter().map(|&v| v as f64).collect()
    } else {
        vec![values[0] as f64; channels]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::differential;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::parse_model;

    /// Parses `body`, applies the rewrite, checks validity, numerics and idempotence; returns
    /// the graph after and whether it changed.
    fn apply(body: &str) -> (Graph, bool) {
        let text = format!(
            "model ir_version=8 opsets=[\"\"=13] producer=\"t\"\ngraph \"g\" {{\n{body}\n}}"
        );
        let m = parse_model(&text).unwrap();
        let before = m.graph.clone();
        let mut g = m.graph;
        let cx = FoldCx::default();
        let changed = fuse_affine(&mut g, &cx).unwrap();
        nnslim_ir::verify(&g).unwrap();
        differential(&before, &g, 0, 3).unwrap();
        assert!(!fuse_affine(&mut g, &cx).unwrap(), "not idempotent");
        (g, changed)
    }

    fn count(g: &Graph, op: &str) -> usize {
        graph_stats(g).ops.get(op).copied().unwrap_or(0)
    }

    const CONV: &str = "
        input %x: f32[N,3,6,6]
        const %w: f32[4,3,3,3] = random(seed=1, scale=0.5)
        const %cb: f32[4] = [0.2, -0.1, 0.0, 0.4]
        const %k: f32[4,1,1] = [0.5, -2.0, 1.5, 3.0]
        const %k4: f32[1,4,1,1] = [0.1, 0.2, -0.3, 0.4]
        const %one: f32[1] = [0.25]
        const %scalar: f32[] = [-1.5]";

    #[test]
    fn conv_chains() {
        let bodies = [
            // Mul then Add (an exporter's BatchNormalization), without a Conv bias.
            "%c = Conv(%x, %w, _) {pads=[1,1,1,1]} @\"conv1\"
             %a = Mul(%c, %k)
             %y = Add(%k4, %a)
             output %y",
            // Sub of a scalar, Div per channel, with a bias.
            "%c = Conv(%x, %w, %cb) {strides=[2,2]}
             %a = Sub(%c, %scalar)
             %y = Div(%a, %k4)
             %r = Relu(%y)
             output %r",
            // Mul by [1] then Add of [C,1,1] on the left.
            "%c = Conv(%x, %w, %cb)
             %a = Mul(%one, %c)
             %y = Add(%k, %a)
             output %y",
        ];
        for body in bodies {
            let (g, changed) = apply(&format!("{CONV}\n{body}"));
            assert!(changed, "{body}");
            let st = graph_stats(&g).ops;
            assert_eq!(st.get("Conv"), Some(&1));
            for op in ["Mul", "Add", "Sub", "Div"] {
                assert_eq!(st.get(op), None, "{op} left in {body}");
            }
            assert_eq!(
                g.value(g.outputs()[0]).name,
                if body.contains("Relu") { "r" } else { "y" }
            );
        }
    }

    #[test]
    fn conv_transpose_grouped() {
        // 6 input channels, group 3: 2 output channels per group, 6 in all.
        let (g2, changed) = apply(
            "input %x: f32[1,6,4,4]
             const %w: f32[6,2,3,3] = random(seed=3, scale=0.5)
             const %k: f32[6,1,1] = [0.5, -2.0, 1.5, 3.0, 0.7, -0.2]
             const %cb: f32[6] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
             %c = ConvTranspose(%x, %w, %cb) {group=3, strides=[2,2]}
             %m = Mul(%c, %k)
             %y = Sub(%m, %k)
             output %y",
        );
        assert!(changed);
        assert_eq!((count(&g2, "Mul"), count(&g2, "Sub")), (0, 0));
    }

    #[test]
    fn gemm_and_matmul() {
        let bodies = [
            "%g = Gemm(%x, %wt, %c) {transB=1, alpha=0.5, beta=0.3}
             %y = Add(%g, %n)",
            "%g = Gemm(%x, %wt, %cm) {transB=1, beta=2.0}
             %y = Mul(%g, %n1)",
            "%g = Gemm(%x, %w) {alpha=1.5}
             %y = Mul(%scalar, %g)",
            "%g = Gemm(%x, %w, %cm)
             %y = Div(%g, %n1)",
            "%g = MatMul(%x, %w)
             %y = Add(%n1, %g)",
            "%g = MatMul(%x, %w)
             %y = Mul(%g, %n)",
        ];
        for body in bodies {
            let (g, changed) = apply(&format!(
                "input %x: f32[3,5]
                 const %w: f32[5,4] = random(seed=4, scale=0.5)
                 const %wt: f32[4,5] = random(seed=5, scale=0.5)
                 const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]
                 const %cm: f32[3,4] = random(seed=6, scale=1.0)
                 const %n: f32[4] = [0.5, -1.0, 2.0, 0.1]
                 const %n1: f32[1,4] = [1.5, -0.5, 3.0, 0.2]
                 const %scalar: f32[] = [-2.0]
                 {body}
                 output %y"
            ));
            assert!(changed, "{body}");
            assert_eq!(count(&g, "Gemm") + count(&g, "MatMul"), 1, "{body}");
            for op in ["Mul", "Add", "Div"] {
                assert_eq!(count(&g, op), 0, "{op} left in {body}");
            }
        }
    }

    #[test]
    fn left_alone() {
        let bodies = [
            // c − conv and c / conv.
            "%c = Conv(%x, %w, _)
             %y = Sub(%k, %c)",
            "%c = Conv(%x, %w, _)
             %y = Div(%k, %c)",
            // Division by zero.
            "%c = Conv(%x, %w, _)
             %y = Div(%c, %zero)",
            // Broadcast along a spatial axis, and growing the output.
            "%c = Conv(%x, %w, _)
             %y = Mul(%c, %row)",
            "%c = Conv(%x, %w, _)
             %y = Add(%c, %big)",
            // Not constant.
            "%c = Conv(%x, %w, _)
             %y = Mul(%c, %kin)",
            // Weights not constant.
            "%c = Conv(%x, %win, _)
             %y = Mul(%c, %k)",
            // Another reader.
            "%c = Conv(%x, %w, _)
             %a = Mul(%c, %k)
             %y = Add(%a, %c)",
            // Not an affine op.
            "%c = Conv(%x, %w, _)
             %y = Pow(%c, %k)",
            // MatMul with a rank-3 input cannot become a Gemm.
            "%m = MatMul(%x3, %wm)
             %y = Add(%m, %n)",
        ];
        for body in bodies {
            let (_, changed) = apply(&format!(
                "input %x: f32[1,3,6,6]
                 input %x3: f32[2,3,5]
                 input %win: f32[4,3,3,3]
                 input %kin: f32[4,1,1]
                 const %w: f32[4,3,3,3] = random(seed=1, scale=0.5)
                 const %wm: f32[5,4] = random(seed=2, scale=0.5)
                 const %n: f32[4] = [0.5, -1.0, 2.0, 0.1]
                 const %k: f32[4,1,1] = [0.5, -2.0, 1.5, 3.0]
                 const %zero: f32[4,1,1] = [0.5, 0.0, 1.5, 3.0]
                 const %row: f32[4] = [0.5, -2.0, 1.5, 3.0]
                 const %big: f32[2,4,1,1] = random(seed=3)
                 {body}
                 output %y"
            ));
            assert!(!changed, "{body}");
        }
    }

    #[test]
    fn per_channel_shapes() {
        let v = [1.0, 2.0, 3.0];
        assert_eq!(per_channel(&[3, 1, 1], &v, 4, 3).map(|p| p.len()), Some(3));
        assert_eq!(
            per_channel(&[1, 3, 1, 1], &v, 4, 3).map(|p| p.len()),
            Some(3)
        );
        assert_eq!(per_channel(&[], &v[..1], 4, 3), Some(vec![1.0; 3]));
        assert_eq!(per_channel(&[3], &v, 4, 3), None);
        assert_eq!(per_channel(&[3], &v, 2, 3).map(|p| p.len()), Some(3));
        assert_eq!(per_channel(&[3, 1], &v, 2, 3), None);
        assert_eq!(per_channel(&[1, 1, 1, 1, 1], &v[..1], 4, 3), None);
    }
}
