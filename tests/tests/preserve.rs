//! `nnslim convert` keeps what a model file says beyond its math: metadata, doc strings, node
//! names (empty and duplicated ones too), value_info, a sparse initializer, a model-local
//! function and If subgraphs that read outer values — and the result runs identically.

use nnslim_proto::decode_model;
use nnslim_proto::onnx;
use nnslim_tests::{Pair, nnslim, ort_compare, python, workspace_root};

fn kv(p: &[onnx::StringStringEntryProto]) -> Vec<(String, String)> {
    p.iter()
        .map(|e| (e.key().to_string(), e.value().to_string()))
        .collect()
}

#[test]
fn convert_keeps_everything_the_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("preserve.onnx");
    let input = dir.path().join("input_0.pb");
    let st = std::process::Command::new(python())
        .arg(workspace_root().join("tests/scripts/make_preserve_model.py"))
        .arg(&src)
        .arg(&input)
        .status()
        .unwrap();
    assert!(st.success(), "make_preserve_model.py failed");
    let out = dir.path().join("out.onnx");
    let (code, _, err) = nnslim(["convert".as_ref(), src.as_os_str(), out.as_os_str()]);
    assert_eq!(code, 0, "{err}");

    let a = decode_model(&std::fs::read(&src).unwrap()).unwrap();
    let b = decode_model(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(a.ir_version, b.ir_version);
    assert_eq!(a.opset_import, b.opset_import);
    assert_eq!(a.producer_name(), b.producer_name());
    assert_eq!(a.producer_version(), b.producer_version());
    assert_eq!(a.doc_string(), b.doc_string());
    assert_eq!(kv(&a.metadata_props), kv(&b.metadata_props));
    assert_eq!(a.functions, b.functions, "model-local function kept as is");

    let (ga, gb) = (a.graph.unwrap(), b.graph.unwrap());
    assert_eq!(ga.name(), gb.name());
    assert_eq!(ga.doc_string(), gb.doc_string());
    assert_eq!(ga.input, gb.input);
    assert_eq!(ga.output, gb.output);
    assert_eq!(ga.value_info, gb.value_info);
    assert_eq!(ga.initializer, gb.initializer);
    assert_eq!(
        ga.sparse_initializer.len(),
        1,
        "fixture has a sparse initializer"
    );
    assert_eq!(ga.sparse_initializer, gb.sparse_initializer);
    let names = |g: &onnx::GraphProto| -> Vec<(String, String, Vec<String>, Vec<String>)> {
        g.node
            .iter()
            .map(|n| {
                (
                    n.name().to_string(),
                    n.op_type().to_string(),
                    n.input.clone(),
                    n.output.clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&ga),
        names(&gb),
        "node names, types and wiring kept in order"
    );
    assert_eq!(ga.node[0].doc_string(), gb.node[0].doc_string());
    assert_eq!(
        kv(&ga.node[0].metadata_props),
        kv(&gb.node[0].metadata_props)
    );
    let branch = |g: &onnx::GraphProto| g.node[4].attribute.clone();
    let (ba, bb) = (branch(&ga), branch(&gb));
    assert_eq!(ba.len(), 2);
    for (x, y) in ba.iter().zip(&bb) {
        assert_eq!(x.name(), y.name());
        let (sx, sy) = (x.g.as_ref().unwrap(), y.g.as_ref().unwrap());
        assert_eq!(names(sx), names(sy), "subgraph {} kept", x.name());
        assert_eq!(sx.output, sy.output);
    }

    let results = ort_compare(
        &[Pair {
            name: "preserve".into(),
            original: src.clone(),
            converted: out.clone(),
            inputs: vec![input],
            check_model: true,
            ..Pair::default()
        }],
        dir.path(),
    );
    assert_eq!(results.get("preserve"), Some(&None), "{results:?}");
}
