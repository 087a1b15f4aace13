//! Unit tests of the opset upgrade: each attribute → input conversion on a small text-IR graph,
//! checked for spelling at the target opset, an unchanged interface and unchanged numerics.

use super::*;
use crate::testing::differential;
use nnslim_ir::op::{CoordinateTransform, NearestMode};
use nnslim_ir::text::{parse_model, print_model};
use nnslim_ir::{AttrValue, verify};

/// The model of `body` (a graph body in text IR) at `opset`.
fn model(opset: i64, body: &str) -> Model {
    let text = format!("model ir_version=7 opsets=[\"\"={opset}]\ngraph \"t\" {{\n{body}\n}}\n");
    parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Upgrades to `to` and checks: the model verifies, prints at `to` without errors (and the
/// text reads back identically), keeps its interface, and computes the same in the
/// interpreter. Returns the upgraded model.
fn upgraded(before: &Model, to: i64) -> Model {
    let after = spelled(before, to);
    let text = print_model(&after);
    differential(&before.graph, &after.graph, 7, 2).unwrap_or_else(|e| panic!("{e}\n{text}"));
    after
}

/// [`upgraded`] without the numeric check, for models the interpreter cannot run before the
/// upgrade (opaque old ops; ONNX Runtime checks those in the integration tests).
fn spelled(before: &Model, to: i64) -> Model {
    let mut after = before.clone();
    assert!(upgrade_opset(&mut after, to).unwrap());
    assert_eq!(after.opset(""), Some(to));
    assert!(after.ir_version >= min_ir_version(to));
    verify(&after.graph).unwrap();
    let text = print_model(&after);
    assert!(!text.contains("!error"), "{text}");
    let again = parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(print_model(&again), text);
    let names = |g: &Graph, vs: Vec<ValueId>| -> Vec<String> {
        vs.into_iter().map(|v| g.value(v).name.clone()).collect()
    };
    let (b, a) = (&before.graph, &after.graph);
    assert_eq!(names(b, b.inputs()), names(a, a.inputs()));
    assert_eq!(
        names(b, b.outputs().to_vec()),
        names(a, a.outputs().to_vec())
    );
    after
}

/// The ops (ONNX spelling at the model's opset) with their input counts, in topological order.
fn ops(m: &Model) -> Vec<(String, usize)> {
    let opset = m.opset("").unwrap();
    m.graph
        .compute_nodes()
        .unwrap()
        .into_iter()
        .map(|id| {
            let n = m.graph.node(id);
            let o = n.op.to_onnx(opset).unwrap();
            let present = n.inputs().iter().filter(|i| i.is_some()).count();
            (o.op_type, present)
        })
        .collect()
}

/// The int64 constant feeding input `slot` of the node producing `output`.
fn const_input(m: &Model, output: &str, slot: usize) -> Option<Vec<i64>> {
    let g = &m.graph;
    let v = g.find_value(output).unwrap();
    let i = g.node(v.node).inputs().get(slot).copied().flatten()?;
    g.constant(i).map(|t| t.to_i64_vec().unwrap())
}

#[test]
fn ir_versions_follow_the_release_table() {
    assert_eq!(min_ir_version(7), 3);
    assert_eq!(min_ir_version(9), 4);
    assert_eq!(min_ir_version(13), 7);
    assert_eq!(min_ir_version(18), 8);
    assert_eq!(min_ir_version(21), 10);
    assert_eq!(min_ir_version(22), 10);
    assert_eq!(min_ir_version(28), 14);
}

#[test]
fn squeeze_unsqueeze_axes_become_inputs() {
    let m = model(
        11,
        "  input %x: f32[3,1,4]
  %u = Unsqueeze(%x) {axes=[0,3]}
  %s = Squeeze(%u) {axes=[0]}
  %all = Squeeze(%s)
  output %s
  output %all",
    );
    let m = upgraded(&m, 21);
    assert_eq!(const_input(&m, "u", 1), Some(vec![0, 3]));
    assert_eq!(const_input(&m, "s", 1), Some(vec![0]));
    // No axes: still every size-1 axis, now as an absent input.
    assert_eq!(const_input(&m, "all", 1), None);
    assert_eq!(
        ops(&m),
        [("Unsqueeze", 2), ("Squeeze", 2), ("Squeeze", 1)].map(|(o, n)| (o.to_string(), n))
    );
}

#[test]
fn reduce_axes_become_inputs_at_13_or_18() {
    let m = model(
        11,
        "  input %x: f32[2,3,4]
  %sum = ReduceSum(%x) {axes=[2]}
  %mean = ReduceMean(%x) {axes=[1], keepdims=0}
  %max = ReduceMax(%x)
  output %sum
  output %mean
  output %max",
    );
    // ReduceSum's axes became an input at 13, the others' at 18.
    let m13 = upgraded(&m, 13);
    assert_eq!(const_input(&m13, "sum", 1), Some(vec![2]));
    assert_eq!(const_input(&m13, "mean", 1), None);
    let m21 = upgraded(&m, 21);
    assert_eq!(const_input(&m21, "sum", 1), Some(vec![2]));
    assert_eq!(const_input(&m21, "mean", 1), Some(vec![1]));
    assert_eq!(const_input(&m21, "max", 1), None);
}

#[test]
fn split_sizes_become_an_input_and_equal_splits_state_num_outputs() {
    let m = model(
        11,
        "  input %x: f32[2,4]
  %a, %b = Split(%x) {axis=1, split=[1,3]}
  %c, %d = Split(%x) {axis=1}
  output %a
  output %b
  output %c
  output %d",
    );
    let m = upgraded(&m, 21);
    assert_eq!(const_input(&m, "a", 1), Some(vec![1, 3]));
    let g = &m.graph;
    let c = g.find_value("c").unwrap();
    let Op::Split(s) = &g.node(c.node).op else {
        panic!("Split expected");
    };
    assert_eq!(s.num_outputs, Some(2));
    // At 13..17 the equal split needs nothing.
    let m = model(
        11,
        "  input %x: f32[2,4]
  %c, %d = Split(%x) {axis=1}
  output %c
  output %d",
    );
    let m = upgraded(&m, 17);
    assert_eq!(ops(&m), [("Split".to_string(), 1)]);
}

#[test]
fn slice_attributes_become_inputs() {
    let m = model(
        9,
        "  input %x: f32[4,6]
  %a = Slice(%x) {starts=[1], ends=[3], axes=[1]}
  %b = Slice(%x) {starts=[0, -3], ends=[2, 100]}
  output %a
  output %b",
    );
    let m = upgraded(&m, 21);
    assert_eq!(const_input(&m, "a", 1), Some(vec![1]));
    assert_eq!(const_input(&m, "a", 2), Some(vec![3]));
    assert_eq!(const_input(&m, "a", 3), Some(vec![1]));
    assert_eq!(const_input(&m, "b", 2), Some(vec![2, 100]));
    assert_eq!(const_input(&m, "b", 3), None);
}

#[test]
fn pad_attributes_become_inputs() {
    let m = model(
        9,
        "  input %x: f32[1,2,3,3]
  %c = Pad(%x) {pads=[0,0,1,2,0,0,2,1], value=1.5}
  %z = Pad(%x) {pads=[0,0,1,1,0,0,1,1]}
  %r = Pad(%x) {mode=\"reflect\", pads=[0,0,1,1,0,0,1,1]}
  output %c
  output %z
  output %r",
    );
    let m = upgraded(&m, 21);
    assert_eq!(const_input(&m, "c", 1), Some(vec![0, 0, 1, 2, 0, 0, 2, 1]));
    let g = &m.graph;
    let value = |name: &str| {
        let v = g.find_value(name).unwrap();
        g.node(v.node).inputs().get(2).copied().flatten()
    };
    let cv = value("c").unwrap();
    assert_eq!(g.constant(cv).unwrap().to_f32_vec().unwrap(), [1.5]);
    // A zero value is the default; reflect ignores it.
    assert!(value("z").is_none() && value("r").is_none());
}

#[test]
fn clip_bounds_become_inputs() {
    let m = model(
        9,
        "  input %x: f32[2,5]
  %both = Clip(%x) {min=-0.25, max=0.5}
  %max = Clip(%x) {max=0.3}
  output %both
  output %max",
    );
    let m = upgraded(&m, 21);
    assert_eq!(
        ops(&m),
        [("Clip", 3), ("Clip", 2)].map(|(o, n)| (o.to_string(), n))
    );
    let g = &m.graph;
    let v = g.find_value("max").unwrap();
    let inputs = g.node(v.node).inputs();
    assert!(inputs[1].is_none(), "the default min is an absent input");
    let bound = g.constant(inputs[2].unwrap()).unwrap();
    assert_eq!(
        (bound.dims.len(), bound.to_f32_vec().unwrap()),
        (0, vec![0.3])
    );
}

#[test]
fn softmax_keeps_its_2d_semantics() {
    let m = model(
        11,
        "  input %x: f32[2,3,4]
  input %y: f32[N,3,4]
  input %z: f32[N,5,1,1]
  %s = Softmax(%x)
  %l = LogSoftmax(%y) {axis=1}
  %h = Hardmax(%z)
  %last = Softmax(%x) {axis=2}
  output %s
  output %l
  output %h
  output %last",
    );
    let m = upgraded(&m, 13);
    // Normalising over [3,4] at axis 1: Flatten → Softmax over axis 1 → Reshape back, with the
    // shape as a constant when static and from Shape when not. Over a trailing axis, or with
    // only 1s after the axis, the node simply switches semantics.
    let mut found: Vec<String> = ops(&m).into_iter().map(|(o, _)| o).collect();
    found.sort();
    let mut want = [
        "Flatten",
        "Flatten",
        "Hardmax",
        "LogSoftmax",
        "Reshape",
        "Reshape",
        "Shape",
        "Softmax",
        "Softmax",
    ];
    want.sort();
    assert_eq!(found, want);
    let g = &m.graph;
    let s = g.find_value("s").unwrap();
    assert_eq!(g.value(s).ty.shape().map(|d| d.len()), Some(3));
    assert_eq!(const_input(&m, "s", 1), Some(vec![2, 3, 4]));
}

#[test]
fn dropout_ratio_becomes_an_input_and_the_mask_turns_bool() {
    let m = model(
        9,
        "  input %x: f32[2,3]
  %y, %mask = Dropout(%x) {ratio=0.3}
  %z = Dropout(%y)
  output %z",
    );
    let after = upgraded(&m, 21);
    let g = &after.graph;
    let y = g.find_value("y").unwrap();
    let ratio = g.node(y.node).inputs()[1].unwrap();
    assert_eq!(g.constant(ratio).unwrap().to_f32_vec().unwrap(), [0.3]);
    let mask = g.find_value("mask").unwrap();
    assert_eq!(g.value(mask).ty.dtype(), Some(DType::Bool));
    assert_eq!(ops(&after)[1], ("Dropout".to_string(), 1));
    // A mask that something reads would change type: refused, model untouched.
    let m = model(
        9,
        "  input %x: f32[2,3]
  %y, %mask = Dropout(%x) {ratio=0.3}
  %z = Add(%y, %mask)
  output %z",
    );
    let mut after = m.clone();
    let err = upgrade_opset(&mut after, 21).unwrap_err();
    assert!(matches!(err, PassError::Node { .. }), "{err}");
    assert!(err.to_string().contains("mask"), "{err}");
    assert_eq!(print_model(&after), print_model(&m));
}

#[test]
fn nested_graphs_are_upgraded_too() {
    let m = model(
        11,
        "  input %c: bool[]
  input %x: f32[3]
  %out = If(%c) {
    then_branch=graph \"then\" {
      %t = Unsqueeze(%x) {axes=[0]}
      output %t: f32[1,3]
    },
    else_branch=graph \"else\" {
      %e = Unsqueeze(%x) {axes=[1]}
      %f = Squeeze(%e) {axes=[1]}
      %g = Unsqueeze(%f) {axes=[0]}
      output %g: f32[1,3]
    }
  }
  output %out",
    );
    let after = upgraded(&m, 21);
    let text = print_model(&after);
    assert!(!text.contains("axes="), "{text}");
    assert_eq!(text.matches(".axes").count(), 4 * 2, "{text}");
}

#[test]
fn opaque_top_k_dft_scatter_and_attribute_meanings_are_converted() {
    let m = model(
        9,
        "  input %x: f32[3,4]
  %v, %i = TopK(%x) {axis=1, k=2}
  output %v
  output %i",
    );
    let mut after = m.clone();
    upgrade_opset(&mut after, 21).unwrap();
    assert_eq!(const_input(&after, "v", 1), Some(vec![2]));
    let g = &after.graph;
    let v = g.find_value("v").unwrap();
    let Op::Opaque(o) = &g.node(v.node).op else {
        panic!("TopK stays opaque");
    };
    assert_eq!(
        o.attrs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["axis"]
    );

    let m = model(
        10,
        "  input %x: f32[2,3]
  const %idx: i64[1,2] = [0, 2]
  const %upd: f32[1,2] = [5.0, 6.0]
  %s = Scatter(%x, %idx, %upd) {axis=1}
  output %s",
    );
    let mut after = m.clone();
    upgrade_opset(&mut after, 21).unwrap();
    assert_eq!(ops(&after), [("ScatterElements".to_string(), 3)]);

    let m = model(
        17,
        "  input %x: f32[1,8,1]
  %d = DFT(%x) {axis=1, onesided=1}
  output %d",
    );
    let mut after = m.clone();
    upgrade_opset(&mut after, 21).unwrap();
    let g = &after.graph;
    let d = g.find_value("d").unwrap();
    let axis = g.node(d.node).inputs()[2].unwrap();
    assert_eq!(g.constant(axis).unwrap().dims, Vec::<i64>::new());
    assert_eq!(g.constant(axis).unwrap().to_i64_vec().unwrap(), [1]);

    let m = model(
        16,
        "  input %x: f32[1,1,4,4]
  input %grid: f32[1,2,2,2]
  %y = GridSample(%x, %grid) {mode=\"bicubic\"}
  output %y",
    );
    let mut after = m.clone();
    upgrade_opset(&mut after, 21).unwrap();
    let g = &after.graph;
    let y = g.find_value("y").unwrap();
    let Op::Opaque(o) = &g.node(y.node).op else {
        panic!("GridSample stays opaque");
    };
    assert!(matches!(&o.attrs[0].value, AttrValue::String(s) if s == b"cubic"));

    // RoiAlign 10 sampled with half-pixel offsets on the output only; 16 states it.
    let m = model(
        10,
        "  input %x: f32[1,1,4,4]
  input %rois: f32[1,4]
  input %b: i64[1]
  %y = RoiAlign(%x, %rois, %b)
  output %y",
    );
    let mut after = m.clone();
    upgrade_opset(&mut after, 21).unwrap();
    let g = &after.graph;
    let y = g.find_value("y").unwrap();
    let Op::Opaque(o) = &g.node(y.node).op else {
        panic!("RoiAlign stays opaque");
    };
    let mode = o
        .attrs
        .iter()
        .find(|a| a.name == "coordinate_transformation_mode")
        .map(|a| &a.value);
    assert!(matches!(mode, Some(AttrValue::String(s)) if s == b"output_half_pixel"));
}

#[test]
fn upsample_and_resize10_become_asymmetric_resize() {
    let m = model(
        9,
        "  input %x: f32[1,2,3,4]
  const %sc: f32[4] = [1.0, 1.0, 2.0, 3.0]
  %up = Upsample(%x, %sc)
  output %up",
    );
    let after = spelled(&m, 21);
    let g = &after.graph;
    let up = g.find_value("up").unwrap();
    let Op::Resize(r) = &g.node(up.node).op else {
        panic!("typed Resize expected");
    };
    assert_eq!(
        (r.coordinate_transformation_mode, r.nearest_mode),
        (CoordinateTransform::Asymmetric, NearestMode::Floor)
    );
    // Downsampling nearest rounds up in the old op; mixed directions are refused.
    let down = |scales: &str| {
        model(
            10,
            &format!(
                "  input %x: f32[1,2,6,6]
  const %sc: f32[4] = {scales}
  %y = Resize(%x, %sc)
  output %y"
            ),
        )
    };
    let after = spelled(&down("[1.0, 1.0, 0.5, 0.5]"), 21);
    let y = after.graph.find_value("y").unwrap();
    assert!(
        matches!(&after.graph.node(y.node).op, Op::Resize(r) if r.nearest_mode == NearestMode::Ceil)
    );
    let mut mixed = down("[1.0, 1.0, 0.5, 2.0]");
    assert!(upgrade_opset(&mut mixed, 21).is_err());
}

#[test]
fn changes_nnslim_cannot_convert_are_errors_naming_the_node() {
    // Reshape of opset 4 has the shape as an attribute: opaque, and not converted.
    let m = model(
        4,
        "  input %x: f32[2,6]
  %r = Reshape(%x) {shape=[3,4]} @\"legacy\"
  output %r",
    );
    let mut after = m.clone();
    let err = upgrade_opset(&mut after, 21).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("legacy") && text.contains("Reshape"),
        "{text}"
    );
    assert!(text.contains("shape became an input"), "{text}");
    assert_eq!(print_model(&after), print_model(&m), "model unchanged");
    // An unknown op of the default domain cannot be checked.
    let m = model(
        13,
        "  input %x: f32[2]
  %y = NoSuchOp(%x)
  output %y",
    );
    let err = upgrade_opset(&mut m.clone(), 21).unwrap_err();
    assert!(err.to_string().contains("NoSuchOp"), "{err}");
    // A schema that did not change (Einsum 12 → 21) passes; so does another domain.
    let m = model(
        13,
        "  input %x: f32[2,3]
  %y = Einsum(%x) {equation=\"ij->ji\"}
  output %y",
    );
    assert!(upgrade_opset(&mut m.clone(), 21).unwrap());
    // Downgrades and unknown opsets are refused.
    assert!(upgrade_opset(&mut m.clone(), 12).is_err());
    assert!(upgrade_opset(&mut m.clone(), MAX_KNOWN_OPSET + 1).is_err());
}

#[test]
fn same_opset_only_raises_the_ir_version() {
    let mut m = model(
        21,
        "  input %x: f32[2]
  %y = Relu(%x)
  output %y",
    );
    m.ir_version = 8;
    assert!(upgrade_opset(&mut m, 21).unwrap());
    assert_eq!(m.ir_version, 10);
    assert!(!upgrade_opset(&mut m, 21).unwrap());
}
