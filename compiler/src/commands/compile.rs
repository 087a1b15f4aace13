//! `nnslim compile`: load a model, run a pass pipeline on it, and write the result in the format
//! the output's extension names, with a report (terminal table, optional JSON file).

use crate::data::{DataSpec, Dataset, load, slice_rows, spec_text};
use crate::exec::real_inputs;
use indicatif::{ProgressBar, ProgressStyle};
use nnslim_eval::Value;
use nnslim_ir::{Dim, Model};
use nnslim_passes::{
    Batch, PassError, Pipeline, PrintAfter, Progress, Registry, RunOptions, Samples,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// What `compile` emits, from the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Onnx,
}

/// The output format for a path, or an error naming the known extensions.
pub fn output_format(path: &Path) -> Result<OutputFormat, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "onnx" => Ok(OutputFormat::Onnx),
        "tflite" => Err(format!(
            "{}: TFLite output is not available yet; write .onnx",
            path.display()
        )),
        "o" | "obj" | "h" | "so" => Err(format!(
            "{}: native code output is not available yet; write .onnx",
            path.display()
        )),
        "" => Err(format!(
            "{}: the output needs an extension that names its format (.onnx)",
            path.display()
        )),
        other => Err(format!(
            "{}: unknown output format '.{other}' (known: .onnx)",
            path.display()
        )),
    }
}

/// Samples per batch for data whose batch dim is dynamic: small enough that activation memory
/// stays bounded (it, not the number of samples, decides peak memory) and mostly in the cache
/// (per-sample time was the same from 1 to 64 rows, while 64 cost a third more in page faults
/// and memory traffic when calibrating), large enough to batch.
const DYNAMIC_BATCH: usize = 16;

/// Turns a data set into batches for the model's single input. A static batch dim fixes the
/// batch size (samples that do not fill a last batch are dropped); a dynamic one uses batches
/// of `DYNAMIC_BATCH` (the last one may be shorter).
pub fn samples_for(model: &Model, data: &Dataset, description: String) -> Result<Samples, String> {
    let inputs = real_inputs(model);
    let [(name, ty)] = &inputs[..] else {
        return Err(format!(
            "data specs feed models with one input; this model has {} ({})",
            inputs.len(),
            inputs
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let n = data.len();
    let batch = match ty.shape().and_then(|s| s.first()) {
        Some(Dim::Known(b)) if *b > 0 => *b as usize,
        _ => DYNAMIC_BATCH,
    };
    let fixed = matches!(ty.shape().and_then(|s| s.first()), Some(Dim::Known(b)) if *b > 0);
    // A fixed batch size drops the samples that do not fill a last batch.
    let full = if fixed { n - n % batch } else { n };
    if full == 0 {
        return Err(format!(
            "{description}: {n} samples do not fill one batch of {batch} (the model's input {name:?} has a fixed batch size)"
        ));
    }
    if let Some(t) = ty.as_tensor()
        && let (Some(dims), Some(first)) = (t.shape.as_ref(), data.x.shape.get(1..))
    {
        let fits = dims.len() == first.len() + 1
            && dims[1..].iter().zip(first).all(|(d, &s)| match d {
                Dim::Known(k) => *k as usize == s,
                _ => true,
            });
        if !fits {
            return Err(format!(
                "{description}: samples of shape {first:?} do not fit the model's input {name:?} of type {ty}"
            ));
        }
    }
    let row: usize = data.x.shape.iter().skip(1).product();
    let batches = match (data.pixel_scale, &data.x.data) {
        (Some(scale), nnslim_eval::Data::U8(pixels)) => {
            // One shared copy of the pixels; each batch decodes its rows when it runs.
            let raw = std::sync::Arc::new(pixels.clone());
            (0..full)
                .step_by(batch)
                .map(|s| {
                    let rows = batch.min(full - s);
                    Batch::bytes(
                        name.clone(),
                        rows,
                        &data.x.shape[1..],
                        raw.clone(),
                        s * row,
                        scale,
                    )
                })
                .collect()
        }
        _ => (0..full)
            .step_by(batch)
            .map(|s| {
                HashMap::from([(
                    name.clone(),
                    Value::Tensor(slice_rows(&data.x, s..(s + batch).min(full))),
                )])
                .into()
            })
            .collect(),
    };
    Ok(Samples {
        description: if full < n {
            format!("{description} ({full} of {n} samples: batches of {batch})")
        } else {
            description
        },
        batches,
        labels: data.y.as_ref().map(|y| y[..full].to_vec()),
    })
}

/// Seeded random inputs for every real input of the model.
pub fn random_samples(model: &Model, seed: u64, runs: u64) -> Result<Samples, String> {
    let mut batches = Vec::new();
    for r in 0..runs {
        let mut b = HashMap::new();
        for (i, (name, ty)) in real_inputs(model).iter().enumerate() {
            let s = seed
                .wrapping_add(r.wrapping_mul(1_000_003))
                .wrapping_add(i as u64);
            let a = nnslim_eval::random_input(name, ty, s)?;
            b.insert(name.clone(), Value::Tensor(a));
        }
        batches.push(b.into());
    }
    Ok(Samples {
        description: format!("{runs} seeded random inputs (seed {seed})"),
        batches,
        labels: None,
    })
}

/// Loads a data spec as samples for `model`.
pub fn load_samples(model: &Model, spec: &DataSpec) -> Result<Samples, String> {
    let data = load(spec).map_err(|e| e.to_string())?;
    samples_for(model, &data, spec_text(spec))
}

/// A progress bar on stderr (drawn only when stderr is a terminal).
#[derive(Default)]
pub struct BarProgress {
    bar: RefCell<Option<ProgressBar>>,
}

impl Progress for BarProgress {
    fn begin(&self, label: &str, total: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_string());
        *self.bar.borrow_mut() = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.borrow().as_ref() {
            b.inc(n);
        }
    }

    fn end(&self) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
    }
}

/// The parts of a compile run that come from the command line.
pub struct CompileArgs<'a> {
    pub calib: Option<&'a DataSpec>,
    pub validate_with: Option<&'a DataSpec>,
    pub seed: u64,
    /// Seeded random input sets for fidelity when there is no validation data (0: none).
    pub fidelity_runs: u64,
    pub print_after: PrintAfter,
    pub stop_after: Option<String>,
    pub floor: Option<nnslim_passes::AccuracyFloor>,
}

/// The calibration data used when a pass needs some and `--calib` is not given: the first 256
/// Fashion-MNIST training images, for models whose single input takes them.
pub const DEFAULT_CALIB: &str = "fashion-mnist:train:256";

fn takes_fashion_mnist(model: &Model) -> bool {
    let inputs = real_inputs(model);
    let [(_, ty)] = &inputs[..] else {
        return false;
    };
    let Some(dims) = ty.shape() else {
        return false;
    };
    dims.len() == 4
        && ty.dtype() == Some(nnslim_ir::DType::F32)
        && dims[1..]
            .iter()
            .zip([1, 28, 28])
            .all(|(d, want)| matches!(d, Dim::Known(k) if *k == want))
}

/// Why a compile run failed.
#[derive(Debug)]
pub enum CompileError {
    /// Bad data, options or model: the user's.
    User(String),
    /// A pass failed.
    Pass(PassError),
}

/// Builds the pipeline for `spec` from `registry` (every name and option checked).
pub fn build_pipeline(registry: &Registry, spec: &str) -> Result<Pipeline, PassError> {
    registry.build(spec)
}

/// Runs `pipeline` on `model` with data from the command line; printed IR goes to `print`.
pub fn compile(
    model: &mut Model,
    pipeline: &mut Pipeline,
    args: &CompileArgs<'_>,
    print: &mut dyn Write,
) -> Result<nnslim_passes::report::Report, CompileError> {
    let user = CompileError::User;
    let calib = match args.calib {
        Some(s) => Some(load_samples(model, s).map_err(user)?),
        None if pipeline.needs_calibration() => {
            if !takes_fashion_mnist(model) {
                return Err(CompileError::User(format!(
                    "{} needs calibration data: give --calib SPEC (e.g. FILE.npz with an array \
                     x of inputs; the default, {DEFAULT_CALIB}, only fits models taking \
                     [N,1,28,28] images)",
                    pipeline.calibration_steps().join(", ")
                )));
            }
            let spec: DataSpec = DEFAULT_CALIB
                .parse()
                .map_err(|e: crate::data::DataError| user(e.to_string()))?;
            Some(load_samples(model, &spec).map_err(user)?)
        }
        None => None,
    };
    let validate = match args.validate_with {
        Some(s) => Some(load_samples(model, s).map_err(user)?),
        None => None,
    };
    if let Some(floor) = args.floor {
        match &validate {
            None => {
                return Err(CompileError::User(
                    "--max-accuracy-drop and --min-agreement are measured on --validate-with data: give it too"
                        .into(),
                ));
            }
            Some(v)
                if v.labels.is_none()
                    && matches!(floor, nnslim_passes::AccuracyFloor::MaxDrop(_)) =>
            {
                return Err(CompileError::User(format!(
                    "--max-accuracy-drop needs labelled --validate-with data; {} has no labels (use --min-agreement)",
                    v.description
                )));
            }
            Some(_) => {}
        }
    }
    let random = match &validate {
        None if args.fidelity_runs > 0 => {
            Some(random_samples(model, args.seed, args.fidelity_runs).map_err(user)?)
        }
        _ => None,
    };
    let progress = BarProgress::default();
    let opts = RunOptions {
        seed: args.seed,
        calib: calib.as_ref(),
        validate: validate.as_ref(),
        floor: args.floor,
        fidelity: validate.as_ref().or(random.as_ref()),
        progress: &progress,
        print_after: args.print_after.clone(),
        stop_after: args.stop_after.clone(),
    };
    pipeline
        .check_options(&opts)
        .map_err(|e| CompileError::User(e.to_string()))?;
    pipeline
        .run(model, &opts, print)
        .map_err(CompileError::Pass)
}
