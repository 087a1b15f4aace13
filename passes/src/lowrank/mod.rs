//! `low-rank`: replaces a layer's weight `W` (rows × cols) by its truncated SVD
//! `W ≈ (U_r·√S_r)·(√S_r·V_rᵀ)`, emitted as two layers: a Gemm/MatMul into `r` features then
//! one out of them (with the bias), or a k×k Conv with `r` filters (strides, pads, dilations
//! kept) then a 1×1 Conv with the bias.
//!
//! The rank comes from `energy=E` (the smallest `r` keeping the fraction `E` of `Σσ²`),
//! `rank=R`, or a global `budget=F` (the split layers keep at most `F` of their MACs or
//! weights; ranks chosen across layers by least energy lost per unit saved). A split costs
//! `r·(rows + cols)` weights and as many MACs per position instead of `rows·cols`, so it is
//! applied only when that is at most `1 − min-saving` of the layer (default 0.25, and always
//! strictly less); other layers stay and the report says why.
//!
//! Why a minimum saving: a split that saves little is not worth its truncation error. On the
//! seed CNN with `energy=0.9`, conv1 (`32 × 9`) would go to rank 6, keeping 85 % of its MACs
//! (saving 1.1 % of the model's) and costing 5.3 accuracy points on its own in ONNX Runtime;
//! conv2 and fc1 save 42 % of the model's MACs for 1.6 points.
//!
//! Small matrices use the full SVD; from `randomized-from` (default 512) on the smaller side,
//! a randomized SVD ([`svd::randomized_svd`]) seeded from the pass's generator, so the output
//! is the same for the same `--seed`.

mod layers;
pub mod rank;
pub mod svd;
#[cfg(test)]
mod tests;

use crate::registry::{PassArgs, PassInfo, Registry};
use crate::rewrite::Names;
use crate::{Changed, Pass, PassContext, PassError};
pub use layers::Ineligible;
use layers::{Layer, find_layers, remove_split, split};
use nnslim_ir::{Model, Rng};
use rank::{Allocation, Candidate, Measure, allocate_budget};
use serde_json::{Value, json};
use svd::{Sketch, Svd};

/// How each layer's rank is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// The smallest rank keeping this fraction of `Σσ²`.
    Energy(f64),
    /// This rank (capped at the matrix's smaller side).
    Fixed(usize),
    /// Keep at most this fraction of the candidate layers' MACs or weights.
    Budget { keep: f64, measure: Measure },
}

/// Which SVD computes the factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Randomized when the matrix's smaller side is at least this, full otherwise.
    Auto {
        randomized_from: usize,
    },
    Full,
    Randomized,
}

/// `low-rank(...)` options.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankOptions {
    pub rule: Rule,
    /// A split must save at least this fraction of the layer's weights and MACs.
    pub min_saving: f64,
    pub method: Method,
    pub sketch: Sketch,
}

impl Default for LowRankOptions {
    fn default() -> LowRankOptions {
        LowRankOptions {
            rule: Rule::Energy(0.95),
            min_saving: 0.25,
            method: Method::Auto {
                randomized_from: 512,
            },
            sketch: Sketch::default(),
        }
    }
}

/// The `low-rank` pass.
#[derive(Clone, Debug, Default)]
pub struct LowRankPass {
    pub options: LowRankOptions,
}

/// What happened to one layer, for the report.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    pub layer: String,
    pub op: String,
    /// The weight's dims and the matrix it was decomposed as.
    pub shape: Vec<i64>,
    pub matrix: (usize, usize),
    /// `full` or `randomized`.
    pub svd: &'static str,
    /// The rank split at, or `None` when left as it is.
    pub rank: Option<usize>,
    /// Fraction of `Σσ²` the rank keeps (of the rank considered, when not split).
    pub energy_kept: Option<f64>,
    pub params_before: u64,
    pub params_after: u64,
    pub macs_before: Option<u64>,
    pub macs_after: Option<u64>,
    /// Why the layer was left as it is.
    pub reason: Option<String>,
}

impl LayerReport {
    fn to_json(&self) -> Value {
        json!({
            "layer": self.layer,
            "op": self.op,
            "shape": self.shape,
            "matrix": [self.matrix.0, self.matrix.1],
            "svd": self.svd,
            "rank": self.rank,
            "max_rank": self.matrix.0.min(self.matrix.1),
            "energy_kept": self.energy_kept,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "macs_before": self.macs_before,
            "macs_after": self.macs_after,
            "applied": self.rank.is_some(),
            "reason": self.reason,
        })
    }
}

impl Pass for LowRankPass {
    fn name(&self) -> &str {
        "low-rank"
    }

    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let out = low_rank(model, &self.options, &mut cx.rng)?;
        let (reports, skipped) = (&out.layers, &out.ineligible);
        let applied: Vec<&LayerReport> = reports.iter().filter(|r| r.rank.is_some()).collect();
        if !applied.is_empty() {
            cx.note(format!(
                "{:<22} {:<5} {:>9} {:>7} {:>6} {:>17} {:>21}",
                "layer", "op", "matrix", "rank", "energy", "params", "MACs"
            ));
        }
        let arrow = |a: u64, b: u64| format!("{a}→{b}");
        for r in &applied {
            cx.note(format!(
                "{:<22} {:<5} {:>9} {:>7} {:>6.3} {:>17} {:>21}",
                r.layer,
                r.op,
                format!("{}×{}", r.matrix.0, r.matrix.1),
                format!("{}/{}", r.rank.unwrap_or(0), r.matrix.0.min(r.matrix.1)),
                r.energy_kept.unwrap_or(1.0),
                arrow(r.params_before, r.params_after),
                match (r.macs_before, r.macs_after) {
                    (Some(a), Some(b)) => arrow(a, b),
                    _ => "?".into(),
                }
            ));
        }
        for r in reports.iter().filter(|r| r.rank.is_none()) {
            cx.note(format!(
                "left as is: {} ({}): {}",
                r.layer,
                r.op,
                r.reason.as_deref().unwrap_or("")
            ));
        }
        for s in skipped {
            cx.note(format!("left as is: {} ({}): {}", s.label, s.op, s.reason));
        }
        let total = |f: fn(&LayerReport) -> Option<u64>| -> Option<u64> {
            applied.iter().map(|r| f(r)).sum()
        };
        if applied.is_empty() {
            cx.note("no layer split");
        } else if let (Some(before), Some(after)) =
            (total(|r| r.macs_before), total(|r| r.macs_after))
        {
            cx.note(format!(
                "split {} of {} layers: their MACs {before} → {after}",
                applied.len(),
                reports.len() + skipped.len()
            ));
        }
        cx.detail(
            "layers",
            json!(reports.iter().map(LayerReport::to_json).collect::<Vec<_>>()),
        );
        cx.detail(
            "ineligible",
            json!(
                skipped
                    .iter()
                    .map(|s| json!({"layer": s.label, "op": s.op, "reason": s.reason}))
                    .collect::<Vec<_>>()
            ),
        );
        if let (Some(a), Rule::Budget { keep, measure }) = (&out.budget, self.options.rule) {
            let what = match measure {
                Measure::Macs => "MACs",
                Measure::Params => "params",
            };
            cx.note(format!(
                "budget={keep} of the eligible layers' {what}: {:.0} → {:.0} ({:.1} %){}",
                a.before,
                a.after,
                100.0 * a.after / a.before.max(1.0),
                if a.reached {
                    ""
                } else {
                    "; not reached: every layer is at its lowest rank"
                }
            ));
            cx.detail(
                "budget",
                json!({"keep": keep, "of": what.to_lowercase(), "before": a.before, "after": a.after, "reached": a.reached}),
            );
        }
        Ok(Changed::from(!applied.is_empty()))
    }
}

/// What [`low_rank`] did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// One report per eligible layer (split or not), in topological order.
    pub layers: Vec<LayerReport>,
    /// The Gemm/MatMul/Conv layers with a constant weight that are not eligible.
    pub ineligible: Vec<Ineligible>,
    /// For `budget=`: the allocation's totals.
    pub budget: Option<Allocation>,
}

/// A layer's decomposition and the rank chosen for it.
struct Decision {
    svd: Option<Svd>,
    randomized: bool,
    /// The largest rank worth splitting at.
    max_rank: usize,
    rank: Option<usize>,
    /// The rank considered when not split (for the report).
    considered: Option<usize>,
    reason: Option<String>,
}

/// Splits every eligible layer of `model`'s main graph at the rank `options` choose (see the
/// module docs); `rng` seeds the randomized SVD (one draw per eligible layer, in topological
/// order).
pub fn low_rank(
    model: &mut Model,
    options: &LowRankOptions,
    rng: &mut Rng,
) -> Result<Outcome, PassError> {
    let opset = crate::default_opset(model);
    let g = &mut model.graph;
    let (layers, skipped) = find_layers(g)?;
    let mut decisions = Vec::with_capacity(layers.len());
    for layer in &layers {
        let seed = rng.next_u64();
        decisions.push(decide(layer, options, seed)?);
    }
    let mut budget = None;
    if let Rule::Budget { keep, measure } = options.rule {
        let cands: Vec<Candidate> = layers
            .iter()
            .zip(&decisions)
            .map(|(l, d)| Candidate {
                cost: l.cost,
                max_rank: if d.svd.is_some() { d.max_rank } else { 0 },
                energy: d.svd.as_ref().map_or_else(Vec::new, |s| {
                    s.s.iter()
                        .map(|x| x * x / s.total_energy.max(f64::MIN_POSITIVE))
                        .collect()
                }),
            })
            .collect();
        let alloc = allocate_budget(&cands, keep, measure);
        for (d, r) in decisions.iter_mut().zip(&alloc.ranks) {
            d.rank = *r;
            if r.is_none() && d.reason.is_none() {
                d.reason = Some("the budget is met without splitting it".into());
            }
        }
        budget = Some(alloc);
    }
    let mut names = Names::of(g);
    let mut done = Vec::new();
    let mut reports = Vec::with_capacity(layers.len());
    for (layer, d) in layers.iter().zip(&decisions) {
        let cost = layer.cost;
        let shown = d.rank.or(d.considered);
        let mut report = LayerReport {
            layer: layer.label.clone(),
            op: layer.op.clone(),
            shape: layer.dims.clone(),
            matrix: (layer.rows, layer.cols),
            svd: if d.randomized { "randomized" } else { "full" },
            rank: None,
            energy_kept: d.svd.as_ref().zip(shown).map(|(s, r)| s.energy_kept(r)),
            params_before: cost.params(),
            params_after: cost.params(),
            macs_before: cost.macs(),
            macs_after: cost.macs(),
            reason: d.reason.clone(),
        };
        if let (Some(svd), Some(r)) = (&d.svd, d.rank) {
            split(g, &mut names, layer, svd, r, opset)?;
            done.push((layer.node, layer.weight));
            report.rank = Some(r);
            report.reason = None;
            report.params_after = cost.params_at(r);
            report.macs_after = cost.macs_at(r);
        }
        reports.push(report);
    }
    remove_split(g, &done)?;
    Ok(Outcome {
        layers: reports,
        ineligible: skipped,
        budget,
    })
}

/// Computes a layer's SVD (as much of it as the rule needs) and, except for budgets, its rank.
fn decide(layer: &Layer, options: &LowRankOptions, seed: u64) -> Result<Decision, PassError> {
    let (m, n) = (layer.rows, layer.cols);
    let small = m.min(n);
    let max_rank = layer.cost.max_useful_rank(options.min_saving);
    let randomized = match options.method {
        Method::Auto { randomized_from } => small >= randomized_from,
        Method::Full => false,
        Method::Randomized => true,
    };
    let mut d = Decision {
        svd: None,
        randomized,
        max_rank,
        rank: None,
        considered: None,
        reason: None,
    };
    let keep_pct =
        |r: usize| 100.0 * layer.cost.params_at(r) as f64 / layer.cost.params().max(1) as f64;
    let limit = format!(
        "min-saving={} allows rank ≤ {max_rank} (a split at rank r keeps r·({m}+{n}) of {} weights and MACs)",
        options.min_saving,
        m * n
    );
    if max_rank == 0 {
        d.reason = Some(format!("no rank saves enough: {limit}"));
        return Ok(d);
    }
    let fail = |e: svd::SvdError| PassError::Node {
        node: layer.label.clone(),
        op: layer.op.clone(),
        message: format!("SVD of the {m}×{n} weight: {e}"),
    };
    let mut rng = Rng::new(seed);
    let sketch = |r: usize, rng: &mut Rng| {
        svd::randomized_svd(&layer.values, m, n, r, options.sketch, rng).map_err(fail)
    };
    match options.rule {
        Rule::Energy(e) => {
            let s = if randomized {
                // Widen the sketch until it holds the energy asked for or the useful ranks.
                let mut width = max_rank.min(32);
                loop {
                    let s = sketch(width, &mut rng)?;
                    if s.rank_for_energy(e).is_some() || width >= max_rank {
                        break s;
                    }
                    width = (2 * width).min(max_rank);
                }
            } else {
                svd::full_svd(&layer.values, m, n).map_err(fail)?
            };
            match s.rank_for_energy(e) {
                Some(r) if r <= max_rank => d.rank = Some(r),
                Some(r) => {
                    d.considered = Some(r);
                    d.reason = Some(format!(
                        "energy={e} needs rank {r}, which keeps {:.0} % of the weights and MACs; {limit}",
                        keep_pct(r)
                    ));
                }
                None => {
                    d.reason = Some(format!(
                        "energy={e} needs a rank above {}; {limit}",
                        s.s.len()
                    ));
                }
            }
            d.svd = Some(s);
        }
        Rule::Fixed(r) => {
            let r = r.min(small);
            if r > max_rank {
                d.considered = Some(r);
                d.reason = Some(format!(
                    "rank {r} keeps {:.0} % of the weights and MACs; {limit}",
                    keep_pct(r)
                ));
                return Ok(d);
            }
            d.svd = Some(if randomized {
                sketch(r, &mut rng)?
            } else {
                svd::full_svd(&layer.values, m, n).map_err(fail)?
            });
            d.rank = Some(r);
        }
        Rule::Budget { .. } => {
            d.svd = Some(if randomized {
                sketch(max_rank, &mut rng)?
            } else {
                svd::full_svd(&layer.values, m, n).map_err(fail)?
            });
        }
    }
    Ok(d)
}

/// Registers the pass and parses its options.
pub(crate) fn register(r: &mut Registry) {
    let info = PassInfo::new(
        "low-rank",
        "factor Gemm/MatMul/k×k Conv weights by truncated SVD into two smaller layers",
    )
    .option(
        "energy",
        "keep this fraction of each weight's Σσ² (default 0.95)",
    )
    .option("rank", "split every layer at this rank")
    .option(
        "budget",
        "keep at most this fraction of the layers' MACs (or params), ranks chosen globally",
    )
    .option(
        "budget-of",
        "macs|params: what budget= counts (default macs)",
    )
    .option(
        "min-saving",
        "split only where this fraction of the layer's weights and MACs is saved (default 0.25)",
    )
    .option("svd", "auto|full|randomized (default auto)")
    .option(
        "randomized-from",
        "svd=auto uses the randomized SVD from this smaller side on (default 512)",
    )
    .option(
        "oversample",
        "randomized SVD: extra sketch columns (default 10)",
    )
    .option(
        "power-iters",
        "randomized SVD: power iterations (default 2)",
    );
    r.register(info, |a| Ok(Box::new(LowRankPass::from_args(a)?)))
        .expect("built-in names are unique");
}

impl LowRankPass {
    /// Builds the pass from checked spec arguments.
    pub fn from_args(a: &PassArgs) -> Result<LowRankPass, PassError> {
        let err = |m: &str| PassError::Options {
            pass: "low-rank".into(),
            message: m.into(),
        };
        let given = ["energy", "rank", "budget"]
            .iter()
            .filter(|k| a.get(k).is_some())
            .count();
        if given > 1 {
            return Err(err("choose one of energy=, rank=, budget="));
        }
        let defaults = LowRankOptions::default();
        let rule = if a.get("rank").is_some() {
            Rule::Fixed(a.integer("rank", 1, 1, 1 << 20)? as usize)
        } else if a.get("budget").is_some() {
            let measure = match a.choice("budget-of", "macs", &["macs", "params"])?.as_str() {
                "params" => Measure::Params,
                _ => Measure::Macs,
            };
            Rule::Budget {
                keep: a.number("budget", 0.5, 0.0, 1.0)?,
                measure,
            }
        } else {
            let e = a.number("energy", 0.95, 0.0, 1.0)?;
            if e <= 0.0 {
                return Err(err("energy must be above 0"));
            }
            Rule::Energy(e)
        };
        if a.get("budget-of").is_some() && !matches!(rule, Rule::Budget { .. }) {
            return Err(err("budget-of= goes with budget="));
        }
        let method = match a
            .choice("svd", "auto", &["auto", "full", "randomized"])?
            .as_str()
        {
            "full" => Method::Full,
            "randomized" => Method::Randomized,
            _ => Method::Auto {
                randomized_from: a.integer("randomized-from", 512, 1, 1 << 30)? as usize,
            },
        };
        if a.get("randomized-from").is_some() && !matches!(method, Method::Auto { .. }) {
            return Err(err("randomized-from= goes with svd=auto"));
        }
        Ok(LowRankPass {
            options: LowRankOptions {
                rule,
                min_saving: a.number("min-saving", defaults.min_saving, 0.0, 0.99)?,
                method,
                sketch: Sketch {
                    oversample: a.integer("oversample", 10, 0, 1 << 16)? as usize,
                    power_iters: a.integer("power-iters", 2, 0, 32)? as usize,
                },
            },
        })
    }
}
