//! Calibration (stub: being written).
use crate::{PassError, Progress, Samples};
use nnslim_ir::{Graph, ValueId};
use std::collections::HashMap;

/// How activation ranges are chosen from the calibration data.
#[derive(Clone, Debug, PartialEq)]
pub enum CalibMethod {
    MinMax,
    Percentile(f64),
    Entropy,
}

/// A calibrated range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

/// Stub.
pub fn calibrate(
    _g: &Graph,
    _samples: &Samples,
    _values: &[ValueId],
    _method: &CalibMethod,
    _progress: &dyn Progress,
) -> Result<HashMap<ValueId, Range>, PassError> {
    Ok(HashMap::new())
}
