//! `nnslim eval`: accuracy on labelled data and, with a reference model, agreement and error.

use crate::data::Dataset;
use crate::exec::{Runner, argmax_rows, rows_f32};
use indicatif::{ProgressBar, ProgressStyle};
use nnslim_ir::Model;
use serde_json::{Value, json};
use std::time::Instant;

/// What `eval` measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub samples: usize,
    /// Correct top-1 predictions, when the data has labels.
    pub correct: Option<usize>,
    pub reference: Option<Comparison>,
    pub seconds: f64,
}

/// The model against a reference model on the same data.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Fraction of samples whose top-1 class is the reference's.
    pub agreement: f64,
    pub max_abs_error: f64,
    pub mean_abs_error: f64,
    /// 10·log10(Σ ref² / Σ (out − ref)²); infinite when identical.
    pub sqnr_db: f64,
}

/// Runs `model` (and `reference`) over the data, batches in parallel, with a progress bar on
/// stderr when it is a terminal.
pub fn eval(
    model: &Model,
    reference: Option<&Model>,
    data: &Dataset,
    batch: usize,
) -> Result<Report, String> {
    let start = Instant::now();
    let n = data.len();
    let runs = 1 + reference.is_some() as u64;
    let bar = ProgressBar::new(n as u64 * runs);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} samples ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("eval");
    let tick = |k: usize| bar.inc(k as u64);
    let outputs = |m: &Model| -> Result<(Vec<f32>, usize), String> {
        let runner = Runner::new(m, batch).map_err(|e| e.to_string())?;
        let outs = runner
            .run_all(&data.inputs(), &tick)
            .map_err(|e| e.to_string())?;
        rows_f32(&outs).map_err(|e| e.to_string())
    };
    let (out, width) = outputs(model)?;
    let pred = argmax_rows(&out, width);
    let correct = data.y.as_ref().map(|y| {
        pred.iter()
            .zip(y)
            .filter(|(p, y)| **p as i64 == **y)
            .count()
    });
    let reference = match reference {
        None => None,
        Some(r) => {
            let (ref_out, ref_width) = outputs(r)?;
            if ref_out.len() != out.len() || ref_width != width {
                return Err(format!(
                    "the reference's first output has {ref_width} values per sample, the model's {width}"
                ));
            }
            Some(compare(
                &out,
                &ref_out,
                &pred,
                &argmax_rows(&ref_out, width),
            ))
        }
    };
    bar.finish_and_clear();
    Ok(Report {
        samples: n,
        correct,
        reference,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn compare(out: &[f32], reference: &[f32], pred: &[usize], ref_pred: &[usize]) -> Comparison {
    let (mut max, mut sum, mut signal, mut noise) = (0f64, 0f64, 0f64, 0f64);
    for (&o, &r) in out.iter().zip(reference) {
        let d = (o as f64 - r as f64).abs();
        max = max.max(d);
        sum += d;
        signal += (r as f64) * (r as f64);
        noise += d * d;
    }
    let same = pred.iter().zip(ref_pred).filter(|(a, b)| a == b).count();
    Comparison {
        agreement: same as f64 / pred.len().max(1) as f64,
        max_abs_error: max,
        mean_abs_error: sum / out.len().max(1) as f64,
        sqnr_db: if noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (signal / noise).log10()
        },
    }
}

impl Report {
    /// Accuracy as a fraction, when the data has labels.
    pub fn accuracy(&self) -> Option<f64> {
        self.correct.map(|c| c as f64 / self.samples.max(1) as f64)
    }

    /// The report as JSON (`accuracy` and `agreement` as fractions, `sqnr_db` in dB; an
    /// infinite SQNR is `null`).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "samples": self.samples,
            "accuracy": self.accuracy(),
            "correct": self.correct,
            "seconds": self.seconds,
        });
        if let Some(c) = &self.reference {
            v["agreement"] = json!(c.agreement);
            v["max_abs_error"] = json!(c.max_abs_error);
            v["mean_abs_error"] = json!(c.mean_abs_error);
            v["sqnr_db"] = if c.sqnr_db.is_finite() {
                json!(c.sqnr_db)
            } else {
                Value::Null
            };
        }
        v
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = format!("samples: {}\n", self.samples);
        match (self.correct, self.accuracy()) {
            (Some(c), Some(a)) => {
                s += &format!("accuracy: {:.4} ({c}/{} correct)\n", a, self.samples)
            }
            _ => s += "accuracy: (the data has no labels)\n",
        }
        if let Some(c) = &self.reference {
            s += &format!(
                "vs reference: top-1 agreement {:.4}, max |error| {:.3e}, mean |error| {:.3e}, SQNR {}\n",
                c.agreement,
                c.max_abs_error,
                c.mean_abs_error,
                if c.sqnr_db.is_finite() {
                    format!("{:.1} dB", c.sqnr_db)
                } else {
                    "∞ (identical)".into()
                }
            );
        }
        s += &format!("time: {:.2} s\n", self.seconds);
        s
    }
}
