//! The built-in passes and their registration: `fold` and each of its rewrites on its own.

use crate::fold::{DEFAULT_MAX_CONST_BYTES, FoldCx, REWRITES, Rewrite, fold};
use crate::registry::{PassArgs, PassInfo, Registry};
use crate::{Changed, Pass, PassContext, PassError};
use nnslim_ir::Model;
use serde_json::json;
use std::collections::BTreeSet;

/// Registers every built-in pass.
pub fn register(r: &mut Registry) {
    let mut info = PassInfo::new(
        "fold",
        "graph cleanup to a fixed point: constant folding, dead code, no-ops, BN/affine/pad \
         fusion, Gemm forms, layout merges, CSE",
    )
    .option(
        "max-const-mb",
        "largest tensor constant folding may create, in MiB (default 64)",
    );
    for (name, help, _) in REWRITES {
        info = info.option(*name, format!("on|off (default on): {help}"));
    }
    r.register(info, |args| Ok(Box::new(FoldPass::from_args(args)?)))
        .expect("built-in names are unique");
    register_quantize(r);
    crate::prune::register(r);
    crate::lowrank::register(r);
    crate::sparsify::register(r);
    for &(name, help, rewrite) in REWRITES {
        let info = PassInfo::new(name, format!("(one rewrite of fold) {help}"));
        r.register(info, move |_| Ok(Box::new(RewritePass { name, rewrite })))
            .expect("built-in names are unique");
    }
}

/// Registers `quantize` and parses its options.
fn register_quantize(r: &mut Registry) {
    use crate::quantize::{CalibMethod, Mode, QuantizeOptions, QuantizePass};
    let info = PassInfo::new(
        "quantize",
        "int8 static (QDQ, calibrated) or dynamic; weight-only int8/int4; fp16/bf16; k-means \
         codebooks",
    )
    .word(
        "int8",
        "static int8: per-channel int8 weights, calibrated activations (default)",
    )
    .word(
        "dynamic",
        "int8 weights, activations quantized at run time (no calibration)",
    )
    .word("fp16", "weights stored as float16, cast to float32 at load")
    .word(
        "bf16",
        "weights stored as bfloat16, cast to float32 at load",
    )
    .option("weights", "int8|int4: weight-only block-wise quantization")
    .option("block", "block size for weights=... (default 32)")
    .option(
        "kmeans",
        "cluster each weight into this many centroids (2..256)",
    )
    .option(
        "per",
        "tensor|channel: one codebook per weight or per output channel (default tensor)",
    )
    .option(
        "calib",
        "minmax|percentile|entropy: how activation ranges are chosen (default minmax)",
    )
    .option(
        "percentile",
        "percentile for calib=percentile (default 99.99)",
    )
    .option("activations", "uint8|int8 (default uint8)")
    .option(
        "samples",
        "use at most this many of the --calib samples (default: all; without --calib, the first 256 Fashion-MNIST training images)",
    );
    r.register(info, |a| {
        let err = |m: &str| PassError::Options {
            pass: "quantize".into(),
            message: m.into(),
        };
        let words = a.words();
        let mut modes = Vec::new();
        for w in words {
            modes.push(match w.as_str() {
                "int8" => Mode::Static,
                "dynamic" => Mode::Dynamic,
                "fp16" => Mode::Half { bf16: false },
                _ => Mode::Half { bf16: true },
            });
        }
        if a.get("weights").is_some() {
            let bits = match a.choice("weights", "int8", &["int8", "int4"])?.as_str() {
                "int4" => 4,
                _ => 8,
            };
            let block = a.integer("block", 32, 1, 1 << 20)? as usize;
            modes.push(Mode::WeightOnly { bits, block });
        } else if a.get("block").is_some() {
            return Err(err("block= goes with weights=int8|int4"));
        }
        if a.get("kmeans").is_some() {
            let k = a.integer("kmeans", 16, 2, 256)? as usize;
            let per_channel = a.choice("per", "tensor", &["tensor", "channel"])? == "channel";
            modes.push(Mode::KMeans { k, per_channel });
        } else if a.get("per").is_some() {
            return Err(err("per= goes with kmeans=K"));
        }
        if modes.len() > 1 {
            return Err(err(
                "choose one mode: int8, dynamic, fp16, bf16, weights=..., kmeans=...",
            ));
        }
        let mode = modes.pop().unwrap_or(Mode::Static);
        let calib = match a
            .choice("calib", "minmax", &["minmax", "percentile", "entropy"])?
            .as_str()
        {
            "percentile" => CalibMethod::Percentile(a.number("percentile", 99.99, 50.0, 100.0)?),
            "entropy" => CalibMethod::Entropy,
            _ => CalibMethod::MinMax,
        };
        if a.get("percentile").is_some() && !matches!(calib, CalibMethod::Percentile(_)) {
            return Err(err("percentile= goes with calib=percentile"));
        }
        Ok(Box::new(QuantizePass {
            options: QuantizeOptions {
                mode,
                calib,
                signed_activations: a.choice("activations", "uint8", &["uint8", "int8"])? == "int8",
                max_samples: a.integer("samples", 1 << 24, 1, 1 << 24)? as usize,
            },
        }))
    })
    .expect("built-in names are unique");
}

/// The model's default-domain opset (13 when it imports none).
pub fn default_opset(model: &Model) -> i64 {
    model
        .opset("")
        .or_else(|| model.opset("ai.onnx"))
        .unwrap_or(13)
}

/// `fold`: every enabled rewrite, round after round, to a fixed point.
#[derive(Clone, Debug)]
pub struct FoldPass {
    pub max_const_bytes: u64,
    /// Rewrites switched off.
    pub disabled: BTreeSet<String>,
}

impl Default for FoldPass {
    fn default() -> FoldPass {
        FoldPass {
            max_const_bytes: DEFAULT_MAX_CONST_BYTES,
            disabled: BTreeSet::new(),
        }
    }
}

impl FoldPass {
    fn from_args(args: &PassArgs) -> Result<FoldPass, PassError> {
        let mb = args.integer("max-const-mb", DEFAULT_MAX_CONST_BYTES >> 20, 0, 1 << 20)?;
        let mut disabled = BTreeSet::new();
        for (name, _, _) in REWRITES {
            if !args.switch(name, true)? {
                disabled.insert(name.to_string());
            }
        }
        Ok(FoldPass {
            max_const_bytes: mb << 20,
            disabled,
        })
    }
}

impl Pass for FoldPass {
    fn name(&self) -> &str {
        "fold"
    }

    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let fcx = FoldCx {
            opset: default_opset(model),
            max_const_bytes: self.max_const_bytes,
            ir_version: model.ir_version,
        };
        let applied = fold(&mut model.graph, &fcx, &|n| !self.disabled.contains(n))?;
        let counts: serde_json::Map<String, serde_json::Value> = applied
            .iter()
            .map(|(n, k)| (n.to_string(), json!(k)))
            .collect();
        if !applied.is_empty() {
            cx.note(format!(
                "rewrites applied (rounds): {}",
                applied
                    .iter()
                    .map(|(n, k)| format!("{n} ×{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        cx.detail("rewrites", serde_json::Value::Object(counts));
        Ok(Changed::from(!applied.is_empty()))
    }
}

/// One fold rewrite as a pass of its own (applied until it changes nothing).
struct RewritePass {
    name: &'static str,
    rewrite: Rewrite,
}

impl Pass for RewritePass {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&mut self, model: &mut Model, _: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let fcx = FoldCx {
            opset: default_opset(model),
            max_const_bytes: DEFAULT_MAX_CONST_BYTES,
            ir_version: model.ir_version,
        };
        let mut changed = false;
        for _ in 0..crate::fold::MAX_ROUNDS {
            if !(self.rewrite)(&mut model.graph, &fcx)? {
                break;
            }
            changed = true;
        }
        Ok(Changed::from(changed))
    }
}
