//! `nnslim inspect --json` agrees with numpy on parameters, node count and op histogram of the
//! fixtures and the light models, and its text report names what matters.

use nnslim_tests::{nnslim, python, testdata_dir, workspace_root};
use serde_json::Value;
use std::path::PathBuf;

fn models() -> Vec<PathBuf> {
    let mut models = Vec::new();
    for dir in [
        workspace_root().join("tests/fixtures"),
        testdata_dir().join("light"),
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect();
        found.sort();
        models.extend(found);
    }
    models
}

#[test]
fn json_counts_match_numpy() {
    let models = models();
    assert!(
        models.len() >= 12,
        "3 fixtures + 9 light models, found {}",
        models.len()
    );
    let out = std::process::Command::new(python())
        .arg(workspace_root().join("tests/scripts/count_params.py"))
        .args(&models)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let numpy: Value = serde_json::from_slice(&out.stdout).unwrap();
    for m in &models {
        let (code, stdout, err) = nnslim(["inspect".as_ref(), m.as_os_str(), "--json".as_ref()]);
        assert_eq!(code, 0, "{}: {err}", m.display());
        let ours: Value = serde_json::from_str(&stdout).unwrap();
        let want = &numpy[m.to_str().unwrap()];
        assert_eq!(ours["params"], want["params"], "params of {}", m.display());
        assert_eq!(ours["nodes"], want["nodes"], "nodes of {}", m.display());
        assert_eq!(ours["ops"], want["ops"], "ops of {}", m.display());
        assert!(ours["opaque"].is_array());
        assert!(
            ours["macs"].as_u64().unwrap() > 0,
            "MACs of {}",
            m.display()
        );
    }
}

#[test]
fn text_report_names_the_essentials() {
    let m = testdata_dir().join("light/light_squeezenet.onnx");
    let (code, out, err) = nnslim(["inspect".as_ref(), m.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "data_0  f32[1,3,224,224]",
        "opsets: ai.onnx 9",
        "Conv",
        "parameters: 1,235,613",
        "MACs per run: 349.15 M",
        "opaque ops: none",
        "external data: none",
    ] {
        assert!(out.contains(want), "report lacks {want:?}:\n{out}");
    }
}
