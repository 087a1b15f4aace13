//! `quantize`: int8 static (QDQ with calibration) and dynamic quantization, weight-only int8/int4
//! (block-wise), fp16/bf16 storage, and k-means codebooks — with per-layer diagnosis.
//!
//! One pass, several modes chosen by the spec (`quantize(int8, calib=percentile)`,
//! `quantize(dynamic)`, `quantize(weights=int4, block=32)`, `quantize(fp16)`,
//! `quantize(kmeans=16)`). Each mode lives in its own module; this one parses options, runs
//! the mode and reports per quantized layer what it cost.

mod blockwise;
pub mod calib;
mod diagnose;
mod dynamic;
mod half;
mod kmeans;
pub mod qdq;
pub mod weights;

use crate::{Changed, Pass, PassContext, PassError};
use nnslim_ir::{Graph, Model};
use qdq::QdqPlan;
use serde_json::{Value, json};
use std::collections::BTreeSet;

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
    /// At most this many calibration samples are used (default: all given).
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

    fn needs_calibration(&self) -> bool {
        self.options.mode == Mode::Static
    }

    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let layers = match &self.options.mode {
            Mode::Static => static_int8(model, &self.options, cx)?,
            Mode::Dynamic => dynamic::quantize_dynamic(model)?,
            Mode::WeightOnly { bits, block } => {
                let done = blockwise::weight_only_detailed(model, *bits, *block)?;
                for n in done.notes {
                    cx.note(n);
                }
                done.layers
            }
            Mode::Half { bf16 } => half::to_half(model, *bf16)?,
            Mode::KMeans { k, per_channel } => {
                kmeans::cluster_weights(model, *k, *per_channel, &mut cx.rng)?
            }
        };
        if !layers.is_empty() {
            cx.note(format!(
                "{:<28} {:<6} {:>9} {:>12} {:>12}",
                "layer", "op", "params", "weight SQNR", "output SQNR"
            ));
        }
        for l in &layers {
            cx.note(format!(
                "{:<28} {:<6} {:>9} {:>9.1} dB {:>12}",
                l.layer,
                l.op,
                l.params,
                l.weight_sqnr_db,
                l.output_sqnr_db
                    .map_or("-".to_string(), |s| format!("{s:.1} dB"))
            ));
        }
        cx.detail(
            "layers",
            json!(layers.iter().map(LayerReport::to_json).collect::<Vec<_>>()),
        );
        Ok(Changed::from(!layers.is_empty()))
    }
}

/// Static int8: plan, calibrate, rank layers by sensitivity, hold the accuracy floor (keeping
/// the most sensitive layers in float one at a time), apply, and measure per-layer output SQNR.
fn static_int8(
    model: &mut Model,
    opts: &QuantizeOptions,
    cx: &mut PassContext<'_>,
) -> Result<Vec<LayerReport>, PassError> {
    let unsupported = |message: String| PassError::Unsupported {
        pass: "quantize".into(),
        message,
    };
    let opset = crate::default_opset(model);
    if opset < 13 {
        // Per-channel QuantizeLinear/DequantizeLinear need opset 13.
        crate::upgrade::upgrade_opset(model, 13)?;
        cx.note(format!(
            "raised the model's opset from {opset} to 13 (per-channel QDQ)"
        ));
    }
    let calib = cx
        .calib
        .ok_or_else(|| unsupported("static int8 needs calibration data (--calib)".into()))?;
    let samples = calib.head(opts.max_samples);
    let float = model.graph.clone();
    let full = qdq::plan(&float, &BTreeSet::new())?;
    if full.layers.is_empty() {
        cx.note("no Conv, Gemm or MatMul with a constant f32 weight: nothing to quantize");
        return Ok(Vec::new());
    }
    let mut clock = Phases::default();
    let (ranges, reference) =
        diagnose::calibrate_with_reference(&float, &full, &samples, &opts.calib, cx.progress)?;
    clock.lap("calibrate");
    let ranking =
        diagnose::sensitivity(&reference, &float, &full, &ranges, opts.signed_activations)?;
    clock.lap("sensitivity");
    cx.detail(
        "sensitivity",
        json!(
            ranking
                .iter()
                .map(|(l, s)| json!({"layer": l, "output_sqnr_db_alone": if s.is_finite() { json!(s) } else { json!(null) }}))
                .collect::<Vec<_>>()
        ),
    );
    cx.note(format!(
        "layers by output SQNR when quantized alone (most harmful first): {}",
        ranking
            .iter()
            .map(|(l, s)| format!("{l} {s:.1} dB"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let build = |keep: &BTreeSet<String>| -> Result<(Graph, QdqPlan, Vec<LayerReport>), PassError> {
        let mut g = float.clone();
        let p = qdq::plan(&g, keep)?;
        let reports = qdq::apply(&mut g, &p, &ranges, opts.signed_activations)?;
        Ok((g, p, reports))
    };
    let (mut g, mut p, mut reports) = build(&keep)?;
    clock.lap("build");
    if let (Some(floor), Some(validate)) = (cx.floor, cx.validate) {
        let float_out = crate::run_batches(&float, validate)?;
        let mut steps = Vec::new();
        loop {
            let (ok, measured) = diagnose::holds(&float_out, &g, validate, floor)?;
            steps.push(json!({"kept_float": keep.iter().collect::<Vec<_>>(), "measured": measured, "holds": ok}));
            if ok {
                break;
            }
            let Some((next, _)) = ranking.iter().find(|(l, _)| !keep.contains(l)) else {
                cx.note("the accuracy floor does not hold even with every layer in float");
                break;
            };
            keep.insert(next.clone());
            (g, p, reports) = build(&keep)?;
        }
        cx.detail("floor_steps", json!(steps));
        clock.lap("accuracy_floor");
        cx.note(match keep.is_empty() {
            true => "accuracy floor holds with every layer quantized".to_string(),
            false => format!(
                "kept in float to hold the accuracy floor: {}",
                keep.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    cx.detail("kept_float", json!(keep.iter().collect::<Vec<_>>()));
    diagnose::layer_output_sqnr(&reference, &g, &mut reports, &p)?;
    clock.lap("diagnosis");
    cx.detail("phase_ms", clock.json());
    model.graph = g;
    Ok(reports)
}

/// Wall time of the phases of a pass, for the report.
struct Phases {
    last: std::time::Instant,
    laps: serde_json::Map<String, Value>,
}

impl Default for Phases {
    fn default() -> Phases {
        Phases {
            last: std::time::Instant::now(),
            laps: serde_json::Map::new(),
        }
    }
}

impl Phases {
    fn lap(&mut self, name: &str) {
        let now = std::time::Instant::now();
        let ms = (now - self.last).as_secs_f64() * 1e3;
        self.laps.insert(name.to_string(), json!(ms));
        self.last = now;
    }

    fn json(&self) -> Value {
        Value::Object(self.laps.clone())
    }
}
