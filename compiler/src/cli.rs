//! The command-line interface: argument parsing, dispatch and exit codes. `main.rs` only
//! calls [`main_with`], so tests run the real CLI in-process.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use crate::commands::Backend;
use crate::data::DataSpec;
use crate::shapes::InputShape;
use nnslim_passes::Registry;

/// nnslim makes ONNX models small and fast: it reads a model into its own graph IR, runs a
/// pipeline of compression passes (fold, prune, low-rank, quantize, sparsify, distill) and
/// writes ONNX, TFLite or native code.
#[derive(Parser, Debug)]
#[command(name = "nnslim", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what a model is made of: inputs and outputs, opsets, op counts, parameters and
    /// their bytes by type, estimated MACs, ops nnslim keeps opaque, external data files.
    Inspect {
        /// The ONNX model to read.
        model: PathBuf,
        /// Print one JSON object instead of the report (keys include `nodes`, `params`,
        /// `macs`, `ops` (op type → count) and `opaque` (op types kept opaque)).
        #[arg(long, conflicts_with = "ir")]
        json: bool,
        /// Print the model as nnslim's text IR instead (deterministic; weights summarised).
        #[arg(long)]
        ir: bool,
        /// Fix an input's shape first, e.g. `--input-shape input=1,3,224,224` (repeat per input),
        /// so MACs can be estimated for models with dynamic dims.
        #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
        input_shapes: Vec<InputShape>,
    },
    /// Run a model once with nnslim's interpreter and write each output as OUTPUT-NAME.npy.
    ///
    /// Inputs come from .npy files (`--input NAME=FILE.npy`, one per model input) or are seeded
    /// random data (`--random-inputs`): floats in [0, 1), integers in [0, 10), dynamic dims 1.
    Run {
        /// The ONNX model to run.
        model: PathBuf,
        /// An input as NAME=FILE.npy (repeat per input; split at the first `=`).
        #[arg(long = "input", value_name = "NAME=FILE.npy")]
        inputs: Vec<String>,
        /// Make seeded random data for every input not given with --input.
        #[arg(long)]
        random_inputs: bool,
        /// Seed for --random-inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder for the outputs (created if needed); one .npy per model output, named after
        /// the output with characters outside [A-Za-z0-9._-] replaced by `_`.
        #[arg(long, value_name = "DIR")]
        output_dir: PathBuf,
        /// Which engine runs the model.
        #[arg(long, value_enum, default_value = "interp")]
        backend: Backend,
        /// Fix an input's shape first (repeat per input).
        #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
        input_shapes: Vec<InputShape>,
    },
    /// Measure a classifier on data: top-1 accuracy against the labels, and with --reference,
    /// agreement with a reference model plus max/mean absolute error and SQNR of the outputs.
    ///
    /// DATA: fashion-mnist:train|test[:N|:A..B] (Debian's dataset-fashion-mnist, as float32
    /// [N,1,28,28] in [0, 1] with int64 labels), FILE.npz[:N|:A..B] (arrays `x` and optional `y`),
    /// or FILE.npy[:N|:A..B] (inputs only).
    Eval {
        /// The ONNX model to evaluate (one input; its first output holds the class scores).
        model: PathBuf,
        /// The data to run on.
        #[arg(long, value_name = "SPEC")]
        data: DataSpec,
        /// A model to compare with (e.g. the float original of a compressed model).
        #[arg(long, value_name = "REF.onnx")]
        reference: Option<PathBuf>,
        /// Print one JSON object (`accuracy`, `agreement` as fractions; `sqnr_db` in dB).
        #[arg(long)]
        json: bool,
        /// Samples per run when the model's batch dimension is dynamic.
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Measure in-process latency of one run on seeded random inputs: median, p10 and p90
    /// after warm-up runs.
    Bench {
        /// The ONNX model to time.
        model: PathBuf,
        /// Which engine runs the model.
        #[arg(long, value_enum, default_value = "interp")]
        backend: Backend,
        /// Timed runs.
        #[arg(long, default_value_t = 100)]
        iters: usize,
        /// Untimed runs first.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
        /// Print one JSON object (times in milliseconds).
        #[arg(long)]
        json: bool,
        /// Fix an input's shape first (dynamic dims are 1 otherwise).
        #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
        input_shapes: Vec<InputShape>,
    },
    /// Read a model into nnslim's IR and write it back as ONNX, with no passes.
    ///
    /// The result runs identically in ONNX Runtime: names, order, metadata and every op nnslim
    /// does not interpret are kept. Use it to check that nnslim reads a model correctly, or to
    /// move a model's weights to (or back from) an external data file.
    Convert {
        /// The ONNX model to read (external data files must be in its folder).
        input: PathBuf,
        /// Where to write the ONNX model (written atomically; its folder must exist).
        output: PathBuf,
        /// Store every initializer of at least BYTES bytes in OUTPUT.data beside OUTPUT
        /// (0 = all). By default tensors are inline unless the model is over protobuf's 2 GiB
        /// limit.
        #[arg(long, value_name = "BYTES")]
        external_data_threshold: Option<u64>,
        /// Fix an input's shape, e.g. `--input-shape input=1,3,224,224` (repeat per input;
        /// dims are sizes, symbols such as `N`, or `?`). Shapes are re-inferred through the
        /// graph and written to the output.
        #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
        input_shapes: Vec<InputShape>,
    },
    /// Run a pipeline of passes on a model and write the result; prints a table with one row
    /// per pass (nodes, parameters, bytes, MACs, time, fidelity against the original).
    ///
    /// The output format follows OUT's extension (.onnx). Fidelity is measured on the
    /// --validate-with data (accuracy too when it has labels), else on seeded random inputs.
    /// Run `nnslim passes` to list the passes and their options.
    Compile(Box<CompileCommand>),
    /// List the passes a pipeline spec can name, with their options.
    Passes,
}

/// A failure and the exit code it maps to.
enum Failure {
    /// Bad model, data or options: exit code 1.
    User(anyhow::Error),
    /// A bug in nnslim: exit code 2.
    Internal(anyhow::Error),
}

/// Runs the CLI on `args` (program name first), writing help and errors to `out` / `err`.
/// Returns the exit code: 0 success, 1 bad model, data or options, 2 internal error.
pub fn main_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    main_with_registry(args, &Registry::with_builtins(), out, err)
}

/// [`main_with`] with a registry of passes: a downstream crate registers its own passes and
/// runs the nnslim CLI with them, so its passes work in `--passes` like the built-in ones.
pub fn main_with_registry<I, T>(
    args: I,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let text = e.render().ansi().to_string();
            let _ = if code == 0 {
                out.write_all(text.as_bytes())
            } else {
                err.write_all(text.as_bytes())
            };
            return code;
        }
    };
    match run(cli, registry, out) {
        Ok(()) => 0,
        Err(Failure::User(e)) => {
            let _ = writeln!(err, "error: {e:#}");
            1
        }
        Err(Failure::Internal(e)) => {
            let _ = writeln!(
                err,
                "internal error (a bug in nnslim; please report it): {e:#}"
            );
            2
        }
    }
}

fn run(cli: Cli, registry: &Registry, out: &mut dyn Write) -> Result<(), Failure> {
    let user = |e: String| Failure::User(anyhow::anyhow!(e));
    let print = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|e| Failure::User(e.into()))
    };
    match cli.command {
        Command::Run {
            model,
            inputs,
            random_inputs,
            seed,
            output_dir,
            backend: Backend::Interp,
            input_shapes,
        } => {
            let loaded = load_verified(&model, &input_shapes)?;
            let args = crate::commands::run::RunArgs {
                inputs: &inputs,
                random_inputs,
                seed,
                output_dir: &output_dir,
            };
            let lines = crate::commands::run::run(&loaded.model, &args)
                .map_err(|e| user(format!("{}: {e}", model.display())))?;
            print(out, &(lines.join("\n") + "\n"))
        }
        Command::Eval {
            model,
            data,
            reference,
            json,
            batch,
        } => {
            let m = load_verified(&model, &[])?.model;
            let r = match &reference {
                Some(p) => Some(load_verified(p, &[])?.model),
                None => None,
            };
            let data = crate::data::load(&data).map_err(|e| Failure::User(e.into()))?;
            let report = crate::commands::eval::eval(&m, r.as_ref(), &data, batch)
                .map_err(|e| user(format!("{}: {e}", model.display())))?;
            let text = if json {
                format!("{}\n", report.to_json())
            } else {
                report.to_text()
            };
            print(out, &text)
        }
        Command::Bench {
            model,
            backend: Backend::Interp,
            iters,
            warmup,
            json,
            input_shapes,
        } => {
            let m = load_verified(&model, &input_shapes)?.model;
            let stats = crate::commands::bench::bench(&m, iters, warmup)
                .map_err(|e| user(format!("{}: {e}", model.display())))?;
            let text = if json {
                format!("{}\n", stats.to_json("interp"))
            } else {
                stats.to_text("interp")
            };
            print(out, &text)
        }
        Command::Inspect {
            model,
            json,
            ir,
            input_shapes,
        } => {
            let loaded = load_verified(&model, &input_shapes)?;
            let text = if ir {
                crate::ir::text::print_model(&loaded.model)
            } else if json {
                let mut s = serde_json::to_string_pretty(&crate::inspect::to_json(&model, &loaded))
                    .map_err(|e| Failure::Internal(e.into()))?;
                s.push('\n');
                s
            } else {
                crate::inspect::to_text(&model, &loaded)
            };
            out.write_all(text.as_bytes())
                .map_err(|e| Failure::User(e.into()))?;
            Ok(())
        }
        Command::Compile(args) => compile_command(&args, registry, out),
        Command::Passes => print(
            out,
            &format!("passes (use in --passes):\n{}", registry.help()),
        ),
        Command::Convert {
            input,
            output,
            external_data_threshold,
            input_shapes,
        } => {
            let model = load_verified(&input, &input_shapes)?.model;
            crate::output::write_onnx(&output, &model, external_data_threshold).map_err(
                |e| match e {
                    crate::output::OutputError::Io { .. } => Failure::User(e.into()),
                    other => Failure::Internal(other.into()),
                },
            )?;
            Ok(())
        }
    }
}

/// Loads a model, applies `--input-shape` overrides and verifies it: every problem is the
/// user's (exit code 1).
fn load_verified(
    path: &std::path::Path,
    input_shapes: &[InputShape],
) -> Result<crate::frontend::Loaded, Failure> {
    let mut loaded = crate::frontend::load(path).map_err(|e| Failure::User(e.into()))?;
    crate::shapes::apply_input_shapes(&mut loaded.model, input_shapes)
        .map_err(|e| Failure::User(anyhow::anyhow!("{}: {e}", path.display())))?;
    crate::ir::verify(&loaded.model.graph)
        .map_err(|e| Failure::User(anyhow::anyhow!("{}: {e}", path.display())))?;
    Ok(loaded)
}

/// The arguments of `compile`.
#[derive(clap::Args, Debug)]
struct CompileCommand {
    /// The ONNX model to read.
    input: PathBuf,
    /// Where to write the result (atomically; the extension picks the format: .onnx).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
    /// The pipeline: `name(arg, key=value, ...)` items separated by commas, e.g.
    /// `fold,prune(ratio=0.5)`. Every name and option is checked before anything runs.
    #[arg(long, value_name = "SPEC", default_value = "fold")]
    passes: String,
    /// Calibration data for passes that need it (fashion-mnist:train:256, FILE.npz, ...).
    #[arg(long, value_name = "SPEC")]
    calib: Option<DataSpec>,
    /// Validation data: fidelity (and accuracy, with labels) is measured on it after every
    /// pass. Keep it apart from the data accuracy is finally reported on.
    #[arg(long, value_name = "SPEC")]
    validate_with: Option<DataSpec>,
    /// Fix an input's shape, e.g. `--input-shape input=1,1,28,28` (repeat per input).
    #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
    input_shapes: Vec<InputShape>,
    /// Also write the report as JSON (atomically).
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Print the model as text IR after the named pass (repeatable) or after `all`.
    #[arg(long = "print-after", value_name = "PASS|all")]
    print_after: Vec<String>,
    /// Stop after the named pass (the rest of the pipeline is skipped).
    #[arg(long, value_name = "PASS")]
    stop_after: Option<String>,
    /// Seed for everything random (random fidelity inputs, sampling in passes).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Without --validate-with, fidelity is measured on this many seeded random inputs
    /// (0: not measured).
    #[arg(long, value_name = "N", default_value_t = 4)]
    fidelity_runs: u64,
    /// Store initializers of at least BYTES bytes in OUT.data beside OUT (0 = all).
    #[arg(long, value_name = "BYTES")]
    external_data_threshold: Option<u64>,
    /// Do not print the summary table.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Accuracy floor for passes that trade accuracy for size (quantize keeps the most
    /// sensitive layers in float until it holds): top-1 accuracy on the labelled
    /// --validate-with data may drop at most PTS percentage points.
    #[arg(long, value_name = "PTS", conflicts_with = "min_agreement")]
    max_accuracy_drop: Option<f64>,
    /// Accuracy floor as agreement: at least FRACTION (0..1) of top-1 predictions on the
    /// --validate-with data must match the original model's.
    #[arg(long, value_name = "FRACTION")]
    min_agreement: Option<f64>,
}

fn compile_command(
    a: &CompileCommand,
    registry: &Registry,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    use crate::commands::compile::{
        CompileArgs, CompileError, OutputFormat, compile, output_format,
    };
    use nnslim_passes::{PassError, PrintAfter, RunOptions};
    let user = |e: String| Failure::User(anyhow::anyhow!(e));
    // Everything that can be checked without the model is checked first.
    let format = output_format(&a.output).map_err(user)?;
    let mut pipeline = registry
        .build(&a.passes)
        .map_err(|e| user(format!("--passes: {e}")))?;
    let print_after = if a.print_after.is_empty() {
        PrintAfter::Never
    } else if a.print_after.iter().any(|p| p == "all") {
        PrintAfter::All
    } else {
        PrintAfter::Passes(a.print_after.clone())
    };
    pipeline
        .check_options(&RunOptions {
            print_after: print_after.clone(),
            stop_after: a.stop_after.clone(),
            ..RunOptions::default()
        })
        .map_err(|e| user(format!("--print-after/--stop-after: {e}")))?;
    let floor = match (a.max_accuracy_drop, a.min_agreement) {
        (Some(d), _) if !(0.0..=100.0).contains(&d) => {
            return Err(user(format!(
                "--max-accuracy-drop {d}: give points from 0 to 100"
            )));
        }
        (Some(d), _) => Some(nnslim_passes::AccuracyFloor::MaxDrop(d)),
        (_, Some(f)) if !(0.0..=1.0).contains(&f) => {
            return Err(user(format!(
                "--min-agreement {f}: give a fraction from 0 to 1"
            )));
        }
        (_, Some(f)) => Some(nnslim_passes::AccuracyFloor::MinAgreement(f)),
        (None, None) => None,
    };
    let mut model = load_verified(&a.input, &a.input_shapes)?.model;
    let args = CompileArgs {
        floor,
        calib: a.calib.as_ref(),
        validate_with: a.validate_with.as_ref(),
        seed: a.seed,
        fidelity_runs: a.fidelity_runs,
        print_after,
        stop_after: a.stop_after.clone(),
    };
    let report = compile(&mut model, &mut pipeline, &args, out).map_err(|e| match e {
        CompileError::User(m) => user(m),
        CompileError::Pass(e @ PassError::Verify { .. }) => {
            let ir = match &e {
                PassError::Verify { ir, .. } => ir.clone(),
                _ => String::new(),
            };
            Failure::Internal(anyhow::anyhow!(
                "{}: {e}\nthe model after the pass:\n{ir}",
                a.input.display()
            ))
        }
        CompileError::Pass(e) if e.is_user_error() => user(format!("{}: {e}", a.input.display())),
        CompileError::Pass(e) => Failure::Internal(anyhow::anyhow!("{}: {e}", a.input.display())),
    })?;
    let written = match format {
        OutputFormat::Onnx => {
            crate::output::write_onnx(&a.output, &model, a.external_data_threshold).map_err(
                |e| match e {
                    crate::output::OutputError::Io { .. } => Failure::User(e.into()),
                    other => Failure::Internal(other.into()),
                },
            )?
        }
    };
    let mut report = report;
    if a.report.is_some() {
        // Compressing costs time: measured when a report file is asked for, and only up to
        // GZIP_LIMIT bytes of input and output together.
        const GZIP_LIMIT: u64 = 64 << 20;
        let input = std::slice::from_ref(&a.input);
        let raw = |paths: &[std::path::PathBuf]| -> u64 {
            paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum()
        };
        let (input_bytes, output_bytes) = (raw(input), raw(&written));
        let gzip = |paths: &[std::path::PathBuf]| {
            crate::output::gzip_size(paths).map_err(|e| Failure::User(e.into()))
        };
        let small = input_bytes + output_bytes <= GZIP_LIMIT;
        report.files = Some(nnslim_passes::report::FileSizes {
            input_bytes,
            output_bytes,
            input_gzip_bytes: if small { Some(gzip(input)?) } else { None },
            output_gzip_bytes: if small { Some(gzip(&written)?) } else { None },
        });
    }
    if let Some(path) = &a.report {
        let mut json = report.to_json();
        if let Some(o) = json.as_object_mut() {
            o.insert("model".into(), a.input.display().to_string().into());
            o.insert("output".into(), a.output.display().to_string().into());
        }
        let mut text =
            serde_json::to_string_pretty(&json).map_err(|e| Failure::Internal(e.into()))?;
        text.push('\n');
        crate::output::write_atomic(path, text.as_bytes()).map_err(|e| Failure::User(e.into()))?;
    }
    if !a.quiet {
        out.write_all(report.to_table().as_bytes())
            .map_err(|e| Failure::User(e.into()))?;
        writeln!(out, "wrote {}", a.output.display()).map_err(|e| Failure::User(e.into()))?;
    }
    Ok(())
}
