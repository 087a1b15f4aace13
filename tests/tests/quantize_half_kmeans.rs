//! `quantize(fp16)`, `quantize(bf16)` and `quantize(kmeans=16[, per=channel])` through the real
//! CLI on the fixtures: every output passes `onnx.checker`, runs in ONNX Runtime within the
//! accuracy and size bounds of issue 6 on the 10 000 Fashion-MNIST test images, and the report
//! lists each quantized layer with a finite weight SQNR.

use nnslim_tests::{compile_report, correct_of, fixture, ort_accuracy, pass_row};
use serde_json::Value;
use std::path::Path;

/// What ONNX Runtime says about a compiled model, and the `quantize` row of its report.
struct Outcome {
    correct: i64,
    bytes: u64,
    layers: Vec<Value>,
}

/// Compiles `model` with `passes` (plus `extra` arguments) into `dir`, checks that the CLI
/// succeeds and `onnx.checker` passes, and measures ONNX Runtime's accuracy.
fn compile(dir: &Path, model: &Path, passes: &str, extra: &[&str]) -> Outcome {
    let stem: String = passes
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let out = dir.join(format!("{stem}.onnx"));
    let report = compile_report(model, &out, passes, extra);
    let ort = ort_accuracy(&out, "fashion-mnist");
    let correct = correct_of(&ort);
    let row = pass_row(&report, "quantize");
    Outcome {
        correct,
        bytes: ort["bytes"].as_u64().expect("bytes"),
        layers: row["details"]["layers"].as_array().expect("layers").clone(),
    }
}

/// ONNX Runtime's correct predictions and file size for an unquantized model.
fn float(model: &Path) -> (i64, u64) {
    let ort = ort_accuracy(model, "fashion-mnist");
    (
        ort["correct"].as_i64().expect("correct"),
        ort["bytes"].as_u64().expect("bytes"),
    )
}

/// Asserts the accuracy drop (points) and size fraction bounds, and that the report lists
/// `layers` (by name, in order) with finite weight SQNR above `min_sqnr` and fewer bytes.
fn check(
    what: &str,
    got: &Outcome,
    base: (i64, u64),
    max_drop_points: f64,
    max_size: f64,
    layers: &[&str],
    min_sqnr: f64,
) {
    let drop = (base.0 - got.correct) as f64 / 100.0;
    let size = got.bytes as f64 / base.1 as f64;
    eprintln!(
        "{what}: {} correct (drop {drop:.2} points), {} bytes ({:.1} % of float)",
        got.correct,
        got.bytes,
        100.0 * size
    );
    assert!(
        drop <= max_drop_points,
        "{what}: drop {drop} > {max_drop_points}"
    );
    assert!(size <= max_size, "{what}: size {size} > {max_size}");
    let names: Vec<&str> = got
        .layers
        .iter()
        .map(|l| l["layer"].as_str().expect("layer name"))
        .collect();
    assert_eq!(names, layers, "{what}");
    for l in &got.layers {
        let db = l["weight_sqnr_db"]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: weight SQNR not a finite number: {l}"));
        assert!(db.is_finite() && db > min_sqnr, "{what}: {l}");
        assert!(
            l["bytes_after"].as_u64() < l["bytes_before"].as_u64(),
            "{what}: {l}"
        );
        assert!(l["params"].as_u64().is_some_and(|p| p > 0), "{what}: {l}");
    }
}

const SEED_LAYERS: [&str; 4] = ["/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm"];

#[test]
fn seed_cnn_fp16_and_bf16() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("seed_cnn_fashion.onnx");
    let base = float(&model);
    let fp16 = compile(dir.path(), &model, "quantize(fp16)", &[]);
    check("seed fp16", &fp16, base, 0.05, 0.52, &SEED_LAYERS, 60.0);
    // bf16 keeps 8 bits of mantissa: same size, a little more noise.
    let bf16 = compile(dir.path(), &model, "quantize(bf16)", &[]);
    check("seed bf16", &bf16, base, 0.2, 0.52, &SEED_LAYERS, 45.0);
}

#[test]
fn seed_cnn_kmeans16_per_tensor_and_per_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("seed_cnn_fashion.onnx");
    let base = float(&model);
    let tensor = compile(dir.path(), &model, "quantize(kmeans=16)", &[]);
    check(
        "seed kmeans=16",
        &tensor,
        base,
        1.0,
        0.20,
        &SEED_LAYERS,
        15.0,
    );
    // Per channel, conv1 (32 channels of 9 weights) would not shrink and stays float.
    let channel = compile(dir.path(), &model, "quantize(kmeans=16, per=channel)", &[]);
    check(
        "seed kmeans=16 per=channel",
        &channel,
        base,
        1.0,
        0.20,
        &SEED_LAYERS[1..],
        15.0,
    );
    // Clustering is deterministic: another pipeline seed writes the same file.
    let again = dir.path().join("again");
    std::fs::create_dir(&again).expect("mkdir");
    let other = compile(&again, &model, "quantize(kmeans=16)", &["--seed", "7"]);
    assert_eq!(other.correct, tensor.correct);
    let file = |d: &Path| std::fs::read(d.join("quantize_kmeans_16_.onnx")).expect("output");
    assert_eq!(file(dir.path()), file(&again));
}

#[test]
fn mobile_cnn_after_fold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("mobile_cnn_fashion.onnx");
    let base = float(&model);
    let all = [
        "/stem/stem.0/Conv",
        "/block1/dw/dw.0/Conv",
        "/block1/pw/pw.0/Conv",
        "/block2/dw/dw.0/Conv",
        "/block2/pw/pw.0/Conv",
        "/block3/dw/dw.0/Conv",
        "/block3/pw/pw.0/Conv",
        "/fc/Gemm",
    ];
    let fp16 = compile(dir.path(), &model, "fold,quantize(fp16)", &[]);
    check("mobile fp16", &fp16, base, 0.05, 0.52, &all, 60.0);
    // After BatchNorm folding the channels' scales differ by up to 10×: one codebook per
    // channel keeps accuracy, but only the larger layers shrink with it (a depthwise channel
    // has 9 weights); one codebook per tensor shrinks everything and costs about 3.5 points.
    let channel = compile(
        dir.path(),
        &model,
        "fold,quantize(kmeans=16, per=channel)",
        &[],
    );
    check(
        "mobile kmeans=16 per=channel",
        &channel,
        base,
        1.0,
        0.60,
        &["/block2/pw/pw.0/Conv", "/block3/pw/pw.0/Conv", "/fc/Gemm"],
        15.0,
    );
    let tensor = compile(dir.path(), &model, "fold,quantize(kmeans=16)", &[]);
    check("mobile kmeans=16", &tensor, base, 4.0, 0.35, &all, 15.0);
}
