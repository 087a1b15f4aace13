//! Malformed and hostile models: every one gets exit code 1 and a clear message naming the file
//! (and the node or field where there is one) from both `convert` and `inspect` — no panic, no
//! unbounded allocation, no stack overflow, no output file.

use nnslim_proto::onnx::{self, attribute_proto::AttributeType, tensor_proto::DataLocation};
use nnslim_proto::{Message, encode_model};
use nnslim_tests::nnslim;
use std::path::Path;

fn f32_tensor(name: &str, dims: &[i64]) -> onnx::TensorProto {
    let n: i64 = dims.iter().product();
    let raw: Vec<u8> = (0..n)
        .flat_map(|i| (i as f32 * 0.01).to_le_bytes())
        .collect();
    onnx::TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        raw_data: Some(raw.into()),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> onnx::ValueInfoProto {
    use onnx::tensor_shape_proto::{Dimension, dimension::Value};
    onnx::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(onnx::TypeProto {
            value: Some(onnx::type_proto::Value::TensorType(
                onnx::type_proto::Tensor {
                    elem_type: Some(1),
                    shape: Some(onnx::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(Value::DimValue(d)),
                                denotation: None,
                            })
                            .collect(),
                    }),
                },
            )),
            denotation: None,
        }),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> onnx::AttributeProto {
    onnx::AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> onnx::AttributeProto {
    onnx::AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> onnx::NodeProto {
    onnx::NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// x[1,2,4,4] → Conv(W[3,2,3,3], B, pads 1) → Relu → Reshape([1,48]) → y
fn base() -> onnx::ModelProto {
    let mut conv = node("Conv", "conv", &["x", "W", "B"], &["c"]);
    conv.attribute = vec![ints("pads", &[1, 1, 1, 1]), ints("kernel_shape", &[3, 3])];
    let shape = onnx::TensorProto {
        name: Some("shape".into()),
        dims: vec![2],
        data_type: Some(7),
        int64_data: vec![1, 48],
        ..Default::default()
    };
    onnx::ModelProto {
        ir_version: Some(7),
        opset_import: vec![onnx::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(onnx::GraphProto {
            name: Some("g".into()),
            node: vec![
                conv,
                node("Relu", "relu", &["c"], &["r"]),
                node("Reshape", "reshape", &["r", "shape"], &["y"]),
            ],
            initializer: vec![f32_tensor("W", &[3, 2, 3, 3]), f32_tensor("B", &[3]), shape],
            input: vec![value_info("x", &[1, 2, 4, 4])],
            output: vec![value_info("y", &[1, 48])],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn graph(m: &mut onnx::ModelProto) -> &mut onnx::GraphProto {
    m.graph.as_mut().unwrap()
}

fn with(f: impl FnOnce(&mut onnx::ModelProto)) -> Vec<u8> {
    let mut m = base();
    f(&mut m);
    encode_model(&m)
}

/// `depth` nested If nodes, built as bytes (no deep recursion on our side).
fn nested_subgraphs(depth: usize) -> Vec<u8> {
    // GraphProto { node: [ NodeProto { op_type: "If", attribute: [ {name: then_branch, g: inner} ] } ] }
    let leaf = onnx::GraphProto {
        name: Some("leaf".into()),
        ..Default::default()
    };
    let mut g = leaf.encode_to_vec();
    for _ in 0..depth {
        let mut attr = onnx::AttributeProto {
            name: Some("then_branch".into()),
            r#type: Some(AttributeType::Graph as i32),
            ..Default::default()
        }
        .encode_to_vec();
        prost_field(&mut attr, 6, &g);
        let mut node = node("If", "if", &["c"], &["o"]).encode_to_vec();
        prost_field(&mut node, 5, &attr);
        let mut graph = Vec::new();
        prost_field(&mut graph, 1, &node);
        g = graph;
    }
    let mut model = onnx::ModelProto {
        ir_version: Some(7),
        opset_import: base().opset_import,
        ..Default::default()
    }
    .encode_to_vec();
    prost_field(&mut model, 7, &g);
    model
}

/// Appends a length-delimited field.
fn prost_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, buf);
    prost::encoding::encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

fn external(m: &mut onnx::ModelProto, location: &str, length: Option<u64>) {
    let w = &mut graph(m).initializer[0];
    let n = w.raw_data.take().map(|r| r.len()).unwrap_or(0);
    w.data_location = Some(DataLocation::External as i32);
    w.external_data = vec![onnx::StringStringEntryProto {
        key: Some("location".into()),
        value: Some(location.into()),
    }];
    w.external_data.push(onnx::StringStringEntryProto {
        key: Some("length".into()),
        value: Some(length.unwrap_or(n as u64).to_string()),
    });
}

#[test]
fn malformed_models_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("models");
    std::fs::create_dir(&folder).unwrap();
    // Weights outside the models' folder, and a link to them inside it; weights inside, short.
    let outside = dir.path().join("outside.bin");
    std::fs::write(&outside, vec![0u8; 216]).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("link.bin")).unwrap();
    std::fs::write(folder.join("short.bin"), vec![0u8; 100]).unwrap();

    let valid = encode_model(&base());
    let mut rng = 0x9e3779b97f4a7c15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();

    // (case name, file bytes, text the message must contain)
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        (
            "truncated",
            valid[..valid.len() / 2].to_vec(),
            "not a valid ONNX model",
        ),
        ("random", random, "not a valid ONNX model"),
        ("no_graph", with(|m| m.graph = None), "no graph"),
        (
            "cycle",
            with(|m| graph(m).node[1].input = vec!["y".into()]),
            "cycle",
        ),
        (
            "dangling_input",
            with(|m| graph(m).node[1].input = vec!["nope".into()]),
            "\"nope\" is not produced",
        ),
        (
            "output_never_produced",
            with(|m| graph(m).output[0].name = Some("ghost".into())),
            "graph output \"ghost\"",
        ),
        (
            "duplicate_outputs",
            with(|m| {
                let o = graph(m).output[0].clone();
                graph(m).output.push(o);
            }),
            "graph output \"y\" is listed 2 times",
        ),
        (
            "duplicate_value_name",
            with(|m| graph(m).node[1].output = vec!["c".into()]),
            "\"c\" is defined more than once",
        ),
        (
            "empty_op_type",
            with(|m| graph(m).node[1].op_type = Some(String::new())),
            "empty op_type",
        ),
        (
            "unknown_domain",
            with(|m| graph(m).node[1].domain = Some("no.such".into())),
            "domain \"no.such\"",
        ),
        (
            "unknown_dtype_initializer",
            with(|m| graph(m).initializer[0].data_type = Some(99)),
            "unknown data type code 99",
        ),
        (
            "unknown_dtype_input",
            with(|m| {
                if let Some(onnx::type_proto::Value::TensorType(t)) =
                    graph(m).input[0].r#type.as_mut().unwrap().value.as_mut()
                {
                    t.elem_type = Some(77);
                }
            }),
            "unknown data type code 77",
        ),
        (
            "negative_dim",
            with(|m| graph(m).initializer[0].dims = vec![-3, 2, 3, 3]),
            "negative dimension",
        ),
        (
            "negative_declared_dim",
            with(|m| graph(m).input[0] = value_info("x", &[1, -2, 4, 4])),
            "dimension -2 of the shape is negative",
        ),
        (
            "overflowing_dims",
            with(|m| graph(m).initializer[0].dims = vec![i64::MAX, 4, 3, 3]),
            "overflows",
        ),
        (
            "huge_dims_no_data",
            with(|m| graph(m).initializer[0].dims = vec![1 << 20, 1 << 20, 3, 3]),
            "needs",
        ),
        (
            "raw_data_short",
            with(|m| graph(m).initializer[0].raw_data = Some(vec![0u8; 10].into())),
            "holds 10 bytes",
        ),
        (
            "typed_data_count",
            with(|m| graph(m).initializer[2].int64_data = vec![1, 48, 3]),
            "int64_data holds 3 values",
        ),
        (
            "attr_wrong_type",
            with(|m| {
                graph(m).node[0].attribute[0] = onnx::AttributeProto {
                    name: Some("pads".into()),
                    r#type: Some(AttributeType::Float as i32),
                    f: Some(1.0),
                    ..Default::default()
                }
            }),
            "'pads'",
        ),
        (
            "attr_wrong_length",
            with(|m| graph(m).node[0].attribute[0] = ints("pads", &[1, 1, 1])),
            "'pads'",
        ),
        (
            "zero_strides",
            with(|m| graph(m).node[0].attribute.push(ints("strides", &[0, 1]))),
            "'strides'",
        ),
        (
            "group_not_dividing",
            with(|m| graph(m).node[0].attribute.push(int("group", 3))),
            "group",
        ),
        (
            "impossible_reshape",
            with(|m| graph(m).initializer[2].int64_data = vec![5, 7]),
            "Reshape",
        ),
        (
            "nested_3000_deep",
            nested_subgraphs(3000),
            "not a valid ONNX model",
        ),
        (
            "external_dotdot",
            with(|m| external(m, "../outside.bin", None)),
            "leaves the model's folder",
        ),
        (
            "external_absolute",
            with(|m| external(m, outside.to_str().unwrap(), None)),
            "absolute",
        ),
        (
            "external_link",
            with(|m| external(m, "link.bin", None)),
            "outside the model's folder",
        ),
        (
            "external_short",
            with(|m| external(m, "short.bin", Some(216))),
            "past the end of the file",
        ),
    ];
    assert!(cases.len() >= 24);
    let mut failures = Vec::new();
    for (name, bytes, want) in &cases {
        let path = folder.join(format!("{name}.onnx"));
        std::fs::write(&path, bytes).unwrap();
        for cmd in ["convert", "inspect"] {
            let out = folder.join(format!("{name}.out.onnx"));
            let args: Vec<&std::ffi::OsStr> = if cmd == "convert" {
                vec![cmd.as_ref(), path.as_os_str(), out.as_os_str()]
            } else {
                vec![cmd.as_ref(), path.as_os_str()]
            };
            let (code, _, err) = nnslim(args);
            if std::env::var_os("SHOW").is_some() {
                println!("{name} ({cmd}): {}", err.trim());
            }
            let names_file = err.contains(&path.display().to_string());
            if code != 1 || !err.contains(want) || !names_file || out.exists() {
                failures.push(format!(
                    "{name} ({cmd}): exit {code}, wanted 1 and a message with {want:?}; got: {}",
                    err.trim()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    check_node_and_field(&folder);
}

/// Messages name the node and the field, not just the file.
fn check_node_and_field(folder: &Path) {
    for (name, want) in [
        ("zero_strides", "node \"conv\" (Conv)"),
        ("attr_wrong_length", "node \"conv\" (Conv)"),
        ("dangling_input", "node \"relu\" (Relu)"),
        ("raw_data_short", "initializer \"W\""),
        ("impossible_reshape", "node \"reshape\" (Reshape)"),
    ] {
        let path = folder.join(format!("{name}.onnx"));
        let (_, _, err) = nnslim(["inspect".as_ref(), path.as_os_str()]);
        assert!(err.contains(want), "{name}: {err:?} should name {want:?}");
    }
}

/// Seeded byte-level mutations of a valid model: each is either read (exit 0) or refused with a
/// message (exit 1) — never a panic or an internal error.
#[test]
fn mutated_models_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let valid = encode_model(&base());
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut read, mut refused) = (0, 0);
    for i in 0..400 {
        let mut bytes = valid.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        let path = dir.path().join(format!("m{i}.onnx"));
        std::fs::write(&path, &bytes).unwrap();
        let (code, _, err) = nnslim(["inspect".as_ref(), path.as_os_str()]);
        match code {
            0 => read += 1,
            1 if !err.trim().is_empty() => refused += 1,
            _ => panic!("mutant {i}: exit {code}: {err}"),
        }
    }
    println!("400 mutants: {read} read, {refused} refused");
    assert!(
        refused > 50,
        "mutations should break most files ({refused} refused)"
    );
}
