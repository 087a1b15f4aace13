//! Unit tests of `low-rank`: the full and randomized SVDs, rank choice (energy, fixed, budget,
//! minimum saving), and the rewrite of Gemm (both `transB`), MatMul and Conv checked against
//! the interpreter.

use super::rank::{Candidate, Cost, Measure, allocate_budget};
use super::svd::{Sketch, full_svd, randomized_svd, truncation_error};
use super::*;
use crate::registry::Registry;
use crate::testing::differential;

fn model(body: &str) -> Model {
    crate::testing::model_of(13, body)
}

/// A row-major `rows × cols` matrix of exact rank `rank`: the product of Gaussian factors.
fn low_rank_matrix(rows: usize, cols: usize, rank: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let a: Vec<f64> = (0..rows * rank).map(|_| rng.normal()).collect();
    let b: Vec<f64> = (0..rank * cols).map(|_| rng.normal()).collect();
    let mut w = vec![0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let s: f64 = (0..rank).map(|k| a[i * rank + k] * b[k * cols + j]).sum();
            w[i * cols + j] = (s / rank as f64) as f32;
        }
    }
    w
}

/// A matrix with singular values `σ_i = decay^i` and random singular vectors.
fn decaying_matrix(rows: usize, cols: usize, decay: f64, seed: u64) -> Vec<f32> {
    let k = rows.min(cols);
    let mut rng = Rng::new(seed);
    // Random orthonormal-ish bases through the full SVD of Gaussian matrices.
    let g1: Vec<f32> = (0..rows * k).map(|_| rng.normal() as f32).collect();
    let g2: Vec<f32> = (0..cols * k).map(|_| rng.normal() as f32).collect();
    let u = full_svd(&g1, rows, k).expect("svd").u;
    let v = full_svd(&g2, cols, k).expect("svd").u;
    let mut w = vec![0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let s: f64 = (0..k)
                .map(|t| u[(i, t)] * decay.powi(t as i32) * v[(j, t)])
                .sum();
            w[i * cols + j] = s as f32;
        }
    }
    w
}

/// Literal text of a tensor's values.
fn literal(values: &[f32]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", items.join(", "))
}

fn count(m: &Model, op: &str) -> usize {
    let g = &m.graph;
    g.node_ids()
        .filter(|&n| g.node(n).op.op_type() == op)
        .count()
}

fn run_spec(m: &mut Model, spec: &str) -> (Changed, Value) {
    let spec = nnslim_ir_spec(spec);
    let mut pass = Registry::with_builtins()
        .build_one(&spec)
        .expect("spec builds");
    let progress = crate::NoProgress;
    let mut cx = PassContext::new(0, &progress);
    let changed = pass.run(m, &mut cx).expect("pass runs");
    nnslim_ir::verify(&m.graph).expect("verifies");
    let (details, _) = cx.take_records();
    (changed, Value::Object(details))
}

fn nnslim_ir_spec(s: &str) -> crate::spec::PassSpec {
    crate::spec::parse_pipeline(s)
        .expect("spec parses")
        .pop()
        .expect("one item")
}

#[test]
fn full_svd_reconstructs_and_orders_singular_values() {
    let w = low_rank_matrix(12, 9, 9, 1);
    let s = full_svd(&w, 12, 9).expect("svd");
    assert_eq!(s.s.len(), 9);
    assert!(s.s.windows(2).all(|p| p[0] >= p[1]));
    assert!(truncation_error(&w, &s, 9) < 1e-5);
    assert!((s.energy_kept(9) - 1.0).abs() < 1e-12);
    // The error of a truncation is the energy it drops: ‖W − W_r‖² = Σ_{i ≥ r} σ_i².
    let dropped: f64 = s.s[4..].iter().map(|x| x * x).sum();
    assert!((truncation_error(&w, &s, 4).powi(2) - dropped).abs() < 1e-6 * dropped.max(1.0));
    assert_eq!(
        full_svd(&w, 5, 5).err(),
        Some(svd::SvdError::Shape {
            rows: 5,
            cols: 5,
            len: 108
        })
    );
    let mut bad = w.clone();
    bad[3] = f32::NAN;
    assert_eq!(full_svd(&bad, 12, 9).err(), Some(svd::SvdError::NonFinite));
}

#[test]
fn rank_four_matrix_splits_within_1e4() {
    let w = low_rank_matrix(16, 16, 4, 7);
    let s = full_svd(&w, 16, 16).expect("svd");
    assert_eq!(s.rank_for_energy(0.999_999), Some(4));
    let (left, right) = s.factors(4);
    let max_err = (0..16 * 16)
        .map(|ij| {
            let (i, j) = (ij / 16, ij % 16);
            let p: f32 = (0..4).map(|k| left[i * 4 + k] * right[k * 16 + j]).sum();
            (p - w[ij]).abs()
        })
        .fold(0f32, f32::max);
    assert!(max_err < 1e-4, "max error {max_err}");
}

#[test]
fn randomized_error_is_within_one_percent_of_full() {
    let (m, n, r) = (300, 200, 20);
    let w = decaying_matrix(m, n, 0.9, 3);
    let full = full_svd(&w, m, n).expect("svd");
    let full_err = truncation_error(&w, &full, r);
    let sketch = Sketch::default();
    let fast = randomized_svd(&w, m, n, r, sketch, &mut Rng::new(11)).expect("rsvd");
    assert_eq!(fast.s.len(), r);
    let fast_err = truncation_error(&w, &fast, r);
    eprintln!("full {full_err:.6}, randomized {fast_err:.6}");
    assert!(
        fast_err >= full_err * (1.0 - 1e-9),
        "Eckart–Young: full is optimal"
    );
    assert!(fast_err <= 1.01 * full_err, "{fast_err} vs {full_err}");
    // Leading singular values agree closely.
    assert!((fast.s[0] - full.s[0]).abs() < 1e-6 * full.s[0]);
    // The exact energy of the whole matrix is known even from a sketch.
    assert!((fast.total_energy - full.total_energy).abs() < 1e-9 * full.total_energy);
    // Deterministic for a seed; another seed gives (slightly) different factors.
    let again = randomized_svd(&w, m, n, r, sketch, &mut Rng::new(11)).expect("rsvd");
    assert_eq!(fast.factors(r), again.factors(r));
    let other = randomized_svd(&w, m, n, r, sketch, &mut Rng::new(12)).expect("rsvd");
    assert_ne!(fast.factors(r), other.factors(r));
    // A sketch as wide as the matrix is the full SVD.
    let wide = randomized_svd(&w, m, n, 195, sketch, &mut Rng::new(1)).expect("rsvd");
    assert!((truncation_error(&w, &wide, 195) - truncation_error(&w, &full, 195)).abs() < 1e-9);
}

#[test]
fn useful_ranks_and_budget_allocation() {
    let c = Cost {
        rows: 16,
        cols: 16,
        positions: Some(10),
    };
    // r·32 < 256 → r ≤ 7; keeping at most 75 % → r ≤ 6.
    assert_eq!(c.max_useful_rank(0.0), 7);
    assert_eq!(c.max_useful_rank(0.25), 6);
    assert_eq!(c.macs_at(4), Some(1280));
    let conv1 = Cost {
        rows: 32,
        cols: 9,
        positions: None,
    };
    assert_eq!(conv1.max_useful_rank(0.0), 7);
    assert_eq!(conv1.max_useful_rank(0.25), 5);
    // Two layers with the same cost: a steep spectrum (cheap to cut) and a flat one.
    let steep = Candidate {
        cost: c,
        max_rank: 6,
        energy: vec![0.9, 0.05, 0.02, 0.01, 0.01, 0.005, 0.005],
    };
    let flat = Candidate {
        cost: c,
        max_rank: 6,
        energy: vec![1.0 / 16.0; 16],
    };
    let a = allocate_budget(&[steep.clone(), flat.clone()], 0.75, Measure::Macs);
    assert!(a.reached && a.after <= 0.75 * a.before);
    assert_eq!(a.before, 5120.0);
    // 1280 of 5120 MACs must go. Splitting the steep layer at rank 6 loses 0.005 of its
    // energy and saves 640 MACs (the flat one would lose 0.625); ranks 5 and 4 then save 320
    // each for 0.005 and 0.01.
    assert_eq!(a.ranks, vec![Some(4), None]);
    assert_eq!(a.after, 3840.0);
    // A budget nothing can meet: every layer at rank 1, not reached.
    let none = allocate_budget(&[steep, flat], 0.01, Measure::Params);
    assert!(!none.reached);
    assert_eq!(none.ranks, vec![Some(1), Some(1)]);
}

const GEMMS: &str = r#"  input %x: f32[3,16]
  const %w: f32[16,16] = W1
  const %b: f32[16] = random(seed=2, scale=0.1)
  const %wt: f32[12,16] = W2
  const %c: f32[12] = random(seed=3, scale=0.1)
  const %wm: f32[12,20] = W3
  %h = Gemm(%x, %w, %b) {alpha=0.5, beta=2.0} @"fc0"
  %r = Relu(%h)
  %g = Gemm(%r, %wt, %c) {transB=1} @"fc1"
  %y = MatMul(%g, %wm) @"mm"
  output %y"#;

fn gemm_model() -> Model {
    let body = GEMMS
        .replace("W1", &literal(&low_rank_matrix(16, 16, 4, 1)))
        .replace("W2", &literal(&low_rank_matrix(12, 16, 3, 2)))
        .replace("W3", &literal(&low_rank_matrix(12, 20, 2, 3)));
    model(&body)
}

#[test]
fn gemm_and_matmul_split_exactly_at_their_rank() {
    let before = gemm_model();
    let mut after = before.clone();
    let (changed, details) = run_spec(&mut after, "low-rank(energy=0.99999)");
    assert_eq!(changed, Changed::Yes);
    assert_eq!((count(&after, "Gemm"), count(&after, "MatMul")), (4, 2));
    differential(&before.graph, &after.graph, 0, 3).expect("same outputs");
    let layers = details["layers"].as_array().expect("layers");
    let ranks: Vec<Value> = layers.iter().map(|l| l["rank"].clone()).collect();
    assert_eq!(ranks, vec![json!(4), json!(3), json!(2)]);
    assert_eq!(layers[0]["params_before"], 256);
    assert_eq!(layers[0]["params_after"], 128);
    assert_eq!(layers[0]["macs_before"], 768);
    assert_eq!(layers[0]["macs_after"], 384);
    assert_eq!(layers[1]["matrix"], json!([12, 16]));
    assert!(layers[2]["energy_kept"].as_f64().expect("energy") > 0.99999);
    // The original weights are gone; the output keeps its name.
    let g = &after.graph;
    assert!(g.find_value("w").is_none() && g.find_value("wt").is_none());
    assert_eq!(g.value(g.outputs()[0]).name, "y");
    // Run again: the factors are not worth splitting (idempotent).
    let mut again = after.clone();
    let (changed, _) = run_spec(&mut again, "low-rank(energy=0.99999)");
    assert_eq!(changed, Changed::No);
}

#[test]
fn randomized_svd_in_the_pass_is_deterministic_and_exact_on_low_rank() {
    let before = gemm_model();
    let mut a = before.clone();
    run_spec(&mut a, "low-rank(rank=4, svd=randomized, power-iters=1)");
    differential(&before.graph, &a.graph, 0, 2).expect("same outputs");
    let mut b = before.clone();
    run_spec(&mut b, "low-rank(rank=4, svd=randomized, power-iters=1)");
    assert_eq!(
        nnslim_ir::text::print_model(&a),
        nnslim_ir::text::print_model(&b)
    );
}

#[test]
fn conv_splits_into_kxk_then_1x1_keeping_strides_and_pads() {
    // W [8, 4, 3, 3] of rank 2 as [8, 36].
    let w = low_rank_matrix(8, 36, 2, 5);
    let body = format!(
        r#"  input %x: f32[2,4,9,9]
  const %w: f32[8,4,3,3] = {}
  const %b: f32[8] = random(seed=2, scale=0.1)
  %y = Conv(%x, %w, %b) {{kernel_shape=[3,3], strides=[2,2], pads=[1,0,1,2], dilations=[1,1]}} @"conv"
  output %y"#,
        literal(&w)
    );
    let before = model(&body);
    let mut after = before.clone();
    let (changed, details) = run_spec(&mut after, "low-rank(rank=2)");
    assert_eq!(changed, Changed::Yes);
    assert_eq!(count(&after, "Conv"), 2);
    differential(&before.graph, &after.graph, 0, 3).expect("same outputs");
    let text = nnslim_ir::text::print_model(&after);
    assert!(
        text.contains("const %w.lowrank_a: f32[2,4,3,3]")
            && text.contains("const %w.lowrank_b: f32[8,2,1,1]"),
        "{text}"
    );
    assert!(
        text.contains("strides=[2,2]") && text.contains("pads=[1,0,1,2]"),
        "{text}"
    );
    let l = &details["layers"][0];
    // 2·5×5 output positions: 50·8·36 MACs before, 50·2·(8+36) after.
    assert_eq!(
        (l["macs_before"].clone(), l["macs_after"].clone()),
        (json!(14400), json!(4400))
    );
}

#[test]
fn layers_that_would_not_save_enough_stay_and_are_reported() {
    // A full-rank 32×9 first conv and a grouped conv.
    let body = r#"  input %x: f32[1,1,8,8]
  const %w: f32[32,1,3,3] = random(seed=1, scale=0.3)
  const %dw: f32[32,1,3,3] = random(seed=2, scale=0.3)
  %c = Conv(%x, %w) {kernel_shape=[3,3]} @"conv1"
  %d = Conv(%c, %dw) {kernel_shape=[3,3], group=32} @"dw"
  output %d"#;
    let mut m = model(body);
    let (changed, details) = run_spec(&mut m, "low-rank(energy=0.9)");
    assert_eq!(changed, Changed::No);
    let l = &details["layers"][0];
    assert_eq!(l["applied"], false);
    let reason = l["reason"].as_str().expect("reason");
    assert!(
        reason.contains("min-saving=0.25 allows rank ≤ 5"),
        "{reason}"
    );
    assert_eq!(details["ineligible"][0]["layer"], "dw");
    // rank=1 saves enough: split.
    let before = m.clone();
    let (changed, _) = run_spec(&mut m, "low-rank(rank=1, min-saving=0)");
    assert_eq!(changed, Changed::Yes);
    assert_eq!(count(&m, "Conv"), 3);
    assert!(
        differential(&before.graph, &m.graph, 0, 1).is_err(),
        "rank 1 is lossy"
    );
}

#[test]
fn budget_splits_layers_until_the_macs_fit() {
    let before = gemm_model();
    let mut after = before.clone();
    let (changed, details) = run_spec(&mut after, "low-rank(budget=0.5)");
    assert_eq!(changed, Changed::Yes);
    let b = &details["budget"];
    assert_eq!(b["reached"], true);
    assert!(b["after"].as_f64() <= Some(0.5 * b["before"].as_f64().expect("before")));
    // Exactly low-rank layers lose nothing down to their rank, so the outputs still match.
    differential(&before.graph, &after.graph, 0, 2).expect("same outputs");
}

#[test]
fn options_are_checked() {
    let r = Registry::with_builtins();
    for bad in [
        "low-rank(energy=0.9, rank=3)",
        "low-rank(energy=0)",
        "low-rank(energy=1.5)",
        "low-rank(budget-of=params)",
        "low-rank(svd=fast)",
        "low-rank(svd=full, randomized-from=64)",
        "low-rank(rank=0)",
    ] {
        assert!(
            matches!(r.build(bad).err(), Some(PassError::Options { .. })),
            "{bad}"
        );
    }
    let p = LowRankPass::from_args(
        &PassArgs::check(
            r.info("low-rank").expect("registered"),
            &nnslim_ir_spec("low-rank(budget=0.4, budget-of=params, oversample=4)"),
        )
        .expect("args"),
    )
    .expect("builds");
    assert_eq!(
        p.options.rule,
        Rule::Budget {
            keep: 0.4,
            measure: Measure::Params
        }
    );
    assert_eq!(p.options.sketch.oversample, 4);
}
