//! Lossless round trip through the IR: every ONNX node test that ONNX Runtime runs and every
//! ONNX "light" model (as shipped, and with seeded random weights) goes through `nnslim convert`;
//! each result must pass `onnx.checker` and give bit-identical ONNX Runtime outputs. Fails on any
//! regression from `tests/manifests/roundtrip.txt`.

use nnslim_tests::{
    Pair, check_manifest, nnslim, numbered_inputs, ort_compare, testdata_dir, workspace_root,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::PathBuf;

struct Case {
    name: String,
    original: PathBuf,
    inputs: Vec<PathBuf>,
}

fn cases() -> Vec<Case> {
    let td = testdata_dir();
    let mut cases = Vec::new();
    let runnable = std::fs::read_to_string(td.join("node_ort.txt")).expect("node_ort.txt");
    for name in runnable.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let dir = td.join("node").join(name);
        cases.push(Case {
            name: format!("node/{name}"),
            original: dir.join("model.onnx"),
            inputs: numbered_inputs(&dir.join("test_data_set_0")),
        });
    }
    for kind in ["light", "light_random"] {
        let mut models: Vec<PathBuf> = std::fs::read_dir(td.join(kind))
            .expect("light models")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect();
        models.sort();
        for m in models {
            let stem = m
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            cases.push(Case {
                name: format!("{kind}/{stem}"),
                inputs: numbered_inputs(&td.join("light_inputs").join(&stem)),
                original: m,
            });
        }
    }
    cases
}

#[test]
fn convert_round_trips_bit_identically() {
    let cases = cases();
    assert!(
        cases.len() >= 1500,
        "only {} cases: test data incomplete",
        cases.len()
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut pairs = Vec::new();
    // Convert in two threads (the CI machine has two cores).
    let results: Vec<(usize, u8, String)> = std::thread::scope(|s| {
        let chunks: Vec<Vec<usize>> = (0..2)
            .map(|t| (0..cases.len()).filter(|i| i % 2 == t).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|idx| {
                let cases = &cases;
                let dir = scratch.path();
                s.spawn(move || {
                    idx.into_iter()
                        .map(|i| {
                            let out = dir.join(format!("{i}.onnx"));
                            let (code, _, err) = nnslim([
                                OsStr::new("convert"),
                                cases[i].original.as_os_str(),
                                out.as_os_str(),
                            ]);
                            (i, code, err)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("convert thread"))
            .collect()
    });
    for (i, code, err) in results {
        let case = &cases[i];
        if code == 0 {
            pairs.push(Pair {
                name: case.name.clone(),
                original: case.original.clone(),
                converted: scratch.path().join(format!("{i}.onnx")),
                inputs: case.inputs.clone(),
                check_model: true,
                ..Pair::default()
            });
        } else {
            failures.insert(
                case.name.clone(),
                format!("convert exit {code}: {}", err.trim()),
            );
        }
    }
    for (name, err) in ort_compare(&pairs, scratch.path()) {
        if let Some(e) = err {
            failures.insert(name, e);
        }
    }
    let passing: BTreeSet<String> = cases
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| !failures.contains_key(n))
        .collect();
    println!(
        "round trip: {} passed, {} failed, of {} (node tests ORT runs + light + light_random)",
        passing.len(),
        failures.len(),
        cases.len()
    );
    for (n, e) in failures.iter().take(40) {
        println!("  FAIL {n}: {}", e.lines().next().unwrap_or(""));
    }
    check_manifest(
        &workspace_root().join("tests/manifests/roundtrip.txt"),
        &passing,
        &failures,
    );
}
