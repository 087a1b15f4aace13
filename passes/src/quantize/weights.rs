//! Weight quantization math shared by the modes: symmetric per-channel int8, SQNR, and the
//! layers (Conv, Gemm, MatMul with constant f32 weights) that quantization applies to.

use crate::PassError;

/// Placeholder for modes not written yet.
pub fn not_yet<T>(what: &str) -> Result<T, PassError> {
    Err(PassError::Unsupported {
        pass: "quantize".into(),
        message: format!("{what} is not available yet"),
    })
}

/// Signal-to-quantization-noise ratio of `approx` against `exact`, in dB (∞ when equal).
pub fn sqnr_db(exact: &[f32], approx: &[f32]) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (&a, &b) in exact.iter().zip(approx) {
        s += (a as f64) * (a as f64);
        n += (a as f64 - b as f64).powi(2);
    }
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}
