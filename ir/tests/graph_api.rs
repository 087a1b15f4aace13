//! The graph API: stable topological order, uses, rewiring, removal, and the verifier.

use nnslim_ir::{DType, Graph, GraphError, NewNode, Op, Opaque, Tensor, Type, ValueId, verify};

fn opaque(op_type: &str) -> Op {
    Op::Opaque(Opaque {
        domain: "test.domain".into(),
        op_type: op_type.into(),
        attrs: Vec::new(),
    })
}

fn out(node: nnslim_ir::NodeId) -> ValueId {
    ValueId { node, slot: 0 }
}

/// x, w → A → y → B → z (graph output)
fn small() -> (Graph, ValueId, ValueId, ValueId, ValueId) {
    let mut g = Graph::new();
    let x = g.add_input("x", Type::tensor(DType::F32, None));
    let w = g.add_initializer("w", Tensor::from_f32(vec![2], &[1.0, 2.0]).unwrap());
    let a = g
        .add_node(NewNode::new(opaque("A"), vec![Some(x), Some(w)], vec!["y".into()]).named("a"))
        .unwrap();
    let y = out(a);
    let b = g
        .add_node(NewNode::new(opaque("B"), vec![Some(y)], vec!["z".into()]))
        .unwrap();
    let z = out(b);
    g.add_output(z);
    (g, x, w, y, z)
}

#[test]
fn topological_order_follows_insertion() {
    let (g, x, w, y, z) = small();
    let order = g.topo_order().unwrap();
    assert_eq!(order, vec![x.node, w.node, y.node, z.node]);
    assert_eq!(g.compute_nodes().unwrap(), vec![y.node, z.node]);
    assert_eq!(g.uses(y), vec![(z.node, 0)]);
    assert_eq!(g.uses(w), vec![(y.node, 1)]);
    assert!(g.is_used(z), "graph outputs count as uses");
    assert_eq!(g.find_value("y"), Some(y));
    assert_eq!(g.constant(w).unwrap().to_f32_vec().unwrap(), vec![1.0, 2.0]);
    assert!(g.constant(x).is_none());
    verify(&g).unwrap();
}

#[test]
fn rewiring_and_removal() {
    let (mut g, x, _w, y, z) = small();
    let c = g
        .add_node(NewNode::new(opaque("C"), vec![Some(x)], vec!["y2".into()]))
        .unwrap();
    let y2 = out(c);
    // C was added last but feeds B now: the order must put it before B.
    g.replace_all_uses(y, y2).unwrap();
    assert!(g.uses(y).is_empty());
    assert_eq!(g.uses(y2), vec![(z.node, 0)]);
    let order = g.topo_order().unwrap();
    let pos = |n| order.iter().position(|&m| m == n).unwrap();
    assert!(pos(c) < pos(z.node));
    assert!(matches!(g.remove_node(c), Err(GraphError::StillUsed(name)) if name == "y2"));
    let removed = g.remove_node(y.node).unwrap();
    assert_eq!(removed.name, "a");
    assert_eq!(g.node_count(), 4);
    verify(&g).unwrap();
}

#[test]
fn initializer_listed_as_input_stays_a_constant() {
    let (mut g, _x, w, _y, _z) = small();
    g.list_initializer_as_input(w);
    assert!(
        g.constant(w).is_some(),
        "IR-3 weights listed as inputs are still weights"
    );
    assert_eq!(g.inputs().len(), 2);
    assert!(g.is_input(w.node));
}

#[test]
fn verifier_collects_every_problem() {
    let (mut g, x, _w, y, _z) = small();
    // A second producer of "y", a duplicated output, and a cycle-free but bad tensor.
    let d = g
        .add_node(NewNode::new(opaque("D"), vec![Some(x)], vec!["y".into()]))
        .unwrap();
    g.add_output(y);
    g.add_output(y);
    g.add_initializer(
        "bad",
        Tensor {
            dtype: DType::F32,
            dims: vec![3],
            data: nnslim_ir::TensorData::Dense(bytes_of(&[0u8; 4])),
            doc_string: String::new(),
        },
    );
    let errs = verify(&g).unwrap_err().0;
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter().any(|e| e.contains("\"y\" is produced 2 times")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("\"y\" is listed 2 times")),
        "{text:?}"
    );
    assert!(text.iter().any(|e| e.contains("needs 12")), "{text:?}");
    assert_eq!(errs.len(), 3, "{text:?}");
    let _ = d;
}

#[test]
fn a_cycle_is_reported() {
    let (mut g, _x, _w, y, z) = small();
    // Point A's first input at B's output: A → B → A.
    g.set_input(y.node, 0, Some(z)).unwrap();
    assert!(matches!(g.topo_order(), Err(GraphError::Cycle(_))));
    let errs = verify(&g).unwrap_err();
    assert!(errs.to_string().contains("cycle"), "{errs}");
}

fn bytes_of(b: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(b)
}
