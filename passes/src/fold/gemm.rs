//! gemm (stub: being written).
use super::FoldCx;
use crate::PassError;
use nnslim_ir::Graph;
/// Stub.
pub fn matmul_add_to_gemm(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
/// Stub.
pub fn fuse_transpose_gemm(_g: &mut Graph, _cx: &FoldCx) -> Result<bool, PassError> {
    Ok(false)
}
