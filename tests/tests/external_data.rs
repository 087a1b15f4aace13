//! External data: a model saved with external data by the onnx package round-trips through
//! `nnslim convert` (inline and external output); locations that leave the model's folder
//! (`..`, absolute, a link) or data shorter than declared are refused with exit code 1.

use nnslim_proto::onnx;
use nnslim_proto::onnx::tensor_proto::DataLocation;
use nnslim_proto::{Message, decode_model, encode_model};
use nnslim_tests::{Pair, nnslim, numbered_inputs, ort_compare, python, testdata_dir};
use std::path::{Path, PathBuf};

/// The light squeezenet with random weights, saved by the onnx package with every tensor in
/// `weights.bin`; returns (original model, external-data model, inputs).
fn external_model(dir: &Path) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let td = testdata_dir();
    let original = td.join("light_random/light_squeezenet.onnx");
    let inputs = numbered_inputs(&td.join("light_inputs/light_squeezenet"));
    let model_dir = dir.join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    let saved = model_dir.join("model.onnx");
    let script = "import onnx, sys\n\
        m = onnx.load(sys.argv[1])\n\
        onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location='weights.bin', size_threshold=0)\n";
    let st = std::process::Command::new(python())
        .args(["-c", script])
        .arg(&original)
        .arg(&saved)
        .status()
        .expect("python");
    assert!(st.success(), "onnx.save_model with external data failed");
    (original, saved, inputs)
}

fn external_tensor_count(path: &Path) -> usize {
    let m = decode_model(&std::fs::read(path).unwrap()).unwrap();
    m.graph
        .unwrap()
        .initializer
        .iter()
        .filter(|t| t.data_location() == DataLocation::External)
        .count()
}

#[test]
fn external_data_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (original, saved, inputs) = external_model(dir.path());
    assert!(
        external_tensor_count(&saved) > 10,
        "the onnx package wrote external tensors"
    );

    let inline = dir.path().join("inline.onnx");
    let (code, _, err) = nnslim(["convert".as_ref(), saved.as_os_str(), inline.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(external_tensor_count(&inline), 0);

    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let external = out_dir.join("ext.onnx");
    let (code, _, err) = nnslim([
        "convert".as_ref(),
        saved.as_os_str(),
        external.as_os_str(),
        "--external-data-threshold".as_ref(),
        "0".as_ref(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(external_tensor_count(&external) > 10);
    let data = out_dir.join("ext.onnx.data");
    assert!(
        data.metadata().unwrap().len() > 1_000_000,
        "weights went to {}",
        data.display()
    );
    assert!(
        external.metadata().unwrap().len() < 100_000,
        "model file holds no weights"
    );

    // Back again: the external-data output is itself a valid input.
    let back = dir.path().join("back.onnx");
    let (code, _, err) = nnslim(["convert".as_ref(), external.as_os_str(), back.as_os_str()]);
    assert_eq!(code, 0, "{err}");

    let pairs: Vec<Pair> = [
        ("saved", &saved),
        ("inline", &inline),
        ("external", &external),
        ("back", &back),
    ]
    .into_iter()
    .map(|(name, converted)| Pair {
        name: name.into(),
        original: original.clone(),
        converted: converted.clone(),
        inputs: inputs.clone(),
        check_model: true,
        ..Pair::default()
    })
    .collect();
    let results = ort_compare(&pairs, dir.path());
    assert_eq!(results.len(), 4);
    for (name, err) in results {
        assert_eq!(
            err, None,
            "{name} differs from the original in ONNX Runtime"
        );
    }
}

/// Rewrites every external tensor's `location` (and optionally `length`) of a model.
fn rewrite_external(src: &Path, dst: &Path, location: &str, length: Option<u64>) {
    let mut m = decode_model(&std::fs::read(src).unwrap()).unwrap();
    for t in &mut m.graph.as_mut().unwrap().initializer {
        for e in &mut t.external_data {
            if e.key() == "location" {
                e.value = Some(location.to_string());
            }
            if let (Some(len), "length") = (length, e.key()) {
                e.value = Some(len.to_string());
            }
        }
    }
    std::fs::write(dst, encode_model(&m)).unwrap();
}

fn refused(model: &Path, want: &str) {
    let out = model.with_file_name("refused-out.onnx");
    let (code, _, err) = nnslim(["convert".as_ref(), model.as_os_str(), out.as_os_str()]);
    assert_eq!(
        code,
        1,
        "{} should be refused; stderr: {err}",
        model.display()
    );
    assert!(err.contains(want), "message {err:?} should say {want:?}");
    assert!(
        err.contains(&model.display().to_string()),
        "message names the file: {err}"
    );
    assert!(
        err.contains("initializer"),
        "message names the tensor: {err}"
    );
    assert!(!out.exists(), "a refused run leaves no output");
}

#[test]
fn escaping_external_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, saved, _) = external_model(dir.path());
    let model_dir = saved.parent().unwrap();
    let weights = model_dir.join("weights.bin");
    // A copy of the weights outside the model's folder, reachable three ways.
    let outside = dir.path().join("outside.bin");
    std::fs::copy(&weights, &outside).unwrap();

    let dotdot = model_dir.join("dotdot.onnx");
    rewrite_external(&saved, &dotdot, "../outside.bin", None);
    refused(&dotdot, "leaves the model's folder");

    let absolute = model_dir.join("absolute.onnx");
    rewrite_external(&saved, &absolute, outside.to_str().unwrap(), None);
    refused(&absolute, "absolute");

    std::os::unix::fs::symlink(&outside, model_dir.join("link.bin")).unwrap();
    let link = model_dir.join("link.onnx");
    rewrite_external(&saved, &link, "link.bin", None);
    refused(&link, "outside the model's folder");

    let size = weights.metadata().unwrap().len();
    let short = model_dir.join("short.onnx");
    rewrite_external(&saved, &short, "weights.bin", Some(size + 1));
    refused(&short, "past the end of the file");

    let missing = model_dir.join("missing.onnx");
    rewrite_external(&saved, &missing, "nothere.bin", None);
    refused(&missing, "nothere.bin");

    // A link that stays inside the folder is fine.
    std::os::unix::fs::symlink("weights.bin", model_dir.join("inside.bin")).unwrap();
    let inside = model_dir.join("inside.onnx");
    rewrite_external(&saved, &inside, "inside.bin", None);
    let out = dir.path().join("inside-out.onnx");
    let (code, _, err) = nnslim(["convert".as_ref(), inside.as_os_str(), out.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    let _ = onnx::ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap();
}
