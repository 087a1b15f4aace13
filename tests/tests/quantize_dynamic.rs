//! Dynamic int8 quantization (`quantize(dynamic)`) through the CLI, judged by ONNX Runtime:
//! accuracy of the digits MLP on `digits_test.npz` and of the seed CNN on the 10 000
//! Fashion-MNIST test images against the float models, `onnx.checker`, the file size, the
//! emitted op pattern (and that ONNX Runtime fuses it into `DynamicQuantizeMatMul`), the
//! per-layer report, and the interpreter's fidelity row on the emitted model.

use nnslim::frontend::load_model;
use nnslim_ir::stats::graph_stats;
use nnslim_tests::{compile_report, fixture, ort_accuracy, pass_row, python};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Compiles `model` with `quantize(dynamic)` (plus `extra` arguments); returns the report.
fn compile(model: &Path, out: &Path, extra: &[&str]) -> Value {
    compile_report(model, out, "quantize(dynamic)", extra)
}

/// Correct predictions, after checking `onnx.checker` passed and every sample was scored.
fn correct(v: &Value, samples: i64) -> i64 {
    assert_eq!(v["checker"], Value::Null, "onnx.checker: {}", v["checker"]);
    assert_eq!(v["samples"], samples);
    v["correct"].as_i64().expect("correct")
}

/// The op histogram of a model file as nnslim reads it.
fn ops(model: &Path) -> BTreeMap<String, usize> {
    graph_stats(&load_model(model).expect("load").graph).ops
}

/// The op types of the graph ONNX Runtime runs after its optimisations (fusions included).
fn ort_optimized_ops(model: &Path, scratch: &Path) -> Vec<String> {
    let script = r#"
import sys, onnx, onnxruntime as ort
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
so.optimized_model_filepath = sys.argv[2]
ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
print(" ".join(n.op_type for n in onnx.load(sys.argv[2]).graph.node))
"#;
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(model)
        .arg(scratch.join("ort_optimized.onnx"))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "ORT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn digits_mlp_dynamic_int8_keeps_accuracy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let float = fixture("digits_mlp.onnx");
    let data = fixture("digits_test.npz");
    let ours = dir.path().join("digits_dynamic.onnx");
    let report = compile(
        &float,
        &ours,
        &["--validate-with", data.to_str().expect("utf-8 path")],
    );

    // ONNX Runtime: at most 1 correct prediction per 100 lost (360 samples: 3).
    let base = correct(&ort_accuracy(&float, data.to_str().unwrap()), 360);
    let q = ort_accuracy(&ours, data.to_str().unwrap());
    let got = correct(&q, 360);
    println!(
        "digits MLP: float {base}/360, dynamic int8 {got}/360, {} bytes",
        q["bytes"]
    );
    assert_eq!(base, 350);
    assert!(
        (base - got) * 100 <= 360,
        "dropped {} predictions",
        base - got
    );

    // The form ONNX Runtime's quantize_dynamic emits, which it fuses into one kernel a layer.
    let hist = ops(&ours);
    assert_eq!(hist.get("DynamicQuantizeLinear"), Some(&3), "{hist:?}");
    assert_eq!(hist.get("MatMulInteger"), Some(&3), "{hist:?}");
    assert!(!hist.contains_key("Gemm"), "{hist:?}");
    let fused = ort_optimized_ops(&ours, dir.path());
    let n = fused
        .iter()
        .filter(|o| *o == "DynamicQuantizeMatMul")
        .count();
    assert_eq!(n, 3, "ONNX Runtime ran {fused:?}");
    assert!(!fused.iter().any(|o| o == "MatMulInteger"), "{fused:?}");

    // Int8 weights: the file shrinks to well under half.
    let float_bytes = std::fs::metadata(&float).expect("float").len();
    assert!(q["bytes"].as_u64().unwrap() * 2 < float_bytes, "{q}");

    // Per-layer report and the interpreter's fidelity row on the emitted model.
    let row = pass_row(&report, "quantize");
    let layers = row["details"]["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 3);
    for l in layers {
        assert!(l["weight_sqnr_db"].as_f64().unwrap() > 35.0, "{l}");
        let (before, after) = (l["bytes_before"].as_u64(), l["bytes_after"].as_u64());
        assert!(after.unwrap() * 3 < before.unwrap(), "{l}");
    }
    let f = &row["fidelity"];
    assert!(f["top1_agreement"].as_f64().unwrap() >= 0.97, "{f}");
    assert!(f["sqnr_db"].as_f64().unwrap() > 30.0, "{f}");
    let (acc, orig) = (f["accuracy"].as_f64(), f["original_accuracy"].as_f64());
    assert!(acc.unwrap() >= orig.unwrap() - 0.01, "{f}");
}

#[test]
fn seed_cnn_dynamic_int8_quantizes_the_fully_connected_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let float = fixture("seed_cnn_fashion.onnx");
    let ours = dir.path().join("seed_dynamic.onnx");
    let report = compile(&float, &ours, &[]);

    let base = correct(&ort_accuracy(&float, "fashion-mnist"), 10_000);
    let q = ort_accuracy(&ours, "fashion-mnist");
    let got = correct(&q, 10_000);
    let float_bytes = std::fs::metadata(&float).expect("float").len();
    let bytes = q["bytes"].as_u64().unwrap();
    println!(
        "seed CNN: float {base}/10000, dynamic int8 {got}/10000 ({:+.2} points), {bytes} bytes \
         ({:.1} % of {float_bytes})",
        (got - base) as f64 / 100.0,
        100.0 * bytes as f64 / float_bytes as f64
    );
    assert_eq!(base, 9114);
    // Measured +0.04 points; the convolutions stay float.
    assert!(
        base - got <= 30,
        "dropped {} points",
        (base - got) as f64 / 100.0
    );
    assert!(
        bytes * 100 <= float_bytes * 40,
        "{bytes} of {float_bytes} bytes"
    );
    let hist = ops(&ours);
    assert_eq!(hist.get("Conv"), Some(&2), "{hist:?}");
    assert_eq!(hist.get("MatMulInteger"), Some(&2), "{hist:?}");
    let fused = ort_optimized_ops(&ours, dir.path());
    let n = fused
        .iter()
        .filter(|o| *o == "DynamicQuantizeMatMul")
        .count();
    assert_eq!(n, 2, "ONNX Runtime ran {fused:?}");

    let row = pass_row(&report, "quantize");
    let layers: Vec<&str> = row["details"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["layer"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(layers, ["/fc1/Gemm", "/fc2/Gemm"]);
    assert!(row["fidelity"]["top1_agreement"].as_f64().unwrap() >= 0.75);
}
