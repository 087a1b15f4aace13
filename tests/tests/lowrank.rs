//! `low-rank` through the real CLI on the seed CNN: `energy=0.9` lowers the model's MACs by at
//! least 30 % with at most 2 points of accuracy lost on the 10 000 Fashion-MNIST test images in
//! ONNX Runtime (and `onnx.checker` passes); the report lists every layer with its shape, rank,
//! energy kept, and params and MACs before and after; a global `budget=` holds its MAC bound.

use nnslim_tests::{compile_report, correct_of, fixture, ort_accuracy, pass_row};
use serde_json::Value;

fn macs(report: &Value, pass: &str) -> f64 {
    let r = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["pass"] == pass)
        .unwrap_or_else(|| panic!("no {pass} row"));
    r["macs"].as_f64().expect("macs")
}

/// The report entry of `layer`.
fn layer<'a>(row: &'a Value, name: &str) -> &'a Value {
    row["details"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["layer"] == name)
        .unwrap_or_else(|| panic!("no {name} in {row}"))
}

#[test]
fn seed_cnn_energy_09_cuts_macs_by_30_percent_within_2_points() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("seed_cnn_fashion.onnx");
    let base = correct_of(&ort_accuracy(&model, "fashion-mnist"));
    assert!((base - 9114).abs() <= 2, "float model: {base}");
    let out = dir.path().join("lowrank.onnx");
    let report = compile_report(&model, &out, "low-rank(energy=0.9)", &[]);
    let (before, after) = (macs(&report, "input"), macs(&report, "low-rank"));
    let cut = 1.0 - after / before;
    let correct = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    let drop = (base - correct) as f64 / 100.0;
    eprintln!(
        "MACs {before} → {after} (−{:.1} %), {correct} correct (drop {drop:.2} points)",
        100.0 * cut
    );
    assert!(cut >= 0.30, "MACs only cut by {:.1} %", 100.0 * cut);
    assert!(drop <= 2.0, "accuracy drop {drop} points");

    let r = pass_row(&report, "low-rank");
    // conv2 (2.2 M of the 2.5 M MACs) and fc1 are split at the ranks keeping 90 % of Σσ².
    for (name, rank) in [("/conv2/Conv", 29), ("/fc1/Gemm", 23)] {
        let l = layer(r, name);
        assert_eq!(l["rank"], rank, "{l}");
        assert!(l["energy_kept"].as_f64().expect("energy") >= 0.9, "{l}");
        assert!(
            l["params_after"].as_u64() < l["params_before"].as_u64(),
            "{l}"
        );
        assert!(l["macs_after"].as_u64() < l["macs_before"].as_u64(), "{l}");
    }
    let conv2 = layer(r, "/conv2/Conv");
    assert_eq!(conv2["shape"], serde_json::json!([64, 32, 3, 3]));
    assert_eq!(conv2["matrix"], serde_json::json!([64, 288]));
    assert_eq!(conv2["macs_before"], 2_230_272);
    assert_eq!(conv2["macs_after"], 121 * 29 * (64 + 288));
    // conv1 (rank 6 of 9 would keep 85 % of it) and fc2 (rank 9 of 10 would grow it) stay,
    // and the report says why.
    for name in ["/conv1/Conv", "/fc2/Gemm"] {
        let l = layer(r, name);
        assert_eq!(l["applied"], false, "{l}");
        assert!(
            l["reason"]
                .as_str()
                .is_some_and(|s| s.contains("min-saving")),
            "{l}"
        );
    }
    assert!(
        r["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .any(|n| n.as_str().is_some_and(|s| s.starts_with("/conv2/Conv"))),
        "the notes hold a table row per split layer: {r}"
    );
}

#[test]
fn seed_cnn_budget_keeps_half_the_macs_of_the_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("seed_cnn_fashion.onnx");
    let out = dir.path().join("budget.onnx");
    let report = compile_report(&model, &out, "low-rank(budget=0.5)", &[]);
    let r = pass_row(&report, "low-rank");
    let b = &r["details"]["budget"];
    assert_eq!(b["reached"], true, "{b}");
    let (before, after) = (
        b["before"].as_f64().expect("before"),
        b["after"].as_f64().expect("after"),
    );
    assert!(after <= 0.5 * before, "{b}");
    // The model's MACs fall by at least what the budget took from the layers.
    let cut = macs(&report, "input") - macs(&report, "low-rank");
    assert!(cut >= 0.5 * before - 1.0, "cut {cut} of {before}");
    // conv2 carries most MACs and the flattest loss per MAC: it is split.
    assert_eq!(layer(r, "/conv2/Conv")["applied"], true);
    let correct = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    eprintln!("budget=0.5: MACs {before} → {after} in the split layers, {correct} correct");
    assert!(correct >= 9114 - 200, "{correct}: more than 2 points lost");
}
