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
    for &(name, help, rewrite) in REWRITES {
        let info = PassInfo::new(name, format!("(one rewrite of fold) {help}"));
        r.register(info, move |_| Ok(Box::new(RewritePass { name, rewrite })))
            .expect("built-in names are unique");
    }
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
