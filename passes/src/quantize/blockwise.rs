//! Weight-only block-wise int8/int4 (stub: being written).
use super::LayerReport;
use crate::PassError;
use nnslim_ir::Model;
/// Stub.
pub fn weight_only(
    _model: &mut Model,
    _bits: u8,
    _block: usize,
) -> Result<Vec<LayerReport>, PassError> {
    Ok(Vec::new())
}
