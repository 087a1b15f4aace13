//! `nnslim run`: evaluate a model once on given or random inputs and write each output as `.npy`.

use super::{output_file_name, random_input};
use crate::exec::{ExecError, check_input, real_inputs};
use crate::npy::{read_npy_file, write_npy};
use nnslim_eval::{Plan, Value};
use nnslim_ir::Model;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What `run` needs.
pub struct RunArgs<'a> {
    /// `NAME=FILE.npy` pairs.
    pub inputs: &'a [String],
    pub random_inputs: bool,
    pub seed: u64,
    pub output_dir: &'a Path,
}

/// A user-facing failure message.
pub type Message = String;

/// Runs the model and writes its outputs; returns a line per output written.
pub fn run(model: &Model, args: &RunArgs<'_>) -> Result<Vec<String>, Message> {
    let declared = real_inputs(model);
    let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let mut given: HashMap<String, PathBuf> = HashMap::new();
    for spec in args.inputs {
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("--input {spec:?}: expected NAME=FILE.npy"))?;
        if !names.contains(&name) {
            return Err(format!(
                "--input {spec:?}: the model has no input {name:?} (inputs: {})",
                names.join(", ")
            ));
        }
        given.insert(name.to_string(), PathBuf::from(file));
    }
    let mut feed = HashMap::new();
    for (i, (name, ty)) in declared.iter().enumerate() {
        let a = match given.get(name) {
            Some(file) => read_npy_file(file).map_err(|e| e.to_string())?,
            None if args.random_inputs => random_input(name, ty, args.seed.wrapping_add(i as u64))?,
            None => {
                return Err(format!(
                    "missing input {name:?} ({ty}): give --input {name}=FILE.npy or --random-inputs"
                ));
            }
        };
        check_input(name, ty, &a).map_err(|e| e.to_string())?;
        feed.insert(name.clone(), Value::Tensor(a));
    }
    let plan = Plan::new(&model.graph).map_err(|e| ExecError::from(e).to_string())?;
    let outputs = plan
        .run(&feed, &HashMap::new())
        .map_err(|e| ExecError::from(e).to_string())?;
    std::fs::create_dir_all(args.output_dir)
        .map_err(|e| format!("{}: {e}", args.output_dir.display()))?;
    let g = &model.graph;
    let mut lines = Vec::new();
    for (v, value) in g.outputs().iter().zip(outputs) {
        let name = &g.value(*v).name;
        let Value::Tensor(a) = value else {
            return Err(format!(
                "output {name:?} is not a tensor; it cannot be written as .npy"
            ));
        };
        let path = args.output_dir.join(output_file_name(name));
        write_npy(&path, &a).map_err(|e| e.to_string())?;
        lines.push(format!(
            "{name}: {}{:?} -> {}",
            a.dtype(),
            a.shape,
            path.display()
        ));
    }
    Ok(lines)
}
