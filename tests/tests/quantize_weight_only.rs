//! Weight-only block-wise quantization and the opset upgrade it relies on, judged by ONNX
//! Runtime: `quantize(weights=int4|int8, block=32)` on the seed CNN through the CLI (accuracy on
//! the 10 000 Fashion-MNIST test images, `onnx.checker`, file size), and `upgrade_opset(21)` of
//! every fixture, light model (seeded random weights), ONNX node test below opset 21 that ONNX
//! Runtime runs, and a set of old op forms — the upgraded models must pass `onnx.checker` and
//! match the originals in ONNX Runtime (and in the interpreter where it runs both).

use nnslim::ir::{DType, Model, Op};
use nnslim_passes::upgrade::upgrade_opset;
use nnslim_tests::{
    Pair, fixture, nnslim, numbered_inputs, ort_accuracy, ort_compare, testdata_dir,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn load(path: &Path) -> Model {
    nnslim::frontend::load(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .model
}

fn write(model: &Model, path: &Path) {
    let bytes = nnslim_backends::onnx::model_to_bytes(model)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::write(path, bytes).expect("write model");
}

fn correct(v: &Value) -> i64 {
    v["correct"].as_i64().expect("correct")
}

#[test]
fn weight_only_int4_and_int8_seed_cnn_in_onnx_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let float_path = fixture("seed_cnn_fashion.onnx");
    let float = ort_accuracy(&float_path, "fashion-mnist");
    let float_bytes = float["bytes"].as_f64().expect("bytes");
    // (bits, largest size vs the float file, largest accuracy drop in points, weight SQNR floor)
    for (bits, max_size, max_drop, min_sqnr) in [(4, 0.20, 0.5, 18.0), (8, 0.30, 0.1, 40.0)] {
        let out = dir.path().join(format!("seed_int{bits}.onnx"));
        let report = dir.path().join(format!("seed_int{bits}.json"));
        let (code, stdout, stderr) = nnslim([
            "compile".to_string(),
            float_path.display().to_string(),
            "-o".into(),
            out.display().to_string(),
            "--passes".into(),
            format!("quantize(weights=int{bits}, block=32)"),
            "--report".into(),
            report.display().to_string(),
        ]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let q = ort_accuracy(&out, "fashion-mnist");
        assert_eq!(q["checker"], Value::Null, "onnx.checker: {}", q["checker"]);
        assert_eq!(q["samples"], 10000);
        let size = q["bytes"].as_f64().expect("bytes") / float_bytes;
        let drop = (correct(&float) - correct(&q)) as f64 / 100.0;
        println!(
            "int{bits} weight-only, block 32: accuracy {:.2} % (float {:.2} %, drop {drop:.2} \
             points), file {} bytes = {:.1} % of the float file",
            correct(&q) as f64 / 100.0,
            correct(&float) as f64 / 100.0,
            q["bytes"],
            100.0 * size
        );
        assert!(size <= max_size, "int{bits}: file at {:.1} %", 100.0 * size);
        assert!(
            drop <= max_drop,
            "int{bits}: accuracy drop {drop:.2} points"
        );

        // The stored form: opset 21, IR 10, every layer's weight as int4/int8 codes.
        let m = load(&out);
        assert_eq!((m.opset(""), m.ir_version), (Some(21), 10));
        let g = &m.graph;
        let dq: Vec<_> = g
            .compute_nodes()
            .unwrap()
            .into_iter()
            .filter(|&id| matches!(g.node(id).op, Op::DequantizeLinear(_)))
            .collect();
        assert_eq!(dq.len(), 4);
        let want = if bits == 4 { DType::I4 } else { DType::I8 };
        for id in dq {
            let codes = g.node(id).inputs()[0].expect("codes");
            assert_eq!(g.constant(codes).expect("constant").dtype, want);
        }

        // The report: per layer, bytes before/after (int4 packed two per byte) and SQNR.
        let report: Value =
            serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
        let layers = report["rows"][1]["details"]["layers"]
            .as_array()
            .expect("layers")
            .clone();
        assert_eq!(layers.len(), 4);
        for l in &layers {
            let (before, after) = (l["bytes_before"].as_u64(), l["bytes_after"].as_u64());
            let (before, after) = (before.expect("before"), after.expect("after"));
            let params = l["params"].as_u64().expect("params");
            assert_eq!(before, 4 * params);
            // Codes (bits/8 per weight) plus one f32 scale per 32 weights, at most.
            let codes = params * bits / 8;
            assert!(
                after >= codes && after <= codes + 4 * params.div_ceil(9) + 64,
                "{l}"
            );
            assert!(
                l["weight_sqnr_db"].as_f64().expect("sqnr") > min_sqnr,
                "{l}"
            );
        }
    }
}

/// Upgrades `path` to opset 21 and writes the result into `dir`; the upgraded model also
/// computes the same as the original in the interpreter when `interp` is set.
fn upgrade_file(path: &Path, dir: &Path, interp: bool) -> Result<PathBuf, String> {
    let before = load(path);
    let mut after = before.clone();
    upgrade_opset(&mut after, 21).map_err(|e| {
        assert!(e.is_user_error(), "{}: internal error {e}", path.display());
        e.to_string()
    })?;
    assert_eq!((after.opset(""), after.ir_version >= 10), (Some(21), true));
    if interp {
        nnslim_passes::testing::differential(&before.graph, &after.graph, 1, 1)
            .unwrap_or_else(|e| panic!("{}: interpreter: {e}", path.display()));
    }
    let stem = path
        .parent()
        .and_then(|p| p.file_name())
        .filter(|_| path.file_name().is_some_and(|f| f == "model.onnx"))
        .or(path.file_stem())
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let out = dir.join(format!("{stem}.opset21.onnx"));
    write(&after, &out);
    Ok(out)
}

fn pair(name: &str, original: &Path, converted: PathBuf, inputs: Vec<PathBuf>) -> Pair {
    Pair {
        name: name.to_string(),
        original: original.to_path_buf(),
        converted,
        random_inputs: inputs.is_empty().then_some(5),
        inputs,
        check_model: true,
        tolerance: true,
    }
}

#[test]
fn opset_upgrade_to_21_of_fixtures_and_light_models_matches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let td = testdata_dir();
    let mut pairs = Vec::new();
    for name in [
        "seed_cnn_fashion.onnx",
        "mobile_cnn_fashion.onnx",
        "digits_mlp.onnx",
    ] {
        let path = fixture(name);
        let out = upgrade_file(&path, dir.path(), true).unwrap_or_else(|e| panic!("{e}"));
        pairs.push(pair(name, &path, out, Vec::new()));
    }
    let mut light: Vec<PathBuf> = std::fs::read_dir(td.join("light_random"))
        .expect("light_random")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    light.sort();
    assert_eq!(light.len(), 9);
    for path in &light {
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        // The interpreter runs the smaller ones (the others take seconds each).
        let interp = ["squeezenet", "shufflenet", "densenet", "inception_v2"]
            .iter()
            .any(|s| stem.contains(s));
        let out = upgrade_file(path, dir.path(), interp).unwrap_or_else(|e| panic!("{e}"));
        let inputs = numbered_inputs(&td.join("light_inputs").join(&stem));
        assert!(!inputs.is_empty(), "{stem}: no inputs");
        pairs.push(pair(&stem, path, out, inputs));
    }
    let results = ort_compare(&pairs, dir.path());
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, e)| e.as_ref().map(|e| format!("{n}: {e}")))
        .collect();
    assert_eq!(results.len(), pairs.len());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Old op forms the node tests do not cover, at the opset where they were spelled that way.
const OLD_FORMS: &[(&str, i64, &str)] = &[
    (
        "topk_k_attribute",
        9,
        "input %x: f32[3,5]
  %v, %i = TopK(%x) {axis=1, k=2}
  output %v: f32[3,2]
  output %i: i64[3,2]",
    ),
    (
        "upsample7_scales_attribute",
        7,
        "input %x: f32[1,2,3,4]
  %y = Upsample(%x) {mode=\"nearest\", scales=[1.0, 1.0, 2.0, 3.0]}
  output %y",
    ),
    (
        "upsample9_linear",
        9,
        "input %x: f32[1,2,3,4]
  const %s: f32[4] = [1.0, 1.0, 2.0, 2.0]
  %y = Upsample(%x, %s) {mode=\"linear\"}
  output %y",
    ),
    (
        "resize10_nearest_down",
        10,
        "input %x: f32[1,2,7,9]
  const %s: f32[4] = [1.0, 1.0, 0.5, 0.6]
  %y = Resize(%x, %s)
  output %y",
    ),
    (
        "resize10_linear_up",
        10,
        "input %x: f32[1,2,3,4]
  const %s: f32[4] = [1.0, 1.0, 2.0, 1.5]
  %y = Resize(%x, %s) {mode=\"linear\"}
  output %y",
    ),
    (
        "scatter_to_scatter_elements",
        10,
        "input %x: f32[3,3]
  const %idx: i64[2,2] = [1, 0, 2, 1]
  const %upd: f32[2,2] = [5.0, 6.0, 7.0, 8.0]
  %y = Scatter(%x, %idx, %upd) {axis=1}
  output %y: f32[3,3]",
    ),
    (
        "dft17_axis_attribute",
        17,
        "input %x: f32[2,8,4,1]
  %y = DFT(%x) {axis=2}
  output %y: f32[2,8,4,2]",
    ),
    (
        "roialign10_output_half_pixel",
        10,
        "input %x: f32[1,2,8,8]
  const %rois: f32[2,4] = [0.5, 1.0, 5.5, 6.0, 2.0, 0.0, 7.0, 4.5]
  const %b: i64[2] = [0, 0]
  %y = RoiAlign(%x, %rois, %b) {output_height=3, output_width=2, sampling_ratio=2}
  output %y: f32[2,2,3,2]",
    ),
    (
        "gridsample16_bilinear",
        16,
        "input %x: f32[1,2,4,5]
  input %grid: f32[1,3,3,2]
  %y = GridSample(%x, %grid) {mode=\"bilinear\", align_corners=1}
  output %y: f32[1,2,3,3]",
    ),
    (
        "softmax11_coerced",
        11,
        "input %x: f32[2,3,4]
  %s = Softmax(%x) {axis=1}
  %l = LogSoftmax(%x) {axis=0}
  %h = Hardmax(%x) {axis=1}
  output %s
  output %l
  output %h",
    ),
    (
        "attributes_to_inputs",
        9,
        "input %x: f32[2,3,4]
  %a = Slice(%x) {starts=[1, 0], ends=[2, 3], axes=[0, 2]}
  %p = Pad(%a) {pads=[0,1,0,0,2,1], value=0.5}
  %c = Clip(%p) {min=0.1, max=0.7}
  %u = Unsqueeze(%c) {axes=[0]}
  %q = Squeeze(%u) {axes=[0]}
  %r = ReduceMean(%q) {axes=[2], keepdims=0}
  %s1, %s2 = Split(%x) {axis=2, split=[1, 3]}
  %e1, %e2 = Split(%x) {axis=2}
  %d, %mask = Dropout(%s2) {ratio=0.2}
  output %r
  output %s1
  output %d
  output %e1
  output %e2",
    ),
];

#[test]
fn opset_upgrade_of_old_node_tests_and_old_op_forms_matches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let td = testdata_dir();
    let mut pairs = Vec::new();
    for (name, opset, body) in OLD_FORMS {
        let text = format!(
            "model ir_version=3 opsets=[\"\"={opset}]\ngraph \"{name}\" {{\n  {body}\n}}\n"
        );
        let model = nnslim::ir::text::parse_model(&text).unwrap_or_else(|e| panic!("{e}"));
        let original = dir.path().join(format!("{name}.onnx"));
        write(&model, &original);
        let out =
            upgrade_file(&original, dir.path(), false).unwrap_or_else(|e| panic!("{name}: {e}"));
        pairs.push(pair(name, &original, out, Vec::new()));
    }
    let runnable = std::fs::read_to_string(td.join("node_ort.txt")).expect("node_ort.txt");
    let mut refused = BTreeMap::new();
    let mut upgraded = 0;
    for name in runnable.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let case = td.join("node").join(name);
        let path = case.join("model.onnx");
        if load(&path).opset("").is_none_or(|v| v >= 21) {
            continue;
        }
        match upgrade_file(&path, dir.path(), false) {
            Ok(out) => {
                upgraded += 1;
                let inputs = numbered_inputs(&case.join("test_data_set_0"));
                // Bit for bit: the conversions do not change what is computed (and the
                // tolerance comparison cannot compare infinities).
                pairs.push(Pair {
                    tolerance: false,
                    ..pair(name, &path, out, inputs)
                });
            }
            Err(e) => {
                refused.insert(name.to_string(), e);
            }
        }
    }
    println!(
        "opset upgrade of node tests: {upgraded} upgraded, {} refused",
        refused.len()
    );
    for (n, e) in &refused {
        println!("  refused {n}: {e}");
    }
    let results = ort_compare(&pairs, dir.path());
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, e)| e.as_ref().map(|e| format!("{n}: {e}")))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(results.len(), pairs.len());
    assert!(upgraded >= 500, "only {upgraded} node tests upgraded");
}
