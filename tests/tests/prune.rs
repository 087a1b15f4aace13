//! `prune` through the real CLI on the Fashion-MNIST fixtures, measured with ONNX Runtime on
//! the 10 000 test images (every output also passes `onnx.checker`): magnitude pruning at 0.5
//! keeps accuracy, sensitivity-guided ratios with the least-squares refit lose at most a point
//! at 0.8 (and the refit rescues uniform per-layer ratios), channel pruning with the refit cuts
//! MACs by at least a quarter at a small accuracy cost, and `pattern=2:4` leaves at most 2
//! non-zeros in every group of 4 along the reduction dimension (read back from the written
//! file with nnslim's importer).

use nnslim_tests::{compile_report, correct_of, fixture, ort_accuracy, pass_row};
use serde_json::Value;
use std::path::Path;

/// The float seed CNN's correct predictions in ONNX Runtime (tests/fixtures/README.md).
const SEED_FLOAT: i64 = 9114;
/// The float mobile CNN's correct predictions.
const MOBILE_FLOAT: i64 = 9059;

/// Compiles `model` with `passes` into `dir/stem.onnx`; returns ORT's correct predictions
/// (checker passed) and the report.
fn compile(dir: &Path, stem: &str, model: &Path, passes: &str) -> (i64, Value) {
    let out = dir.join(format!("{stem}.onnx"));
    let report = compile_report(model, &out, passes, &["--quiet"]);
    let correct = correct_of(&ort_accuracy(&out, "fashion-mnist"));
    (correct, report)
}

#[test]
fn seed_cnn_half_of_the_weights_costs_at_most_half_a_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (correct, report) = compile(
        dir.path(),
        "half",
        &fixture("seed_cnn_fashion.onnx"),
        "prune(ratio=0.5)",
    );
    let drop = (SEED_FLOAT - correct) as f64 / 100.0;
    println!("prune(ratio=0.5): {correct}/10000 (drop {drop:.2} points)");
    assert!(drop <= 0.5, "drop {drop} points");
    let totals = &pass_row(&report, "prune")["details"]["totals"];
    let sparsity = totals["sparsity"].as_f64().expect("sparsity");
    assert!((sparsity - 0.5).abs() < 1e-3, "{totals}");
    let layers = pass_row(&report, "prune")["details"]["layers"]
        .as_array()
        .expect("layers")
        .len();
    assert_eq!(layers, 4);
}

/// Every refitted layer's output SQNR on the calibration data did not get worse; returns how
/// many layers were refitted.
fn refit_helped(row: &Value) -> usize {
    let layers = row["details"]["refit"]["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no refit details in {row}"));
    for l in layers {
        let db = |k: &str| l[k].as_f64().unwrap_or(f64::INFINITY);
        assert!(db("sqnr_after_db") >= db("sqnr_before_db") - 1e-6, "{l}");
    }
    layers.len()
}

#[test]
fn seed_cnn_sensitivity_with_refit_loses_at_most_a_point_at_0_8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = fixture("seed_cnn_fashion.onnx");
    let run = |stem: &str, passes: &str| {
        let (correct, report) = compile(dir.path(), stem, &model, passes);
        println!(
            "{passes}: {correct}/10000 (drop {:.2} points)",
            (SEED_FLOAT - correct) as f64 / 100.0
        );
        (correct, report)
    };
    let (uniform, _) = run("uniform", "prune(ratio=0.8, scope=layer)");
    let (uniform_refit, r) = run("uniform_refit", "prune(ratio=0.8, scope=layer, refit=on)");
    assert_eq!(refit_helped(pass_row(&r, "prune")), 4);
    let (global_refit, _) = run("global_refit", "prune(ratio=0.8, refit=on)");
    let (plain, _) = run("plain", "prune(ratio=0.8, method=sensitivity, refit=off)");
    let (guided, report) = run("sensitivity", "prune(ratio=0.8, method=sensitivity)");
    // Measured: uniform 4985 -> 8380 with the refit, global 8706 -> 9065, sensitivity
    // 8742 -> 9083 (float 9114).
    assert!(
        uniform_refit > uniform + 2000,
        "{uniform_refit} vs {uniform}"
    );
    assert!(global_refit >= SEED_FLOAT - 150, "{global_refit}");
    assert!(plain > uniform, "sensitivity {plain} <= uniform {uniform}");
    assert!(guided > plain + 150, "refit {guided} vs {plain}");
    assert!(
        guided >= SEED_FLOAT - 100,
        "drop {} points",
        (SEED_FLOAT - guided) as f64 / 100.0
    );
    let row = pass_row(&report, "prune");
    assert_eq!(refit_helped(row), 4);
    // The overall ratio holds by parameter count, and the report has a curve per layer.
    let sparsity = row["details"]["totals"]["sparsity"]
        .as_f64()
        .expect("sparsity");
    assert!((sparsity - 0.8).abs() < 1e-3, "{sparsity}");
    let scans = row["details"]["sensitivity"]
        .as_array()
        .expect("sensitivity");
    assert_eq!(scans.len(), 4);
    for s in scans {
        assert!(s["curve"].as_array().is_some_and(|c| c.len() >= 5), "{s}");
        assert!(
            s["ratio"].as_f64().is_some_and(|r| (0.0..1.0).contains(&r)),
            "{s}"
        );
    }
    // The ratios differ between layers: that is the point of the scans.
    let ratios: Vec<f64> = scans.iter().filter_map(|s| s["ratio"].as_f64()).collect();
    assert!(ratios.iter().any(|r| (r - 0.8).abs() > 0.05), "{ratios:?}");
    let notes = row["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("/fc1/Gemm")))
    );
}

/// Channel pruning at 30 %: MACs fall by at least 25 %, the model runs in ONNX Runtime, and
/// with the refit (the default) it loses at most `max_drop` points and less than without.
fn channel_pruning(model: &str, float: i64, max_drop: f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (plain, _) = compile(
        dir.path(),
        "plain",
        &fixture(model),
        "fold,prune(structure=channel, ratio=0.3, refit=off)",
    );
    let (correct, report) = compile(
        dir.path(),
        "channels",
        &fixture(model),
        "fold,prune(structure=channel, ratio=0.3)",
    );
    let rows = report["rows"].as_array().expect("rows");
    let macs = |r: &Value| r["macs"].as_u64().expect("macs");
    let (before, after) = (macs(&rows[0]), macs(rows.last().expect("rows")));
    let cut = 1.0 - after as f64 / before as f64;
    let drop = (float - correct) as f64 / 100.0;
    println!(
        "{model} channels 30 %: MACs {before} -> {after} (-{:.1} %), refit {correct}/10000 \
         (drop {drop:.2} points), without refit {plain}/10000 (drop {:.2})",
        100.0 * cut,
        (float - plain) as f64 / 100.0
    );
    assert!(cut >= 0.25, "MACs only {:.1} % lower", 100.0 * cut);
    assert!(drop <= max_drop, "drop {drop} points");
    assert!(correct > plain, "refit {correct} <= plain {plain}");
    assert!(refit_helped(pass_row(&report, "prune")) >= 2);
    let layers = pass_row(&report, "prune")["details"]["layers"]
        .as_array()
        .expect("layers")
        .clone();
    assert!(!layers.is_empty());
    for l in &layers {
        let (b, k) = (l["channels_before"].as_u64(), l["channels_kept"].as_u64());
        assert!(k >= Some(1) && k < b, "{l}");
    }
    // The classifier's outputs stay: its layer is named among those left alone.
    let skipped = pass_row(&report, "prune")["details"]["skipped"]
        .as_array()
        .expect("skipped")
        .clone();
    assert!(
        skipped.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("graph output"))),
        "{skipped:?}"
    );
}

#[test]
fn seed_cnn_channel_pruning_cuts_macs() {
    // Measured: 9101 with the refit, 8431 without.
    channel_pruning("seed_cnn_fashion.onnx", SEED_FLOAT, 1.0);
}

#[test]
fn mobile_cnn_channel_pruning_cuts_macs() {
    // Measured: 8410 with the refit, 2829 without.
    channel_pruning("mobile_cnn_fashion.onnx", MOBILE_FLOAT, 8.0);
}

#[test]
fn seed_cnn_two_of_four_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (correct, report) = compile(
        dir.path(),
        "two_of_four",
        &fixture("seed_cnn_fashion.onnx"),
        "prune(pattern=2:4)",
    );
    println!(
        "pattern=2:4: {correct}/10000 (drop {:.2} points)",
        (SEED_FLOAT - correct) as f64 / 100.0
    );
    let row = pass_row(&report, "prune");
    assert_eq!(row["details"]["layers"].as_array().map(Vec::len), Some(3));
    let model = nnslim::frontend::load_model(&dir.path().join("two_of_four.onnx")).expect("loads");
    let g = &model.graph;
    let weight = |name: &str| {
        let t = g
            .constant(g.find_value(name).expect(name))
            .expect("constant");
        (t.dims.clone(), t.to_f32_vec().expect("f32"))
    };
    let mut groups = 0;
    // conv2 W[64, 32, 3, 3]: along axis 1 for each (o, kh, kw).
    let (d, w) = weight("conv2.weight");
    assert_eq!(d, [64, 32, 3, 3]);
    for o in 0..64 {
        for k in 0..9 {
            for start in (0..32).step_by(4) {
                let nz = (start..start + 4)
                    .filter(|i| w[(o * 32 + i) * 9 + k] != 0.0)
                    .count();
                assert!(nz <= 2, "conv2 o={o} k={k} i={start}..: {nz} non-zeros");
                groups += 1;
            }
        }
    }
    // The Gemms (transB=1): B[out, in], groups along `in`.
    for name in ["fc1.weight", "fc2.weight"] {
        let (d, w) = weight(name);
        let k = d[1] as usize;
        for row in w.chunks(k) {
            for group in row.chunks(4) {
                assert!(group.iter().filter(|x| **x != 0.0).count() <= 2, "{name}");
                groups += 1;
            }
        }
    }
    assert_eq!(groups, 64 * 9 * 8 + 64 * 400 + 10 * 16);
    // conv1 (one input channel) has no group of 4: left dense, and said so.
    let notes = row["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("/conv1/Conv")))
    );
}
