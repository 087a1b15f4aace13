//! ONNX conformance of the reference interpreter: every ONNX backend node test whose ops nnslim
//! types is run through `nnslim-eval` and compared with the expected outputs (ONNX's backend
//! tolerances: rtol 1e-3, atol 1e-7 for floats; exact otherwise). Prints passed/failed/skipped
//! counts and fails on any regression from `tests/manifests/conformance.txt`.

use nnslim::frontend::{load_model, read_tensor_file};
use nnslim_eval::{Array, Data, Value};
use nnslim_ir::{Op, stats::graph_stats};
use nnslim_tests::{check_manifest, numbered_files, numbered_inputs, testdata_dir, workspace_root};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::Path;

enum Outcome {
    Pass,
    Fail(String),
    Skip,
}

/// Compares with ONNX's backend-test tolerances.
pub fn close(got: &Array, want: &Array) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!(
            "dtype {} but expected {}",
            got.dtype(),
            want.dtype()
        ));
    }
    if got.shape != want.shape {
        return Err(format!(
            "shape {:?} but expected {:?}",
            got.shape, want.shape
        ));
    }
    let (rtol, atol) = (1e-3f64, 1e-7f64);
    let float = |a: &[f64], b: &[f64]| -> Result<(), String> {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let same =
                (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= atol + rtol * y.abs();
            if !same {
                return Err(format!("element {i}: {x} but expected {y}"));
            }
        }
        Ok(())
    };
    let wide = |d: &Data| -> Option<Vec<f64>> {
        Some(match d {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
            Data::F16(v) => v.iter().map(|x| x.to_f64()).collect(),
            Data::BF16(v) => v.iter().map(|x| x.to_f64()).collect(),
            _ => return None,
        })
    };
    match (wide(&got.data), wide(&want.data)) {
        (Some(a), Some(b)) => float(&a, &b),
        _ if got.data == want.data => Ok(()),
        _ => Err("values differ".into()),
    }
}

fn run_case(dir: &Path) -> Outcome {
    let Ok(model) = load_model(&dir.join("model.onnx")) else {
        return Outcome::Skip;
    };
    let g = &model.graph;
    if !graph_stats(g).opaque.is_empty() {
        return Outcome::Skip;
    }
    let data = dir.join("test_data_set_0");
    let real: Vec<String> = g
        .inputs()
        .into_iter()
        .filter(|v| matches!(g.node(v.node).op, Op::Input))
        .map(|v| g.value(v).name.clone())
        .collect();
    let mut inputs = HashMap::new();
    for (i, p) in numbered_inputs(&data).iter().enumerate() {
        let Ok((name, t)) = read_tensor_file(p) else {
            return Outcome::Fail(format!("input {i} is not a tensor file we read"));
        };
        let name = if real.contains(&name) {
            name
        } else {
            match real.get(i) {
                Some(n) => n.clone(),
                None => return Outcome::Fail(format!("input {i} has no graph input")),
            }
        };
        match Array::from_tensor(&t) {
            Ok(a) => inputs.insert(name, Value::Tensor(a)),
            Err(e) => return Outcome::Fail(format!("input {i}: {e}")),
        };
    }
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| nnslim_eval::run(g, &inputs)));
    let outs = match run {
        Err(_) => return Outcome::Fail("PANIC in the interpreter".into()),
        Ok(Err(e)) => return Outcome::Fail(e.to_string()),
        Ok(Ok(o)) => o,
    };
    let expected = numbered_files(&data, "output_");
    if expected.len() != outs.len() {
        return Outcome::Fail(format!(
            "{} outputs, expected {}",
            outs.len(),
            expected.len()
        ));
    }
    for (i, (got, p)) in outs.iter().zip(&expected).enumerate() {
        let Ok((_, t)) = read_tensor_file(p) else {
            return Outcome::Fail(format!("output {i} is not a tensor file we read"));
        };
        let Ok(want) = Array::from_tensor(&t) else {
            return Outcome::Fail(format!("output {i} is not a dense tensor"));
        };
        let Some(got) = got.as_tensor() else {
            return Outcome::Fail(format!("output {i} is not a tensor"));
        };
        if let Err(e) = close(got, &want) {
            return Outcome::Fail(format!("output {i}: {e}"));
        }
    }
    Outcome::Pass
}

#[test]
fn node_tests_conform() {
    let root = testdata_dir().join("node");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("node tests")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let (mut skipped, mut passing) = (0, BTreeSet::new());
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match run_case(dir) {
            Outcome::Pass => {
                passing.insert(name);
            }
            Outcome::Fail(e) => {
                failures.insert(name, e);
            }
            Outcome::Skip => skipped += 1,
        }
    }
    let typed = passing.len() + failures.len();
    println!(
        "conformance: {} passed, {} failed, {} skipped (ops not typed) — {:.1}% of {} typed node tests",
        passing.len(),
        failures.len(),
        skipped,
        100.0 * passing.len() as f64 / typed.max(1) as f64,
        typed
    );
    for (n, e) in &failures {
        println!("  FAIL {n}: {e}");
    }
    check_manifest(
        &workspace_root().join("tests/manifests/conformance.txt"),
        &passing,
        &failures,
    );
    assert!(
        passing.len() >= 600,
        "only {} node tests pass",
        passing.len()
    );
    assert!(
        passing.len() * 10 >= typed * 9,
        "{} of {typed} typed node tests pass: below 90%",
        passing.len()
    );
}
