//! `sparsify` through the real CLI on the seed CNN: sparse storage of a copy whose weights are
//! 90 % zeros (zeroed here with onnx/numpy, smallest magnitudes first) is exact in ONNX Runtime
//! and at most 40 % of the dense file; a pruned int8 QDQ model stays exact too (its int8 weights
//! read by DequantizeLinear become sparse initializers); and sparse coding of `/fc1/Gemm` stores
//! fewer values at a reported reconstruction error, with the accuracy drop measured by ONNX
//! Runtime on the 10 000 Fashion-MNIST test images.

use nnslim_tests::{
    Pair, compile_report, correct_of, fixture, ort_accuracy, ort_compare, pass_row, python,
};
use std::path::{Path, PathBuf};

/// Zeroes the `fraction` smallest-magnitude elements of every initializer of rank ≥ 2.
const ZERO_SCRIPT: &str = r#"
import sys
import numpy as np
import onnx
from onnx import numpy_helper

src, dst, fraction = sys.argv[1], sys.argv[2], float(sys.argv[3])
m = onnx.load(src)
for t in m.graph.initializer:
    a = numpy_helper.to_array(t)
    if a.ndim >= 2:
        flat = a.ravel().copy()
        order = np.argsort(np.abs(flat), kind="stable")
        flat[order[: int(round(fraction * flat.size))]] = 0
        t.CopyFrom(numpy_helper.from_array(flat.reshape(a.shape).astype(a.dtype), t.name))
onnx.save(m, dst)
"#;

/// A copy of the seed CNN with `fraction` of each weight's elements zeroed.
fn zeroed(dir: &Path, fraction: f64) -> PathBuf {
    let script = dir.join("zero.py");
    std::fs::write(&script, ZERO_SCRIPT).expect("write zero.py");
    let out = dir.join(format!("seed_zero_{}.onnx", (fraction * 100.0).round()));
    let st = std::process::Command::new(python())
        .arg(&script)
        .arg(fixture("seed_cnn_fashion.onnx"))
        .arg(&out)
        .arg(fraction.to_string())
        .status()
        .expect("run zero.py");
    assert!(st.success(), "zero.py failed");
    out
}

/// ONNX Runtime gives bit-identical outputs for `original` and `converted` (seeded random
/// inputs), and `onnx.checker` accepts `converted`.
fn assert_identical_in_ort(dir: &Path, original: &Path, converted: &Path) {
    let pair = Pair {
        name: "sparse".into(),
        original: original.to_path_buf(),
        converted: converted.to_path_buf(),
        check_model: true,
        random_inputs: Some(3),
        ..Pair::default()
    };
    let results = ort_compare(&[pair], dir);
    assert_eq!(results.get("sparse"), Some(&None), "{results:?}");
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).expect("output written").len()
}

#[test]
fn sparse_storage_is_exact_and_small() {
    let dir = tempfile::tempdir().unwrap();
    let dense = zeroed(dir.path(), 0.9);
    let out = dir.path().join("sparse.onnx");
    let report = compile_report(&dense, &out, "fold,sparsify", &[]);
    let row = pass_row(&report, "sparsify");
    let tensors = row["details"]["tensors"].as_array().expect("tensors");
    let sparse: Vec<&str> = tensors
        .iter()
        .filter(|t| t["stored"] == "sparse")
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        sparse,
        ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"],
        "the 90 %-zero weights go sparse, the biases stay dense"
    );
    for t in tensors {
        let (d, s) = (t["dense_bytes"].as_u64(), t["sparse_bytes"].as_u64());
        assert_eq!(t["stored"] == "sparse", s < d, "{t}");
    }
    let fc1 = &tensors[4];
    assert_eq!(fc1["nonzeros"], 10_240);
    assert_eq!(fc1["sparse_bytes"], 10_240 * 12);
    let total = &row["details"]["total"];
    assert!(total["bytes_after"].as_u64() < total["dense_bytes"].as_u64());
    assert!(!row["notes"].as_array().expect("notes").is_empty());

    assert_identical_in_ort(dir.path(), &dense, &out);
    let (before, after) = (file_size(&dense), file_size(&out));
    let ratio = after as f64 / before as f64;
    println!(
        "seed CNN, 90 % zeros: dense {before} bytes, sparse {after} bytes ({:.1} %)",
        100.0 * ratio
    );
    assert!(
        ratio <= 0.40,
        "sparse file is {:.1} % of the dense one",
        100.0 * ratio
    );
    let (a, b) = (
        correct_of(&ort_accuracy(&dense, "fashion-mnist")),
        correct_of(&ort_accuracy(&out, "fashion-mnist")),
    );
    println!("ONNX Runtime, 10 000 test images: dense {a}, sparse {b} correct");
    assert_eq!(a, b);
}

#[test]
fn pruned_int8_weights_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let dense = zeroed(dir.path(), 0.95);
    let q = dir.path().join("q.onnx");
    let qs = dir.path().join("q_sparse.onnx");
    compile_report(&dense, &q, "fold,quantize(int8)", &["--quiet"]);
    let report = compile_report(&dense, &qs, "fold,quantize(int8),sparsify", &["--quiet"]);
    let tensors = pass_row(&report, "sparsify")["details"]["tensors"]
        .as_array()
        .expect("tensors")
        .clone();
    let int8_sparse = tensors
        .iter()
        .filter(|t| t["dtype"] == "i8" && t["stored"] == "sparse")
        .count();
    let fc1 = tensors
        .iter()
        .find(|t| t["name"] == "fc1.weight_quantized")
        .expect("fc1's int8 weight");
    assert_eq!(fc1["stored"], "sparse", "{fc1}");
    assert_eq!(fc1["sparse_bytes"], fc1["nonzeros"].as_u64().unwrap() * 9);
    assert_identical_in_ort(dir.path(), &q, &qs);
    println!(
        "int8, 95 % zeros: {} int8 tensors sparse; {} → {} bytes",
        int8_sparse,
        file_size(&q),
        file_size(&qs)
    );
    assert!(file_size(&qs) < file_size(&q));
    let (a, b) = (
        correct_of(&ort_accuracy(&q, "fashion-mnist")),
        correct_of(&ort_accuracy(&qs, "fashion-mnist")),
    );
    assert_eq!(a, b);
}

#[test]
fn sparse_coding_of_fc1() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("seed_cnn_fashion.onnx");
    let out = dir.path().join("coded.onnx");
    let report = compile_report(&model, &out, "sparsify(dictionary=64, atoms=8)", &[]);
    let row = pass_row(&report, "sparsify");
    let layers = row["details"]["layers"].as_array().expect("layers");
    let fc1 = layers
        .iter()
        .find(|l| l["layer"] == "/fc1/Gemm")
        .unwrap_or_else(|| panic!("fc1 not coded: {row}"));
    let before = fc1["stored_values_before"].as_u64().expect("before");
    let after = fc1["stored_values_after"].as_u64().expect("after");
    let error = fc1["relative_error"].as_f64().expect("error");
    assert_eq!(before, 64 * 1600);
    assert!(after <= 64 * 64 + 8 * 1600, "{fc1}");
    assert!(error > 0.0 && error < 0.6, "{fc1}");
    assert_eq!(fc1["codes"], "sparse");
    let base = correct_of(&ort_accuracy(&model, "fashion-mnist"));
    let coded = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    let drop = (base - coded) as f64 / 100.0;
    println!(
        "/fc1/Gemm sparse-coded (K=64, S=8): {before} → {after} stored values, relative error \
         {error:.4}; ONNX Runtime {base} → {coded} correct (drop {drop:.2} points)"
    );
    assert!(drop <= 2.0, "drop {drop} points");
}
