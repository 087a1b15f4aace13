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
