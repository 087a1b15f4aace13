//! `--input-shape` on convert: new input shapes are inferred through the graph, written to the
//! output, and the result runs in ONNX Runtime at the new batch size; bad overrides exit 1.

use nnslim_proto::decode_model;
use nnslim_proto::onnx::tensor_shape_proto::dimension::Value;
use nnslim_tests::{nnslim, python, testdata_dir};
use std::path::Path;

fn dims(path: &Path, output: bool) -> Vec<String> {
    let m = decode_model(&std::fs::read(path).unwrap()).unwrap();
    let g = m.graph.unwrap();
    let vi = if output {
        &g.output[0]
    } else {
        g.input.iter().find(|i| i.name() == "data_0").unwrap()
    };
    let Some(nnslim_proto::onnx::type_proto::Value::TensorType(t)) =
        vi.r#type.as_ref().and_then(|t| t.value.clone())
    else {
        panic!("tensor type expected on {}", vi.name());
    };
    t.shape
        .unwrap()
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) => v.to_string(),
            Some(Value::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect()
}

#[test]
fn batch_override_is_inferred_and_runs() {
    let src = testdata_dir().join("light_random/light_squeezenet.onnx");
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("b2.onnx");
    let (code, _, err) = nnslim([
        "convert".as_ref(),
        src.as_os_str(),
        fixed.as_os_str(),
        "--input-shape".as_ref(),
        "data_0=2,3,224,224".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(dims(&fixed, false), ["2", "3", "224", "224"]);
    assert_eq!(dims(&fixed, true)[0], "2", "batch inferred to the output");

    let sym = dir.path().join("n.onnx");
    let (code, _, err) = nnslim([
        "convert".as_ref(),
        src.as_os_str(),
        sym.as_os_str(),
        "--input-shape".as_ref(),
        "data_0=N,3,224,224".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        dims(&sym, true)[0],
        "N",
        "symbolic batch inferred to the output"
    );

    // Batch of two through the converted models equals the original on each sample.
    let script = r#"
import sys, numpy as np, onnxruntime as ort
src, fixed, sym = sys.argv[1:4]
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 224, 224), dtype=np.float32)
def run(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {"data_0": x})[0]
ref = np.concatenate([run(src, x[i:i+1]) for i in range(2)])
for p in (fixed, sym):
    got = run(p, x)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.all(np.abs(got - ref) <= 1e-4 * np.abs(ref) + 1e-5), np.abs(got - ref).max()
print("ok")
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(&src)
        .arg(&fixed)
        .arg(&sym)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_overrides_are_refused() {
    let src = testdata_dir().join("light_random/light_squeezenet.onnx");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.onnx");
    for (spec, want) in [
        ("nope=1,2", "has no input \"nope\""),
        ("data_0", "expected NAME=D1,D2"),
        ("data_0=1,-3,224,224", "dimension \"-3\""),
        ("data_0=1,4,224,224", "data_0"),
    ] {
        let (code, _, err) = nnslim([
            "convert".as_ref(),
            src.as_os_str(),
            out.as_os_str(),
            "--input-shape".as_ref(),
            spec.as_ref(),
        ]);
        assert_eq!(code, 1, "{spec}: {err}");
        assert!(
            err.contains(want),
            "{spec}: {err:?} should contain {want:?}"
        );
        assert!(!out.exists());
    }
}
