//! Shared helpers for nnslim's integration tests: where the generated test data and the Python venv live.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Folder with the generated test data (ONNX node tests, light models, random-weight variants).
/// `NNSLIM_TESTDATA` overrides the default `target/testdata`. Made by `scripts/gen_testdata.py`
/// (which `scripts/test.sh` runs); a test that needs it fails with a hint when it is missing.
pub fn testdata_dir() -> PathBuf {
    let dir = std::env::var_os("NNSLIM_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/testdata"));
    assert!(
        dir.join("STAMP").exists(),
        "test data missing in {}: run scripts/test.sh (or scripts/gen_testdata.py {})",
        dir.display(),
        dir.display()
    );
    dir
}

/// The venv's Python interpreter (with onnx, onnxruntime, numpy), made by `scripts/setup.sh`.
/// `NNSLIM_PYTHON` overrides the default `.venv/bin/python`.
pub fn python() -> PathBuf {
    let py = std::env::var_os("NNSLIM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        py.exists(),
        "Python venv missing at {}: run scripts/setup.sh",
        py.display()
    );
    py
}

/// Runs the real `nnslim` CLI in-process on `args` (without the program name).
/// Returns the exit code, stdout and stderr.
pub fn nnslim<I, S>(args: I) -> (u8, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut argv: Vec<std::ffi::OsString> = vec!["nnslim".into()];
    argv.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = nnslim::cli::main_with(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// One model pair for `scripts/ort_compare.py`.
#[derive(Clone, Debug, Default)]
pub struct Pair {
    pub name: String,
    pub original: PathBuf,
    pub converted: PathBuf,
    pub inputs: Vec<PathBuf>,
    pub check_model: bool,
    /// Seeded random float inputs shaped like the converted model's instead of `inputs`.
    pub random_inputs: Option<u64>,
    /// Compare float outputs within the contract tolerance instead of bit for bit.
    pub tolerance: bool,
}

/// Runs ONNX Runtime on each pair (and `onnx.checker` on the converted model) through
/// `scripts/ort_compare.py`; returns, per pair name, `None` when outputs are bit-identical
/// or the error message.
pub fn ort_compare(
    pairs: &[Pair],
    scratch: &Path,
) -> std::collections::BTreeMap<String, Option<String>> {
    let json: Vec<serde_json::Value> = pairs
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "original": p.original,
                "converted": p.converted,
                "inputs": p.inputs,
                "check_model": p.check_model,
                "random_inputs": p.random_inputs,
                "tolerance": p.tolerance,
            })
        })
        .collect();
    let list = scratch.join("pairs.json");
    std::fs::write(&list, serde_json::to_vec(&json).expect("json")).expect("write pairs.json");
    let out = std::process::Command::new(python())
        .arg(workspace_root().join("scripts/ort_compare.py"))
        .arg(&list)
        .output()
        .expect("run scripts/ort_compare.py");
    assert!(
        out.status.success(),
        "ort_compare.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("ort_compare.py prints JSON");
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            let err = if r["ok"].as_bool() == Some(true) {
                None
            } else {
                Some(r["error"].as_str().unwrap_or("failed").to_string())
            };
            (name, err)
        })
        .collect()
}

/// The `input_N.pb` files of a test-data folder in N order.
pub fn numbered_inputs(dir: &Path) -> Vec<PathBuf> {
    numbered_files(dir, "input_")
}

/// The `{prefix}N.pb` files of a folder in N order.
pub fn numbered_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n = name
                        .strip_prefix(prefix)?
                        .strip_suffix(".pb")?
                        .parse()
                        .ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Checks a set of passing names against a committed manifest (one name per line).
/// With `BLESS=1` the manifest is rewritten; otherwise every listed name must pass.
pub fn check_manifest(
    manifest: &Path,
    passing: &std::collections::BTreeSet<String>,
    failures: &std::collections::BTreeMap<String, String>,
) {
    if std::env::var_os("BLESS").is_some() {
        let text: String = passing.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(manifest, text).expect("write manifest");
        println!(
            "BLESS: wrote {} names to {}",
            passing.len(),
            manifest.display()
        );
        return;
    }
    let listed: Vec<String> = std::fs::read_to_string(manifest)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let regressions: Vec<String> = listed
        .iter()
        .filter(|n| !passing.contains(*n))
        .map(|n| {
            format!(
                "{n}: {}",
                failures.get(n).map(String::as_str).unwrap_or("not run")
            )
        })
        .collect();
    let new: Vec<&String> = passing.iter().filter(|n| !listed.contains(n)).collect();
    if !new.is_empty() {
        println!(
            "{} pass but are not in {} yet (BLESS=1 adds them)",
            new.len(),
            manifest.display()
        );
    }
    assert!(
        regressions.is_empty(),
        "{} regression(s) from {}:\n{}",
        regressions.len(),
        manifest.display(),
        regressions.join("\n")
    );
    assert!(
        !listed.is_empty(),
        "manifest {} is empty",
        manifest.display()
    );
}

/// ONNX Runtime's verdict on a classifier: `{"correct", "samples", "checker", "bytes"}` —
/// correct top-1 predictions on `data` (`fashion-mnist` for the 10 000 test images, or an
/// `.npz` with `x` and `y`), `onnx.checker`'s error (null when it passes) and the file size.
pub fn ort_accuracy(model: &Path, data: &str) -> serde_json::Value {
    let out = std::process::Command::new(python())
        .arg(workspace_root().join("tests/scripts/ort_reference.py"))
        .arg("accuracy")
        .arg(model)
        .arg(data)
        .output()
        .expect("run tests/scripts/ort_reference.py");
    assert!(
        out.status.success(),
        "ort_reference.py accuracy {}: {}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ort_reference.py prints JSON")
}

/// A committed fixture model (`tests/fixtures/NAME`).
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}

/// `nnslim compile MODEL -o OUT --passes PASSES --report OUT.json --fidelity-runs 1 EXTRA...`;
/// asserts success and returns the report.
pub fn compile_report(model: &Path, out: &Path, passes: &str, extra: &[&str]) -> serde_json::Value {
    let report = out.with_extension("json");
    let mut args: Vec<String> = vec![
        "compile".into(),
        model.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--passes".into(),
        passes.into(),
        "--report".into(),
        report.display().to_string(),
        "--fidelity-runs".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let (code, stdout, err) = nnslim(&args);
    assert_eq!(code, 0, "{passes}: {err}");
    println!("{stdout}");
    serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("report is JSON")
}

/// The correct predictions of an [`ort_accuracy`] verdict on the 10 000 test images, after
/// checking that `onnx.checker` passed.
pub fn correct_of(v: &serde_json::Value) -> i64 {
    assert_eq!(
        v["checker"],
        serde_json::Value::Null,
        "onnx.checker: {}",
        v["checker"]
    );
    assert_eq!(v["samples"], 10_000);
    v["correct"].as_i64().expect("correct")
}

/// The row of `pass` (its first run) in a `--report` JSON.
pub fn pass_row<'r>(report: &'r serde_json::Value, pass: &str) -> &'r serde_json::Value {
    report["rows"]
        .as_array()
        .expect("report has rows")
        .iter()
        .find(|r| r["pass"] == pass)
        .unwrap_or_else(|| panic!("no {pass} row in {report}"))
}
