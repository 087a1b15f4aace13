//! Dynamic int8 (stub: being written).
use super::LayerReport;
use crate::PassError;
use nnslim_ir::Model;
/// Stub.
pub fn quantize_dynamic(_model: &mut Model) -> Result<Vec<LayerReport>, PassError> {
    Ok(Vec::new())
}
