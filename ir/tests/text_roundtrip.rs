//! Text IR round trips of hand-built models: typed and opaque ops, subgraphs with captures,
//! IR-3 initializer inputs, empty names, every attribute kind and element type, symbolic dims;
//! and parse errors with line and column.

use bytes::Bytes;
use nnslim_ir::text::{parse_graph, parse_model, print_graph, print_model};
use nnslim_ir::{
    AttrValue, Attribute, DType, Dim, Graph, Model, NewNode, NodeId, Op, Opaque, OpsetId,
    SparseData, Tensor, TensorData, Type, ValueId, verify,
};
use std::sync::Arc;

fn model(graph: Graph, opsets: &[(&str, i64)]) -> Model {
    Model {
        graph,
        ir_version: 8,
        opsets: opsets
            .iter()
            .map(|(d, v)| OpsetId {
                domain: d.to_string(),
                version: *v,
            })
            .collect(),
        producer_name: "hand".into(),
        ..Model::default()
    }
}

/// Asserts `print(parse(print(m))) == print(m)` and returns the parsed model.
fn round_trip(m: &Model) -> Model {
    let text = print_model(m);
    let parsed = parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(print_model(&parsed), text);
    parsed
}

fn out0(n: NodeId) -> ValueId {
    ValueId { node: n, slot: 0 }
}

fn typed(op_type: &str, opset: i64, attrs: Vec<Attribute>) -> Op {
    Op::from_onnx("", op_type, opset, attrs).unwrap()
}

fn opaque(domain: &str, op_type: &str, attrs: Vec<Attribute>) -> Op {
    Op::Opaque(Opaque {
        domain: domain.into(),
        op_type: op_type.into(),
        attrs,
    })
}

fn sym(s: &str) -> Dim {
    Dim::Symbol(s.into())
}

fn f32_ty(dims: Vec<Dim>) -> Type {
    Type::tensor(DType::F32, Some(dims))
}

fn add(g: &mut Graph, op: Op, inputs: Vec<Option<ValueId>>, outputs: &[&str]) -> NodeId {
    let outputs = outputs.iter().map(|s| s.to_string()).collect();
    g.add_node(NewNode::new(op, inputs, outputs)).unwrap()
}

fn conv_net() -> Model {
    let mut g = Graph::new();
    g.name = "main_graph".into();
    let x = g.add_input(
        "input",
        f32_ty(vec![sym("N"), 1.into(), 28.into(), 28.into()]),
    );
    let wv: Vec<f32> = (0..288)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 64.0)
        .collect();
    let w = g.add_initializer(
        "conv1.weight",
        Tensor::from_f32(vec![32, 1, 3, 3], &wv).unwrap(),
    );
    let b = g.add_initializer(
        "conv1.bias",
        Tensor::from_f32(vec![32], &[0.5; 32]).unwrap(),
    );
    let shape = g.add_initializer("shape", Tensor::from_i64(vec![2], &[0, -1]).unwrap());
    let ints = |n: &str, v: &[i64]| Attribute::new(n, AttrValue::Ints(v.to_vec()));
    let conv = typed(
        "Conv",
        13,
        vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
    );
    let c = add(&mut g, conv, vec![Some(x), Some(w), Some(b)], &["x"]);
    g.node_mut(c).name = "Conv_0".into();
    let r = add(
        &mut g,
        typed("Relu", 13, vec![]),
        vec![Some(out0(c))],
        &["relu"],
    );
    let f = add(
        &mut g,
        typed("Reshape", 13, vec![]),
        vec![Some(out0(r)), Some(shape)],
        &["flat"],
    );
    g.add_output(out0(f));
    model(g, &[("", 13)])
}

#[test]
fn conv_net_prints_as_documented() {
    let m = conv_net();
    let text = print_model(&m);
    let want = "\
model ir_version=8 opsets=[\"\"=13] producer=\"hand\"
graph \"main_graph\" {
  input %input: f32[N,1,28,28]
  const %conv1.weight: f32[32,1,3,3] = range(-0.78125, 0.78125)
  const %conv1.bias: f32[32] = splat(0.5)
  const %shape: i64[2] = [0, -1]
  %x = Conv(%input, %conv1.weight, %conv1.bias) {kernel_shape=[3,3], pads=[1,1,1,1]} : f32[N,32,28,28] @\"Conv_0\"
  %relu = Relu(%x) : f32[N,32,28,28]
  %flat = Reshape(%relu, %shape) : f32[N,25088]
  output %flat: f32[N,25088]
}
";
    assert_eq!(text, want);
    let parsed = round_trip(&m);
    verify(&parsed.graph).unwrap();
    // Typed ops come back typed, the summarised weight with the same dims and extremes.
    let ops: Vec<&str> = parsed
        .graph
        .compute_nodes()
        .unwrap()
        .into_iter()
        .map(|n| parsed.graph.node(n).op.op_type())
        .collect();
    assert_eq!(ops, ["Conv", "Relu", "Reshape"]);
}

#[test]
fn subgraphs_capture_outer_values_at_every_level() {
    let mut g = Graph::new();
    g.name = "outer".into();
    let x = g.add_input("x", f32_ty(vec![3.into()]));
    let c = g.add_input("c", Type::tensor(DType::Bool, Some(vec![])));
    let n = g.add_input("n", Type::tensor(DType::I64, Some(vec![])));

    let branch = |name: &str, op: &str| {
        let mut b = Graph::new();
        b.name = name.into();
        let xo = b.add_outer("x", f32_ty(vec![3.into()]));
        let r = add(
            &mut b,
            typed(op, 13, vec![]),
            vec![Some(xo)],
            &[&format!("{name}_out")],
        );
        b.add_output(out0(r));
        b
    };
    let graph_attr = |n: &str, g: Graph| Attribute::new(n, AttrValue::Graph(Box::new(g)));

    // Loop body: an If (reading the top-level %x through the body) and an Identity of %x.
    let mut body = Graph::new();
    body.name = "body".into();
    let _i = body.add_input("i", Type::tensor(DType::I64, Some(vec![])));
    let cin = body.add_input("cond_in", Type::tensor(DType::Bool, Some(vec![])));
    let bx = body.add_outer("x", f32_ty(vec![3.into()]));
    let iff = typed_if(vec![
        graph_attr("then_branch", branch("then", "Relu")),
        graph_attr("else_branch", branch("else", "Neg")),
    ]);
    let inner = body
        .add_node(NewNode {
            captures: vec![bx],
            ..NewNode::new(iff, vec![Some(cin)], vec!["y".into()])
        })
        .unwrap();
    let cout = add(
        &mut body,
        typed("Identity", 13, vec![]),
        vec![Some(cin)],
        &["cond_out"],
    );
    body.add_output(out0(cout));
    body.add_output(out0(inner));

    let lp = opaque("", "Loop", vec![graph_attr("body", body)]);
    let l = g
        .add_node(NewNode {
            captures: vec![x],
            ..NewNode::new(lp, vec![Some(n), Some(c)], vec!["ys".into()])
        })
        .unwrap();
    g.add_output(out0(l));
    let m = model(g, &[("", 13)]);
    let parsed = round_trip(&m);
    verify(&parsed.graph).unwrap();
    let text = print_model(&m);
    assert!(text.contains("%then_out = Relu(%x) : f32[3]"), "{text}");
    assert!(
        !text.contains("Outer"),
        "outer placeholders are not printed"
    );

    let g = &parsed.graph;
    let lnode = g.node(g.compute_nodes().unwrap()[0]);
    assert_eq!(lnode.captures().len(), 1);
    assert_eq!(g.value(lnode.captures()[0]).name, "x");
    let body = lnode.op.subgraphs()[0];
    let inode = body.node(body.compute_nodes().unwrap()[0]);
    assert_eq!(inode.captures().len(), 1);
    let then = inode.op.subgraphs()[0];
    let outer_x = then
        .node_ids()
        .find(|&n| matches!(then.node(n).op, Op::Outer))
        .expect("an Op::Outer for %x in the then branch");
    assert_eq!(then.node(outer_x).outputs()[0].name, "x");
}

/// `If` is kept opaque by the IR; whatever it is, parse it the ONNX way.
fn typed_if(attrs: Vec<Attribute>) -> Op {
    Op::from_onnx("", "If", 13, attrs).unwrap()
}

#[test]
fn ir3_initializer_inputs_empty_names_and_omitted_inputs() {
    let mut g = Graph::new();
    g.name = "ir3".into();
    let x = g.add_input("x", f32_ty(vec![sym("batch"), 4.into()]));
    let w0 = g.add_initializer("w0", Tensor::from_f32(vec![3], &[0.1, 0.2, 0.3]).unwrap());
    g.list_initializer_as_input(w0);
    let hi = g.add_initializer("hi", Tensor::from_f32(vec![], &[6.0]).unwrap());
    let clip = add(
        &mut g,
        typed("Clip", 13, vec![]),
        vec![Some(x), None, Some(hi)],
        &["clipped"],
    );
    let ratio = Attribute::new("seed", AttrValue::Int(7));
    let d = add(
        &mut g,
        typed("Dropout", 13, vec![ratio]),
        vec![Some(out0(clip))],
        &["dropped", ""],
    );
    g.add_output(out0(d));
    let m = model(g, &[("", 13)]);
    let text = print_model(&m);
    assert!(
        text.contains("input const %w0: f32[3] = [0.1, 0.2, 0.3]\n"),
        "{text}"
    );
    assert!(
        text.contains("%clipped = Clip(%x, _, %hi) : f32[batch,4]\n"),
        "{text}"
    );
    assert!(
        text.contains("%dropped, _ = Dropout(%clipped) {seed=7} : f32[batch,4], bool[batch,4]"),
        "{text}"
    );
    let parsed = round_trip(&m);
    let g = &parsed.graph;
    assert_eq!(g.inputs().len(), 2);
    assert!(matches!(g.node(g.inputs()[1].node).op, Op::Initializer(_)));
    assert_eq!(g.initializers().len(), 2);
    let clip = g.node(g.compute_nodes().unwrap()[0]);
    assert_eq!(clip.inputs()[1], None);
    let drop = g.node(g.compute_nodes().unwrap()[1]);
    assert_eq!(drop.outputs()[1].name, "");
    verify(g).unwrap();
}

fn strings(v: &[&[u8]]) -> Tensor {
    let s: Vec<Vec<u8>> = v.iter().map(|x| x.to_vec()).collect();
    Tensor {
        dtype: DType::String,
        dims: vec![s.len() as i64],
        data: TensorData::Strings(Arc::new(s)),
        doc_string: String::new(),
    }
}

fn raw(dtype: DType, dims: Vec<i64>, bytes: Vec<u8>) -> Tensor {
    Tensor::from_raw(dtype, dims, Bytes::from(bytes)).unwrap()
}

fn sparse() -> Tensor {
    Tensor {
        dtype: DType::F32,
        dims: vec![10, 10],
        data: TensorData::Sparse(Arc::new(SparseData {
            values: Tensor::from_f32(vec![3], &[1.0, -2.0, 3.5]).unwrap(),
            indices: Tensor::from_i64(vec![3, 2], &[0, 1, 4, 4, 9, 0]).unwrap(),
        })),
        doc_string: String::new(),
    }
}

fn tiny_graph(name: &str) -> Graph {
    let mut g = Graph::new();
    g.name = name.into();
    let a = g.add_input("a", f32_ty(vec![2.into()]));
    g.add_output(a);
    g
}

#[test]
fn every_attribute_kind_round_trips() {
    use AttrValue as A;
    let mut g = Graph::new();
    g.name = "attrs".into();
    let x = g.add_input("x", Type::Unknown);
    let seq = Type::Sequence(Box::new(f32_ty(vec![sym("N"), Dim::Unknown])));
    let attrs = vec![
        Attribute::new("f", A::Float(1e-5)),
        Attribute::new("f_nan", A::Float(f32::NAN)),
        Attribute::new("f_inf", A::Float(f32::NEG_INFINITY)),
        Attribute::new("f_neg0", A::Float(-0.0)),
        Attribute::new("f_max", A::Float(f32::MAX)),
        Attribute::new("f_sub", A::Float(1e-45)),
        Attribute::new("i", A::Int(i64::MIN)),
        Attribute::new("s", A::String(b"quote\" back\\ nl\n nul\0 hi\xff".to_vec())),
        Attribute::new(
            "t",
            A::Tensor(Tensor::from_f32(vec![2], &[1.0, 2.0]).unwrap()),
        ),
        Attribute::new("g", A::Graph(Box::new(tiny_graph("sub")))),
        Attribute::new("st", A::SparseTensor(sparse())),
        Attribute::new("tp", A::Type(seq.clone())),
        Attribute::new("fs", A::Floats(vec![1.0, 0.5, f32::INFINITY])),
        Attribute::new("is", A::Ints(vec![1, -2])),
        Attribute::new("ss", A::Strings(vec![b"a".to_vec(), b"".to_vec()])),
        Attribute::new(
            "ts",
            A::Tensors(vec![
                strings(&[b"x", b"y"]),
                Tensor::from_i64(vec![], &[3]).unwrap(),
            ]),
        ),
        Attribute::new("gs", A::Graphs(vec![tiny_graph("g1"), tiny_graph("g2")])),
        Attribute::new("sts", A::SparseTensors(vec![sparse()])),
        Attribute::new("tps", A::Types(vec![seq, Type::Unknown])),
        Attribute::new("e_fs", A::Floats(vec![])),
        Attribute::new("e_is", A::Ints(vec![])),
        Attribute::new("e_ss", A::Strings(vec![])),
        Attribute::new("e_ts", A::Tensors(vec![])),
        Attribute::new("e_gs", A::Graphs(vec![])),
        Attribute::new("e_sts", A::SparseTensors(vec![])),
        Attribute::new("e_tps", A::Types(vec![])),
        Attribute::new("weird name", A::Int(0)),
    ];
    let n = add(
        &mut g,
        opaque("my.domain", "Everything", attrs),
        vec![Some(x)],
        &["y", "z"],
    );
    let map = Type::Map(
        DType::I64,
        Box::new(Type::Optional(Box::new(f32_ty(vec![sym("a b")])))),
    );
    g.declare(out0(n), map);
    g.declare(
        ValueId { node: n, slot: 1 },
        Type::Opaque("d".into(), "n.x".into()),
    );
    g.add_output(out0(n));
    let m = model(g, &[("", 13), ("my.domain", 1)]);
    let text = print_model(&m);
    for want in [
        "f=1e-5,",
        "f_nan=nan,",
        "f_inf=-inf,",
        "f_neg0=-0.0,",
        "f_max=3.4028235e38,",
        "f_sub=1e-45,",
        "s=\"quote\\\" back\\\\ nl\\n nul\\x00 hi\\xff\",",
        "t=tensor(f32[2] = [1.0, 2.0]),",
        "st=sparse_tensor(sparse<f32[10,10]> = sparse(values: f32[3] = [1.0, -2.0, 3.5], indices: i64[3,2] = [0, 1, 4, 4, 9, 0])),",
        "tp=type(seq<f32[N,?]>),",
        "fs=[1.0,0.5,inf],",
        "e_fs=floats[],",
        "ts=tensors[string[2] = [\"x\", \"y\"], i64[] = 3],",
        "\"weird name\"=0",
        "= my.domain::Everything(%x) {",
        ": map<i64,opt<f32[\"a b\"]>>, opaque<\"d\",\"n.x\">",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let parsed = round_trip(&m);
    let node = parsed.graph.node(parsed.graph.compute_nodes().unwrap()[0]);
    let Op::Opaque(o) = &node.op else {
        panic!("expected an opaque op")
    };
    assert_eq!(o.attrs.len(), 27);
    assert!(matches!(o.attrs[1].value, AttrValue::Float(v) if v.is_nan()));
    assert!(
        matches!(&o.attrs[7].value, AttrValue::String(s) if s == b"quote\" back\\ nl\n nul\0 hi\xff")
    );
    assert!(matches!(&o.attrs[25].value, AttrValue::Types(t) if t.is_empty()));
    // The output types were declared (an opaque op infers nothing).
    assert!(node.outputs()[0].declared.is_some());
}

#[test]
fn every_element_type_round_trips_small_and_large() {
    let mut g = Graph::new();
    g.name = "dtypes".into();
    let mut n = 0;
    let mut init = |g: &mut Graph, t: Tensor| {
        n += 1;
        g.add_initializer(format!("t{n}"), t);
    };
    for large in [false, true] {
        let count = if large { 100usize } else { 5 };
        for dtype in DType::ALL {
            let Some(bytes) = dtype.storage_bytes(count as u64) else {
                continue;
            };
            let data: Vec<u8> = (0..bytes).map(|i| (i * 37 % 251) as u8).collect();
            // Bool storage must be 0/1; packed integers print their elements, not the padding
            // bits of the last byte, so keep those zero.
            let mut data: Vec<u8> = if dtype == DType::Bool {
                data.iter().map(|b| b & 1).collect()
            } else {
                data
            };
            let used = (count * dtype.bits()) % 8;
            if dtype.is_int()
                && used != 0
                && let Some(last) = data.last_mut()
            {
                *last &= (1u8 << used) - 1;
            }
            init(&mut g, raw(dtype, vec![count as i64], data));
        }
        let s: Vec<String> = (0..count).map(|i| format!("s{}", i % 7)).collect();
        let s: Vec<&[u8]> = s.iter().map(|x| x.as_bytes()).collect();
        init(&mut g, strings(&s));
    }
    // Non-finite floats, summarised and inline; all-equal; empty; scalar.
    let mut v: Vec<f32> = (0..40).map(|i| i as f32 - 20.0).collect();
    v[3] = f32::NAN;
    v[7] = f32::INFINITY;
    init(&mut g, Tensor::from_f32(vec![40], &v).unwrap());
    init(
        &mut g,
        Tensor::from_f32(vec![3], &[f32::NAN, -0.0, f32::MIN_POSITIVE]).unwrap(),
    );
    init(&mut g, Tensor::from_f32(vec![20], &[f32::NAN; 20]).unwrap());
    init(&mut g, Tensor::from_f32(vec![2, 0, 3], &[]).unwrap());
    init(&mut g, Tensor::from_i64(vec![], &[i64::MAX]).unwrap());
    let u64max = raw(DType::U64, vec![1], u64::MAX.to_le_bytes().to_vec());
    init(&mut g, u64max);
    let sp = g.add_initializer("sparse", sparse());
    g.add_output(sp);
    let m = model(g, &[("", 13)]);
    let text = print_model(&m);
    for want in [
        "const %t1: f32[5] = [",
        "f8e4m3fn[5] = bytes([0, 37, 74, 111, 148])",
        "= range(-20.0, inf, nan)",
        "f32[3] = [nan, -0.0, 1.1754944e-38]",
        "f32[20] = splat(nan)",
        "f32[2,0,3] = []",
        "i64[] = 9223372036854775807\n",
        "u64[1] = [18446744073709551615]",
        "bool[5] = [false, true, false, true, false]",
        "string[100] = range(\"s0\", \"s6\")",
        "const %sparse: sparse<f32[10,10]> = sparse(values: f32[3] = [1.0, -2.0, 3.5], indices: i64[3,2] = [0, 1, 4, 4, 9, 0])",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let parsed = round_trip(&m);
    // Inline values are exact (bit for bit, NaN included).
    let g = &parsed.graph;
    for (orig, back) in m.graph.initializers().into_iter().zip(g.initializers()) {
        let (Op::Initializer(a), Op::Initializer(b)) =
            (&m.graph.node(orig.node).op, &g.node(back.node).op)
        else {
            panic!("initializers")
        };
        assert_eq!(a.dtype, b.dtype);
        assert_eq!(a.dims, b.dims);
        let name = &g.value(back).name;
        let line = text
            .lines()
            .find(|l| l.contains(&format!("%{name}:")))
            .unwrap_or_default();
        if !line.contains("range(") && !line.contains("splat(") {
            assert_eq!(a.data, b.data, "{line}");
        }
    }
}

#[test]
fn quoted_names_and_symbols() {
    let mut g = Graph::new();
    g.name = "names \"quoted\"".into();
    let x = g.add_input(
        "onnx::Conv_5",
        f32_ty(vec![sym("batch size"), sym("1x"), sym("n.d")]),
    );
    let r = add(
        &mut g,
        typed("Relu", 13, vec![]),
        vec![Some(x)],
        &["héllo wörld"],
    );
    g.node_mut(r).name = "node \"1\"".into();
    let o = add(
        &mut g,
        opaque("weird-domain", "output", vec![]),
        vec![Some(out0(r))],
        &[],
    );
    let _ = o;
    g.add_output(out0(r));
    let m = model(g, &[("", 13), ("weird-domain", 2)]);
    let text = print_model(&m);
    assert!(
        text.contains("input %\"onnx::Conv_5\": f32[\"batch size\",\"1x\",n.d]"),
        "{text}"
    );
    assert!(text.contains("@\"node \\\"1\\\"\""), "{text}");
    assert!(
        text.contains("  \"weird-domain\"::\"output\"(%\"h\\xc3\\xa9llo w\\xc3\\xb6rld\")\n"),
        "{text}"
    );
    let parsed = round_trip(&m);
    assert_eq!(parsed.graph.name, "names \"quoted\"");
    assert_eq!(
        parsed.graph.value(parsed.graph.outputs()[0]).name,
        "héllo wörld"
    );
}

#[test]
fn print_graph_and_parse_graph_agree() {
    let m = conv_net();
    let text = print_graph(&m.graph, 13);
    assert!(text.starts_with("graph \"main_graph\" {\n"));
    let g = parse_graph(&text, 13).unwrap();
    assert_eq!(print_graph(&g, 13), text);
}

#[test]
fn hand_written_text_infers_and_fills_literals() {
    let text = r#"
        model ir_version=8 opsets=[""=13]
        graph "g" {
          input %x: f32[N,4]
          const %w: f32[4,3] = random(seed=7, scale=0.5)   # deterministic
          const %b: f32[3] = [[0.0, 1.0, 2.0]]             # nested brackets are fine
          %y = MatMul(%x, %w)
          %z = Add(%y, %b)
          output %z
        }
    "#;
    let m = parse_model(text).unwrap();
    let printed = print_model(&m);
    assert!(
        printed.contains("%z = Add(%y, %b) : f32[N,3]\n"),
        "{printed}"
    );
    assert!(printed.contains("output %z: f32[N,3]\n"), "{printed}");
    let again = parse_model(text).unwrap();
    let w = |m: &Model| {
        let v = m.graph.find_value("w").unwrap();
        m.graph.constant(v).unwrap().to_f32_vec().unwrap()
    };
    assert_eq!(w(&m), w(&again), "random(seed) is deterministic");
    assert!(w(&m).iter().all(|v| (-0.5..0.5).contains(v)));
    verify(&m.graph).unwrap();
}

#[test]
fn parse_errors_carry_line_and_column() {
    let cases: [(&str, &str); 8] = [
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  %y = Relu(%x)\n}",
            "3:13: value %x is not defined",
        ),
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  input %x: f33[2]\n}",
            "3:13: unknown type 'f33'",
        ),
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  const %c: f32[3] = [1.0, 2.0]\n}",
            "3:22: expected 3 values, found 2",
        ),
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  input %x: f32[2]\n  %y = my.dom::Op(%x)\n}",
            "4:8: Op node: domain \"my.dom\" is not imported by the model (add it to opsets)",
        ),
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  input %x: f32[2]\n  %y = Conv(%x) {kernel_shape=\"3\"}\n}",
            "4:8: Conv node: attribute 'kernel_shape': expected INTS, found STRING",
        ),
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  input %x: f32[2]\n  input %x: f32[2]\n}",
            "4:9: value %x is defined more than once",
        ),
        (
            "model ir_version=8 opsets=[\"\"=13]\ngraph \"g\" {\n  input %x: \"f32",
            "3:13: unterminated string",
        ),
        (
            "model ir_version=8\ngraph \"g\" {\n",
            "3:1: expected '}' to close the graph",
        ),
    ];
    for (text, want) in cases {
        let e = parse_model(text).expect_err(text);
        assert_eq!(e.to_string(), want, "for\n{text}");
    }
}
