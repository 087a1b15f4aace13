//! `quantize`: int8 static (QDQ with calibration) and dynamic quantization, weight-only int8/int4
//! (block-wise), fp16/bf16 storage, and k-means codebooks — with per-layer diagnosis.
//!
//! One pass, several modes chosen by the spec (`quantize(int8, calib=percentile)`,
//! `quantize(dynamic)`, `quantize(weights=int4, block=32)`, `quantize(fp16)`,
//! `quantize(kmeans=16)`). Each mode lives in its own module; this one parses options, runs
//! the mode and reports per quantized layer what it cost.

mod blockwise;
pub mod calib;
mod dynamic;
mod half;
mod kmeans;
pub mod weights;

use crate::{Changed, Pass, PassContext, PassError};
use nnslim_ir::Model;
use serde_json::json;

pub use calib::{CalibMethod, Range};

/// What one quantized layer (a Conv, Gemm or MatMul and its weight) cost.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    /// The node's label (its name, or `<first output>`).
    pub layer: String,
    pub op: String,
    /// Weight elements.
    pub params: u64,
    /// Storage bytes of the weight before and after (codebooks, scales and zero points
    /// included).
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// SQNR of the reconstructed weight against the float weight, in dB.
    pub weight_sqnr_db: f64,
    /// SQNR of the layer's output against the float model's on the calibration data, in dB,
    /// when measured.
    pub output_sqnr_db: Option<f64>,
}

impl LayerReport {
    fn to_json(&self) -> serde_json::Value {
        let finite = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
        json!({
            "layer": self.layer,
            "op": self.op,
            "params": self.params,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "weight_sqnr_db": finite(self.weight_sqnr_db),
            "output_sqnr_db": self.output_sqnr_db.map(finite),
        })
    }
}

/// The quantization mode.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// int8 weights (per channel, symmetric) and int8/uint8 activations (per tensor,
    /// asymmetric) from calibration, as QDQ.
    Static,
    /// int8 weights; activations quantized at run time (DynamicQuantizeLinear + MatMulInteger).
    Dynamic,
    /// Weight-only block-wise quantization (8 or 4 bits) with DequantizeLinear.
    WeightOnly { bits: u8, block: usize },
    /// Weights stored as f16 (or bf16) and cast back to f32 at load.
    Half { bf16: bool },
    /// Weights clustered into `k` centroids (per tensor or per output channel).
    KMeans { k: usize, per_channel: bool },
}

/// `quantize(...)` options.
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    pub mode: Mode,
    pub calib: CalibMethod,
    /// Activations as uint8 (default) or int8.
    pub signed_activations: bool,
    /// At most this many calibration samples are used.
    pub max_samples: usize,
}

/// The `quantize` pass.
#[derive(Clone, Debug)]
pub struct QuantizePass {
    pub options: QuantizeOptions,
}

impl Pass for QuantizePass {
    fn name(&self) -> &str {
        "quantize"
    }

    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let layers = match &self.options.mode {
            Mode::Static => crate::quantize::weights::not_yet("static int8")?,
            Mode::Dynamic => dynamic::quantize_dynamic(model)?,
            Mode::WeightOnly { bits, block } => blockwise::weight_only(model, *bits, *block)?,
            Mode::Half { bf16 } => half::to_half(model, *bf16)?,
            Mode::KMeans { k, per_channel } => {
                kmeans::cluster_weights(model, *k, *per_channel, &mut cx.rng)?
            }
        };
        cx.detail(
            "layers",
            json!(layers.iter().map(LayerReport::to_json).collect::<Vec<_>>()),
        );
        Ok(Changed::from(!layers.is_empty()))
    }
}
