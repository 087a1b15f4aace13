//! fuse-affine (stub: being written).
use super::FoldCx;
use crate::PassError;
use nnslim_ir::Graph;
/// Stub.
pub fn fuse_affine(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
