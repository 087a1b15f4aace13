//! dead (stub: being written).
use super::FoldCx;
use crate::PassError;
use nnslim_ir::Graph;
/// Stub.
pub fn eliminate_dead(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
