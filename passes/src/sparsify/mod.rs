//! `sparsify`: sparse storage of mostly-zero initializers, and (`dictionary=K`) sparse coding of
//! Gemm/MatMul weights as a dense dictionary times sparse codes.
//!
//! - `sparsify` / `sparsify(min-sparsity=F)`: every initializer whose COO form (values plus
//!   INT64 linear indices: 12 bytes per f32 non-zero, 9 per int8) is smaller than its dense
//!   form becomes an ONNX sparse initializer ([`storage`]). Exact: outputs do not change.
//! - `sparsify(dictionary=K, atoms=S, iterations=N)`: each Gemm/MatMul weight `W ≈ D·C` with
//!   `K` atoms and at most `S` non-zero codes per column, where that stores fewer values
//!   ([`coding`]). Lossy: the report gives each layer's relative reconstruction error.
//!
//! Sparse initializers need IR version 6; a model below it is raised to 6 (nothing else changes:
//! from IR 4 on, initializers may but need not be graph inputs).

pub mod coding;
pub mod storage;
#[cfg(test)]
mod tests;

use crate::registry::{PassInfo, Registry};
use crate::{Changed, Pass, PassContext, PassError};
use coding::CodingOptions;
use nnslim_ir::{Model, Op, TensorData};
use serde_json::json;

/// The first IR version with sparse initializers.
pub const MIN_IR_VERSION: i64 = 6;

/// What `sparsify` does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Sparse storage of initializers with at least this fraction of zeros (and a smaller COO
    /// form).
    Storage { min_sparsity: f64 },
    /// Sparse coding of Gemm/MatMul weights.
    Coding(CodingOptions),
}

/// The `sparsify` pass.
#[derive(Clone, Debug)]
pub struct SparsifyPass {
    pub mode: Mode,
}

/// Registers the pass.
pub(crate) fn register(r: &mut Registry) {
    let info = PassInfo::new(
        "sparsify",
        "store mostly-zero initializers as sparse (COO) initializers; with dictionary=K, \
         sparse-code Gemm/MatMul weights as a dictionary times sparse codes",
    )
    .option(
        "min-sparsity",
        "store sparse only initializers with at least this fraction of zeros (0..1, default 0: \
         whenever the sparse form is smaller)",
    )
    .option(
        "dictionary",
        "sparse coding: atoms per dictionary (K); each weight W ≈ D·C where that stores fewer \
         values",
    )
    .option(
        "atoms",
        "sparse coding: non-zero codes per column at most (S, default 4)",
    )
    .option(
        "iterations",
        "sparse coding: dictionary updates (default 20)",
    );
    r.register(info, |a| {
        let err = |m: &str| PassError::Options {
            pass: "sparsify".into(),
            message: m.into(),
        };
        let mode = if a.get("dictionary").is_some() {
            if a.get("min-sparsity").is_some() {
                return Err(err("min-sparsity= goes without dictionary=K"));
            }
            let dictionary = a.integer("dictionary", 16, 1, 1 << 16)? as usize;
            let atoms = a.integer("atoms", 4, 1, 1 << 16)? as usize;
            if atoms > dictionary {
                return Err(err("atoms=S must not exceed dictionary=K"));
            }
            Mode::Coding(CodingOptions {
                dictionary,
                atoms,
                iterations: a.integer("iterations", 20, 0, 10_000)? as usize,
            })
        } else {
            if a.get("atoms").is_some() || a.get("iterations").is_some() {
                return Err(err("atoms= and iterations= go with dictionary=K"));
            }
            Mode::Storage {
                min_sparsity: a.number("min-sparsity", 0.0, 0.0, 1.0)?,
            }
        };
        Ok(Box::new(SparsifyPass { mode }))
    })
    .expect("built-in names are unique");
}

impl Pass for SparsifyPass {
    fn name(&self) -> &str {
        "sparsify"
    }

    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let changed = match self.mode {
            Mode::Storage { min_sparsity } => run_storage(model, min_sparsity, cx)?,
            Mode::Coding(opts) => run_coding(model, opts, cx)?,
        };
        let has_sparse = model.graph.initializers().iter().any(|v| {
            matches!(&model.graph.node(v.node).op,
                Op::Initializer(t) if matches!(t.data, TensorData::Sparse(_)))
        });
        if has_sparse && model.ir_version < MIN_IR_VERSION {
            cx.note(format!(
                "IR version raised from {} to {MIN_IR_VERSION} (sparse initializers)",
                model.ir_version
            ));
            model.ir_version = MIN_IR_VERSION;
        }
        Ok(Changed::from(changed))
    }
}

/// Sparse storage, with its report details and notes.
fn run_storage(
    model: &mut Model,
    min_sparsity: f64,
    cx: &mut PassContext<'_>,
) -> Result<bool, PassError> {
    let reports = storage::store_sparse(&mut model.graph, min_sparsity)?;
    let chosen: Vec<&storage::TensorReport> = reports.iter().filter(|r| r.sparse).collect();
    let before: u64 = reports.iter().map(|r| r.dense_bytes).sum();
    let after: u64 = reports.iter().map(storage::TensorReport::bytes_after).sum();
    cx.detail(
        "tensors",
        json!(
            reports
                .iter()
                .map(storage::TensorReport::to_json)
                .collect::<Vec<_>>()
        ),
    );
    cx.detail(
        "total",
        json!({
            "tensors": reports.len(),
            "sparse_tensors": chosen.len(),
            "dense_bytes": before,
            "bytes_after": after,
        }),
    );
    if chosen.is_empty() {
        cx.note(format!(
            "no initializer is sparse enough: of {} considered, none has a COO form (12 bytes \
             per f32 non-zero, 9 per int8) smaller than its dense form{}",
            reports.len(),
            if min_sparsity > 0.0 {
                format!(" with at least {:.0} % zeros", 100.0 * min_sparsity)
            } else {
                String::new()
            }
        ));
        return Ok(false);
    }
    cx.note(format!(
        "{} of {} initializers stored sparse: {} → {} bytes ({:.1} %); exact, and ONNX Runtime \
         densifies them at load (smaller file, same memory and speed)",
        chosen.len(),
        reports.len(),
        before,
        after,
        100.0 * after as f64 / before.max(1) as f64
    ));
    Ok(true)
}

/// Sparse coding, with its report details and notes.
fn run_coding(
    model: &mut Model,
    opts: CodingOptions,
    cx: &mut PassContext<'_>,
) -> Result<bool, PassError> {
    let (coded, kept) = coding::code_weights(&mut model.graph, opts, cx.progress)?;
    cx.detail(
        "layers",
        json!(
            coded
                .iter()
                .map(coding::CodedLayer::to_json)
                .collect::<Vec<_>>()
        ),
    );
    cx.detail("kept_dense", json!(kept));
    for l in &coded {
        cx.note(format!(
            "{}: {} → {} stored values (K={}, S={}), relative error {:.4}",
            l.layer, l.values_before, l.values_after, l.dictionary, l.atoms, l.relative_error
        ));
    }
    if coded.is_empty() {
        cx.note("no Gemm/MatMul weight stores fewer values as a dictionary and sparse codes");
    }
    Ok(!coded.is_empty())
}
