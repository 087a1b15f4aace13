//! Byte identity of nnslim-proto: real ONNX files, decoded with prost and encoded again, give the same bytes.
//!
//! Checks every model of the generated test data (`node/*/model.onnx`, `light/*.onnx`,
//! `light_random/*.onnx`) and the serialized test inputs and outputs next to the node tests
//! (each read as the message its graph input or output type calls for: `TensorProto`,
//! `SequenceProto`, `MapProto`, `OptionalProto` or `SparseTensorProto`), plus `light_inputs/`.

use std::fs;
use std::path::{Path, PathBuf};

use nnslim_proto::onnx::{self, type_proto::Value};
use nnslim_proto::{Message, decode_model, decode_model_bytes, encode_model};
use prost::bytes::Bytes;

/// At least this many models must be checked, so the test cannot pass on a missing data set.
const MIN_MODELS: usize = 1500;

/// The entries of `dir` in name order (nothing when `dir` does not exist).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = read
        .map(|e| e.expect("readable dir entry").path())
        .collect();
    paths.sort();
    paths
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

/// Why `again` differs from `original`, for the failure list.
fn describe_diff(original: &[u8], again: &[u8]) -> String {
    let at = original
        .iter()
        .zip(again)
        .position(|(a, b)| a != b)
        .unwrap_or(original.len().min(again.len()));
    format!(
        "re-encoded to {} bytes (file has {}), first difference at byte {at}",
        again.len(),
        original.len()
    )
}

/// Decodes `bytes` as `M`, encodes it again and records a failure unless the bytes are equal.
fn check_message<M: Message + Default>(path: &Path, bytes: &[u8], failures: &mut Vec<String>) {
    match M::decode(bytes) {
        Ok(msg) => {
            let again = msg.encode_to_vec();
            if again != bytes {
                failures.push(format!(
                    "{} ({}): {}",
                    path.display(),
                    std::any::type_name::<M>(),
                    describe_diff(bytes, &again)
                ));
            }
        }
        Err(e) => failures.push(format!(
            "{} ({}): decode error: {e}",
            path.display(),
            std::any::type_name::<M>()
        )),
    }
}

/// Checks a model file; returns the decoded model when it decodes.
fn check_model(path: &Path, failures: &mut Vec<String>) -> Option<onnx::ModelProto> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let model = match decode_model(&bytes) {
        Ok(model) => model,
        Err(e) => {
            failures.push(format!("{}: decode error: {e}", path.display()));
            return None;
        }
    };
    let again = encode_model(&model);
    if again != bytes {
        failures.push(format!(
            "{}: {}",
            path.display(),
            describe_diff(&bytes, &again)
        ));
    }
    Some(model)
}

/// Checks a serialized value (test input or output) as the message its ONNX type calls for.
/// Returns false when the type is unknown (the file is then skipped).
fn check_value(path: &Path, ty: Option<&onnx::TypeProto>, failures: &mut Vec<String>) -> bool {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match ty.and_then(|t| t.value.as_ref()) {
        Some(Value::TensorType(_)) => check_message::<onnx::TensorProto>(path, &bytes, failures),
        Some(Value::SequenceType(_)) => {
            check_message::<onnx::SequenceProto>(path, &bytes, failures)
        }
        Some(Value::MapType(_)) => check_message::<onnx::MapProto>(path, &bytes, failures),
        Some(Value::OptionalType(_)) => {
            check_message::<onnx::OptionalProto>(path, &bytes, failures)
        }
        Some(Value::SparseTensorType(_)) => {
            check_message::<onnx::SparseTensorProto>(path, &bytes, failures)
        }
        Some(Value::OpaqueType(_)) | None => return false,
    }
    true
}

/// `input_3.pb` → `("input", 3)`.
fn value_file_index(path: &Path) -> Option<(&str, usize)> {
    let stem = path.file_stem()?.to_str()?;
    let (kind, index) = stem.rsplit_once('_')?;
    Some((kind, index.parse().ok()?))
}

/// Checks `test_data_set_*/{input,output}_N.pb` of one node test; returns (checked, skipped).
fn check_test_data(
    test_dir: &Path,
    model: &onnx::ModelProto,
    failures: &mut Vec<String>,
) -> (usize, usize) {
    let graph = model.graph.as_ref();
    let (mut checked, mut skipped) = (0, 0);
    for set in entries(test_dir) {
        let is_set = set
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("test_data_set_"));
        if !is_set || !set.is_dir() {
            continue;
        }
        for file in entries(&set).into_iter().filter(|p| has_ext(p, "pb")) {
            let infos = match value_file_index(&file) {
                Some(("input", i)) => graph.and_then(|g| g.input.get(i)),
                Some(("output", i)) => graph.and_then(|g| g.output.get(i)),
                _ => None,
            };
            if check_value(&file, infos.and_then(|v| v.r#type.as_ref()), failures) {
                checked += 1;
            } else {
                skipped += 1;
            }
        }
    }
    (checked, skipped)
}

/// Decoding from a shared buffer gives the same model, and tensor payloads point into that buffer.
fn check_zero_copy(path: &Path, model: &onnx::ModelProto, failures: &mut Vec<String>) {
    let buffer = Bytes::from(fs::read(path).expect("model file readable"));
    let range = buffer.as_ptr_range();
    let shared = match decode_model_bytes(buffer.clone()) {
        Ok(shared) => shared,
        Err(e) => {
            failures.push(format!(
                "{} (from Bytes): decode error: {e}",
                path.display()
            ));
            return;
        }
    };
    if &shared != model {
        failures.push(format!(
            "{}: decoding from Bytes gave another model",
            path.display()
        ));
    }
    let initializers = shared.graph.iter().flat_map(|g| &g.initializer);
    for t in initializers.filter(|t| t.raw_data.as_ref().is_some_and(|d| !d.is_empty())) {
        let data = t.raw_data.as_ref().expect("filtered on raw_data");
        if !range.contains(&data.as_ptr()) {
            failures.push(format!(
                "{}: raw_data of {:?} was copied instead of shared",
                path.display(),
                t.name.as_deref().unwrap_or("")
            ));
        }
    }
}

#[test]
fn decode_encode_is_byte_identical() {
    let data = nnslim_tests::testdata_dir();
    let mut failures = Vec::new();
    let (mut models, mut values, mut skipped) = (0usize, 0usize, 0usize);

    for test_dir in entries(&data.join("node")) {
        let model_path = test_dir.join("model.onnx");
        if !model_path.is_file() {
            continue;
        }
        models += 1;
        if let Some(model) = check_model(&model_path, &mut failures) {
            let (c, s) = check_test_data(&test_dir, &model, &mut failures);
            values += c;
            skipped += s;
        }
    }
    for sub in ["light", "light_random"] {
        for path in entries(&data.join(sub))
            .into_iter()
            .filter(|p| has_ext(p, "onnx"))
        {
            models += 1;
            if let Some(model) = check_model(&path, &mut failures) {
                check_zero_copy(&path, &model, &mut failures);
            }
        }
    }
    for dir in entries(&data.join("light_inputs")) {
        for file in entries(&dir).into_iter().filter(|p| has_ext(p, "pb")) {
            let bytes = fs::read(&file).expect("input file readable");
            check_message::<onnx::TensorProto>(&file, &bytes, &mut failures);
            values += 1;
        }
    }

    println!(
        "proto round trip: {models} models and {values} test values checked \
         ({skipped} values of unknown type skipped), {} mismatches",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} files do not re-encode byte-identically:\n{}",
        failures.len(),
        models + values,
        failures.join("\n")
    );
    assert!(
        models >= MIN_MODELS,
        "only {models} models found in {} (expected at least {MIN_MODELS})",
        data.display()
    );
}
