//! The pass manager: an explicit ordered list of passes. After every pass it verifies the graph
//! and records a report row (size, cost, wall time, fidelity against the original model);
//! `print_after` and `stop_after` come from here, not from the passes.

use crate::report::{Fidelity, Report, Row};
use crate::{NoProgress, Pass, PassContext, PassError, Progress, Samples};
use nnslim_eval::{Plan, Value};
use nnslim_ir::text::print_model;
use nnslim_ir::{Graph, Model, verify};
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

/// Which passes to print the model after.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PrintAfter {
    #[default]
    Never,
    All,
    /// Passes by name.
    Passes(Vec<String>),
}

/// How to run a pipeline.
pub struct RunOptions<'a> {
    pub seed: u64,
    /// Calibration samples handed to the passes.
    pub calib: Option<&'a Samples>,
    /// Validation samples handed to the passes (e.g. for an accuracy floor).
    pub validate: Option<&'a Samples>,
    /// The accuracy floor passes must hold on `validate`.
    pub floor: Option<crate::AccuracyFloor>,
    /// Samples on which every row's fidelity is measured (the validation data, or seeded
    /// random inputs); `None` skips fidelity.
    pub fidelity: Option<&'a Samples>,
    pub progress: &'a dyn Progress,
    pub print_after: PrintAfter,
    /// Stop after the first pass with this name.
    pub stop_after: Option<String>,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            seed: 0,
            calib: None,
            validate: None,
            floor: None,
            fidelity: None,
            progress: &NoProgress,
            print_after: PrintAfter::Never,
            stop_after: None,
        }
    }
}

struct Step {
    label: String,
    pass: Box<dyn Pass>,
}

/// An ordered list of passes.
#[derive(Default)]
pub struct Pipeline {
    steps: Vec<Step>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Appends a pass (labelled by its name).
    pub fn push(&mut self, pass: Box<dyn Pass>) -> &mut Pipeline {
        let label = pass.name().to_string();
        self.push_labeled(label, pass)
    }

    /// Appends a pass with the label reports show (its spec item).
    pub fn push_labeled(&mut self, label: String, pass: Box<dyn Pass>) -> &mut Pipeline {
        self.steps.push(Step { label, pass });
        self
    }

    /// Whether any pass needs calibration data.
    pub fn needs_calibration(&self) -> bool {
        self.steps.iter().any(|s| s.pass.needs_calibration())
    }

    /// The spec items (as written) of the passes that need calibration data.
    pub fn calibration_steps(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.pass.needs_calibration())
            .map(|s| s.label.clone())
            .collect()
    }

    /// The pass names in order.
    pub fn names(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| s.pass.name().to_string())
            .collect()
    }

    /// The pipeline as a spec string.
    pub fn spec(&self) -> String {
        self.steps
            .iter()
            .map(|s| s.label.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Checks that `print_after` and `stop_after` name passes of this pipeline.
    pub fn check_options(&self, opts: &RunOptions<'_>) -> Result<(), PassError> {
        let names = self.names();
        let mut wanted: Vec<&String> = opts.stop_after.iter().collect();
        if let PrintAfter::Passes(p) = &opts.print_after {
            wanted.extend(p);
        }
        for w in wanted {
            if !names.contains(w) {
                return Err(PassError::Options {
                    pass: w.clone(),
                    message: format!("not in this pipeline (its passes: {})", names.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// Runs every pass in order on `model`. The model is verified after each pass; printed
    /// models (`print_after`) go to `print`. Returns the report.
    pub fn run(
        &mut self,
        model: &mut Model,
        opts: &RunOptions<'_>,
        print: &mut dyn Write,
    ) -> Result<Report, PassError> {
        self.check_options(opts)?;
        let mut report = Report {
            pipeline: self.spec(),
            seed: opts.seed,
            fidelity_samples: opts.fidelity.map(|s| s.description.clone()),
            rows: Vec::new(),
            stopped_after: None,
            layers: Vec::new(),
            files: None,
        };
        let reference = match opts.fidelity {
            Some(samples) => Some(Reference::new(&model.graph, samples)?),
            None => None,
        };
        let mut first = Row::of("input", "input", &model.graph);
        if let Some(r) = &reference {
            // The loaded model against itself: exact, without running it again.
            first.fidelity = Some(fidelity(&r.outputs, &r.outputs, r.samples));
        }
        report.rows.push(first);
        for (i, step) in self.steps.iter_mut().enumerate() {
            let name = step.pass.name().to_string();
            let seed = opts.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut cx = PassContext::new(seed, opts.progress);
            cx.seed = opts.seed;
            cx.calib = opts.calib;
            cx.validate = opts.validate;
            cx.floor = opts.floor;
            let t = Instant::now();
            let changed = step
                .pass
                .run(model, &mut cx)
                .map_err(|e| PassError::Failed {
                    pass: step.label.clone(),
                    source: Box::new(e),
                })?;
            let wall_ms = t.elapsed().as_secs_f64() * 1e3;
            if let Err(errors) = verify(&model.graph) {
                return Err(PassError::Verify {
                    pass: step.label.clone(),
                    errors,
                    ir: print_model(model),
                });
            }
            let mut row = Row::of(&name, &step.label, &model.graph);
            row.changed = changed.any();
            row.wall_ms = wall_ms;
            (row.details, row.notes) = cx.take_records();
            if reference.is_some() && !row.changed {
                // Unchanged model: the previous row's fidelity still holds.
                row.fidelity = report.rows.last().and_then(|r| r.fidelity.clone());
            } else if let Some(r) = &reference {
                row.fidelity = Some(r.compare(&model.graph)?);
            }
            report.rows.push(row);
            let printed = match &opts.print_after {
                PrintAfter::Never => false,
                PrintAfter::All => true,
                PrintAfter::Passes(p) => p.contains(&name),
            };
            if printed {
                let text = format!("; after {}\n{}", step.label, print_model(model));
                print
                    .write_all(text.as_bytes())
                    .map_err(|e| PassError::Unsupported {
                        pass: name.clone(),
                        message: format!("cannot print the model: {e}"),
                    })?;
            }
            if opts.stop_after.as_deref() == Some(name.as_str()) {
                report.stopped_after = Some(step.label.clone());
                break;
            }
        }
        report.layers = nnslim_ir::stats::layer_stats(&model.graph);
        Ok(report)
    }
}

/// The original model's outputs on the fidelity samples.
struct Reference<'s> {
    samples: &'s Samples,
    outputs: Vec<Vec<Value>>,
}

impl<'s> Reference<'s> {
    fn new(g: &Graph, samples: &'s Samples) -> Result<Reference<'s>, PassError> {
        Ok(Reference {
            samples,
            outputs: run_batches(g, samples)?,
        })
    }

    fn compare(&self, g: &Graph) -> Result<Fidelity, PassError> {
        let got = run_batches(g, self.samples)?;
        Ok(fidelity(&got, &self.outputs, self.samples))
    }
}

/// Runs a graph on every batch (batches in parallel); outputs per batch.
pub fn run_batches(g: &Graph, samples: &Samples) -> Result<Vec<Vec<Value>>, PassError> {
    use rayon::prelude::*;
    let plan = Plan::new(g)?;
    samples
        .batches
        .par_iter()
        .map(|b| {
            plan.run(&b.values(), &HashMap::new())
                .map_err(PassError::from)
        })
        .collect()
}

/// Compares outputs batch by batch: float errors over all outputs, top-1 agreement and accuracy
/// from the first output when it is `[N, C]` with C ≥ 2.
pub fn fidelity(got: &[Vec<Value>], want: &[Vec<Value>], samples: &Samples) -> Fidelity {
    let (mut max_abs, mut max_rel, mut signal, mut noise) = (0f64, 0f64, 0f64, 0f64);
    let (mut agree, mut correct, mut correct_ref, mut rows) = (0usize, 0usize, 0usize, 0usize);
    let mut classifier = true;
    for (g, w) in got.iter().zip(want) {
        for (k, (a, b)) in g.iter().zip(w).enumerate() {
            let (Some(a), Some(b)) = (a.as_tensor(), b.as_tensor()) else {
                continue;
            };
            let (Some(x), Some(y)) = (a.to_f32_vec(), b.to_f32_vec()) else {
                continue;
            };
            if !b.dtype().is_float() || x.len() != y.len() {
                continue;
            }
            let (mut out_abs, mut out_max) = (0f64, 0f64);
            for (&p, &q) in x.iter().zip(&y) {
                let (p, q) = (p as f64, q as f64);
                let d = (p - q).abs();
                if d.is_nan() {
                    out_abs = f64::INFINITY;
                } else {
                    out_abs = out_abs.max(d);
                }
                out_max = out_max.max(q.abs());
                signal += q * q;
                noise += if d.is_nan() { f64::INFINITY } else { d * d };
            }
            max_abs = max_abs.max(out_abs);
            if out_abs > 0.0 {
                max_rel = max_rel.max(out_abs / out_max.max(f64::MIN_POSITIVE));
            }
            if k == 0 {
                match (a.shape.as_slice(), b.shape.as_slice()) {
                    ([n, c], [n2, c2]) if n == n2 && c == c2 && *c >= 2 => {
                        for r in 0..*n {
                            let pa = argmax(&x[r * c..(r + 1) * c]);
                            let pb = argmax(&y[r * c..(r + 1) * c]);
                            agree += usize::from(pa == pb);
                            if let Some(l) = samples.labels.as_ref().and_then(|l| l.get(rows + r)) {
                                correct += usize::from(pa as i64 == *l);
                                correct_ref += usize::from(pb as i64 == *l);
                            }
                        }
                        rows += n;
                    }
                    _ => classifier = false,
                }
            }
        }
    }
    let n = samples.len();
    let labelled =
        classifier && rows > 0 && samples.labels.as_ref().is_some_and(|l| l.len() >= rows);
    Fidelity {
        samples: n,
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        sqnr_db: if noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (signal / noise).log10()
        },
        top1_agreement: (classifier && rows > 0).then(|| agree as f64 / rows as f64),
        accuracy: labelled.then(|| correct as f64 / rows as f64),
        original_accuracy: labelled.then(|| correct_ref as f64 / rows as f64),
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
