//! The real `nnslim` binary: help text, exit codes, and output that is the same in two separate
//! processes (no hash-map order or addresses leak into what it prints).

use std::path::{Path, PathBuf};
use std::process::Command;

fn nnslim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nnslim"))
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    v.sort();
    v
}

#[test]
fn help_lists_the_commands() {
    let out = nnslim().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["convert", "inspect"] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}

#[test]
fn bad_usage_exits_1() {
    let out = nnslim().args(["convert", "only-one-arg"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OUTPUT"));
    let out = nnslim()
        .args(["inspect", "/no/such/model.onnx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/model.onnx"));
}

#[test]
fn printing_is_identical_across_processes() {
    let models = fixtures();
    assert!(models.len() >= 3, "fixtures missing: {models:?}");
    for m in models {
        for flag in ["--ir", "--json"] {
            let run = || {
                let out = nnslim().args(["inspect", flag]).arg(&m).output().unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            };
            let (a, b) = (run(), run());
            assert!(a.len() > 100);
            assert_eq!(a, b, "{} {flag} differs between two processes", m.display());
        }
    }
}
