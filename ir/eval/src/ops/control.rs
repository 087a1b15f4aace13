//! Kernels for the control op family (see `ops/mod.rs` for which ops are routed here).

use super::NodeCx;
use crate::Value;
use crate::run::{KernelError, unsupported};

pub(crate) fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    let _ = inputs;
    unsupported(format!("{} is not implemented yet", cx.op().op_type()))
}
