//! k-means codebooks (stub: being written).
use super::LayerReport;
use crate::PassError;
use nnslim_ir::{Model, Rng};
/// Stub.
pub fn cluster_weights(
    _model: &mut Model,
    _k: usize,
    _per_channel: bool,
    _rng: &mut Rng,
) -> Result<Vec<LayerReport>, PassError> {
    Ok(Vec::new())
}
