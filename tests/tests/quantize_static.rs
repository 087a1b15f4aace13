//! Static int8 quantization (QDQ) on the fixtures, judged by ONNX Runtime on the 10 000
//! Fashion-MNIST test images: the accuracy drop against the float model and against ONNX
//! Runtime's own `quantize_static` on the same 256 calibration images, the file size, the
//! per-layer diagnosis in the report, and the accuracy floor on the mobile CNN.

use nnslim_tests::{compile_report, correct_of, fixture, nnslim, ort_accuracy, python};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// ONNX Runtime's `quantize_static` (QDQ, per-channel int8 weights, uint8 activations, MinMax)
/// on the first `n` training images; returns the quantized model's path.
fn ort_quantize(model: &Path, out: &Path, n: usize) -> PathBuf {
    let script = r#"
import gzip, sys, numpy as np
from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantFormat, QuantType
model, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(16 + n * 784), np.uint8, offset=16).reshape(n, 1, 28, 28).astype(np.float32) / 255
class Reader(CalibrationDataReader):
    def __init__(self): self.i = 0
    def get_next(self):
        if self.i >= n: return None
        self.i += 1
        return {"input": x[self.i - 1 : self.i]}
quantize_static(model, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
"#;
    let status = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(model)
        .arg(out)
        .arg(n.to_string())
        .status()
        .expect("run python");
    assert!(status.success(), "ORT quantize_static failed");
    out.to_path_buf()
}

#[test]
fn seed_cnn_int8_matches_or_beats_onnx_runtime_quantizer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let float = fixture("seed_cnn_fashion.onnx");
    let ours = dir.path().join("seed_int8.onnx");
    let report = compile_report(
        &float,
        &ours,
        "fold,quantize(int8)",
        &["--calib", "fashion-mnist:train:256"],
    );
    let base = correct_of(&ort_accuracy(&float, "fashion-mnist"));
    let got = ort_accuracy(&ours, "fashion-mnist");
    let q = correct_of(&got);
    let theirs = ort_quantize(&float, &dir.path().join("seed_ort.onnx"), 256);
    let ort_q = correct_of(&ort_accuracy(&theirs, "fashion-mnist"));
    let (drop, ort_drop) = ((base - q) as f64 / 100.0, (base - ort_q) as f64 / 100.0);
    let size = got["bytes"].as_f64().expect("bytes")
        / std::fs::metadata(&float).expect("float").len() as f64;
    println!(
        "seed CNN int8: float {base}, nnslim {q} (drop {drop:.2} pts), ORT quantizer {ort_q} \
         (drop {ort_drop:.2} pts); file {:.1} % of float",
        size * 100.0
    );
    assert!(drop <= 0.3, "drop {drop} points");
    assert!(drop <= ort_drop + 0.1, "drop {drop} vs ORT's {ort_drop}");
    assert!(size <= 0.30, "file {:.1} % of the float file", size * 100.0);

    // The report diagnoses every quantized layer.
    let row = report["rows"]
        .as_array()
        .expect("rows")
        .last()
        .cloned()
        .expect("row");
    assert_eq!(row["pass"], "quantize");
    let layers = row["details"]["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 4, "2 Conv + 2 Gemm");
    for l in layers {
        assert!(
            l["weight_sqnr_db"].as_f64().is_some_and(|s| s > 30.0),
            "{l}"
        );
        assert!(
            l["output_sqnr_db"].as_f64().is_some_and(|s| s > 10.0),
            "{l}"
        );
    }
    assert_eq!(
        row["details"]["sensitivity"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(row["details"]["kept_float"], serde_json::json!([]));
}

#[test]
fn mobile_cnn_int8_and_accuracy_floor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let float = fixture("mobile_cnn_fashion.onnx");
    let base = correct_of(&ort_accuracy(&float, "fashion-mnist"));

    let plain = dir.path().join("mobile_int8.onnx");
    compile_report(&float, &plain, "fold,quantize(int8)", &[]);
    let q = correct_of(&ort_accuracy(&plain, "fashion-mnist"));
    let drop = (base - q) as f64 / 100.0;
    println!("mobile CNN int8: float {base}, nnslim {q} (drop {drop:.2} pts)");
    assert!(drop <= 1.0, "drop {drop} points");

    let floored = dir.path().join("mobile_floor.onnx");
    let report = compile_report(
        &float,
        &floored,
        "fold,quantize(int8)",
        &[
            "--max-accuracy-drop",
            "0.2",
            "--validate-with",
            "fashion-mnist:train:50000..60000",
        ],
    );
    let qf = correct_of(&ort_accuracy(&floored, "fashion-mnist"));
    let drop_f = (base - qf) as f64 / 100.0;
    let row = report["rows"]
        .as_array()
        .expect("rows")
        .last()
        .cloned()
        .expect("row");
    let kept = row["details"]["kept_float"].as_array().expect("kept_float");
    println!("mobile CNN int8 with floor: {qf} (drop {drop_f:.2} pts), kept in float: {kept:?}");
    assert!(drop_f <= 0.3, "drop {drop_f} points with the floor");
    let steps = row["details"]["floor_steps"]
        .as_array()
        .expect("floor steps");
    assert_eq!(steps.last().map(|s| &s["holds"]), Some(&Value::Bool(true)));
    assert_eq!(
        steps.len(),
        kept.len() + 1,
        "one layer kept in float per failed step"
    );
}

#[test]
fn static_int8_needs_data_it_can_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.onnx");
    let digits = fixture("digits_mlp.onnx");
    // No Fashion-MNIST-shaped input: --calib is required.
    let (code, _, err) = nnslim([
        "compile".as_ref(),
        digits.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--passes".as_ref(),
        "quantize(int8)".as_ref(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("needs calibration data: give --calib"),
        "{err}"
    );
    let seed = fixture("seed_cnn_fashion.onnx");
    let (code, _, err) = nnslim([
        "compile".as_ref(),
        seed.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--passes".as_ref(),
        "quantize(int8)".as_ref(),
        "--max-accuracy-drop".as_ref(),
        "0.5".as_ref(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("measured on --validate-with data"), "{err}");
    assert!(!out.exists());
}
