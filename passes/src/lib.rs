//! nnslim-passes: the pass framework (the `Pass` trait, pass contexts, pipelines built from code
//! or from a spec string, a registry of named passes, per-pass reports) and the graph
//! transformations (`fold`, and later prune, low-rank, quantize, sparsify).

mod error;
pub mod fold;
pub mod rewrite;
pub mod testing;

pub use error::PassError;
