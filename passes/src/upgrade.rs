//! Opset upgrade: raises a model's default-domain opset (e.g. 13 → 21) and rewrites every node
//! whose ONNX spelling changed on the way, so that the model computes the same at the new opset.
//!
//! Typed ops record which form a node uses (attribute or input, old or new semantics); each form
//! that the target opset cannot spell is converted here: `Softmax`/`LogSoftmax`/`Hardmax`
//! coerce-to-2-D semantics (13), `Clip` min/max (11), `Squeeze`/`Unsqueeze` axes (13), `Split`
//! sizes (13) and `num_outputs` (18), `Slice` starts/ends/axes (10), `Pad` pads/value (11),
//! `Reduce*` axes (13/18), `Dropout` ratio (12) and mask type (10). Opaque ops of the default
//! domain are checked against the operator version history (`legacy.rs`): unchanged or
//! compatibly extended schemas pass, known spelling changes are converted (`TopK` k, `Upsample`
//! and `Resize`-10 → `Resize`, `Scatter` → `ScatterElements`, `DFT` axis, `RoiAlign` and
//! `GridSample` attribute meanings), and anything else is an error naming the node. The IR
//! version is raised to the lowest one that may import the target opset.
//!
//! Conversions only add nodes (constants and helpers) and change nodes in place; value names,
//! the graph's inputs and outputs and their types stay as they were.

mod legacy;
#[cfg(test)]
mod tests;

use crate::PassError;
use crate::rewrite::{Names, add_const, node_error};
use nnslim_ir::op::{
    Clip, ClipAttrs, Dropout, Flatten, MAX_KNOWN_OPSET, Pad, PadAttrs, PadMode, Reduce, Reshape,
    ShapeOf, Slice, SliceAttrs, Softmax, Split, Squeeze, Unsqueeze,
};
use nnslim_ir::{DType, Dim, Graph, Model, NewNode, NodeId, Op, OpsetId, Tensor, ValueId};

/// `ModelProto` fields carried as encoded bytes whose contents the upgrade cannot rewrite:
/// `training_info` (20) and model-local `functions` (25).
const FOREIGN_GRAPHS: [(u32, &str); 2] = [(20, "training info"), (25, "model-local functions")];

/// The lowest IR version that may import `opset` of the default domain (ONNX release table:
/// opset 9 came with IR 4, 21 with IR 10, 28 with IR 14).
pub fn min_ir_version(opset: i64) -> i64 {
    const TABLE: [(i64, i64); 12] = [
        (9, 4),
        (10, 5),
        (11, 6),
        (12, 7),
        (15, 8),
        (19, 9),
        (21, 10),
        (23, 11),
        (24, 12),
        (25, 13),
        (28, 14),
        (i64::MAX, i64::MAX),
    ];
    TABLE
        .iter()
        .rev()
        .find(|(o, _)| opset >= *o)
        .map_or(3, |(_, ir)| *ir)
}

/// Raises the default-domain opset of `model` to `target` and rewrites the nodes (main graph
/// and every nested graph) whose spelling changed between the two versions; raises
/// `model.ir_version` to at least [`min_ir_version`]`(target)`. Returns whether anything
/// changed. Other domains are left alone.
///
/// Preconditions: `target` ≤ [`MAX_KNOWN_OPSET`] and not below the model's opset (no
/// downgrades). Numerical contract: the upgraded model computes exactly what the original did
/// (conversions add constant inputs, reshape around a softmax, or rename ops whose meaning is
/// identical). On any error the model is left unchanged; errors name the node and op that
/// cannot be expressed at `target` (e.g. an opaque op whose schema changed in a way nnslim does
/// not convert).
pub fn upgrade_opset(model: &mut Model, target: i64) -> Result<bool, PassError> {
    if !(1..=MAX_KNOWN_OPSET).contains(&target) {
        return Err(unsupported(format!(
            "cannot upgrade to opset {target}: nnslim knows opsets 1 to {MAX_KNOWN_OPSET}"
        )));
    }
    let mut changed = false;
    match model.opset("") {
        Some(from) if from > target => {
            return Err(unsupported(format!(
                "the model imports opset {from}; downgrading to {target} is not supported"
            )));
        }
        Some(from) if from < target => {
            if let Some((_, what)) = FOREIGN_GRAPHS
                .iter()
                .find(|(field, _)| model.foreign.iter().any(|f| f.field == *field))
            {
                return Err(unsupported(format!(
                    "the model has {what}, which nnslim carries without reading: they cannot be \
                     upgraded from opset {from} to {target}"
                )));
            }
            let mut graph = model.graph.clone();
            let mut names = Names::of(&graph);
            let mut cx = Cx {
                from,
                to: target,
                names: &mut names,
            };
            upgrade_graph(&mut graph, &mut cx)?;
            check_spelling(&graph, target)?;
            model.graph = graph;
            for o in &mut model.opsets {
                if o.domain.is_empty() || o.domain == "ai.onnx" {
                    o.version = target;
                }
            }
            changed = true;
        }
        Some(_) => {}
        None => {
            model.opsets.push(OpsetId {
                domain: String::new(),
                version: target,
            });
            changed = true;
        }
    }
    let ir = min_ir_version(target);
    if model.ir_version < ir {
        model.ir_version = ir;
        changed = true;
    }
    Ok(changed)
}

fn unsupported(message: String) -> PassError {
    PassError::Unsupported {
        pass: "upgrade-opset".into(),
        message,
    }
}

/// What a conversion needs to know: the versions and a source of fresh value names (shared by
/// the main graph and every nested graph, since nested graphs see the outer names).
struct Cx<'n> {
    from: i64,
    to: i64,
    names: &'n mut Names,
}

impl Cx<'_> {
    /// Whether the upgrade crosses `version` (the node's spelling at `version` applies).
    fn crosses(&self, version: i64) -> bool {
        self.from < version && self.to >= version
    }
}

/// Upgrades every node of `g`, nested graphs first. Nodes are never removed, so the ids
/// collected up front stay valid.
fn upgrade_graph(g: &mut Graph, cx: &mut Cx<'_>) -> Result<(), PassError> {
    for id in g.compute_nodes()? {
        for sub in g.node_mut(id).op.subgraphs_mut() {
            upgrade_graph(sub, cx)?;
        }
        upgrade_node(g, id, cx)?;
    }
    Ok(())
}

/// Every node of `g` (and nested graphs) must be writable at `opset`.
fn check_spelling(g: &Graph, opset: i64) -> Result<(), PassError> {
    for id in g.compute_nodes()? {
        let op = &g.node(id).op;
        if let Err(e) = op.to_onnx(opset) {
            return Err(node_error(g, id, format!("cannot be upgraded: {e}")));
        }
        for sub in op.subgraphs() {
            check_spelling(sub, opset)?;
        }
    }
    Ok(())
}

fn upgrade_node(g: &mut Graph, id: NodeId, cx: &mut Cx<'_>) -> Result<(), PassError> {
    match &g.node(id).op {
        Op::Softmax(s) if s.coerce_2d && cx.to >= 13 => {
            let s = *s;
            softmax(g, id, s, cx)
        }
        Op::Clip(Clip { attrs: Some(a) }) if cx.to >= 11 => {
            let a = *a;
            clip(g, id, a, cx)
        }
        Op::Squeeze(Squeeze { axes: Some(a) }) if cx.to >= 13 => {
            // An empty list means "every size-1 axis", as does an absent axes input.
            let axes = a.clone();
            let input = (!axes.is_empty()).then_some(axes);
            axes_to_input(g, id, input, Op::Squeeze(Squeeze { axes: None }), cx)
        }
        Op::Unsqueeze(Unsqueeze { axes: Some(a) }) if cx.to >= 13 => {
            let axes = a.clone();
            axes_to_input(
                g,
                id,
                Some(axes),
                Op::Unsqueeze(Unsqueeze { axes: None }),
                cx,
            )
        }
        Op::Reduce(r) if r.axes.is_some() && cx.to >= r.kind.axes_input_opset() => {
            let new = Reduce {
                axes: None,
                noop_with_empty_axes: false,
                ..r.clone()
            };
            // An empty list reduces over every axis, as does an absent axes input.
            let input = r.axes.clone().filter(|a| !a.is_empty());
            axes_to_input(g, id, input, Op::Reduce(new), cx)
        }
        Op::Split(s) => {
            let s = s.clone();
            split(g, id, s, cx)
        }
        Op::Slice(Slice { attrs: Some(a) }) if cx.to >= 10 => {
            let a = a.clone();
            slice(g, id, a, cx)
        }
        Op::Pad(Pad {
            mode,
            attrs: Some(a),
        }) if cx.to >= 11 => {
            let (mode, a) = (*mode, a.clone());
            pad(g, id, mode, a, cx)
        }
        Op::Dropout(d) => {
            let d = *d;
            dropout(g, id, d, cx)
        }
        Op::BatchNormalization(_) if cx.crosses(14) => batch_norm(g, id),
        Op::Resize(r)
            if cx.to >= 13
                && r.coordinate_transformation_mode
                    == nnslim_ir::op::CoordinateTransform::TfHalfPixelForNn =>
        {
            Err(node_error(
                g,
                id,
                "coordinate_transformation_mode tf_half_pixel_for_nn exists only in opsets 11 \
                 and 12",
            ))
        }
        Op::Opaque(o) if o.domain.is_empty() || o.domain == "ai.onnx" => {
            legacy::upgrade_opaque(g, id, cx)
        }
        _ => Ok(()),
    }
}

/// Input `slot` of a node (present).
fn input(g: &Graph, id: NodeId, slot: usize) -> Result<ValueId, PassError> {
    g.node(id)
        .inputs()
        .get(slot)
        .copied()
        .flatten()
        .ok_or_else(|| node_error(g, id, format!("input {slot} is missing")))
}

/// Output `slot` of a node.
fn output(id: NodeId, slot: u32) -> ValueId {
    ValueId { node: id, slot }
}

/// A base for new value names: the node's first output name.
fn base_name(g: &Graph, id: NodeId) -> String {
    g.node(id)
        .outputs()
        .first()
        .map(|o| o.name.clone())
        .unwrap_or_default()
}

/// Adds a 1-D int64 initializer named after `base`.
fn ints_const(
    g: &mut Graph,
    names: &mut Names,
    base: &str,
    values: &[i64],
) -> Result<ValueId, PassError> {
    let t = Tensor::from_i64(vec![values.len() as i64], values)
        .map_err(|e| unsupported(format!("constant {base}: {e}")))?;
    Ok(add_const(g, names, base, t))
}

/// A scalar of a float element type holding `v` (rounded to the type).
fn float_scalar(dtype: DType, v: f64) -> Option<Tensor> {
    let raw: Vec<u8> = match dtype {
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
        DType::BF16 => half::bf16::from_f64(v).to_le_bytes().to_vec(),
        _ => return None,
    };
    Tensor::from_raw(dtype, Vec::new(), raw.into()).ok()
}

/// Adds a float scalar constant of the element type of `like` (input 0 of the node).
fn scalar_like(
    g: &mut Graph,
    id: NodeId,
    cx: &mut Cx<'_>,
    base: &str,
    v: f64,
) -> Result<ValueId, PassError> {
    let x = input(g, id, 0)?;
    let dtype = g.value(x).ty.dtype();
    let t = dtype.and_then(|d| float_scalar(d, v)).ok_or_else(|| {
        node_error(
            g,
            id,
            format!(
                "the input's element type ({}) must be a known float type to turn an attribute \
                 into an input",
                dtype.map_or("unknown".to_string(), |d| d.to_string())
            ),
        )
    })?;
    Ok(add_const(g, cx.names, base, t))
}

/// Gives a node new inputs and then a new op. The inputs are attached while the old
/// (attribute-form) op is still in place, which ignores them, so every intermediate state
/// infers; the node is re-inferred with the new op at the end.
fn rewrite_node(
    g: &mut Graph,
    id: NodeId,
    op: Op,
    inputs: &[(usize, Option<ValueId>)],
) -> Result<(), PassError> {
    for &(slot, v) in inputs {
        g.set_input(id, slot, v)?;
    }
    g.node_mut(id).op = op;
    g.reinfer(id)?;
    Ok(())
}

/// Squeeze/Unsqueeze/Reduce: axes attribute → int64 input 1 (`None`: no input).
fn axes_to_input(
    g: &mut Graph,
    id: NodeId,
    axes: Option<Vec<i64>>,
    op: Op,
    cx: &mut Cx<'_>,
) -> Result<(), PassError> {
    let base = format!("{}.axes", base_name(g, id));
    let v = match axes {
        Some(a) => Some(ints_const(g, cx.names, &base, &a)?),
        None => None,
    };
    rewrite_node(g, id, op, &[(1, v)])
}

/// Softmax, LogSoftmax and Hardmax before opset 13 normalise the input coerced to 2-D at
/// `axis`. Where the dims after `axis` are all 1 (or there are none) that is the same as
/// normalising over `axis` alone; otherwise the node becomes `Flatten(axis)` → the op over
/// axis 1 → `Reshape` back to the input's shape (the original node turns into the `Reshape`
/// and keeps its output).
fn softmax(g: &mut Graph, id: NodeId, s: Softmax, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let x = input(g, id, 0)?;
    let shape = g.value(x).ty.shape().cloned();
    let single_axis = shape.as_ref().is_some_and(|dims| {
        let r = dims.len() as i64;
        let a = if s.axis < 0 { s.axis + r } else { s.axis };
        (0..r).contains(&a) && dims[a as usize + 1..].iter().all(|d| d.known() == Some(1))
    });
    if single_axis {
        let op = Op::Softmax(Softmax {
            coerce_2d: false,
            ..s
        });
        return rewrite_node(g, id, op, &[]);
    }
    let base = base_name(g, id);
    let name = g.node(id).name.clone();
    let flat = cx.names.fresh(&format!("{base}.flat"));
    let flat = g.add_node(NewNode::new(
        Op::Flatten(Flatten { axis: s.axis }),
        vec![Some(x)],
        vec![flat],
    ))?;
    let norm = cx.names.fresh(&format!("{base}.2d"));
    let op = Op::Softmax(Softmax {
        axis: 1,
        coerce_2d: false,
        ..s
    });
    let norm =
        g.add_node(NewNode::new(op, vec![Some(output(flat, 0))], vec![norm]).named(&name))?;
    let static_dims: Option<Vec<i64>> = shape
        .as_ref()
        .and_then(|d| d.iter().map(Dim::known).collect());
    let target = match static_dims {
        Some(dims) => ints_const(g, cx.names, &format!("{base}.shape"), &dims)?,
        None => {
            let shape = cx.names.fresh(&format!("{base}.shape"));
            let n = g.add_node(NewNode::new(
                Op::Shape(ShapeOf::default()),
                vec![Some(x)],
                vec![shape],
            ))?;
            output(n, 0)
        }
    };
    let op = Op::Reshape(Reshape { allowzero: false });
    rewrite_node(g, id, op, &[(0, Some(output(norm, 0))), (1, Some(target))])?;
    if !name.is_empty() {
        g.node_mut(id).name = format!("{name}.reshape");
    }
    Ok(())
}

/// Clip before opset 11: min/max attributes (defaults: the f32 range) → optional inputs of
/// the input's element type. A default bound becomes an absent input for f32/f16/bf16 data,
/// which no value of those types exceeds; f64 data keeps the explicit f32 range.
fn clip(g: &mut Graph, id: NodeId, a: ClipAttrs, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let x = input(g, id, 0)?;
    let wide = g.value(x).ty.dtype() == Some(DType::F64);
    let base = base_name(g, id);
    let mut inputs = Vec::new();
    if a.min != f32::MIN || wide {
        let v = scalar_like(g, id, cx, &format!("{base}.min"), a.min as f64)?;
        inputs.push((1, Some(v)));
    }
    if a.max != f32::MAX || wide {
        let v = scalar_like(g, id, cx, &format!("{base}.max"), a.max as f64)?;
        inputs.push((2, Some(v)));
    }
    rewrite_node(g, id, Op::Clip(Clip { attrs: None }), &inputs)
}

/// Split: the `split` attribute becomes input 1 (13); from 18 an equal split without sizes
/// must state `num_outputs` (the number of outputs; equal chunks as before when the axis
/// divides, which opsets before 18 required).
fn split(g: &mut Graph, id: NodeId, s: Split, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let mut new = s.clone();
    let mut inputs = Vec::new();
    if let Some(sizes) = &s.split
        && cx.to >= 13
    {
        let base = format!("{}.split", base_name(g, id));
        inputs.push((1, Some(ints_const(g, cx.names, &base, sizes)?)));
        new.split = None;
    }
    let sizes_input = g.node(id).inputs().get(1).copied().flatten().is_some();
    let has_sizes = new.split.is_some() || !inputs.is_empty() || sizes_input;
    if cx.crosses(18) && !has_sizes && s.num_outputs.is_none() {
        new.num_outputs = Some(g.node(id).outputs().len() as i64);
    }
    if new == s {
        return Ok(());
    }
    rewrite_node(g, id, Op::Split(new), &inputs)
}

/// Slice before opset 10: starts/ends/axes attributes → int64 inputs 1–3 (steps 1).
fn slice(g: &mut Graph, id: NodeId, a: SliceAttrs, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let base = base_name(g, id);
    let starts = ints_const(g, cx.names, &format!("{base}.starts"), &a.starts)?;
    let ends = ints_const(g, cx.names, &format!("{base}.ends"), &a.ends)?;
    let mut inputs = vec![(1, Some(starts)), (2, Some(ends))];
    if let Some(axes) = &a.axes {
        inputs.push((
            3,
            Some(ints_const(g, cx.names, &format!("{base}.axes"), axes)?),
        ));
    }
    rewrite_node(g, id, Op::Slice(Slice { attrs: None }), &inputs)
}

/// Pad before opset 11: pads attribute → int64 input 1; a non-zero constant `value` → a
/// scalar input 2 of the data's element type (other modes ignore it).
fn pad(
    g: &mut Graph,
    id: NodeId,
    mode: PadMode,
    a: PadAttrs,
    cx: &mut Cx<'_>,
) -> Result<(), PassError> {
    let base = base_name(g, id);
    let pads = ints_const(g, cx.names, &format!("{base}.pads"), &a.pads)?;
    let mut inputs = vec![(1, Some(pads))];
    if mode == PadMode::Constant && a.value != 0.0 {
        let v = scalar_like(g, id, cx, &format!("{base}.value"), a.value as f64)?;
        inputs.push((2, Some(v)));
    }
    rewrite_node(g, id, Op::Pad(Pad { mode, attrs: None }), &inputs)
}

/// Dropout: the `ratio` attribute becomes f32 input 1 (12; omitted when it is the default
/// 0.5); before 10 the mask had the data's element type, from 10 it is bool — allowed only
/// when nothing reads the mask.
fn dropout(g: &mut Graph, id: NodeId, d: Dropout, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let mut new = d;
    let mut inputs = Vec::new();
    if let Some(r) = d.ratio
        && cx.to >= 12
    {
        new.ratio = None;
        if r != 0.5 {
            let base = format!("{}.ratio", base_name(g, id));
            let t = float_scalar(DType::F32, r as f64)
                .ok_or_else(|| unsupported("an f32 scalar".into()))?;
            inputs.push((1, Some(add_const(g, cx.names, &base, t))));
        }
    }
    if d.mask_like_data && cx.to >= 10 {
        if g.node(id).outputs().len() > 1 {
            let mask = output(id, 1);
            if g.is_used(mask) {
                return Err(node_error(
                    g,
                    id,
                    "the mask output has the data's element type before opset 10 and bool \
                     from 10, and something reads it",
                ));
            }
            g.value_mut(mask).declared = None;
        }
        new.mask_like_data = false;
    }
    if new == d {
        return Ok(());
    }
    rewrite_node(g, id, Op::Dropout(new), &inputs)
}

/// BatchNormalization from opset 14 has at most 3 outputs (training mode is an attribute);
/// before, requesting the statistics outputs meant training mode. Only inference nodes (the
/// extra outputs absent or unnamed) carry over.
fn batch_norm(g: &Graph, id: NodeId) -> Result<(), PassError> {
    let outs = g.node(id).outputs();
    if outs.len() > 3 || outs.iter().skip(1).any(|o| !o.name.is_empty()) {
        return Err(node_error(
            g,
            id,
            "training-mode outputs (mean, var, saved statistics) changed meaning in opset 14",
        ));
    }
    Ok(())
}
