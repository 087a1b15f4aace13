//! Diagnosis and the accuracy floor for static int8: per-layer output SQNR, layers ranked by
//! how much quantizing each one alone hurts the model's output, and the search that keeps the
//! most sensitive layers in float until the floor holds on the validation data.

use super::LayerReport;
use super::calib::Range;
use super::qdq::{QdqPlan, apply, plan};
use crate::pipeline::{fidelity, run_batches};
use crate::{AccuracyFloor, PassError, Samples};
use nnslim_eval::{Plan, Value};
use nnslim_ir::Graph;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The per-layer measurements use at most this many calibration samples: enough to rank
/// layers and estimate SQNR, cheap enough to repeat once per layer.
const DIAGNOSIS_SAMPLES: usize = 32;

/// The first `DIAGNOSIS_SAMPLES` samples, without labels.
fn head(samples: &Samples) -> Samples {
    Samples {
        labels: None,
        ..samples.head(DIAGNOSIS_SAMPLES)
    }
}

/// SQNR in dB of `got` against `want` over every float element of matching outputs.
fn sqnr(got: &[Vec<Value>], want: &[Vec<Value>]) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            let (Some(a), Some(b)) = (a.as_tensor(), b.as_tensor()) else {
                continue;
            };
            let (Some(x), Some(y)) = (a.to_f32_vec(), b.to_f32_vec()) else {
                continue;
            };
            for (&p, &q) in x.iter().zip(&y) {
                s += (q as f64).powi(2);
                n += (p as f64 - q as f64).powi(2);
            }
        }
    }
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// The values named `names` on every batch (by name, per batch).
fn capture(
    g: &Graph,
    samples: &Samples,
    names: &BTreeSet<String>,
) -> Result<Vec<BTreeMap<String, Value>>, PassError> {
    let plan = Plan::new(g)?;
    let mut out = Vec::new();
    for b in &samples.batches {
        let mut seen = BTreeMap::new();
        plan.run_hooked(&b.values(), &HashMap::new(), &mut |v, value| {
            let n = &g.value(v).name;
            if names.contains(n) {
                seen.insert(n.clone(), value.clone());
            }
        })?;
        out.push(seen);
    }
    Ok(out)
}

/// Fills in each layer's output SQNR: the layer's output in the quantized graph against the
/// float graph's, on the first calibration batches.
pub fn layer_output_sqnr(
    float: &Graph,
    quantized: &Graph,
    samples: &Samples,
    reports: &mut [LayerReport],
    p: &QdqPlan,
) -> Result<(), PassError> {
    let s = head(samples);
    let names: BTreeSet<String> = p.layers.iter().map(|l| l.output.clone()).collect();
    let (want, got) = rayon::join(
        || capture(float, &s, &names),
        || capture(quantized, &s, &names),
    );
    let (want, got) = (want?, got?);
    for (r, l) in reports.iter_mut().zip(&p.layers) {
        let pick = |runs: &[BTreeMap<String, Value>]| -> Vec<Vec<Value>> {
            runs.iter()
                .map(|m| m.get(&l.output).cloned().into_iter().collect())
                .collect()
        };
        r.output_sqnr_db = Some(sqnr(&pick(&got), &pick(&want)));
    }
    Ok(())
}

/// How much quantizing each layer alone degrades the model's outputs (SQNR in dB of the final
/// outputs against the float model's on the first calibration batches), most harmful first.
pub fn sensitivity(
    float: &Graph,
    p: &QdqPlan,
    ranges: &BTreeMap<String, Range>,
    samples: &Samples,
    signed: bool,
) -> Result<Vec<(String, f64)>, PassError> {
    use rayon::prelude::*;
    let s = head(samples);
    let want = run_batches(float, &s)?;
    let all: BTreeSet<String> = p.layers.iter().map(|l| l.label.clone()).collect();
    // One model per layer, each quantizing only that layer: independent, so in parallel.
    let mut out = p
        .layers
        .par_iter()
        .map(|l| {
            let mut keep = all.clone();
            keep.remove(&l.label);
            let mut g = float.clone();
            let only = plan(&g, &keep)?;
            apply(&mut g, &only, ranges, signed)?;
            Ok((l.label.clone(), sqnr(&run_batches(&g, &s)?, &want)))
        })
        .collect::<Result<Vec<_>, PassError>>()?;
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// Whether `quantized` holds `floor` against `float` on `validate`; returns the measured value
/// (accuracy drop in points, or agreement) too.
pub fn holds(
    float_outputs: &[Vec<Value>],
    quantized: &Graph,
    validate: &Samples,
    floor: AccuracyFloor,
) -> Result<(bool, f64), PassError> {
    let got = run_batches(quantized, validate)?;
    let f = fidelity(&got, float_outputs, validate);
    Ok(match floor {
        AccuracyFloor::MaxDrop(pts) => {
            let (a, a0) = (
                f.accuracy.unwrap_or(0.0),
                f.original_accuracy.unwrap_or(0.0),
            );
            let drop = (a0 - a) * 100.0;
            (drop <= pts + 1e-9, drop)
        }
        AccuracyFloor::MinAgreement(min) => {
            let a = f.top1_agreement.unwrap_or(0.0);
            (a + 1e-12 >= min, a)
        }
    })
}
