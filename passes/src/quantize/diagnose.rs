//! Diagnosis and the accuracy floor for static int8: per-layer output SQNR, layers ranked by
//! how much quantizing each one alone hurts the model's output, and the search that keeps the
//! most sensitive layers in float until the floor holds on the validation data.

use super::LayerReport;
use super::calib::{CalibMethod, Range, collect_keeping};
use super::qdq::{QdqPlan, apply, plan};
use crate::pipeline::{fidelity, run_batches};
use crate::{AccuracyFloor, PassError, Progress, Samples};
use nnslim_eval::{Plan, Value};
use nnslim_ir::{Graph, ValueId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The per-layer measurements use at most this many calibration samples: enough to rank
/// layers and estimate SQNR, cheap enough to repeat once per layer.
const DIAGNOSIS_SAMPLES: usize = 32;

/// SQNR in dB of `got` against `want` over every f32 element of the arrays paired.
fn sqnr<'a>(pairs: impl Iterator<Item = (&'a Value, &'a Value)>) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (a, b) in pairs {
        let (Some(x), Some(y)) = (
            a.as_tensor().and_then(|a| a.as_f32()),
            b.as_tensor().and_then(|b| b.as_f32()),
        ) else {
            continue;
        };
        for (&p, &q) in x.iter().zip(y) {
            let (p, q) = (f64::from(p), f64::from(q));
            s += q * q;
            n += (p - q) * (p - q);
        }
    }
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// SQNR of final outputs, batch by batch.
fn outputs_sqnr(got: &[Vec<Value>], want: &[Vec<Value>]) -> f64 {
    sqnr(got.iter().zip(want).flat_map(|(g, w)| g.iter().zip(w)))
}

/// One run over the diagnosis samples: the graph's outputs and the values asked for by name,
/// per batch.
pub struct Captured {
    samples: Samples,
    outputs: Vec<Vec<Value>>,
    values: Vec<HashMap<String, Value>>,
}

/// Runs `g` on the diagnosis samples (the first of `samples`), keeping the values named
/// `names` and, if `seeds` holds any, starting from those values of an earlier capture.
fn capture(
    g: &Graph,
    samples: &Samples,
    names: &BTreeSet<String>,
    seeds: Option<(&Captured, &[String])>,
) -> Result<Captured, PassError> {
    use rayon::prelude::*;
    let plan = Plan::new(g)?;
    let runs = samples
        .batches
        .par_iter()
        .enumerate()
        .map(|(i, b)| {
            let mut seen = HashMap::new();
            let mut given = HashMap::new();
            if let Some((from, seed_names)) = seeds {
                for n in seed_names {
                    if let (Some(v), Some(val)) = (g.find_value(n), from.values[i].get(n)) {
                        given.insert(v, val.clone());
                    }
                }
            }
            let out = plan.run_seeded(&b.values(), &HashMap::new(), &given, &mut |v, value| {
                let n = &g.value(v).name;
                if names.contains(n) {
                    seen.insert(n.clone(), value.clone());
                }
            })?;
            Ok((out, seen))
        })
        .collect::<Result<Vec<_>, PassError>>()?;
    let (outputs, values) = runs.into_iter().unzip();
    Ok(Captured {
        samples: samples.clone(),
        outputs,
        values,
    })
}

/// Calibrates the float graph for plan `p` and keeps, on the diagnosis samples (the first
/// calibration batches, at least `DIAGNOSIS_SAMPLES` samples when there are that many), the
/// float outputs and every layer's input and output: the reference of [`sensitivity`] and
/// [`layer_output_sqnr`], taken from the calibration run instead of a second float run.
pub fn calibrate_with_reference(
    float: &Graph,
    p: &QdqPlan,
    samples: &Samples,
    method: &CalibMethod,
    progress: &dyn Progress,
) -> Result<(BTreeMap<String, Range>, Captured), PassError> {
    let mut rows = 0;
    let batches = samples
        .batches
        .iter()
        .take_while(|b| {
            let more = rows < DIAGNOSIS_SAMPLES;
            rows += b.rows();
            more
        })
        .count();
    let reference = Samples {
        description: samples.description.clone(),
        batches: samples.batches[..batches].to_vec(),
        labels: None,
    };
    let names: BTreeSet<String> = p
        .layers
        .iter()
        .flat_map(|l| [l.input.clone(), l.output.clone()])
        .collect();
    let keep = names.iter().filter_map(|n| float.find_value(n)).collect();
    let wanted: Vec<ValueId> = p
        .candidate_values()
        .iter()
        .filter_map(|n| float.find_value(n))
        .collect();
    let (stats, kept) = collect_keeping(float, samples, &wanted, method, progress, &keep, batches)?;
    let ranges = stats
        .ranges()
        .into_iter()
        .map(|(v, r)| (float.value(v).name.clone(), r))
        .collect();
    let (outputs, values) = kept
        .into_iter()
        .map(|k| {
            let values = k
                .values
                .into_iter()
                .map(|(v, value)| (float.value(v).name.clone(), value))
                .collect();
            (k.outputs, values)
        })
        .unzip();
    Ok((
        ranges,
        Captured {
            samples: reference,
            outputs,
            values,
        },
    ))
}

/// Fills in each layer's output SQNR: the layer's output in the quantized graph against the
/// float graph's, on the diagnosis samples.
pub fn layer_output_sqnr(
    reference: &Captured,
    quantized: &Graph,
    reports: &mut [LayerReport],
    p: &QdqPlan,
) -> Result<(), PassError> {
    let names: BTreeSet<String> = p.layers.iter().map(|l| l.output.clone()).collect();
    let got = capture(quantized, &reference.samples, &names, None)?;
    for (r, l) in reports.iter_mut().zip(&p.layers) {
        let pairs = got
            .values
            .iter()
            .zip(&reference.values)
            .filter_map(|(g, w)| Some((g.get(&l.output)?, w.get(&l.output)?)));
        r.output_sqnr_db = Some(sqnr(pairs));
    }
    Ok(())
}

/// How much quantizing each layer alone degrades the model's outputs (SQNR in dB of the final
/// outputs against the float model's on the diagnosis samples), most harmful first. Each
/// layer's run starts from the float value of its input, so only the graph downstream of the
/// layer is computed again.
pub fn sensitivity(
    reference: &Captured,
    float: &Graph,
    p: &QdqPlan,
    ranges: &BTreeMap<String, Range>,
    signed: bool,
) -> Result<Vec<(String, f64)>, PassError> {
    use rayon::prelude::*;
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
            let seeds = [l.input.clone()];
            let run = capture(
                &g,
                &reference.samples,
                &BTreeSet::new(),
                Some((reference, &seeds)),
            )?;
            Ok((
                l.label.clone(),
                outputs_sqnr(&run.outputs, &reference.outputs),
            ))
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
