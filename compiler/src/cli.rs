//! The command-line interface: argument parsing, dispatch and exit codes. `main.rs` only
//! calls [`main_with`], so tests run the real CLI in-process.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use crate::shapes::InputShape;

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
    match run(cli, out) {
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

fn run(cli: Cli, out: &mut dyn Write) -> Result<(), Failure> {
    match cli.command {
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
