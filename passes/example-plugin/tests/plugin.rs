//! The plug-in pass runs through a spec string, shows in the report, and its output still runs
//! in ONNX Runtime with the original's results.

use nnslim_tests::{Pair, ort_compare, workspace_root};
use serde_json::Value;

fn cli(args: &[&std::ffi::OsStr]) -> (u8, String, String) {
    let mut argv: Vec<std::ffi::OsString> = vec!["nnslim".into()];
    argv.extend(args.iter().map(|a| a.to_os_string()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = nnslim::cli::main_with_registry(
        argv,
        &nnslim_example_plugin::registry(),
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn custom_pass_runs_by_name_and_shows_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = workspace_root().join("tests/fixtures/seed_cnn_fashion.onnx");
    let out = dir.path().join("named.onnx");
    let report = dir.path().join("report.json");
    let (code, stdout, err) = cli(&[
        "compile".as_ref(),
        model.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--passes".as_ref(),
        "fold, name-nodes(prefix=seed)".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("name-nodes(prefix=seed)"), "{stdout}");
    assert!(stdout.contains("name-nodes: named "), "{stdout}");

    let r: Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let rows = r["rows"].as_array().expect("rows");
    let last = &rows[rows.len() - 1];
    assert_eq!(last["pass"], "name-nodes");
    assert_eq!(r["pipeline"], "fold,name-nodes(prefix=seed)");
    let named = last["details"]["named"].as_u64().expect("named count");
    assert_eq!(last["changed"], named > 0);

    // Every node of the result has a unique name, and it runs as the original does.
    let m = nnslim::frontend::load(&out).expect("output loads").model;
    let names: Vec<String> = m
        .graph
        .compute_nodes()
        .expect("acyclic")
        .into_iter()
        .map(|n| m.graph.node(n).name.clone())
        .collect();
    assert!(names.iter().all(|n| !n.is_empty()), "{names:?}");
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    let results = ort_compare(
        &[Pair {
            name: "named".into(),
            original: model,
            converted: out,
            check_model: true,
            random_inputs: Some(3),
            tolerance: true,
            ..Pair::default()
        }],
        dir.path(),
    );
    assert_eq!(results.get("named"), Some(&None), "{results:?}");
}

#[test]
fn the_builtin_cli_does_not_know_the_plugin_pass() {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = nnslim::cli::main_with(
        [
            "nnslim",
            "compile",
            "in.onnx",
            "-o",
            "out.onnx",
            "--passes",
            "name-nodes",
        ],
        &mut out,
        &mut err,
    );
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&err).contains("unknown pass 'name-nodes'"));
}
