//! `nnslim compile`: `fold` on the fixtures and the light models (seeded random weights) gives
//! models that pass `onnx.checker` and match the original in ONNX Runtime, leaves no more compute
//! nodes than the peer (onnxsim + onnxoptimizer, counts recorded by `scripts/compare_fold.py` in
//! `tests/manifests/fold_peer.txt`), and removes every BatchNormalization of the mobile fixture.
//! Plus the report, `--print-after`, `--stop-after` and option errors.

use nnslim::ir::{Dim, Model};
use nnslim_tests::{
    Pair, compile_report, fixture, nnslim, ort_compare, testdata_dir, workspace_root,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn load(path: &Path) -> Model {
    nnslim::frontend::load(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .model
}

/// `--input-shape NAME=...` arguments fixing every real input at batch 1.
fn batch1_shapes(model: &Model) -> Vec<String> {
    let mut args = Vec::new();
    for (name, ty) in nnslim::exec::real_inputs(model) {
        let dims = ty.shape().expect("inputs have a rank");
        let dims: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Dim::Known(n) => n.to_string(),
                _ => "1".to_string(),
            })
            .collect();
        args.push("--input-shape".to_string());
        args.push(format!("{name}={}", dims.join(",")));
    }
    args
}

/// Peer compute-node counts per model (`scripts/compare_fold.py`).
fn peer_counts() -> BTreeMap<String, usize> {
    let path = workspace_root().join("tests/manifests/fold_peer.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next().expect("model name").to_string();
            let n = it
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("fold_peer.txt: bad line {l:?}"));
            (name, n)
        })
        .collect()
}

struct Compiled {
    name: String,
    original: PathBuf,
    output: PathBuf,
    report: Value,
}

fn compile_fold(original: &Path, dir: &Path, extra: &[&str]) -> Compiled {
    let name = original
        .file_stem()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let output = dir.join(format!("{name}.fold.onnx"));
    let report_path = dir.join(format!("{name}.report.json"));
    let mut args: Vec<String> = vec![
        "compile".into(),
        original.display().to_string(),
        "-o".into(),
        output.display().to_string(),
        "--passes".into(),
        "fold".into(),
        "--report".into(),
        report_path.display().to_string(),
        "--quiet".into(),
    ];
    args.extend(batch1_shapes(&load(original)));
    args.extend(extra.iter().map(|s| s.to_string()));
    let (code, _, err) = nnslim(&args);
    assert_eq!(code, 0, "{name}: {err}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report_path).expect("report written"))
            .expect("report is JSON");
    Compiled {
        name,
        original: original.to_path_buf(),
        output,
        report,
    }
}

#[test]
fn fold_matches_onnx_runtime_and_the_peer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut models: Vec<PathBuf> = ["seed_cnn_fashion", "mobile_cnn_fashion", "digits_mlp"]
        .iter()
        .map(|m| fixture(&format!("{m}.onnx")))
        .collect();
    let light = testdata_dir().join("light_random");
    let mut light_models: Vec<PathBuf> = std::fs::read_dir(&light)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/gen_testdata.py)", light.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    light_models.sort();
    assert_eq!(light_models.len(), 9, "light models with random weights");
    models.extend(light_models);

    let peer = peer_counts();
    let mut compiled = Vec::new();
    for m in &models {
        // One random fidelity run keeps the big light models quick; ORT checks numerics below.
        let c = compile_fold(m, dir.path(), &["--fidelity-runs", "1"]);
        let rows = c.report["rows"].as_array().expect("rows");
        let (before, after) = (&rows[0], &rows[rows.len() - 1]);
        let (cb, ca) = (
            before["compute_nodes"].as_u64().expect("count"),
            after["compute_nodes"].as_u64().expect("count"),
        );
        assert!(
            ca <= cb,
            "{}: fold added compute nodes ({cb} → {ca})",
            c.name
        );
        let peer_n = *peer
            .get(&c.name)
            .unwrap_or_else(|| panic!("{}: no peer count in fold_peer.txt", c.name));
        assert!(
            ca as usize <= peer_n,
            "{}: {ca} compute nodes after fold, the peer leaves {peer_n}",
            c.name
        );
        let fid = &after["fidelity"];
        assert!(
            fid["max_rel_error"].as_f64().expect("fidelity measured") < 1e-4,
            "{}: {fid}",
            c.name
        );
        compiled.push(c);
    }

    let mobile = compiled
        .iter()
        .find(|c| c.name == "mobile_cnn_fashion")
        .expect("mobile fixture");
    let folded = load(&mobile.output);
    let bn = nnslim::ir::stats::graph_stats(&folded.graph)
        .ops
        .get("BatchNormalization")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        bn, 0,
        "fold leaves {bn} BatchNormalization nodes in the mobile CNN"
    );
    let bn_before =
        nnslim::ir::stats::graph_stats(&load(&mobile.original).graph).ops["BatchNormalization"];
    assert_eq!(bn_before, 7);

    let pairs: Vec<Pair> = compiled
        .iter()
        .map(|c| Pair {
            name: c.name.clone(),
            original: c.original.clone(),
            converted: c.output.clone(),
            check_model: true,
            random_inputs: Some(7),
            tolerance: true,
            ..Pair::default()
        })
        .collect();
    let results = ort_compare(&pairs, dir.path());
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, e)| e.as_ref().map(|e| format!("{n}: {e}")))
        .collect();
    assert_eq!(results.len(), pairs.len());
    assert!(failed.is_empty(), "ORT mismatches:\n{}", failed.join("\n"));
}

#[test]
fn report_rows_print_after_and_stop_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.onnx");
    let report = dir.path().join("r.json");
    let seed = fixture("seed_cnn_fashion.onnx");
    let (code, stdout, err) = nnslim([
        "compile".as_ref(),
        seed.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--passes".as_ref(),
        "eliminate-dead, fold(fuse-batchnorm=off), eliminate-common".as_ref(),
        "--validate-with".as_ref(),
        "fashion-mnist:train:0..512".as_ref(),
        "--print-after".as_ref(),
        "fold".as_ref(),
        "--stop-after".as_ref(),
        "fold".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("; after fold(fuse-batchnorm=off)\nmodel "),
        "{stdout}"
    );
    assert!(stdout.contains("stopped after fold"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out)
            .expect("output")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "an ordinary file, not a private temporary"
        );
    }
    let r: Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let rows = r["rows"].as_array().expect("rows");
    let passes: Vec<&str> = rows
        .iter()
        .map(|r| r["pass"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(passes, ["input", "eliminate-dead", "fold"]);
    assert_eq!(r["stopped_after"], "fold(fuse-batchnorm=off)");
    for row in rows {
        for key in [
            "nodes",
            "compute_nodes",
            "params",
            "bytes_total",
            "macs",
            "wall_ms",
        ] {
            assert!(row[key].is_number(), "{key} in {row}");
        }
        assert!(row["bytes"]["f32"].as_u64().is_some_and(|b| b > 0), "{row}");
        let f = &row["fidelity"];
        assert_eq!(f["samples"], 512);
        assert_eq!(f["top1_agreement"], 1.0);
        // The seed CNN classifies the training images it learned from almost perfectly.
        assert!(f["accuracy"].as_f64().is_some_and(|a| a > 0.85), "{f}");
        assert_eq!(f["accuracy"], f["original_accuracy"]);
    }
    assert_eq!(rows[0]["macs"], rows[2]["macs"]);
    assert_eq!(r["fidelity_samples"], "fashion-mnist:train:0..512");
}

#[test]
fn bad_pipelines_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.onnx");
    let seed = fixture("seed_cnn_fashion.onnx");
    let missing = dir.path().join("missing.onnx");
    for (input, passes, extra, needle) in [
        (&seed, "fold,flod", vec![], "unknown pass 'flod' (known: "),
        (
            &seed,
            "fold(ratio=1)",
            vec![],
            "unknown option 'ratio' (known: max-const-mb",
        ),
        (
            &seed,
            "fold(max-const-mb=-1)",
            vec![],
            "'max-const-mb' must be a whole number",
        ),
        (&seed, "fold(fuse-pad=maybe)", vec![], "must be on or off"),
        (&seed, "fold(", vec![], "column"),
        (
            &seed,
            "fold",
            vec!["--stop-after", "prune"],
            "not in this pipeline",
        ),
        // The spec is checked before the model is read.
        (&missing, "nope", vec![], "unknown pass 'nope'"),
    ] {
        let mut args = vec![
            "compile".to_string(),
            input.display().to_string(),
            "-o".into(),
            out.display().to_string(),
            "--passes".into(),
            passes.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let (code, _, err) = nnslim(&args);
        assert_eq!(code, 1, "{passes}: {err}");
        assert!(err.contains(needle), "{passes}: {err}");
        assert!(!out.exists(), "{passes}: no output on failure");
    }
    for (name, needle) in [
        ("m.tflite", "TFLite output is not available yet"),
        ("m.bin", "unknown output format '.bin'"),
        ("m", "needs an extension"),
    ] {
        let o = dir.path().join(name);
        let (code, _, err) = nnslim([
            "compile".as_ref(),
            seed.as_os_str(),
            "-o".as_ref(),
            o.as_os_str(),
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!o.exists());
    }
}

#[test]
fn passes_lists_every_pass_with_options() {
    let (code, out, _) = nnslim(["passes"]);
    assert_eq!(code, 0);
    for p in ["fold", "fuse-batchnorm", "eliminate-dead", "max-const-mb"] {
        assert!(out.contains(p), "{p} missing from:\n{out}");
    }
}

#[test]
fn report_has_per_layer_stats_and_raw_and_gzip_file_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = fixture("seed_cnn_fashion.onnx");
    let out = dir.path().join("q.onnx");
    let r = compile_report(&input, &out, "fold,quantize(int8)", &[]);
    let layers = r["layers"].as_array().expect("layers");
    let names: Vec<&str> = layers.iter().filter_map(|l| l["layer"].as_str()).collect();
    assert_eq!(
        names,
        ["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm"]
    );
    // Quantized weights are found behind their DequantizeLinear; MACs add up to the row's.
    let params: Vec<u64> = layers.iter().filter_map(|l| l["params"].as_u64()).collect();
    assert_eq!(params, [288, 18432, 102400, 640]);
    let ranks: Vec<u64> = layers.iter().filter_map(|l| l["rank"].as_u64()).collect();
    assert_eq!(ranks, [9, 64, 64, 10]);
    let macs: u64 = layers.iter().filter_map(|l| l["macs"].as_u64()).sum();
    let rows = r["rows"].as_array().expect("rows");
    assert_eq!(Some(macs), rows.last().and_then(|row| row["macs"].as_u64()));
    // Files: the sizes on disk, and gzip ones that are smaller but not absurdly so.
    let f = &r["files"];
    let on_disk = |p: &Path| std::fs::metadata(p).expect("file").len();
    assert_eq!(f["input_bytes"].as_u64(), Some(on_disk(&input)));
    assert_eq!(f["output_bytes"].as_u64(), Some(on_disk(&out)));
    for (gz, raw) in [
        ("input_gzip_bytes", "input_bytes"),
        ("output_gzip_bytes", "output_bytes"),
    ] {
        let (gz, raw) = (f[gz].as_u64().expect("gzip"), f[raw].as_u64().expect("raw"));
        assert!(gz < raw && gz > raw / 4, "{gz} vs {raw}");
    }
    // Weights that int8 rounds to zero count as zero parameters (sparsity of the weights).
    let sparsity = rows
        .last()
        .and_then(|row| row["sparsity"].as_f64())
        .expect("sparsity");
    assert!(
        (0.0..0.05).contains(&sparsity),
        "int8 rounding zeroes few weights: {sparsity}"
    );
}
