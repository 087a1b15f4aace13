//! Sensitivity-guided magnitude pruning (`method=sensitivity`): each layer is pruned alone at
//! increasing ratios and the model's outputs on the calibration samples are compared with the
//! float model's (output SQNR; accuracy when the samples have labels). Per-layer ratios are
//! then chosen greedily: the layer whose next step costs the least loss per pruned weight is
//! raised until the overall ratio (by parameter count) is met.

use super::LayerReport;
use super::magnitude::prune_layers;
use super::weights::{Weight, count_for, prunable_weights, write_weight, zero_smallest};
use crate::{PassError, Progress, Samples, fidelity, run_batches};
use nnslim_ir::Graph;

/// The ratios each layer is scanned at.
pub const GRID: [f64; 11] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98];

/// One point of a layer's sensitivity curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub ratio: f64,
    /// Output SQNR against the float model, in dB (∞ when equal).
    pub sqnr_db: f64,
    /// Top-1 accuracy on the samples, when they have labels.
    pub accuracy: Option<f64>,
    /// The loss the greedy choice uses: noise-to-signal power ratio plus the accuracy drop
    /// (a fraction), made non-decreasing along the curve.
    pub loss: f64,
}

/// A layer's sensitivity curve and the ratio chosen for it.
#[derive(Clone, Debug)]
pub struct Scan {
    pub layer: String,
    pub params: usize,
    pub points: Vec<Point>,
    pub chosen: f64,
}

/// What `method=sensitivity` did.
#[derive(Clone, Debug, Default)]
pub struct SensitivityOutcome {
    pub layers: Vec<LayerReport>,
    pub scans: Vec<Scan>,
    /// The float model's accuracy on the samples, when they have labels.
    pub baseline_accuracy: Option<f64>,
}

/// Scans every prunable weight of `g` on `samples`, chooses per-layer ratios meeting `ratio`
/// of all their parameters, and prunes by magnitude to those ratios.
pub fn prune_sensitivity(
    g: &mut Graph,
    ratio: f64,
    samples: &Samples,
    progress: &dyn Progress,
) -> Result<SensitivityOutcome, PassError> {
    let weights = prunable_weights(g)?;
    if weights.is_empty() {
        return Ok(SensitivityOutcome::default());
    }
    let reference = run_batches(g, samples)?;
    let baseline = fidelity(&reference, &reference, samples).original_accuracy;
    progress.begin(
        "prune: sensitivity scan",
        (weights.len() * GRID.len()) as u64,
    );
    let mut curves = Vec::with_capacity(weights.len());
    for w in &weights {
        let mut points: Vec<Point> = Vec::with_capacity(GRID.len());
        for &r in &GRID {
            let mut trial = g.clone();
            write_weight(
                &mut trial,
                w,
                &zero_smallest(&w.values, count_for(r, w.params())),
            )?;
            let got = run_batches(&trial, samples)?;
            let f = fidelity(&got, &reference, samples);
            let nsr = if f.sqnr_db.is_finite() {
                10f64.powf(-f.sqnr_db / 10.0)
            } else if f.sqnr_db > 0.0 {
                0.0
            } else {
                f64::MAX
            };
            let drop = match (baseline, f.accuracy) {
                (Some(b), Some(a)) => (b - a).max(0.0),
                _ => 0.0,
            };
            let floor = points.last().map_or(0.0, |p| p.loss);
            points.push(Point {
                ratio: r,
                sqnr_db: f.sqnr_db,
                accuracy: f.accuracy,
                loss: (nsr + drop).max(floor),
            });
            progress.advance(1);
        }
        curves.push(points);
    }
    progress.end();
    let params: Vec<usize> = weights.iter().map(Weight::params).collect();
    let losses: Vec<Vec<f64>> = curves
        .iter()
        .map(|c| c.iter().map(|p| p.loss).collect())
        .collect();
    let ratios = choose_ratios(&params, &losses, &GRID, ratio);
    let layers = prune_layers(g, &weights, &ratios)?;
    let scans = weights
        .iter()
        .zip(curves)
        .zip(&ratios)
        .map(|((w, points), &chosen)| Scan {
            layer: w.layer.clone(),
            params: w.params(),
            points,
            chosen,
        })
        .collect();
    Ok(SensitivityOutcome {
        layers,
        scans,
        baseline_accuracy: baseline,
    })
}

/// Per-layer ratios reaching `target` of all parameters: starting from 0, the layer whose next
/// grid step costs the least loss per pruned weight is raised (ties: the earlier layer); the
/// last step is cut short so the total matches `target` (as closely as the grid's top allows).
/// `losses[i][j]` is layer `i`'s loss at `grid[j]` (the loss at ratio 0 is 0).
pub fn choose_ratios(params: &[usize], losses: &[Vec<f64>], grid: &[f64], target: f64) -> Vec<f64> {
    let total: f64 = params.iter().map(|&p| p as f64).sum();
    let goal = target * total;
    let mut level = vec![0usize; params.len()];
    let mut ratios = vec![0f64; params.len()];
    let mut pruned = 0f64;
    let at = |i: usize, l: usize| {
        if l == 0 {
            (0.0, 0.0)
        } else {
            (grid[l - 1], losses[i][l - 1])
        }
    };
    while pruned < goal {
        let best = (0..params.len())
            .filter(|&i| level[i] < grid.len() && params[i] > 0)
            .map(|i| {
                let ((r0, l0), (r1, l1)) = (at(i, level[i]), at(i, level[i] + 1));
                let cost = (l1 - l0).max(0.0) / ((r1 - r0) * params[i] as f64);
                (i, cost)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let Some((i, _)) = best else { break };
        let p = params[i] as f64;
        let (r0, _) = at(i, level[i]);
        let (r1, _) = at(i, level[i] + 1);
        if pruned + (r1 - r0) * p >= goal {
            ratios[i] = r0 + (goal - pruned) / p;
            break;
        }
        pruned += (r1 - r0) * p;
        level[i] += 1;
        ratios[i] = r1;
    }
    ratios
}
