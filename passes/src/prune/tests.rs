//! Unit tests of `prune`: each mode on small text-IR graphs — which weights become zero,
//! N:M groups read back from the IR, channel pruning that is exact when the removed filters
//! are zero (checked with the interpreter), the greedy ratio choice, and option validation.

use super::*;
use crate::testing::differential;
use crate::{NoProgress, Samples};
use nnslim_ir::{Graph, Op, Tensor, stats::layer_stats};
use std::collections::BTreeMap;

fn model(body: &str) -> Model {
    crate::testing::model_of(13, body)
}

/// Conv (8 input channels), Gemm (transB, 20 inputs with a tail of 2 for M = 4 … and 18
/// inputs), MatMul: one of each weight layout.
const NET: &str = r#"  input %x: f32[2,8,5,5]
  const %w: f32[6,8,3,3] = random(seed=1, scale=0.3)
  const %b: f32[6] = random(seed=2, scale=0.1)
  const %fw: f32[10,54] = random(seed=3, scale=0.2)
  const %fb: f32[10] = random(seed=4, scale=0.1)
  const %mw: f32[10,7] = random(seed=5, scale=0.3)
  %c = Conv(%x, %w, %b) {kernel_shape=[3,3]}
  %r = Relu(%c)
  %f = Flatten(%r) {axis=1}
  %h = Gemm(%f, %fw, %fb) {transB=1}
  %y = MatMul(%h, %mw)
  output %y"#;

fn weight(g: &Graph, name: &str) -> (Vec<i64>, Vec<f32>) {
    let v = g.find_value(name).expect("value exists");
    let t = g.constant(v).expect("constant");
    (t.dims.clone(), t.to_f32_vec().expect("f32"))
}

/// Every pruned (zeroed) original value is no larger in magnitude than every kept one.
fn smallest_were_pruned(before: &[f32], after: &[f32]) {
    let cut = before
        .iter()
        .zip(after)
        .filter(|(_, a)| **a == 0.0)
        .map(|(b, _)| b.abs())
        .fold(0f32, f32::max);
    let kept = before
        .iter()
        .zip(after)
        .filter(|(_, a)| **a != 0.0)
        .map(|(b, _)| b.abs())
        .fold(f32::INFINITY, f32::min);
    assert!(cut <= kept, "pruned {cut} > kept {kept}");
    for (b, a) in before.iter().zip(after) {
        assert!(*a == 0.0 || a == b, "a kept weight changed: {b} -> {a}");
    }
}

#[test]
fn layer_scope_prunes_each_weight_to_the_ratio_and_leaves_biases() {
    let original = model(NET);
    let mut m = original.clone();
    let layers = prune_magnitude(&mut m.graph, 0.5, Scope::Layer).unwrap();
    nnslim_ir::verify(&m.graph).unwrap();
    let got: Vec<(&str, u64, u64)> = layers
        .iter()
        .map(|l| (l.op.as_str(), l.params, l.zeros))
        .collect();
    assert_eq!(
        got,
        [("Conv", 432, 216), ("Gemm", 540, 270), ("MatMul", 70, 35)]
    );
    for name in ["w", "fw", "mw"] {
        smallest_were_pruned(&weight(&original.graph, name).1, &weight(&m.graph, name).1);
    }
    for name in ["b", "fb"] {
        assert_eq!(weight(&original.graph, name), weight(&m.graph, name));
    }
}

#[test]
fn global_scope_uses_one_threshold_over_all_layers() {
    let original = model(NET);
    let mut m = original.clone();
    let layers = prune_magnitude(&mut m.graph, 0.7, Scope::Global).unwrap();
    let zeros: u64 = layers.iter().map(|l| l.zeros).sum();
    assert_eq!(zeros, (0.7f64 * 1042.0).round() as u64);
    let all = |m: &Model| -> Vec<f32> {
        ["w", "fw", "mw"]
            .iter()
            .flat_map(|n| weight(&m.graph, n).1)
            .collect()
    };
    smallest_were_pruned(&all(&original), &all(&m));
    // The layers end up with different sparsities: the shared threshold, not the ratio, holds.
    let ratios: Vec<f64> = layers.iter().map(|l| l.ratio.unwrap()).collect();
    assert!(ratios.iter().any(|r| (r - 0.7).abs() > 0.01), "{ratios:?}");
}

#[test]
fn two_of_four_along_the_reduction_dimension() {
    // Gemm with K = 54 (a tail of 2); Conv I = 8; MatMul K = 10 (a tail of 2).
    let original = model(NET);
    let mut m = original.clone();
    let done = prune_pattern(&mut m.graph, 2, 4).unwrap();
    nnslim_ir::verify(&m.graph).unwrap();
    assert_eq!(done.layers.len(), 3);
    assert_eq!(done.notes.len(), 2, "{:?}", done.notes);
    let g = &m.graph;
    // Conv W[o, i, kh, kw]: groups along i for each (o, kh, kw).
    let (_, w) = weight(g, "w");
    for o in 0..6 {
        for k in 0..9 {
            for start in [0, 4] {
                let nz = (start..start + 4)
                    .filter(|i| w[(o * 8 + i) * 9 + k] != 0.0)
                    .count();
                assert!(nz <= 2, "conv o={o} k={k} group {start}: {nz} non-zeros");
            }
        }
    }
    // Gemm B[n, k] (transB): groups along k; the last 2 of each row stay as they were.
    let (_, fw) = weight(g, "fw");
    let (_, fw0) = weight(&original.graph, "fw");
    for n in 0..10 {
        let row = &fw[n * 54..(n + 1) * 54];
        for group in row[..52].chunks(4) {
            assert_eq!(group.iter().filter(|x| **x != 0.0).count(), 2);
        }
        assert_eq!(&row[52..], &fw0[n * 54 + 52..(n + 1) * 54]);
    }
    // MatMul B[k, n]: groups along k (axis 0).
    let (_, mw) = weight(g, "mw");
    for n in 0..7 {
        for start in [0, 4] {
            let nz = (start..start + 4).filter(|k| mw[k * 7 + n] != 0.0).count();
            assert!(nz <= 2);
        }
    }
    // Within each group the two largest magnitudes stay.
    smallest_were_pruned(&fw0[..4], &fw[..4]);
}

/// Zeroes the slices `channels` of constant `name` along `axis`.
fn zero_slices(g: &mut Graph, name: &str, axis: usize, channels: &[usize]) {
    let v = g.find_value(name).expect("value exists");
    let t = g.constant(v).expect("constant").clone();
    let mut x = t.to_f32_vec().unwrap();
    let d: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let (size, inner): (usize, usize) = (d[axis], d[axis + 1..].iter().product());
    for (i, e) in x.iter_mut().enumerate() {
        if channels.contains(&((i / inner) % size)) {
            *e = 0.0;
        }
    }
    g.node_mut(v.node).op = Op::Initializer(Tensor::from_f32(t.dims.clone(), &x).unwrap());
}

/// Conv → BatchNormalization → Relu → MaxPool → depthwise Conv → x·Sigmoid(x) → Conv → Relu
/// → Flatten → Gemm (the graph output).
const CHAIN: &str = r#"  input %x: f32[N,3,8,8]
  const %w1: f32[8,3,3,3] = random(seed=1, scale=0.5)
  const %b1: f32[8] = random(seed=2, scale=0.1)
  const %s: f32[8] = range(0.5, 1.5)
  const %beta: f32[8] = random(seed=3, scale=0.2)
  const %mean: f32[8] = random(seed=4, scale=0.3)
  const %var: f32[8] = range(0.5, 2.0)
  const %dw: f32[8,1,3,3] = random(seed=5, scale=0.5)
  const %dwb: f32[8] = random(seed=6, scale=0.1)
  const %w2: f32[6,8,1,1] = random(seed=7, scale=0.5)
  const %b2: f32[6] = random(seed=8, scale=0.1)
  const %fw: f32[4,24] = random(seed=9, scale=0.3)
  const %fb: f32[4] = random(seed=10, scale=0.1)
  %c1 = Conv(%x, %w1, %b1) {kernel_shape=[3,3], pads=[1,1,1,1]}
  %bn = BatchNormalization(%c1, %s, %beta, %mean, %var)
  %r1 = Relu(%bn)
  %p = MaxPool(%r1) {kernel_shape=[2,2], strides=[2,2]}
  %d = Conv(%p, %dw, %dwb) {kernel_shape=[3,3], group=8}
  %sg = Sigmoid(%d)
  %sw = Mul(%d, %sg)
  %c2 = Conv(%sw, %w2, %b2) {kernel_shape=[1,1]}
  %r2 = Relu(%c2)
  %f = Flatten(%r2) {axis=1}
  %y = Gemm(%f, %fw, %fb) {transB=1}
  output %y"#;

#[test]
fn channel_pruning_of_zero_filters_is_exact_and_shrinks_shapes() {
    let mut original = model(CHAIN);
    {
        let g = &mut original.graph;
        // Channels 1 and 5 of conv1 produce exact zeros after BN (beta = mean = 0), Relu,
        // pooling and the depthwise conv (zero bias); channels 0 and 3 of conv2 likewise.
        zero_slices(g, "w1", 0, &[1, 5]);
        for c in ["b1", "beta", "mean", "dwb"] {
            zero_slices(g, c, 0, &[1, 5]);
        }
        zero_slices(g, "w2", 0, &[0, 3]);
        zero_slices(g, "b2", 0, &[0, 3]);
    }
    let mut m = original.clone();
    let done = prune_channels(&mut m.graph, 0.25, Norm::L2).unwrap();
    nnslim_ir::verify(&m.graph).unwrap();
    let kept: Vec<(u64, u64)> = done.layers.iter().filter_map(|l| l.channels).collect();
    assert_eq!(kept, [(8, 6), (6, 4)]);
    assert_eq!(done.skipped.len(), 1, "{:?}", done.skipped);
    assert!(
        done.skipped[0].1.contains("graph output"),
        "{:?}",
        done.skipped
    );
    let g = &m.graph;
    let conv_weights: Vec<Vec<i64>> = g
        .topo_order()
        .unwrap()
        .into_iter()
        .filter(|&n| matches!(g.node(n).op, Op::Conv(_) | Op::Gemm(_)))
        .map(|n| {
            g.constant(g.node(n).inputs()[1].unwrap())
                .unwrap()
                .dims
                .clone()
        })
        .collect();
    assert_eq!(
        conv_weights,
        [
            vec![6, 3, 3, 3],
            vec![6, 1, 3, 3],
            vec![4, 6, 1, 1],
            vec![4, 16]
        ]
    );
    let shape = |n: &str| {
        g.value(g.find_value(n).unwrap())
            .ty
            .shape()
            .unwrap()
            .to_vec()
    };
    assert_eq!(shape("sw")[1], nnslim_ir::Dim::Known(6));
    assert_eq!(shape("f")[1], nnslim_ir::Dim::Known(16));
    let macs = |m: &Model| -> u64 { layer_stats(&m.graph).iter().filter_map(|l| l.macs).sum() };
    assert!(macs(&m) < macs(&original) * 3 / 4);
    differential(&original.graph, &m.graph, 0, 3).unwrap();
}

#[test]
fn channels_meeting_another_branch_or_an_output_are_left_alone() {
    let m0 = model(
        r#"  input %x: f32[1,4,6,6]
  const %wa: f32[6,4,1,1] = random(seed=1, scale=0.5)
  const %wb: f32[6,4,1,1] = random(seed=2, scale=0.5)
  const %wc: f32[8,12,1,1] = random(seed=3, scale=0.5)
  const %wd: f32[4,6,1,1] = random(seed=4, scale=0.5)
  %a = Conv(%x, %wa) {kernel_shape=[1,1]}
  %b = Conv(%x, %wb) {kernel_shape=[1,1]}
  %sum = Add(%a, %b)
  %cat = Concat(%sum, %b) {axis=1}
  %c = Conv(%cat, %wc) {kernel_shape=[1,1]}
  %d = Conv(%a, %wd) {kernel_shape=[1,1]}
  output %c
  output %d"#,
    );
    let mut m = m0.clone();
    let done = prune_channels(&mut m.graph, 0.5, Norm::L1).unwrap();
    nnslim_ir::verify(&m.graph).unwrap();
    let skipped: Vec<&str> = done.skipped.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(skipped, ["<a>", "<b>", "<c>", "<d>"], "{:?}", done.skipped);
    assert!(done.skipped[0].1.contains("'b'"), "{:?}", done.skipped[0]);
    assert!(done.layers.is_empty());
    differential(&m0.graph, &m.graph, 0, 1).unwrap();
}

#[test]
fn concat_offsets_follow_the_channels() {
    let m0 = model(
        r#"  input %x: f32[1,4,6,6]
  const %wa: f32[6,4,1,1] = random(seed=1, scale=0.5)
  const %wc: f32[5,10,1,1] = random(seed=3, scale=0.5)
  %a = Conv(%x, %wa) {kernel_shape=[1,1]}
  %r = Relu(%a)
  %cat = Concat(%x, %r) {axis=1}
  %c = Conv(%cat, %wc) {kernel_shape=[1,1]}
  output %c"#,
    );
    let mut zeroed = m0.clone();
    zero_slices(&mut zeroed.graph, "wa", 0, &[2, 4]);
    let mut m = zeroed.clone();
    let done = prune_channels(&mut m.graph, 0.34, Norm::L2).unwrap();
    nnslim_ir::verify(&m.graph).unwrap();
    assert_eq!(done.layers.len(), 1, "{:?}", done.skipped);
    assert_eq!(done.layers[0].channels, Some((6, 4)));
    let g = &m.graph;
    let c = g.find_value("c").unwrap();
    let wc = g.constant(g.node(c.node).inputs()[1].unwrap()).unwrap();
    assert_eq!(wc.dims, [5, 8, 1, 1]);
    // Input channels 4 + 2 and 4 + 4 of the concatenation went.
    let (_, before) = weight(&zeroed.graph, "wc");
    let after = wc.to_f32_vec().unwrap();
    let kept = [0, 1, 2, 3, 4, 5, 7, 9];
    for o in 0..5 {
        for (j, &i) in kept.iter().enumerate() {
            assert_eq!(after[o * 8 + j], before[o * 10 + i]);
        }
    }
    differential(&zeroed.graph, &m.graph, 0, 2).unwrap();
}

#[test]
fn greedy_ratios_spend_the_budget_where_it_costs_least() {
    let grid = [0.25, 0.5, 0.75];
    // Layer 0 is cheap to prune, layer 1 costly; both have 100 weights.
    let losses = vec![vec![0.0, 0.01, 0.02], vec![0.1, 0.5, 0.9]];
    let r = sensitivity::choose_ratios(&[100, 100], &losses, &grid, 0.5);
    assert_eq!(r[0], 0.75);
    assert!((r[1] - 0.25).abs() < 1e-12, "{r:?}");
    // The total matches the target exactly even in the middle of a step.
    let r = sensitivity::choose_ratios(&[100, 300], &losses, &grid, 0.3);
    let total = r[0] * 100.0 + r[1] * 300.0;
    assert!((total - 120.0).abs() < 1e-9, "{r:?}");
}

#[test]
fn sensitivity_meets_the_overall_ratio() {
    let mut m = model(NET);
    let g0 = m.graph.clone();
    let batches = (0..4)
        .map(|s| crate::testing::random_inputs(&g0, s).unwrap().into())
        .collect();
    let samples = Samples {
        description: "random".into(),
        batches,
        labels: None,
    };
    let done = prune_sensitivity(&mut m.graph, 0.6, &samples, &NoProgress).unwrap();
    nnslim_ir::verify(&m.graph).unwrap();
    assert_eq!(done.scans.len(), 3);
    assert!(
        done.scans
            .iter()
            .all(|s| s.points.len() == sensitivity::GRID.len())
    );
    let zeros: u64 = done.layers.iter().map(|l| l.zeros).sum();
    let total: u64 = done.layers.iter().map(|l| l.params).sum();
    let target = 0.6 * total as f64;
    assert!((zeros as f64 - target).abs() <= 3.0, "{zeros} vs {target}");
    // Losses never decrease along a curve.
    for s in &done.scans {
        assert!(s.points.windows(2).all(|p| p[1].loss >= p[0].loss));
    }
}

#[test]
fn options_are_checked() {
    let r = crate::Registry::with_builtins();
    for (spec, want) in [
        ("prune(ratio=1)", "strictly between 0 and 1"),
        ("prune(ratio=0)", "strictly between 0 and 1"),
        ("prune(ratio=1.5)", "from 0 to 1"),
        ("prune(pattern=2:4, ratio=0.5)", "does not go with ratio"),
        ("prune(pattern=4:4)", "N < M"),
        (
            "prune(structure=channel, scope=global)",
            "scope= does not go",
        ),
        ("prune(rank=l1)", "rank= goes with structure=channel"),
        (
            "prune(method=sensitivity, scope=layer)",
            "scope= does not go",
        ),
        ("prune(method=fast)", "must be one of"),
        ("prune(ratio=0.5, samples=10)", "samples= goes with"),
        ("prune(refit=maybe)", "on or off"),
    ] {
        let err = r
            .build(spec)
            .err()
            .unwrap_or_else(|| panic!("{spec} accepted"));
        assert!(err.to_string().contains(want), "{spec}: {err}");
    }
    assert!(
        r.build("prune(ratio=0.8, method=sensitivity)")
            .unwrap()
            .needs_calibration()
    );
    // Channel pruning refits by default, so it needs calibration data unless told not to;
    // magnitude pruning needs it only when asked to refit.
    let needs = |spec: &str| r.build(spec).unwrap().needs_calibration();
    assert!(needs("prune(structure=channel, ratio=0.3, rank=l1)"));
    assert!(!needs("prune(structure=channel, ratio=0.3, refit=off)"));
    assert!(!needs("prune(ratio=0.5, scope=layer)"));
    assert!(needs("prune(ratio=0.5, scope=layer, refit=on)"));
    assert!(needs("prune(pattern=2:4, refit=on, samples=64)"));
    assert!(needs("prune(ratio=0.8, method=sensitivity, refit=off)"));
    assert!(r.build("prune(pattern=2:4)").is_ok());
}

/// Samples holding the one input `x` as given.
fn samples_of(x: &[(Vec<usize>, Vec<f32>)]) -> Samples {
    let batches = x
        .iter()
        .map(|(shape, v)| {
            let a = nnslim_eval::Array::f32(shape.clone(), v.clone());
            std::collections::HashMap::from([("x".to_string(), nnslim_eval::Value::Tensor(a))])
                .into()
        })
        .collect();
    Samples {
        description: "test".into(),
        batches,
        labels: None,
    }
}

/// Squared output error of `g` against `float` on `samples`, and the output energy.
fn output_error(g: &Graph, float: &Graph, samples: &Samples) -> (f64, f64) {
    let got = crate::run_batches(g, samples).unwrap();
    let want = crate::run_batches(float, samples).unwrap();
    let (mut noise, mut signal) = (0.0, 0.0);
    for (a, b) in got.iter().zip(&want) {
        let a = a[0].as_tensor().unwrap().to_f32_vec().unwrap();
        let b = b[0].as_tensor().unwrap().to_f32_vec().unwrap();
        for (p, q) in a.iter().zip(&b) {
            noise += f64::from(p - q).powi(2);
            signal += f64::from(*q).powi(2);
        }
    }
    (noise, signal)
}

/// A seeded pseudo-random vector in [-1, 1).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = nnslim_ir::Rng::new(seed);
    (0..n).map(|_| rng.unit_f32() * 2.0 - 1.0).collect()
}

const GEMM: &str = r#"  input %x: f32[N,6]
  const %w: f32[4,6] = random(seed=1, scale=0.5)
  const %b: f32[4] = random(seed=2, scale=0.1)
  %y = Gemm(%x, %w, %b) {transB=1}
  output %y"#;

#[test]
fn refit_lowers_the_error_of_magnitude_pruning_on_the_same_mask() {
    let float = model(GEMM).graph;
    // Correlated inputs: what a pruned weight carried, its neighbours can carry instead.
    let base = noise(200 * 3, 7);
    let x: Vec<f32> = (0..200)
        .flat_map(|r| {
            let b = &base[r * 3..r * 3 + 3];
            [
                b[0],
                b[1],
                b[2],
                b[0] + 0.3 * b[1],
                b[1] - 0.5 * b[2],
                0.7 * b[0] + 0.2,
            ]
        })
        .collect();
    let samples = samples_of(&[
        (vec![100, 6], x[..600].to_vec()),
        (vec![100, 6], x[600..].to_vec()),
    ]);
    let mut plain = float.clone();
    prune_magnitude(&mut plain, 0.5, Scope::Layer).unwrap();
    let mut refitted = plain.clone();
    let targets = refit::targets(&refitted, &BTreeMap::new(), true).unwrap();
    let done = refit::refit_layers(
        &mut refitted,
        &float,
        &targets,
        &samples,
        refit::DEFAULT_ALPHA,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(done.layers.len(), 1, "{:?}", done.skipped);
    let r = &done.layers[0];
    assert_eq!(r.rows, 200);
    assert!(r.sqnr_after > r.sqnr_before + 3.0, "{r:?}");
    // Same zeros, lower error on the samples (the layer's output is the graph's).
    let (w0, w1) = (weight(&plain, "w").1, weight(&refitted, "w").1);
    for (a, b) in w0.iter().zip(&w1) {
        assert_eq!(*a == 0.0, *b == 0.0, "{w0:?} vs {w1:?}");
    }
    let (e_plain, signal) = output_error(&plain, &float, &samples);
    let (e_refit, _) = output_error(&refitted, &float, &samples);
    assert!(
        e_refit < 0.5 * e_plain,
        "refit {e_refit} vs plain {e_plain}"
    );
    let measured = 10.0 * (signal / e_refit).log10();
    assert!((measured - r.sqnr_after).abs() < 0.5, "{measured} vs {r:?}");
}

#[test]
fn refit_is_exact_when_the_kept_inputs_span_the_pruned_ones() {
    let float = model(GEMM).graph;
    // Features 3..5 are combinations of 0..2: zeroing their weights loses nothing a refit of
    // the kept ones cannot give back.
    let base = noise(64 * 3, 3);
    let x: Vec<f32> = (0..64)
        .flat_map(|r| {
            let b = &base[r * 3..r * 3 + 3];
            [
                b[0],
                b[1],
                b[2],
                b[0] - b[2],
                2.0 * b[1],
                b[0] + b[1] + b[2],
            ]
        })
        .collect();
    let samples = samples_of(&[(vec![64, 6], x)]);
    let mut pruned = float.clone();
    zero_slices(&mut pruned, "w", 1, &[3, 4, 5]);
    let (before, signal) = output_error(&pruned, &float, &samples);
    let targets = refit::targets(&pruned, &BTreeMap::new(), true).unwrap();
    refit::refit_layers(&mut pruned, &float, &targets, &samples, 1e-12, &NoProgress).unwrap();
    let (after, _) = output_error(&pruned, &float, &samples);
    assert!(before > 1e-2 * signal, "{before} {signal}");
    assert!(after < 1e-8 * signal, "{after} vs signal {signal}");
    let w = weight(&pruned, "w").1;
    assert!((0..4).all(|o| w[o * 6 + 3..o * 6 + 6] == [0.0; 3]), "{w:?}");
}

#[test]
fn refit_recovers_a_padded_strided_grouped_conv_and_a_matmul() {
    // Weights perturbed without pruning: with enough rows, refitting each layer from the
    // previous one's refitted outputs gives the float model back (im2col with padding,
    // stride, groups and the [K, N] MatMul layout).
    let float = model(
        r#"  input %x: f32[N,4,7,7]
  const %w: f32[6,2,3,3] = random(seed=1, scale=0.5)
  const %b: f32[6] = random(seed=2, scale=0.1)
  const %m: f32[72,5] = random(seed=3, scale=0.2)
  %c = Conv(%x, %w, %b) {kernel_shape=[3,3], pads=[1,0,1,1], strides=[2,2], group=2}
  %r = Relu(%c)
  %f = Flatten(%r) {axis=1}
  %y = MatMul(%f, %m)
  output %y"#,
    )
    .graph;
    let mut g = float.clone();
    for name in ["w", "b", "m"] {
        let (dims, v) = weight(&g, name);
        let bent: Vec<f32> = v
            .iter()
            .zip(noise(v.len(), 11))
            .map(|(a, e)| a + 0.2 * e)
            .collect();
        let id = g.find_value(name).unwrap();
        g.node_mut(id.node).op = Op::Initializer(Tensor::from_f32(dims, &bent).unwrap());
    }
    let samples = samples_of(&[
        (vec![64, 4, 7, 7], noise(64 * 196, 5)),
        (vec![64, 4, 7, 7], noise(64 * 196, 6)),
    ]);
    let (before, signal) = output_error(&g, &float, &samples);
    let targets = refit::targets(&g, &BTreeMap::new(), false).unwrap();
    let done = refit::refit_layers(&mut g, &float, &targets, &samples, 1e-12, &NoProgress).unwrap();
    assert_eq!(done.layers.len(), 2, "{:?}", done.skipped);
    // 128 images × 4 × 3 output positions; 128 rows for the MatMul.
    assert_eq!(
        done.layers.iter().map(|r| r.rows).collect::<Vec<_>>(),
        [128 * 12, 128]
    );
    let (after, _) = output_error(&g, &float, &samples);
    assert!(before > 1e-2 * signal, "{before} {signal}");
    assert!(
        after < 1e-8 * signal,
        "{after} vs {before}, signal {signal}"
    );
}

#[test]
fn channel_pruning_with_refit_beats_plain_channel_pruning() {
    let original = model(CHAIN);
    let samples = Samples {
        description: "random".into(),
        batches: (0..3)
            .map(|s| {
                crate::testing::random_inputs(&original.graph, s)
                    .unwrap()
                    .into()
            })
            .collect(),
        labels: None,
    };
    let mut plain = original.clone();
    let done = prune_channels(&mut plain.graph, 0.25, Norm::L2).unwrap();
    // conv1 keeps 6 of 8, the depthwise conv after it the same ones, conv2 4 of 6.
    let kept: Vec<(&str, usize)> = done
        .kept
        .iter()
        .map(|(k, v)| (k.as_str(), v.len()))
        .collect();
    assert_eq!(kept, [("c1", 6), ("c2", 4), ("d", 6)]);
    assert_eq!(done.kept["c1"], done.kept["d"]);
    let mut refitted = plain.clone();
    let targets = refit::targets(&refitted.graph, &done.kept, false).unwrap();
    let r = refit::refit_layers(
        &mut refitted.graph,
        &original.graph,
        &targets,
        &samples,
        refit::DEFAULT_ALPHA,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(r.layers.len(), 4, "{:?}", r.skipped);
    nnslim_ir::verify(&refitted.graph).unwrap();
    let (e_plain, _) = output_error(&plain.graph, &original.graph, &samples);
    let (e_refit, _) = output_error(&refitted.graph, &original.graph, &samples);
    assert!(
        e_refit < 0.5 * e_plain,
        "refit {e_refit} vs plain {e_plain}"
    );
}
