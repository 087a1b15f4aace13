//! The interpreter against ONNX Runtime: `nnslim run` matches ORT's outputs (contract tolerance
//! |a − b| ≤ 1e-4·|b| + 1e-5) on the fixtures and the light models with random weights;
//! `nnslim eval` counts the same correct predictions (±2) as ORT on the 10 000 Fashion-MNIST
//! test images and the digits test split; bad data exits 1 with a clear message.

use nnslim::npy::read_npy_file;
use nnslim_tests::{nnslim, python, testdata_dir, workspace_root};
use serde_json::Value;
use std::ffi::OsString;
use std::path::PathBuf;

fn ort_reference(args: &[OsString]) -> Value {
    let out = std::process::Command::new(python())
        .arg(workspace_root().join("tests/scripts/ort_reference.py"))
        .args(args)
        .env("NNSLIM_TESTDATA", testdata_dir())
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

#[test]
fn run_matches_onnx_runtime() {
    let mut models: Vec<PathBuf> = [
        "seed_cnn_fashion.onnx",
        "mobile_cnn_fashion.onnx",
        "digits_mlp.onnx",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect();
    let mut light: Vec<PathBuf> = std::fs::read_dir(testdata_dir().join("light_random"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    light.sort();
    models.extend(light);
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<OsString> = vec!["run".into(), dir.path().into()];
    args.extend(models.iter().map(|m| m.clone().into_os_string()));
    let cases = ort_reference(&args);
    let mut failures = Vec::new();
    for case in cases.as_array().unwrap() {
        let model = case["model"].as_str().unwrap();
        let out_dir = PathBuf::from(case["dir"].as_str().unwrap()).join("nnslim");
        let mut cmd: Vec<OsString> = vec!["run".into(), model.into()];
        for (name, file) in case["inputs"].as_object().unwrap() {
            cmd.push("--input".into());
            cmd.push(format!("{name}={}", file.as_str().unwrap()).into());
        }
        cmd.push("--output-dir".into());
        cmd.push(out_dir.clone().into());
        let (code, stdout, err) = nnslim(&cmd);
        if code != 0 {
            failures.push(format!("{model}: exit {code}: {}", err.trim()));
            continue;
        }
        let written: Vec<PathBuf> = stdout
            .lines()
            .filter_map(|l| l.rsplit_once(" -> ").map(|(_, p)| PathBuf::from(p)))
            .collect();
        let expected = case["outputs"].as_array().unwrap();
        assert_eq!(written.len(), expected.len(), "{model}: outputs written");
        for (got, want) in written.iter().zip(expected) {
            let got = read_npy_file(got).unwrap();
            let want = read_npy_file(&PathBuf::from(want.as_str().unwrap())).unwrap();
            assert_eq!(got.shape, want.shape, "{model}");
            let (g, w) = (got.to_f32_vec().unwrap(), want.to_f32_vec().unwrap());
            let worst = g
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs() - (1e-4 * b.abs() + 1e-5))
                .fold(f32::NEG_INFINITY, f32::max);
            if worst > 0.0 || g.iter().any(|v| v.is_nan()) {
                failures.push(format!("{model}: outside tolerance by {worst:e}"));
            }
        }
        println!("{model}: matches ONNX Runtime");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.as_array().unwrap().len(), models.len());
}

fn eval_json(args: &[&std::ffi::OsStr]) -> Value {
    let (code, out, err) = nnslim(args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn eval_accuracy_matches_onnx_runtime() {
    for (model, data, ort_data) in [
        (
            "seed_cnn_fashion.onnx",
            "fashion-mnist:test".to_string(),
            "fashion-mnist".to_string(),
        ),
        (
            "digits_mlp.onnx",
            fixture("digits_test.npz").display().to_string(),
            fixture("digits_test.npz").display().to_string(),
        ),
    ] {
        let m = fixture(model);
        let ort = ort_reference(&["accuracy".into(), m.clone().into(), ort_data.into()]);
        let ours = eval_json(&[
            "eval".as_ref(),
            m.as_os_str(),
            "--data".as_ref(),
            data.as_ref(),
            "--json".as_ref(),
        ]);
        let (a, b) = (
            ours["correct"].as_i64().unwrap(),
            ort["correct"].as_i64().unwrap(),
        );
        println!(
            "{model}: nnslim {a} correct, ONNX Runtime {b}, of {}",
            ort["samples"]
        );
        assert_eq!(ours["samples"], ort["samples"]);
        assert!((a - b).abs() <= 2, "{model}: nnslim {a} vs ORT {b} correct");
        let acc = ours["accuracy"].as_f64().unwrap();
        assert!((acc - a as f64 / ours["samples"].as_f64().unwrap()).abs() < 1e-12);
    }
    // Against itself as reference: full agreement, no error.
    let m = fixture("seed_cnn_fashion.onnx");
    let v = eval_json(&[
        "eval".as_ref(),
        m.as_os_str(),
        "--data".as_ref(),
        "fashion-mnist:train:100..300".as_ref(),
        "--reference".as_ref(),
        m.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(v["samples"], 200);
    assert_eq!(v["agreement"], 1.0);
    assert_eq!(v["max_abs_error"], 0.0);
    assert!(v["sqnr_db"].is_null(), "identical outputs: infinite SQNR");
}

#[test]
fn bad_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = fixture("seed_cnn_fashion.onnx");
    let garbage = dir.path().join("garbage.npy");
    std::fs::write(&garbage, b"\x93NUMPY garbage").unwrap();
    let wrong = dir.path().join("wrong.npz");
    std::fs::write(&wrong, b"PK not a zip").unwrap();
    let digits = fixture("digits_test.npz");
    let out = dir.path().join("out");
    let input = |f: &std::path::Path| format!("input={}", f.display());
    let cases: Vec<(Vec<OsString>, &str)> = vec![
        (
            vec![
                "run".into(),
                m.clone().into(),
                "--input".into(),
                input(&garbage).into(),
                "--output-dir".into(),
                out.clone().into(),
            ],
            "not a valid .npy file",
        ),
        (
            vec![
                "run".into(),
                m.clone().into(),
                "--output-dir".into(),
                out.clone().into(),
            ],
            "missing input \"input\"",
        ),
        (
            vec![
                "eval".into(),
                m.clone().into(),
                "--data".into(),
                digits.clone().into(),
            ],
            "the model expects shape f32[N,1,28,28]",
        ),
        (
            vec![
                "eval".into(),
                m.clone().into(),
                "--data".into(),
                wrong.clone().into(),
            ],
            "not a valid .npz file",
        ),
        (
            vec![
                "eval".into(),
                m.clone().into(),
                "--data".into(),
                "fashion-mnist:test:9000..10001".into(),
            ],
            "only 10000",
        ),
        (
            vec![
                "eval".into(),
                m.clone().into(),
                "--data".into(),
                "mnist:test".into(),
            ],
            "expected fashion-mnist",
        ),
    ];
    for (args, want) in cases {
        let (code, _, err) = nnslim(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains(want),
            "{args:?}: {err:?} should contain {want:?}"
        );
    }
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}
