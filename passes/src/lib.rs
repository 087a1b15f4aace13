//! nnslim-passes: the pass framework and the graph transformations.
//!
//! - [`Pass`]: a model transformation with a kebab-case name; [`PassContext`] gives it a seeded
//!   generator, calibration/validation [`Samples`], a [`Progress`] reporter and a place for
//!   report details.
//! - [`Pipeline`]: an explicit ordered list of passes, built in code or from a spec string
//!   ([`spec`]) by a [`Registry`]. After every pass it verifies the graph and records a
//!   [`report::Row`] (nodes, parameters, bytes by dtype, MACs, time, fidelity).
//! - Passes: [`fold`] (graph cleanup to a fixed point; each of its rewrites is also a pass),
//!   [`quantize`].

mod builtin;
mod error;
pub mod fold;
pub mod lowrank;
mod pass;
mod pipeline;
pub mod prune;
pub mod quantize;
pub mod registry;
pub mod report;
pub mod rewrite;
pub mod sparsify;
pub mod spec;
pub mod testing;
pub mod upgrade;

pub use builtin::{FoldPass, default_opset};
pub use error::PassError;
pub use pass::{AccuracyFloor, Batch, Changed, NoProgress, Pass, PassContext, Progress, Samples};
pub use pipeline::{Pipeline, PrintAfter, RunOptions, fidelity, run_batches};
pub use registry::{PassArgs, PassInfo, Registry};
#[cfg(test)]
mod tests;
