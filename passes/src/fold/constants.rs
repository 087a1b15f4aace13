//! Constant rewrites: `Constant` nodes become initializers, `Shape`/`Size` of statically shaped
//! values become constants, and nodes whose inputs are all constant are evaluated with the
//! reference interpreter (within a size cap, and never where that would decompress weights).

use super::FoldCx;
use crate::PassError;
use crate::rewrite::{Names, captured_values, static_shape};
use nnslim_eval::ops::{NodeCx, eval};
use nnslim_eval::{Array, Value};
use nnslim_ir::op::ConstantForm;
use nnslim_ir::{Dim, Graph, NodeId, Op, Tensor, TensorData, ValueId};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Inputs with at most this many elements make a node "shape-like": it folds even when its
/// result is larger than its inputs (`ConstantOfShape`; `Range`, `Expand` once they are typed).
const SMALL_INPUT_ELEMENTS: u64 = 64;

/// `Constant` nodes become initializers of the same name (every attribute form; a
/// `sparse_value` only when its dense form is no larger than the sparse storage). The value's
/// declared type, doc string and metadata carry over; graph outputs stay outputs. Constants
/// that a subgraph captures stay nodes (a capture cannot be moved to another value).
pub fn constants_to_initializers(g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    let mut names = Names::of(g);
    let captured = captured_values(g);
    let mut changed = false;
    // The ids still to visit stay valid: each step removes only the node it visits (and may
    // reuse the ids of nodes removed before, which are not visited again).
    for id in g.compute_nodes()? {
        let Op::Constant(c) = &g.node(id).op else {
            continue;
        };
        let tensor = match (c.form(), c.sparse_value()) {
            (ConstantForm::SparseValue, Some(sparse)) => {
                if c.value().storage_size() > sparse.storage_size() {
                    continue;
                }
                c.value().clone()
            }
            _ => c.value().clone(),
        };
        changed |= materialize(g, &mut names, &captured, id, vec![Some(tensor)])?;
    }
    Ok(changed)
}

/// `Shape(x)` whose selected dims (`start`/`end`) are all static becomes an i64 initializer;
/// `Size(x)` with a fully static shape becomes an i64 scalar. Symbolic dims outside the
/// selected range do not matter.
pub fn fold_shapes(g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    let mut names = Names::of(g);
    let captured = captured_values(g);
    let mut changed = false;
    // As above: only visited nodes are removed, so the ids still to visit stay valid.
    for id in g.compute_nodes()? {
        let Some(tensor) = shape_constant(g, id) else {
            continue;
        };
        changed |= materialize(g, &mut names, &captured, id, vec![Some(tensor)])?;
    }
    if changed {
        refresh_types(g)?;
    }
    Ok(changed)
}

/// The constant a `Shape` or `Size` node computes, when its input's shape decides it.
fn shape_constant(g: &Graph, id: NodeId) -> Option<Tensor> {
    let node = g.node(id);
    let x = (*node.inputs().first()?)?;
    match &node.op {
        Op::Shape(s) => {
            let shape = g.value(x).ty.shape()?;
            let dims: Vec<i64> = shape[s.range(shape.len())]
                .iter()
                .map(Dim::known)
                .collect::<Option<_>>()?;
            Tensor::from_i64(vec![dims.len() as i64], &dims).ok()
        }
        Op::Size => {
            let n = static_shape(g, x)?
                .iter()
                .try_fold(1i64, |acc, &d| acc.checked_mul(d))?;
            Tensor::from_i64(vec![], &[n]).ok()
        }
        _ => None,
    }
}

/// A typed node without subgraphs whose present inputs are all constants is evaluated with the
/// reference interpreter; its outputs become initializers named as the outputs were.
///
/// Only when every output has a static shape of at most `cx.max_const_bytes`, and the outputs
/// take no more bytes than the constant inputs — or every input has at most 64 elements
/// (shape-like computations such as `ConstantOfShape`; `Range` and `Expand` are opaque in the
/// IR today, so they do not fold).
/// So decompression of stored weights (`Cast` f16 → f32, `Gather` from a codebook) stays as it
/// is, and `DequantizeLinear` never folds. Training-mode `Dropout` (random) never folds. A node
/// the interpreter cannot evaluate is left alone.
pub fn fold_constants(g: &mut Graph, cx: &FoldCx) -> Result<bool, PassError> {
    let mut names = Names::of(g);
    let captured = captured_values(g);
    let mut changed = false;
    // Only visited nodes are removed, so the ids still to visit stay valid; a folded node's
    // readers, visited later, see its outputs as constants (chains fold in one call).
    for id in g.compute_nodes()? {
        let Some(tensors) = evaluate(g, cx, id) else {
            continue;
        };
        changed |= materialize(g, &mut names, &captured, id, tensors)?;
    }
    if changed {
        refresh_types(g)?;
    }
    Ok(changed)
}

/// The constant inputs of a foldable node, or `None`.
fn constant_inputs(g: &Graph, id: NodeId) -> Option<Vec<Option<&Tensor>>> {
    let node = g.node(id);
    let op = &node.op;
    let foldable_op = !op.is_source()
        && !op.is_opaque()
        && op.subgraphs().is_empty()
        && node.captures().is_empty()
        && !matches!(op, Op::Constant(_) | Op::DequantizeLinear(_));
    if !foldable_op || node.inputs().iter().all(Option::is_none) {
        return None;
    }
    let inputs: Vec<Option<&Tensor>> = node
        .inputs()
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(v) => {
                let t = g.constant(*v)?;
                (!matches!(t.data, TensorData::Sparse(_))).then_some(Some(t))
            }
        })
        .collect::<Option<_>>()?;
    if matches!(op, Op::Dropout(_)) && inputs.get(2).copied().flatten().is_some_and(is_nonzero) {
        return None;
    }
    Some(inputs)
}

/// Whether a constant has a non-zero element (training mode switched on).
fn is_nonzero(t: &Tensor) -> bool {
    t.raw().is_none_or(|b| b.iter().any(|&x| x != 0))
}

/// Evaluates a foldable node: its output tensors by slot (`None` for unnamed outputs), or
/// `None` when the node must stay.
fn evaluate(g: &Graph, cx: &FoldCx, id: NodeId) -> Option<Vec<Option<Tensor>>> {
    let inputs = constant_inputs(g, id)?;
    let node = g.node(id);
    // Expected output types, and the bytes they take.
    let mut expected = Vec::with_capacity(node.outputs().len());
    let mut out_bytes = 0u64;
    for o in node.outputs() {
        if o.name.is_empty() {
            expected.push(None);
            continue;
        }
        let tt = o.ty.as_tensor()?;
        let dims = tt.static_dims()?;
        let n = nnslim_ir::element_count(&dims).ok()?;
        let bytes = tt.dtype.storage_bytes(n)?;
        if bytes > cx.max_const_bytes {
            return None;
        }
        out_bytes = out_bytes.checked_add(bytes)?;
        expected.push(Some((tt.dtype, dims)));
    }
    if expected.iter().all(Option::is_none) {
        return None;
    }
    // Never inflate stored data unless the inputs are shape-like.
    let mut distinct: BTreeSet<ValueId> = BTreeSet::new();
    let in_bytes: u64 = node
        .inputs()
        .iter()
        .flatten()
        .filter(|v| distinct.insert(**v))
        .filter_map(|v| g.constant(*v))
        .map(Tensor::storage_size)
        .sum();
    let small = inputs
        .iter()
        .flatten()
        .all(|t| t.len() <= SMALL_INPUT_ELEMENTS);
    if out_bytes > in_bytes && !small {
        return None;
    }
    let arrays: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| {
            t.map(|t| Array::from_tensor(t).map(Value::Tensor))
                .transpose()
        })
        .collect::<Result<_, _>>()
        .ok()?;
    let args: Vec<Option<&Value>> = arrays.iter().map(Option::as_ref).collect();
    let outer = HashMap::new();
    let cx = NodeCx {
        graph: g,
        node: id,
        outer: &outer,
    };
    let outs = eval(&cx, &args).ok()?;
    expected
        .into_iter()
        .enumerate()
        .map(|(slot, want)| {
            let Some((dtype, dims)) = want else {
                return Some(None);
            };
            let t = outs.get(slot)?.as_tensor()?.to_tensor();
            (t.dtype == dtype && t.dims == dims && t.check().is_ok()).then_some(Some(t))
        })
        .collect()
}

/// Replaces node `id` by initializers holding `tensors` (one per output slot; unnamed outputs
/// are skipped). Each initializer takes over its output's name, readers (graph outputs too),
/// declared type, doc string and metadata. Returns `false` (changing nothing) when a named
/// output has no tensor or is captured by a subgraph.
fn materialize(
    g: &mut Graph,
    names: &mut Names,
    captured: &HashSet<ValueId>,
    id: NodeId,
    tensors: Vec<Option<Tensor>>,
) -> Result<bool, PassError> {
    let outputs = g.node(id).outputs().to_vec();
    let mut plan = Vec::new();
    for (slot, info) in outputs.into_iter().enumerate() {
        if info.name.is_empty() {
            continue;
        }
        let old = ValueId {
            node: id,
            slot: slot as u32,
        };
        let Some(Some(t)) = tensors.get(slot) else {
            return Ok(false);
        };
        if captured.contains(&old) {
            return Ok(false);
        }
        plan.push((old, info, t.clone()));
    }
    if plan.is_empty() {
        return Ok(false);
    }
    let mut made = Vec::with_capacity(plan.len());
    for (old, info, t) in plan {
        let new = g.add_initializer(names.fresh(&info.name), t);
        g.replace_all_uses(old, new)?;
        made.push((new, info));
    }
    g.remove_node(id)?;
    for (new, info) in made {
        let v = g.value_mut(new);
        v.name = info.name;
        v.doc_string = info.doc_string;
        v.metadata_props = info.metadata_props;
        v.in_value_info = info.in_value_info;
        if let Some(declared) = info.declared {
            g.declare(new, declared);
        }
    }
    Ok(true)
}

/// Re-infers typed nodes in topological order so that types downstream of new constants get
/// sharper (later folds need static shapes). A node whose inference now fails keeps its types.
fn refresh_types(g: &mut Graph) -> Result<(), PassError> {
    for id in g.compute_nodes()? {
        if !g.node(id).op.is_opaque() {
            let _ = g.reinfer(id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::differential;
    use nnslim_ir::text::{parse_model, print_graph};
    use nnslim_ir::{DType, stats::graph_stats, verify};

    fn parse(text: &str) -> Graph {
        match parse_model(text) {
            Ok(m) => m.graph,
            Err(e) => panic!("parse: {e}\n{text}"),
        }
    }

    fn model(opset: i64, body: &str) -> String {
        format!(
            "model ir_version=8 opsets=[\"\"={opset}] producer=\"t\"\ngraph \"g\" {{\n{body}\n}}"
        )
    }

    fn ops(g: &Graph, op: &str) -> usize {
        graph_stats(g).ops.get(op).copied().unwrap_or(0)
    }

    type Rw = fn(&mut Graph, &FoldCx) -> Result<bool, PassError>;

    /// Applies `rw`, checks verify, differential and idempotence; returns the result.
    fn apply(rw: Rw, text: &str, expect_change: bool) -> (Graph, Graph) {
        let before = parse(text);
        let mut g = before.clone();
        let cx = FoldCx::default();
        assert_eq!(
            rw(&mut g, &cx).unwrap(),
            expect_change,
            "{}",
            print_graph(&g, 13)
        );
        verify(&g).unwrap_or_else(|e| panic!("{e}\n{}", print_graph(&g, 13)));
        differential(&before, &g, 0, 3).unwrap();
        assert!(
            !rw(&mut g, &cx).unwrap(),
            "not idempotent:\n{}",
            print_graph(&g, 13)
        );
        (before, g)
    }

    fn init_names(g: &Graph) -> Vec<String> {
        g.initializers()
            .iter()
            .map(|v| g.value(*v).name.clone())
            .collect()
    }

    #[test]
    fn constant_forms_become_initializers() {
        let text = model(
            13,
            r#"input %x: f32[2,3]
  %a = Constant() {value=tensor(f32[3] = [1.0, 2.0, 3.0])}
  %b = Constant() {value_float=2.0}
  %i = Constant() {value_ints=[3,2]}
  %s = Constant() {value_int=1}
  %y = Add(%x, %a)
  %z = Mul(%y, %b)
  %r = Reshape(%z, %i)
  %t = Flatten(%r) {axis=1}
  output %t
  output %s"#,
        );
        let (_, g) = apply(constants_to_initializers, &text, true);
        assert_eq!(ops(&g, "Constant"), 0);
        assert_eq!(init_names(&g), ["a", "b", "i", "s"]);
        // The output constant stays an output under its name.
        let out = g.outputs()[1];
        assert_eq!(g.value(out).name, "s");
        assert!(matches!(g.node(out.node).op, Op::Initializer(_)));
        assert_eq!(g.constant(out).unwrap().to_i64_vec().unwrap(), [1]);
        let i = g.find_value("i").unwrap();
        assert_eq!(g.constant(i).unwrap().dims, [2]);
    }

    #[test]
    fn string_constant_becomes_initializer() {
        let text = model(
            13,
            r#"input %x: f32[2]
  %s = Constant() {value_strings=["a","b"]}
  output %x
  output %s"#,
        );
        let before = parse(&text);
        let mut g = before.clone();
        assert!(constants_to_initializers(&mut g, &FoldCx::default()).unwrap());
        verify(&g).unwrap();
        let s = g.find_value("s").unwrap();
        assert_eq!(g.constant(s).unwrap().dtype, DType::String);
        assert!(!constants_to_initializers(&mut g, &FoldCx::default()).unwrap());
    }

    #[test]
    fn captured_constant_stays() {
        let text = model(
            13,
            r#"input %c: bool[]
  input %x: f32[2]
  %k = Constant() {value=tensor(f32[2] = [1.0, 2.0])}
  %y = If(%c) {
    then_branch=graph "then" {
      %t = Add(%x, %k)
      output %t: f32[2]
    },
    else_branch=graph "else" {
      %e = Sub(%x, %k)
      output %e: f32[2]
    }
  } : f32[2]
  output %y"#,
        );
        let before = parse(&text);
        let mut g = before.clone();
        assert!(!constants_to_initializers(&mut g, &FoldCx::default()).unwrap());
        assert_eq!(ops(&g, "Constant"), 1);
    }

    #[test]
    fn shapes_fold_when_static() {
        let text = model(
            15,
            r#"input %x: f32[N,3,8,8]
  input %w: f32[2,3,4]
  %s = Shape(%x) {start=1}
  %n = Shape(%x)
  %k = Size(%w)
  %f = Cast(%k) {to=1}
  %r = Reshape(%x, %s)
  output %r
  output %n
  output %f"#,
        );
        let (_, g) = apply(fold_shapes, &text, true);
        assert_eq!(ops(&g, "Shape"), 1, "the symbolic Shape stays");
        assert_eq!(ops(&g, "Size"), 0);
        let s = g.find_value("s").unwrap();
        assert_eq!(g.constant(s).unwrap().to_i64_vec().unwrap(), [3, 8, 8]);
        let k = g.find_value("k").unwrap();
        assert_eq!(g.constant(k).unwrap().to_i64_vec().unwrap(), [24]);
        assert!(g.constant(k).unwrap().dims.is_empty());
    }

    #[test]
    fn shape_output_folds_and_keeps_its_name() {
        let text = model(
            13,
            r#"input %x: f32[2,5]
  %s = Shape(%x)
  output %x
  output %s"#,
        );
        let (_, g) = apply(fold_shapes, &text, true);
        assert_eq!(g.value(g.outputs()[1]).name, "s");
        assert_eq!(ops(&g, "Shape"), 0);
    }

    #[test]
    fn symbolic_size_stays() {
        let text = model(
            13,
            r#"input %x: f32[N,4]
  %k = Size(%x)
  %s = Shape(%x)
  output %k
  output %s"#,
        );
        apply(fold_shapes, &text, false);
    }

    #[test]
    fn constant_chain_folds() {
        // The shape computation of a flatten after a static Shape: all of it folds.
        let text = model(
            13,
            r#"input %x: f32[2,3,4]
  const %shape: i64[3] = [2, 3, 4]
  const %zero: i64[] = 0
  const %axes: i64[1] = [0]
  const %rest: i64[1] = [-1]
  %n = Gather(%shape, %zero) {axis=0}
  %n1 = Unsqueeze(%n, %axes)
  %target = Concat(%n1, %rest) {axis=0}
  %flat = Reshape(%x, %target)
  output %flat"#,
        );
        let (_, g) = apply(fold_constants, &text, true);
        assert_eq!(
            ops(&g, "Gather") + ops(&g, "Unsqueeze") + ops(&g, "Concat"),
            0
        );
        assert_eq!(ops(&g, "Reshape"), 1);
        let t = g.find_value("target").unwrap();
        assert_eq!(g.constant(t).unwrap().to_i64_vec().unwrap(), [2, -1]);
        // The Reshape now knows its output shape.
        let flat = g.find_value("flat").unwrap();
        assert_eq!(static_shape(&g, flat), Some(vec![2, 12]));
    }

    #[test]
    fn constant_of_shape_folds_large_output_from_small_input() {
        let text = model(
            13,
            r#"input %x: f32[64,3,7,7]
  const %shape: i64[4] = [64, 3, 7, 7]
  %z = ConstantOfShape(%shape) {value=tensor(f32[1] = [0.5])}
  %y = Add(%x, %z)
  output %y"#,
        );
        let (_, g) = apply(fold_constants, &text, true);
        assert_eq!(ops(&g, "ConstantOfShape"), 0);
        let z = g.find_value("z").unwrap();
        assert_eq!(g.constant(z).unwrap().dims, [64, 3, 7, 7]);
    }

    #[test]
    fn size_cap_is_respected() {
        let text = model(
            13,
            r#"input %x: f32[64,3,7,7]
  const %shape: i64[4] = [64, 3, 7, 7]
  %z = ConstantOfShape(%shape) {value=tensor(f32[1] = [0.5])}
  %y = Add(%x, %z)
  output %y"#,
        );
        let mut g = parse(&text);
        let cx = FoldCx {
            opset: 13,
            max_const_bytes: 1000,
            ..FoldCx::default()
        };
        assert!(!fold_constants(&mut g, &cx).unwrap());
    }

    #[test]
    fn decompression_stays() {
        // Cast f16 → f32 doubles the bytes; a codebook lookup (Cast of u8 codes to i64, then
        // Gather) inflates; DequantizeLinear never folds.
        let text = model(
            13,
            r#"input %x: f32[4,100]
  const %w16: f16[4,100] = random(seed=1)
  const %book: f32[16] = random(seed=2)
  const %idx: u8[4,100] = splat(3)
  const %q: i8[4,100] = splat(1)
  const %scale: f32[] = 0.1
  const %zp: i8[] = 0
  %w = Cast(%w16) {to=1}
  %idx64 = Cast(%idx) {to=7}
  %v = Gather(%book, %idx64) {axis=0}
  %d = DequantizeLinear(%q, %scale, %zp)
  %a = Add(%x, %w)
  %b = Add(%a, %v)
  %c = Add(%b, %d)
  output %c"#,
        );
        apply(fold_constants, &text, false);
        // The same Cast on a shape-like (small) tensor folds; a small DequantizeLinear never.
        let text = model(
            13,
            r#"input %x: f32[8]
  const %w16: f16[8] = random(seed=1)
  const %q: i8[8] = splat(1)
  const %scale: f32[] = 0.1
  %w = Cast(%w16) {to=1}
  %d = DequantizeLinear(%q, %scale)
  %a = Add(%x, %w)
  %c = Add(%a, %d)
  output %c"#,
        );
        let (_, g) = apply(fold_constants, &text, true);
        assert_eq!(ops(&g, "Cast"), 0);
        assert_eq!(ops(&g, "DequantizeLinear"), 1);
    }

    #[test]
    fn same_size_and_smaller_results_fold() {
        let text = model(
            13,
            r#"input %x: f32[3,4]
  const %w: f32[4,3] = random(seed=3)
  const %a: f32[3,4] = random(seed=4)
  %wt = Transpose(%w) {perm=[1,0]}
  %s = ReduceMax(%a) {axes=[1], keepdims=0}
  %y = Add(%x, %wt)
  %z = Relu(%s)
  output %y
  output %z"#,
        );
        let (_, g) = apply(fold_constants, &text, true);
        assert_eq!(
            ops(&g, "Transpose") + ops(&g, "ReduceMax") + ops(&g, "Relu"),
            0
        );
        assert_eq!(ops(&g, "Add"), 1);
        assert!(matches!(g.node(g.outputs()[1].node).op, Op::Initializer(_)));
        assert_eq!(g.value(g.outputs()[1]).name, "z");
    }

    #[test]
    fn unused_optional_outputs_and_multi_output_nodes() {
        let text = model(
            13,
            r#"input %x: f32[4]
  const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]
  const %split: i64[2] = [1, 3]
  %p, %q = Split(%c, %split) {axis=0}
  %d, _ = Dropout(%c)
  %s = Sum(%p, %p)
  %y = Add(%x, %d)
  output %y
  output %s
  output %q"#,
        );
        let (_, g) = apply(fold_constants, &text, true);
        assert_eq!(ops(&g, "Split") + ops(&g, "Dropout") + ops(&g, "Sum"), 0);
        let q = g.find_value("q").unwrap();
        assert_eq!(
            g.constant(q).unwrap().to_f32_vec().unwrap(),
            [2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn non_constant_and_opaque_stay() {
        let text = model(
            13,
            r#"input %x: f32[4]
  const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]
  %y = Add(%x, %c)
  %o = custom::Foo(%c) : f32[4]
  %z = Add(%y, %o)
  output %z"#,
        )
        .replace("=13]", "=13, \"custom\"=1]");
        let before = parse(&text);
        let mut g = before.clone();
        assert!(!fold_constants(&mut g, &FoldCx::default()).unwrap());
    }

    #[test]
    fn kernel_errors_skip_the_node() {
        // An index out of range: the kernel refuses, the pass leaves the node.
        let text = model(
            13,
            r#"input %x: f32[1]
  const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]
  const %bad: i64[1] = [10]
  %g = Gather(%c, %bad) {axis=0}
  %y = Add(%x, %g)
  output %y"#,
        );
        let mut g = parse(&text);
        assert!(!fold_constants(&mut g, &FoldCx::default()).unwrap());
        assert_eq!(ops(&g, "Gather"), 1);
    }

    #[test]
    fn sparse_constant_becomes_dense_initializer_only_when_not_larger() {
        let text = model(
            13,
            r#"input %x: f32[2]
  input %z: f32[64]
  %s = Constant() {sparse_value=sparse_tensor(sparse<f32[2]> = sparse(values: f32[1] = [5.0], indices: i64[1] = [1]))}
  %big = Constant() {sparse_value=sparse_tensor(sparse<f32[64]> = sparse(values: f32[1] = [5.0], indices: i64[1] = [2]))}
  %y = Add(%x, %s)
  %w = Add(%z, %big)
  output %y
  output %w"#,
        );
        let (_, g) = apply(constants_to_initializers, &text, true);
        assert_eq!(ops(&g, "Constant"), 1, "the 64-element one stays sparse");
        let s = g.find_value("s").unwrap();
        assert_eq!(g.constant(s).unwrap().to_f32_vec().unwrap(), [0.0, 5.0]);
    }

    #[test]
    fn training_dropout_is_not_folded() {
        // Training-mode Dropout is random: it never folds.
        let text = model(
            13,
            r#"input %x: f32[4]
  const %c: f32[4] = [1.0, 2.0, 3.0, 4.0]
  const %ratio: f32[] = 0.5
  const %train: bool[] = [true]
  %d, %m = Dropout(%c, %ratio, %train)
  %y = Add(%x, %d)
  output %y
  output %m"#,
        );
        let mut g = parse(&text);
        assert!(!fold_constants(&mut g, &FoldCx::default()).unwrap());
    }
}
