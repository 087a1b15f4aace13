//! `matmul-add-to-gemm` and `fuse-transpose-gemm`: a 2-D MatMul with a constant weight and a
//! bias Add becomes one Gemm, and a 2-D Transpose feeding a Gemm becomes its transA/transB.

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{self, Names, captured_values, replace_value};
use nnslim_ir::op::{Binary, Gemm};
use nnslim_ir::{DType, Dim, Graph, NodeId, Op, ValueId};

/// `MatMul(A, W)` followed by `Add(·, B)` (either operand order) becomes
/// `Gemm(A, W, B)` (alpha = beta = 1, no transposes), named after the Add and producing its
/// output value, when:
///
/// - `A` has rank 2 (by its type), `W` is a rank-2 constant `[K, N]`, both of one float type
///   (f32, f64, f16; bf16 from opset 13) and `B` a constant of that type;
/// - the MatMul's output has exactly one reader, the Add (not a graph output, not captured);
/// - `B` has rank ≤ 2 and broadcasts to `[M, N]` without growing it: `[N]`, `[1, N]`, `[M, N]`
///   (`M` static and equal to A's), and the size-1 variants of those;
/// - the model's opset spells this Gemm (7+; before 7 Gemm broadcast only with an attribute).
///
/// This is onnxoptimizer's `fuse_matmul_add_bias_into_gemm`.
pub fn matmul_add_to_gemm(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    let mut changed = false;
    // Every match removes a MatMul; the cap only guards against a bug.
    let cap = g.node_count() + 1;
    for _ in 0..cap {
        // Each change adds and removes nodes: re-scan from scratch after every one.
        let Some(m) = find_matmul_add(g, cx)? else {
            return Ok(changed);
        };
        let mut names = Names::of(g);
        let node_name = g.node(m.add.node).name.clone();
        let op = Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        });
        let inputs = vec![Some(m.a), Some(m.w), Some(m.bias)];
        replace_value(g, &mut names, m.add, &node_name, op, inputs)?;
        rewrite::remove_if_dead(g, m.add.node)?;
        rewrite::remove_if_dead(g, m.matmul.node)?;
        changed = true;
    }
    Ok(changed)
}

/// A MatMul + Add pair, by values: the MatMul's output, its operands, the bias, the Add's output.
struct MatMulAdd {
    matmul: ValueId,
    a: ValueId,
    w: ValueId,
    bias: ValueId,
    add: ValueId,
}

/// Whether Gemm on `dtype` can be written at `opset`.
fn gemm_dtype(dtype: DType, opset: i64) -> bool {
    match dtype {
        DType::F32 | DType::F64 | DType::F16 => true,
        DType::BF16 => opset >= 13,
        _ => false,
    }
}

fn find_matmul_add(g: &Graph, cx: &FoldCx) -> Result<Option<MatMulAdd>, PassError> {
    let gemm = Op::Gemm(Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: false,
    });
    if gemm.to_onnx(cx.opset).is_err() {
        return Ok(None);
    }
    let captured = captured_values(g);
    for id in g.compute_nodes()? {
        let node = g.node(id);
        if !matches!(node.op, Op::Binary(Binary::Add)) {
            continue;
        }
        let add = ValueId { node: id, slot: 0 };
        let (Some(Some(p)), Some(Some(q))) = (node.inputs().first(), node.inputs().get(1)) else {
            continue;
        };
        if captured.contains(&add) || g.value(add).ty.shape().map(Vec::len) != Some(2) {
            continue;
        }
        for (mm, bias) in [(*p, *q), (*q, *p)] {
            if let Some((a, w)) = match_pair(g, cx, id, mm, bias) {
                return Ok(Some(MatMulAdd {
                    matmul: mm,
                    a,
                    w,
                    bias,
                    add,
                }));
            }
        }
    }
    Ok(None)
}

/// `(A, W)` when `mm` = MatMul(A, W) is read only by node `add` and `bias` is a fitting constant.
fn match_pair(
    g: &Graph,
    cx: &FoldCx,
    add: NodeId,
    mm: ValueId,
    bias: ValueId,
) -> Option<(ValueId, ValueId)> {
    let mm_node = g.node(mm.node);
    if !matches!(mm_node.op, Op::MatMul) || rewrite::single_use(g, mm)?.0 != add {
        return None;
    }
    let (a, w) = (
        mm_node.inputs().first()?.as_ref()?,
        mm_node.inputs().get(1)?.as_ref()?,
    );
    let a_ty = g.value(*a).ty.as_tensor()?;
    let a_shape = a_ty.shape.as_ref().filter(|s| s.len() == 2)?;
    let wt = g.constant(*w)?;
    let bt = g.constant(bias)?;
    let dtype = wt.dtype;
    if wt.dims.len() != 2
        || a_ty.dtype != dtype
        || bt.dtype != dtype
        || !gemm_dtype(dtype, cx.opset)
    {
        return None;
    }
    let (m, n) = (&a_shape[0], wt.dims[1]);
    let fits = match bt.dims.as_slice() {
        [] => true,
        [bn] => *bn == 1 || *bn == n,
        [bm, bn] => (*bn == 1 || *bn == n) && (*bm == 1 || Dim::Known(*bm) == *m),
        _ => false,
    };
    fits.then_some((*a, *w))
}

/// A Gemm whose A (or B) input is `Transpose(x)` with perm `[1, 0]` (or no perm and `x` of
/// rank 2) reads `x` instead and flips `transA` (or `transB`). The Transpose stays while
/// something else reads it. This is onnxoptimizer's `fuse_transpose_into_gemm`.
pub fn fuse_transpose_gemm(g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    let mut changed = false;
    // Every match removes one Transpose edge into a Gemm; the cap only guards against a bug.
    let cap = g.node_count() + 1;
    for _ in 0..cap {
        let Some((gemm, slot, transposed, x)) = find_transpose_gemm(g)? else {
            return Ok(changed);
        };
        if let Op::Gemm(op) = &mut g.node_mut(gemm).op {
            if slot == 0 {
                op.trans_a = !op.trans_a;
            } else {
                op.trans_b = !op.trans_b;
            }
        }
        g.set_input(gemm, slot, Some(x))?;
        rewrite::remove_if_dead(g, transposed.node)?;
        changed = true;
    }
    Ok(changed)
}

/// A Gemm node, its input slot (0 or 1) fed by a 2-D Transpose, that Transpose's output and
/// its input.
fn find_transpose_gemm(g: &Graph) -> Result<Option<(NodeId, usize, ValueId, ValueId)>, PassError> {
    for id in g.compute_nodes()? {
        if !matches!(g.node(id).op, Op::Gemm(_)) {
            continue;
        }
        for slot in 0..2 {
            let Some(Some(t)) = g.node(id).inputs().get(slot).copied() else {
                continue;
            };
            let Op::Transpose(tr) = &g.node(t.node).op else {
                continue;
            };
            let Some(Some(x)) = g.node(t.node).inputs().first().copied() else {
                continue;
            };
            let swaps = match &tr.perm {
                Some(p) => p.as_slice() == [1, 0],
                None => g.value(x).ty.shape().map(Vec::len) == Some(2),
            };
            if swaps {
                return Ok(Some((id, slot, t, x)));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::Rewrite;
    use nnslim_ir::stats::graph_stats;
    use nnslim_ir::text::{parse_model, print_graph};
    use std::collections::BTreeMap;

    /// Parses, applies `rewrite`, checks the result (verifies, writable at the opset, same
    /// output names, same outputs on random inputs, idempotent) and returns whether it changed,
    /// the op histogram and the text.
    fn run(rewrite: Rewrite, text: &str) -> (bool, BTreeMap<String, usize>, String) {
        let m = parse_model(text).unwrap();
        let cx = FoldCx {
            opset: m.opset("").unwrap(),
            ..FoldCx::default()
        };
        let before = m.graph.clone();
        let mut g = m.graph;
        let changed = rewrite(&mut g, &cx).unwrap();
        nnslim_ir::verify(&g).unwrap();
        for id in g.compute_nodes().unwrap() {
            g.node(id).op.to_onnx(cx.opset).unwrap();
        }
        let names = |g: &Graph| -> Vec<String> {
            g.outputs()
                .iter()
                .chain(&g.inputs())
                .map(|&v| g.value(v).name.clone())
                .collect()
        };
        assert_eq!(names(&before), names(&g));
        if changed {
            crate::testing::differential(&before, &g, 0, 3).unwrap();
        }
        assert!(!rewrite(&mut g, &cx).unwrap(), "not idempotent");
        (changed, graph_stats(&g).ops, print_graph(&g, cx.opset))
    }

    fn count(ops: &BTreeMap<String, usize>, op: &str) -> usize {
        ops.get(op).copied().unwrap_or(0)
    }

    #[test]
    fn matmul_add_becomes_gemm() {
        let (changed, ops, text) = run(
            matmul_add_to_gemm,
            r#"model ir_version=8 opsets=[""=13]
graph "fc" {
  input %x: f32[N,8]
  const %w: f32[8,16] = random(seed=1, scale=0.3)
  const %b: f32[16] = random(seed=2)
  const %b2: f32[1,16] = random(seed=3)
  const %b3: f32[4,1] = random(seed=4)
  input %z: f32[4,8]
  %m = MatMul(%x, %w)
  %y = Add(%m, %b) @"fc1"
  %m2 = MatMul(%x, %w)
  %y2 = Add(%b2, %m2)
  %m3 = MatMul(%z, %w)
  %y3 = Add(%m3, %b3)
  output %y
  output %y2
  output %y3
}"#,
        );
        assert!(changed);
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["Gemm"]);
        assert_eq!(count(&ops, "Gemm"), 3);
        assert!(
            text.contains("%y = Gemm(%x, %w, %b) : f32[N,16] @\"fc1\""),
            "{text}"
        );
        assert!(text.contains("%y2 = Gemm(%x, %w, %b2)"), "{text}");
    }

    #[test]
    fn matmul_add_left_alone() {
        let (changed, ops, _) = run(
            matmul_add_to_gemm,
            r#"model ir_version=8 opsets=[""=13]
graph "keep" {
  input %x: f32[N,8]
  input %x3: f32[2,4,8]
  input %wv: f32[8,16]
  input %bv: f32[16]
  const %w: f32[8,16] = random(seed=1)
  const %b: f32[16] = random(seed=2)
  const %bm: f32[4,16] = random(seed=3)
  const %big: f32[3,4,16] = random(seed=4)
  %a = MatMul(%x3, %w)
  %a1 = Add(%a, %b)
  %c = MatMul(%x, %wv)
  %c1 = Add(%c, %b)
  %d = MatMul(%x, %w)
  %d1 = Add(%d, %bv)
  %e = MatMul(%x, %w)
  %e1 = Add(%e, %b)
  %e2 = Relu(%e)
  %f = MatMul(%x, %w)
  %f1 = Add(%f, %bm)
  %h = MatMul(%x, %w)
  %h1 = Add(%h, %b)
  %k = MatMul(%x, %w)
  %k1 = Add(%k, %big)
  output %a1
  output %c1
  output %d1
  output %e1
  output %e2
  output %f1
  output %h
  output %h1
  output %k1
}"#,
        );
        assert!(!changed);
        assert_eq!(count(&ops, "MatMul"), 7);
    }

    #[test]
    fn matmul_add_needs_opset_7() {
        let (changed, ops, _) = run(
            matmul_add_to_gemm,
            r#"model ir_version=3 opsets=[""=6]
graph "old" {
  input %x: f32[2,8]
  const %w: f32[8,4] = random(seed=1)
  const %b: f32[4] = random(seed=2)
  %m = MatMul(%x, %w)
  %y = Add(%m, %b) {broadcast=1}
  output %y
}"#,
        );
        assert!(!changed);
        assert_eq!(count(&ops, "MatMul"), 1);
    }

    #[test]
    fn transposes_fold_into_gemm() {
        let (changed, ops, text) = run(
            fuse_transpose_gemm,
            r#"model ir_version=8 opsets=[""=13]
graph "t" {
  input %a: f32[8,4]
  const %w: f32[8,16] = random(seed=1)
  const %c: f32[16] = random(seed=2)
  %ta = Transpose(%a) {perm=[1,0]}
  %tw = Transpose(%w)
  %y = Gemm(%ta, %tw, %c) {alpha=0.5, transB=1} @"g"
  %z = Relu(%ta)
  output %y
  output %z
}"#,
        );
        assert!(changed);
        assert!(
            text.contains("%y = Gemm(%a, %w, %c) {alpha=0.5, transA=1} : f32[4,16] @\"g\""),
            "{text}"
        );
        // %ta still feeds the Relu; %tw is gone.
        assert_eq!(count(&ops, "Transpose"), 1);
    }

    #[test]
    fn other_transposes_stay() {
        let (changed, ops, _) = run(
            fuse_transpose_gemm,
            r#"model ir_version=8 opsets=[""=13]
graph "t" {
  input %a: f32[4,8]
  input %b: f32[16,8]
  %ta = Transpose(%a) {perm=[0,1]}
  %y = Gemm(%ta, %b) {transB=1}
  output %y
}"#,
        );
        assert!(!changed);
        assert_eq!(count(&ops, "Transpose"), 1);
    }
}
