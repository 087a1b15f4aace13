//! Activation calibration (`nnslim_passes::quantize::calib`) on the seed CNN with real
//! Fashion-MNIST data: every Conv/Gemm input and output gets a finite range containing 0;
//! percentile and entropy ranges lie inside the min/max range; the statistics have the same size
//! for 100 and 2 000 samples; and calibration time for 256 and 10 000 samples is printed
//! (`cargo test --release -p nnslim-tests --test quantize_calib -- --nocapture`).
//! `calibration_memory_probe` is also the per-process probe of `scripts/bench_calib_memory.sh`.

use nnslim::ir::{Graph, Model, Op, ValueId};
use nnslim_eval::Value;
use nnslim_passes::NoProgress;
use nnslim_passes::Samples;
use nnslim_passes::quantize::calib::{CalibMethod, Range, calibrate, collect};
use nnslim_tests::workspace_root;
use std::collections::HashMap;

fn seed_cnn() -> Model {
    let path = workspace_root().join("tests/fixtures/seed_cnn_fashion.onnx");
    nnslim::frontend::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .model
}

fn samples(model: &Model, spec: &str) -> Samples {
    let parsed = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
    let data = nnslim::data::load(&parsed).unwrap_or_else(|e| panic!("{spec}: {e}"));
    nnslim::commands::compile::samples_for(model, &data, spec.to_string())
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// The first `n` training images in batches of `batch` rows (the last one may be shorter).
fn batched(n: usize, batch: usize) -> Samples {
    let spec = format!("fashion-mnist:train:{n}");
    let parsed = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
    let data = nnslim::data::load(&parsed).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let x = data.inputs();
    let batches = (0..data.len())
        .step_by(batch)
        .map(|s| {
            let rows = nnslim::data::slice_rows(&x, s..(s + batch).min(data.len()));
            HashMap::from([("input".to_string(), Value::Tensor(rows))]).into()
        })
        .collect();
    Samples {
        description: spec,
        batches,
        labels: None,
    }
}

/// The first input and the output of every Conv and Gemm, deduplicated, in graph order.
fn conv_gemm_values(g: &Graph) -> Vec<ValueId> {
    let mut out = Vec::new();
    for id in g.compute_nodes().expect("acyclic") {
        let node = g.node(id);
        if matches!(node.op, Op::Conv(_) | Op::Gemm(_)) {
            for v in [node.inputs()[0], Some(ValueId { node: id, slot: 0 })]
                .into_iter()
                .flatten()
            {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

const METHODS: [CalibMethod; 3] = [
    CalibMethod::MinMax,
    CalibMethod::Percentile(99.99),
    CalibMethod::Entropy,
];

#[test]
fn seed_cnn_ranges_are_finite_ordered_and_nested() {
    let model = seed_cnn();
    let g = &model.graph;
    let data = samples(&model, "fashion-mnist:train:256");
    assert_eq!(data.len(), 256);
    let values = conv_gemm_values(g);
    // 2 Conv + 2 Gemm: the image, conv1, pool1, conv2, flatten, gemm1, relu3, logits.
    assert_eq!(values.len(), 8, "{values:?}");
    let by_method: Vec<HashMap<ValueId, Range>> = METHODS
        .iter()
        .map(|m| calibrate(g, &data, &values, m, &NoProgress).expect("calibrates"))
        .collect();
    for (m, ranges) in METHODS.iter().zip(&by_method) {
        for &v in &values {
            let name = &g.value(v).name;
            let r = ranges
                .get(&v)
                .unwrap_or_else(|| panic!("{m:?}: no range for {name}"));
            assert!(
                r.min.is_finite() && r.max.is_finite(),
                "{m:?} {name}: {r:?}"
            );
            assert!(
                r.min <= 0.0 && 0.0 <= r.max,
                "{m:?} {name}: {r:?} excludes 0"
            );
            assert!(r.min < r.max, "{m:?} {name}: {r:?} is empty");
            let full = by_method[0][&v];
            assert!(
                r.min >= full.min && r.max <= full.max,
                "{m:?} {name}: {r:?} is not inside min/max {full:?}"
            );
        }
    }
    // Min/max of the image input is exact: the data's own extremes (and 0).
    let image = values[0];
    let pixels: Vec<f32> = data
        .batches
        .iter()
        .flat_map(|b| {
            b.values()
                .values()
                .filter_map(|v| v.as_tensor()?.as_f32().map(<[f32]>::to_vec))
                .collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    assert_eq!(pixels.len(), 256 * 28 * 28);
    let lo = pixels.iter().copied().fold(0f32, f32::min);
    let hi = pixels.iter().copied().fold(0f32, f32::max);
    assert_eq!(by_method[0][&image], Range { min: lo, max: hi });
    // Outputs of ReLU-fed layers (pool, flatten) are non-negative for every method.
    for ranges in &by_method {
        assert_eq!(ranges[&values[2]].min, 0.0, "pool1 output");
        assert_eq!(ranges[&values[4]].min, 0.0, "flatten output");
    }
    // Entropy clips somewhere: on real activations at least one range is narrower than min/max.
    let narrower = values
        .iter()
        .filter(|v| by_method[2][v].max < by_method[0][v].max)
        .count();
    assert!(narrower > 0, "entropy clipped nothing");
    for (m, ranges) in METHODS.iter().zip(&by_method) {
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                let r = ranges[v];
                format!("{}=[{:.3}, {:.3}]", g.value(*v).name, r.min, r.max)
            })
            .collect();
        println!("{m:?}: {}", shown.join(" "));
    }
}

#[test]
fn statistics_have_the_same_size_for_100_and_2000_samples() {
    let model = seed_cnn();
    let g = &model.graph;
    let values = conv_gemm_values(g);
    let few = batched(100, 100);
    let many = batched(2000, 100);
    assert_eq!((few.len(), many.len()), (100, 2000));
    for m in &METHODS {
        let a = collect(g, &few, &values, m, &NoProgress).expect("100 samples");
        let b = collect(g, &many, &values, m, &NoProgress).expect("2000 samples");
        assert_eq!(a.len(), values.len());
        assert_eq!(a.stats_bytes(), b.stats_bytes(), "{m:?}");
        println!("{m:?}: {} bytes of statistics", a.stats_bytes());
    }
}
