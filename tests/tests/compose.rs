//! Compression passes composed on the seed CNN, judged by ONNX Runtime on the 10 000
//! Fashion-MNIST test images: pruning + quantization + sparse storage (accuracy drop and
//! gzip-compressed size, the measure Deep Compression reports), the full five-pass pipeline,
//! and sparse storage of a heavily pruned float model (raw size).

use nnslim_tests::{compile_report, correct_of, fixture, nnslim, ort_accuracy};
use serde_json::Value;

const FLOAT_CORRECT: i64 = 9114;

fn files(r: &Value) -> (u64, u64, u64, u64) {
    let f = &r["files"];
    let get = |k: &str| {
        f[k].as_u64()
            .unwrap_or_else(|| panic!("report files.{k}: {f}"))
    };
    (
        get("input_bytes"),
        get("input_gzip_bytes"),
        get("output_bytes"),
        get("output_gzip_bytes"),
    )
}

#[test]
fn prune_quantize_sparsify_keeps_accuracy_at_a_tenth_of_the_gzip_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("deep.onnx");
    let r = compile_report(
        &fixture("seed_cnn_fashion.onnx"),
        &out,
        "fold,prune(ratio=0.8,method=sensitivity),quantize(int8),sparsify",
        &[],
    );
    let correct = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    let drop = (FLOAT_CORRECT - correct) as f64 / 100.0;
    let (raw0, gz0, raw, gz) = files(&r);
    let share = gz as f64 / gz0 as f64;
    println!(
        "pruned 80 % + int8 + sparse: {correct}/10000 (drop {drop:.2} points); raw {raw0} -> \
         {raw} B, gzip {gz0} -> {gz} B ({:.1} %)",
        share * 100.0
    );
    assert!(drop <= 2.0, "drop {drop:.2} points > 2");
    assert!(
        share <= 0.10,
        "gzip size {:.1} % of the original's > 10 %",
        share * 100.0
    );
}

#[test]
fn the_five_compression_passes_run_end_to_end_in_onnx_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("all.onnx");
    let spec =
        "fold,prune(ratio=0.8,method=sensitivity),low-rank(energy=0.95),quantize(int8),sparsify";
    let r = compile_report(&fixture("seed_cnn_fashion.onnx"), &out, spec, &[]);
    let passes: Vec<&str> = r["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["pass"].as_str())
        .collect();
    assert_eq!(
        passes,
        ["input", "fold", "prune", "low-rank", "quantize", "sparsify"]
    );
    let correct = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    let (_, gz0, _, gz) = files(&r);
    println!(
        "{spec}: {correct}/10000 (drop {:.2} points), gzip {gz0} -> {gz} B",
        (FLOAT_CORRECT - correct) as f64 / 100.0
    );
    assert!(
        correct > 8000,
        "the composed model still classifies: {correct}"
    );
}

#[test]
fn sparse_storage_of_a_90_percent_pruned_model_is_at_most_40_percent_of_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sparse.onnx");
    let r = compile_report(
        &fixture("seed_cnn_fashion.onnx"),
        &out,
        "prune(ratio=0.9),sparsify",
        &[],
    );
    let (raw0, _, raw, _) = files(&r);
    let share = raw as f64 / raw0 as f64;
    let correct = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    println!(
        "prune 90 % + sparsify: raw {raw0} -> {raw} B ({:.1} %), {correct}/10000",
        share * 100.0
    );
    assert!(share <= 0.40, "raw size {:.1} % > 40 %", share * 100.0);
    // `inspect` counts the zeros whether weights are stored dense or sparse.
    let args = [
        std::ffi::OsStr::new("inspect"),
        out.as_os_str(),
        std::ffi::OsStr::new("--json"),
    ];
    let (code, json, err) = nnslim(args);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&json).expect("inspect --json");
    let (zeros, params) = (v["zero_params"].as_u64(), v["params"].as_u64());
    let share = zeros.unwrap_or(0) as f64 / params.unwrap_or(1) as f64;
    assert!(
        (0.89..0.91).contains(&share),
        "zeros {zeros:?} of {params:?}"
    );
}
