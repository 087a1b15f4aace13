//! Unit tests of the control-flow and recurrent kernels: branches and loop bodies that read
//! enclosing values, scan outputs, recurrent cells against hand-computed steps, and errors.

use crate::{Array, Data, EvalError, Value, run};
use nnslim_ir::{AttrValue, Attribute, DType, Dim, Graph, NewNode, Op, Tensor, Type, ValueId};
use std::collections::HashMap;

fn op(op_type: &str, opset: i64, attrs: Vec<Attribute>) -> Op {
    Op::from_onnx("", op_type, opset, attrs).unwrap()
}

fn graph_attr(name: &str, g: Graph) -> Attribute {
    Attribute::new(name, AttrValue::Graph(Box::new(g)))
}

fn node(g: &mut Graph, op: Op, inputs: &[ValueId], outputs: &[&str]) -> Vec<ValueId> {
    let id = g
        .add_node(NewNode::new(
            op,
            inputs.iter().map(|v| Some(*v)).collect(),
            outputs.iter().map(|s| s.to_string()).collect(),
        ))
        .unwrap();
    (0..outputs.len())
        .map(|slot| ValueId {
            node: id,
            slot: slot as u32,
        })
        .collect()
}

fn f32s(dims: &[i64]) -> Type {
    Type::tensor(
        DType::F32,
        Some(dims.iter().map(|&d| Dim::Known(d)).collect()),
    )
}

fn scalar(dtype: DType) -> Type {
    Type::tensor(dtype, Some(vec![]))
}

fn feed(pairs: Vec<(&str, Array)>) -> HashMap<String, Value> {
    pairs
        .into_iter()
        .map(|(n, a)| (n.to_string(), Value::Tensor(a)))
        .collect()
}

fn boolean(b: bool) -> Array {
    Array::new(vec![], Data::Bool(vec![b])).unwrap()
}

#[test]
fn if_runs_the_chosen_branch_with_outer_values() {
    let mut g = Graph::new();
    let c = g.add_input("c", scalar(DType::Bool));
    let x = g.add_input("x", f32s(&[2]));
    let mut then = Graph::new();
    let xo = then.add_outer("x", f32s(&[2]));
    let t = node(&mut then, Op::Identity, &[xo], &["t"]);
    then.set_outputs(t);
    let mut other = Graph::new();
    let k = other.add_initializer("k", Tensor::from_f32(vec![3], &[7.0, 8.0, 9.0]).unwrap());
    other.set_outputs(vec![k]);
    let id = g
        .add_node(NewNode {
            captures: vec![x],
            ..NewNode::new(
                op(
                    "If",
                    13,
                    vec![
                        graph_attr("then_branch", then),
                        graph_attr("else_branch", other),
                    ],
                ),
                vec![Some(c)],
                vec!["y".into()],
            )
        })
        .unwrap();
    g.set_outputs(vec![ValueId { node: id, slot: 0 }]);
    let x = Array::f32(vec![2], vec![1.0, 2.0]);
    let out = run(&g, &feed(vec![("c", boolean(true)), ("x", x.clone())])).unwrap();
    assert_eq!(out, vec![Value::Tensor(x.clone())]);
    let out = run(&g, &feed(vec![("c", boolean(false)), ("x", x.clone())])).unwrap();
    assert_eq!(
        out[0].as_tensor().unwrap().as_f32().unwrap(),
        [7.0, 8.0, 9.0]
    );
    let bad = run(
        &g,
        &feed(vec![("c", Array::f32(vec![], vec![1.0])), ("x", x)]),
    );
    assert!(matches!(bad, Err(EvalError::Node { .. })), "{bad:?}");
}

/// `Loop(M, cond, s0)` whose body appends the iteration number to `s` and scans it.
fn counting_loop(with_cond: bool) -> Graph {
    let mut body = Graph::new();
    let i = body.add_input("i", scalar(DType::I64));
    let c = body.add_input("c", scalar(DType::Bool));
    let s = body.add_input("s", Type::tensor(DType::I64, Some(vec![Dim::Unknown])));
    let zero = body.add_initializer("zero", Tensor::from_i64(vec![1], &[0]).unwrap());
    let i1 = node(&mut body, op("Unsqueeze", 13, vec![]), &[i, zero], &["i1"])[0];
    let axis = Attribute::new("axis", AttrValue::Int(0));
    let s2 = node(&mut body, op("Concat", 13, vec![axis]), &[s, i1], &["s2"])[0];
    let co = node(&mut body, Op::Identity, &[c], &["co"])[0];
    body.set_outputs(vec![co, s2, i]);
    let mut g = Graph::new();
    let m = g.add_input("M", scalar(DType::I64));
    let s0 = g.add_input("s0", Type::tensor(DType::I64, Some(vec![Dim::Known(1)])));
    let cond = if with_cond {
        Some(g.add_input("cond", scalar(DType::Bool)))
    } else {
        None
    };
    let id = g
        .add_node(NewNode::new(
            op("Loop", 13, vec![graph_attr("body", body)]),
            vec![Some(m), cond, Some(s0)],
            vec!["s_final".into(), "scan".into()],
        ))
        .unwrap();
    g.set_outputs(vec![
        ValueId { node: id, slot: 0 },
        ValueId { node: id, slot: 1 },
    ]);
    g
}

#[test]
fn loop_carries_and_scans() {
    let g = counting_loop(false);
    let s0 = Array::i64(vec![1], vec![-1]);
    let out = run(
        &g,
        &feed(vec![("M", Array::i64(vec![], vec![3])), ("s0", s0.clone())]),
    )
    .unwrap();
    assert_eq!(
        out[0].as_tensor().unwrap().to_i64_vec().unwrap(),
        [-1, 0, 1, 2]
    );
    assert_eq!(out[1].as_tensor().unwrap().shape, [3]);
    // Zero iterations: the initial value, and an empty scan output shaped by the body's type.
    let out = run(
        &g,
        &feed(vec![("M", Array::i64(vec![], vec![0])), ("s0", s0.clone())]),
    )
    .unwrap();
    assert_eq!(out[0].as_tensor().unwrap().to_i64_vec().unwrap(), [-1]);
    assert_eq!(out[1].as_tensor().unwrap().shape, [0]);
    // A false cond runs nothing.
    let g = counting_loop(true);
    let ins = feed(vec![
        ("M", Array::i64(vec![], vec![5])),
        ("s0", s0),
        ("cond", boolean(false)),
    ]);
    let out = run(&g, &ins).unwrap();
    assert_eq!(out[1].as_tensor().unwrap().shape, [0]);
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// A one-unit cell over `xs` (batch 1, input 1): returns `Y` and `Y_h`.
fn one_unit(
    op_type: &str,
    attrs: Vec<Attribute>,
    w: &[f32],
    r: &[f32],
    xs: &[f32],
) -> Result<(Vec<f32>, Vec<f32>), EvalError> {
    let n = xs.len() as i64;
    let mut g = Graph::new();
    let x = g.add_input("X", f32s(&[n, 1, 1]));
    let gates = w.len() as i64;
    let wv = g.add_initializer("W", Tensor::from_f32(vec![1, gates, 1], w).unwrap());
    let rv = g.add_initializer("R", Tensor::from_f32(vec![1, gates, 1], r).unwrap());
    let outs = node(&mut g, op(op_type, 14, attrs), &[x, wv, rv], &["Y", "Y_h"]);
    g.set_outputs(outs);
    let out = run(
        &g,
        &feed(vec![("X", Array::f32(vec![xs.len(), 1, 1], xs.to_vec()))]),
    )?;
    let v = |i: usize| out[i].as_tensor().unwrap().as_f32().unwrap().to_vec();
    Ok((v(0), v(1)))
}

fn close(a: &[f32], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((f64::from(*x) - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn lstm_step_by_hand() {
    // Gates i, o, f, c.
    let (w, r) = ([0.5f32, -0.3, 0.8, 0.2], [0.1f32, 0.4, -0.6, 0.9]);
    let xs = [1.0f32, -2.0];
    let (y, yh) = one_unit("LSTM", vec![], &w, &r, &xs).unwrap();
    let (mut h, mut c) = (0.0f64, 0.0f64);
    let mut want = Vec::new();
    for &x in &xs {
        let g = |k: usize| f64::from(w[k]) * f64::from(x) + f64::from(r[k]) * h;
        let (i, o, f, cc) = (sigmoid(g(0)), sigmoid(g(1)), sigmoid(g(2)), g(3).tanh());
        c = f * c + i * cc;
        h = o * c.tanh();
        want.push(h);
    }
    close(&y, &want);
    close(&yh, &[h]);
}

#[test]
fn gru_reset_placement_and_clip() {
    // Gates z, r, h.
    let (w, r) = ([0.5f32, -0.3, 0.8], [0.1f32, 0.4, -0.6]);
    let xs = [1.0f32, -2.0, 0.5];
    let run_gru = |lbr: bool, clip: Option<f32>| {
        let mut attrs = vec![Attribute::new(
            "linear_before_reset",
            AttrValue::Int(lbr.into()),
        )];
        if let Some(c) = clip {
            attrs.push(Attribute::new("clip", AttrValue::Float(c)));
        }
        one_unit("GRU", attrs, &w, &r, &xs).unwrap().0
    };
    let want = |clip: f64| {
        let mut h = 0.0f64;
        let cl = |v: f64| v.clamp(-clip, clip);
        xs.iter()
            .map(|&x| {
                let x = f64::from(x);
                let z = sigmoid(cl(f64::from(w[0]) * x + f64::from(r[0]) * h));
                let rr = sigmoid(cl(f64::from(w[1]) * x + f64::from(r[1]) * h));
                let ht = cl(f64::from(w[2]) * x + f64::from(r[2]) * rr * h).tanh();
                h = (1.0 - z) * ht + z * h;
                h
            })
            .collect::<Vec<_>>()
    };
    close(&run_gru(false, None), &want(f64::INFINITY));
    close(&run_gru(true, None), &want(f64::INFINITY)); // no bias: the same products
    close(&run_gru(false, Some(0.25)), &want(0.25));
}

#[test]
fn rnn_activation_parameters_and_errors() {
    let attrs = vec![
        Attribute::new("activations", AttrValue::Strings(vec![b"affine".to_vec()])),
        Attribute::new("activation_alpha", AttrValue::Floats(vec![2.0])),
        Attribute::new("activation_beta", AttrValue::Floats(vec![0.5])),
    ];
    let (y, _) = one_unit("RNN", attrs, &[1.0], &[0.0], &[1.0, 3.0]).unwrap();
    close(&y, &[2.5, 6.5]);
    // W with the wrong number of gate rows is an error naming the node, not a panic.
    let e = one_unit("LSTM", vec![], &[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], &[1.0]).unwrap_err();
    assert!(matches!(e, EvalError::Node { .. }), "{e:?}");
}
