//! fp16/bf16 weight storage (stub: being written).
use super::LayerReport;
use crate::PassError;
use nnslim_ir::Model;
/// Stub.
pub fn to_half(_model: &mut Model, _bf16: bool) -> Result<Vec<LayerReport>, PassError> {
    Ok(Vec::new())
}
