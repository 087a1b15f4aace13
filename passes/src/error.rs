//! Errors of passes and pipelines.

use nnslim_eval::EvalError;
use nnslim_ir::{GraphError, VerifyErrors};

/// Why a pass, a pipeline spec or a pipeline run failed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The pass spec string does not parse.
    #[error("pass spec: {0}")]
    Spec(String),
    /// A pass name nobody registered.
    #[error("unknown pass '{name}' (known: {known})")]
    UnknownPass { name: String, known: String },
    /// An option a pass does not know, or a value it cannot take.
    #[error("pass '{pass}': {message}")]
    Options { pass: String, message: String },
    /// A graph mutation failed (a bug in the pass, or a graph the pass cannot handle).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The interpreter failed while the pass evaluated part of the graph.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The graph no longer verifies after a pass: a bug in that pass.
    /// `ir` is the invalid model as text IR, for the bug report.
    #[error("the graph is invalid after pass '{pass}':\n{errors}")]
    Verify {
        pass: String,
        errors: VerifyErrors,
        ir: String,
    },
    /// A pass failed; `source` says why.
    #[error("pass '{pass}': {source}")]
    Failed {
        pass: String,
        #[source]
        source: Box<PassError>,
    },
    /// The pass needs something the model or context does not give (e.g. calibration data).
    #[error("pass '{pass}': {message}")]
    Unsupported { pass: String, message: String },
    /// A problem at a node: its label, op type and what is wrong.
    #[error("node {node} ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
}

impl PassError {
    /// Whether the failure is the user's (bad spec, options or model) rather than a bug.
    pub fn is_user_error(&self) -> bool {
        if let PassError::Failed { source, .. } = self {
            return source.is_user_error();
        }
        matches!(
            self,
            PassError::Spec(_)
                | PassError::UnknownPass { .. }
                | PassError::Options { .. }
                | PassError::Unsupported { .. }
                | PassError::Node { .. }
        )
    }
}
