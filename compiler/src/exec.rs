//! Running a model on data with the interpreter: input binding and checks, batching, and
//! parallel batches.

use nnslim_eval::{Array, EvalError, Plan, Value};
use nnslim_ir::{Dim, Model, Op, Type};
use rayon::prelude::*;
use std::collections::HashMap;

/// Why a model could not be run on the given inputs.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    Eval(#[from] EvalError),
    #[error("input {name:?}: {message}")]
    Input { name: String, message: String },
    #[error("{0}")]
    Model(String),
}

/// The model's real inputs (not IR-3 initializers listed as inputs): name and type.
pub fn real_inputs(model: &Model) -> Vec<(String, Type)> {
    let g = &model.graph;
    g.inputs()
        .into_iter()
        .filter(|v| matches!(g.node(v.node).op, Op::Input))
        .map(|v| (g.value(v).name.clone(), g.value(v).ty.clone()))
        .collect()
}

/// Checks an array against a declared input type: element type and every static dim.
pub fn check_input(name: &str, ty: &Type, a: &Array) -> Result<(), ExecError> {
    let bad = |message: String| ExecError::Input {
        name: name.to_string(),
        message,
    };
    let Some(t) = ty.as_tensor() else {
        return Ok(());
    };
    if t.dtype != nnslim_ir::DType::Undefined && t.dtype != a.dtype() {
        return Err(bad(format!(
            "the model expects {} but the data is {}",
            t.dtype,
            a.dtype()
        )));
    }
    if let Some(dims) = &t.shape {
        let fits = dims.len() == a.shape.len()
            && dims.iter().zip(&a.shape).all(|(d, &n)| match d {
                Dim::Known(k) => *k as usize == n,
                _ => true,
            });
        if !fits {
            return Err(bad(format!(
                "the model expects shape {ty} but the data has shape {:?}",
                a.shape
            )));
        }
    }
    Ok(())
}

/// A model prepared to run batch after batch on its single input.
pub struct Runner<'m> {
    plan: Plan<'m>,
    input: String,
    ty: Type,
    /// Samples per run: the model's static batch size, or a chunk size for a dynamic batch.
    pub batch: usize,
}

impl<'m> Runner<'m> {
    /// Prepares `model`, which must have exactly one input; a dynamic batch runs
    /// `dynamic_batch` samples at a time.
    pub fn new(model: &'m Model, dynamic_batch: usize) -> Result<Runner<'m>, ExecError> {
        let inputs = real_inputs(model);
        let [(input, ty)] = &inputs[..] else {
            return Err(ExecError::Model(format!(
                "the model has {} inputs ({}); this command needs a model with one input",
                inputs.len(),
                inputs
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let batch = match ty.shape().and_then(|s| s.first()) {
            Some(Dim::Known(b)) if *b > 0 => *b as usize,
            _ => dynamic_batch.max(1),
        };
        Ok(Runner {
            plan: Plan::new(&model.graph)?,
            input: input.clone(),
            ty: ty.clone(),
            batch,
        })
    }

    /// Runs one batch; returns the graph outputs.
    pub fn run(&self, x: Array) -> Result<Vec<Value>, ExecError> {
        check_input(&self.input, &self.ty, &x)?;
        let inputs = HashMap::from([(self.input.clone(), Value::Tensor(x))]);
        Ok(self.plan.run(&inputs, &HashMap::new())?)
    }

    /// Runs every sample of `x` (rows of the first axis) in batches, batches in parallel;
    /// returns the first output of each batch, in order. `progress` is called with the number
    /// of samples finished after each batch.
    pub fn run_all(
        &self,
        x: &Array,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Array>, ExecError> {
        let n = x.shape.first().copied().unwrap_or(0);
        let starts: Vec<usize> = (0..n).step_by(self.batch).collect();
        starts
            .par_iter()
            .map(|&s| {
                let e = (s + self.batch).min(n);
                let out = self.run(crate::data::slice_rows(x, s..e))?;
                progress(e - s);
                out.into_iter()
                    .next()
                    .and_then(Value::into_tensor)
                    .ok_or_else(|| {
                        ExecError::Model("the model's first output is not a tensor".into())
                    })
            })
            .collect()
    }
}

/// The rows of f32 outputs, concatenated: `[N, features]` flattened per sample.
pub fn rows_f32(outputs: &[Array]) -> Result<(Vec<f32>, usize), ExecError> {
    let mut all = Vec::new();
    let mut width = 0;
    for a in outputs {
        let v = a.to_f32_vec().ok_or_else(|| {
            ExecError::Model(format!("the first output is {}, not numeric", a.dtype()))
        })?;
        let n = a.shape.first().copied().unwrap_or(1).max(1);
        width = v.len() / n;
        all.extend(v);
    }
    Ok((all, width))
}

/// Index of the largest value of each row (first one on ties; NaN never wins).
pub fn argmax_rows(v: &[f32], width: usize) -> Vec<usize> {
    if width == 0 {
        return Vec::new();
    }
    v.chunks_exact(width)
        .map(|row| {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] || row[best].is_nan() {
                    best = i;
                }
            }
            best
        })
        .collect()
}
