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

/// Rounds half to even for |v| <= 2^22 (NaN stays NaN): adding and subtracting 1.5 * 2^23
/// leaves no fraction bits, so the FPU's round-to-nearest-even does the rounding. The same
/// result as `f32::round_ties_even`, which on x86-64 without SSE4.1 is a call to `rintf` per
/// element.
#[inline(always)]
pub fn round_even_small(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}
