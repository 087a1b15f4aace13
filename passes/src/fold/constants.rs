//! constants (stub: being written).
use super::FoldCx;
use crate::PassError;
use nnslim_ir::Graph;
/// Stub.
pub fn constants_to_initializers(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
/// Stub.
pub fn fold_shapes(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
/// Stub.
pub fn fold_constants(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
