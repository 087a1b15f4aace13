//! An example plug-in: a downstream crate defines its own pass, registers it next to nnslim's
//! built-in passes, and runs the nnslim CLI with that registry — so the pass works in
//! `--passes` spec strings, reports and `--print-after` like any built-in one.
//!
//! The pass, `name-nodes`, gives every unnamed node a readable unique name (`Conv_3`), which is
//! what Netron and ONNX Runtime's profiler show; exporters often leave node names empty.
//!
//! ```text
//! cargo run -p nnslim-example-plugin -- compile model.onnx -o named.onnx \
//!     --passes 'fold,name-nodes(prefix=net)'
//! ```

use nnslim_ir::Model;
use nnslim_passes::{Changed, Pass, PassArgs, PassContext, PassError, PassInfo, Registry};
use std::collections::{BTreeMap, HashSet};

/// `name-nodes(prefix=P)`: names every unnamed node of the main graph `P_Op_k` (or `Op_k`).
#[derive(Clone, Debug, Default)]
pub struct NameNodes {
    pub prefix: String,
}

impl NameNodes {
    fn from_args(args: &PassArgs) -> Result<NameNodes, PassError> {
        let prefix = match args.get("prefix") {
            None => String::new(),
            Some(v) => v.to_string(),
        };
        Ok(NameNodes { prefix })
    }
}

impl Pass for NameNodes {
    fn name(&self) -> &str {
        "name-nodes"
    }

    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let g = &mut model.graph;
        let order = g.compute_nodes()?;
        let mut taken: HashSet<String> = order.iter().map(|&n| g.node(n).name.clone()).collect();
        let mut next: BTreeMap<String, usize> = BTreeMap::new();
        let mut named = 0;
        for id in order {
            if !g.node(id).name.is_empty() {
                continue;
            }
            let op = g.node(id).op.op_type().to_string();
            let name = loop {
                let k = next.entry(op.clone()).or_default();
                let candidate = if self.prefix.is_empty() {
                    format!("{op}_{k}")
                } else {
                    format!("{}_{op}_{k}", self.prefix)
                };
                *k += 1;
                if taken.insert(candidate.clone()) {
                    break candidate;
                }
            };
            g.node_mut(id).name = name;
            named += 1;
        }
        cx.detail("named", named.into());
        cx.note(format!("named {named} nodes"));
        Ok(Changed::from(named > 0))
    }
}

/// nnslim's built-in passes plus `name-nodes`.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    r.register(
        PassInfo::new(
            "name-nodes",
            "give every unnamed node a unique readable name",
        )
        .option("prefix", "a prefix for the names (default none)"),
        |args| Ok(Box::new(NameNodes::from_args(args)?)),
    )
    .expect("name-nodes is not a built-in name");
    r
}
