//! nnslim-eval: the reference interpreter. Evaluates any verified IR graph of typed ops on
//! concrete inputs; the oracle for constant folding, calibration, accuracy reports and the
//! differential tests of every backend.

mod array;
pub mod ops;
mod random;
mod run;

pub use array::{Array, ArrayError, Data};
pub use random::random_input;
pub use run::{EvalError, KernelError, Plan, Value, invalid, run, unsupported};
