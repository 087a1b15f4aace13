//! What the pass manager records after each pass: size and cost of the graph, wall time, and
//! fidelity against the original model; as JSON (`--report`) and as a terminal table.

use nnslim_ir::stats::{LayerStats, graph_stats};
use nnslim_ir::{Graph, Op, ValueId};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashSet};

/// How closely a model's outputs follow the original's on a set of samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Fidelity {
    /// How many samples were compared.
    pub samples: usize,
    /// Largest |a − b| over all float outputs.
    pub max_abs_error: f64,
    /// Largest |a − b| divided by the largest |b| of the same output (0 when outputs are equal).
    pub max_rel_error: f64,
    /// Signal-to-quantization-noise ratio of all float outputs, in dB (∞ when equal).
    pub sqnr_db: f64,
    /// For a classifier (first output `[N, C]`, C ≥ 2): fraction of samples whose top-1 class
    /// equals the original's.
    pub top1_agreement: Option<f64>,
    /// With labelled samples: top-1 accuracy of this model, and of the original.
    pub accuracy: Option<f64>,
    pub original_accuracy: Option<f64>,
}

impl Fidelity {
    fn to_json(&self) -> Json {
        json!({
            "samples": self.samples,
            "max_abs_error": finite(self.max_abs_error),
            "max_rel_error": finite(self.max_rel_error),
            "sqnr_db": finite(self.sqnr_db),
            "top1_agreement": self.top1_agreement,
            "accuracy": self.accuracy,
            "original_accuracy": self.original_accuracy,
        })
    }
}

/// JSON has no infinity: write it as null.
fn finite(x: f64) -> Json {
    if x.is_finite() { json!(x) } else { Json::Null }
}

/// One row: the model after a pass (or as loaded, for the first row).
#[derive(Clone, Debug)]
pub struct Row {
    /// The pass name (`input` for the loaded model).
    pub pass: String,
    /// The spec item as written in the pipeline (`prune(ratio=0.5)`).
    pub label: String,
    pub changed: bool,
    /// Compute and constant nodes (sources not counted), subgraphs included.
    pub nodes: usize,
    /// Main-graph nodes whose value depends on a graph input.
    pub compute_nodes: usize,
    pub params: u64,
    /// Parameters that are exactly zero (pruned), whatever their storage.
    pub zero_params: u64,
    /// Parameter bytes by element type (`f32`, `i8`, ...).
    pub bytes: BTreeMap<String, u64>,
    pub macs: u64,
    /// Wall time of the pass in milliseconds (0 for the first row).
    pub wall_ms: f64,
    pub fidelity: Option<Fidelity>,
    /// Pass-specific details ([`crate::PassContext::detail`]).
    pub details: serde_json::Map<String, Json>,
    /// One-line notes ([`crate::PassContext::note`]).
    pub notes: Vec<String>,
}

impl Row {
    /// A row describing `graph` after pass `pass`.
    pub fn of(pass: &str, label: &str, graph: &Graph) -> Row {
        let s = graph_stats(graph);
        Row {
            pass: pass.to_string(),
            label: label.to_string(),
            changed: false,
            nodes: s.nodes,
            compute_nodes: compute_node_count(graph),
            params: s.params,
            zero_params: s.zero_params,
            bytes: s
                .param_bytes
                .iter()
                .map(|(d, b)| (d.to_string(), *b))
                .collect(),
            macs: s.macs,
            wall_ms: 0.0,
            fidelity: None,
            details: serde_json::Map::new(),
            notes: Vec::new(),
        }
    }

    /// Total parameter bytes.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.values().sum()
    }

    /// The row as JSON.
    pub fn to_json(&self) -> Json {
        json!({
            "pass": self.pass,
            "label": self.label,
            "changed": self.changed,
            "nodes": self.nodes,
            "compute_nodes": self.compute_nodes,
            "params": self.params,
            "zero_params": self.zero_params,
            "sparsity": fraction(self.zero_params, self.params),
            "bytes": self.bytes,
            "bytes_total": self.total_bytes(),
            "macs": self.macs,
            "wall_ms": self.wall_ms,
            "fidelity": self.fidelity.as_ref().map(Fidelity::to_json),
            "details": self.details,
            "notes": self.notes,
        })
    }
}

/// Everything a pipeline run recorded.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The pipeline spec as run.
    pub pipeline: String,
    pub seed: u64,
    /// What fidelity was measured on (a data spec or "N random inputs").
    pub fidelity_samples: Option<String>,
    /// The loaded model first, then one row per pass run.
    pub rows: Vec<Row>,
    /// Set when `stop_after` ended the pipeline early.
    pub stopped_after: Option<String>,
    /// The weighted layers of the final model.
    pub layers: Vec<LayerStats>,
    /// Sizes of the input and output files, when the caller measured them.
    pub files: Option<FileSizes>,
}

/// Raw and gzip-compressed sizes of the model files (external data included): the measure
/// Deep Compression reports, as weights with many zeros or few distinct values compress well.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FileSizes {
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Compressed sizes: `None` when the files were too large to compress quickly.
    pub input_gzip_bytes: Option<u64>,
    pub output_gzip_bytes: Option<u64>,
}

fn layer_json(l: &LayerStats) -> Json {
    json!({
        "layer": l.name,
        "op": l.op,
        "weight_dims": l.weight_dims,
        "params": l.params,
        "zeros": l.zeros,
        "sparsity": fraction(l.zeros, l.params),
        "macs": l.macs,
        "rank": l.rank,
    })
}

impl Report {
    /// The report as JSON.
    pub fn to_json(&self) -> Json {
        json!({
            "pipeline": self.pipeline,
            "seed": self.seed,
            "fidelity_samples": self.fidelity_samples,
            "rows": self.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            "stopped_after": self.stopped_after,
            "layers": self.layers.iter().map(layer_json).collect::<Vec<_>>(),
            "files": self.files.map(|f| json!({
                "input_bytes": f.input_bytes,
                "input_gzip_bytes": f.input_gzip_bytes,
                "output_bytes": f.output_bytes,
                "output_gzip_bytes": f.output_gzip_bytes,
            })),
        })
    }

    /// A terminal table: one line per row, then the notes of each pass.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let fid = self.rows.iter().any(|r| r.fidelity.is_some());
        s.push_str(&format!(
            "{:<28} {:>6} {:>8} {:>11} {:>10} {:>10} {:>9}",
            "pass", "nodes", "compute", "params", "bytes", "MACs", "time"
        ));
        if fid {
            s.push_str(&format!(
                " {:>11} {:>8} {:>8}",
                "max rel err", "top-1", "accuracy"
            ));
        }
        s.push('\n');
        for r in &self.rows {
            let label = if r.label.chars().count() > 28 {
                let cut: String = r.label.chars().take(27).collect();
                cut + "…"
            } else {
                r.label.clone()
            };
            s.push_str(&format!(
                "{:<28} {:>6} {:>8} {:>11} {:>10} {:>10} {:>9}",
                label,
                r.nodes,
                r.compute_nodes,
                r.params,
                human_bytes(r.total_bytes()),
                human_count(r.macs),
                if r.pass == "input" {
                    "-".to_string()
                } else {
                    human_ms(r.wall_ms)
                },
            ));
            if fid {
                match &r.fidelity {
                    Some(f) => s.push_str(&format!(
                        " {:>11} {:>8} {:>8}",
                        format!("{:.2e}", f.max_rel_error),
                        f.top1_agreement
                            .map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
                        f.accuracy
                            .map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
                    )),
                    None => s.push_str(&format!(" {:>11} {:>8} {:>8}", "-", "-", "-")),
                }
            }
            s.push('\n');
        }
        for r in &self.rows {
            for n in &r.notes {
                s.push_str(&format!("{}: {n}\n", r.pass));
            }
        }
        s.push_str(&self.layer_table());
        if let Some(f) = &self.files {
            s.push_str(&format!(
                "file: {} -> {} ({:.1} %)",
                human_bytes(f.input_bytes),
                human_bytes(f.output_bytes),
                percent(f.output_bytes, f.input_bytes),
            ));
            match (f.input_gzip_bytes, f.output_gzip_bytes) {
                (Some(a), Some(b)) => s.push_str(&format!(
                    "; gzip {} -> {} ({:.1} %)\n",
                    human_bytes(a),
                    human_bytes(b),
                    percent(b, a)
                )),
                _ => s.push_str("; gzip sizes not measured (files too large)\n"),
            }
        }
        if let Some(f) = &self.fidelity_samples {
            s.push_str(&format!("fidelity measured on {f}\n"));
        }
        if let Some(p) = &self.stopped_after {
            s.push_str(&format!("stopped after {p} (--stop-after)\n"));
        }
        s
    }
}

impl Report {
    /// Per-layer sparsity, rank, params and MACs of the final model, when a pass changed its
    /// layers' structure or zeroed weights (otherwise the pass table says it all).
    fn layer_table(&self) -> String {
        let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) else {
            return String::new();
        };
        let reshaped = first.params != last.params || first.macs != last.macs;
        if self.layers.is_empty() || (last.zero_params == 0 && !reshaped) {
            return String::new();
        }
        let mut s = format!(
            "{:<28} {:<7} {:>18} {:>9} {:>8} {:>6} {:>10}\n",
            "layer", "op", "weight", "params", "sparsity", "rank", "MACs"
        );
        for l in &self.layers {
            let name = if l.name.chars().count() > 28 {
                l.name.chars().take(27).collect::<String>() + "…"
            } else {
                l.name.clone()
            };
            let dims = l.weight_dims.as_ref().map_or("-".to_string(), |d| {
                d.iter().map(i64::to_string).collect::<Vec<_>>().join("x")
            });
            s.push_str(&format!(
                "{:<28} {:<7} {:>18} {:>9} {:>7.1}% {:>6} {:>10}\n",
                name,
                l.op,
                dims,
                l.params,
                percent(l.zeros, l.params),
                l.rank.map_or("-".to_string(), |r| r.to_string()),
                l.macs.map_or("?".to_string(), human_count),
            ));
        }
        s
    }
}

/// `part / whole` (0 when `whole` is 0).
fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
fn percent(part: u64, whole: u64) -> f64 {
    100.0 * fraction(part, whole)
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 10 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 10 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn human_count(n: u64) -> String {
    match n {
        n if n >= 10_000_000_000 => format!("{:.1}G", n as f64 / 1e9),
        n if n >= 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn human_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

/// Nodes of the main graph whose value depends on a graph input (initializers listed as inputs
/// do not count as inputs: they are the weights of IR-version-3 files). Constant subgraphs that
/// a runtime folds at load time are not compute nodes.
pub fn compute_node_count(g: &Graph) -> usize {
    let Ok(order) = g.topo_order() else {
        return 0;
    };
    let mut live: HashSet<ValueId> = HashSet::new();
    let mut count = 0;
    for id in order {
        let node = g.node(id);
        match node.op {
            Op::Input | Op::Outer => {
                for slot in 0..node.outputs().len() {
                    live.insert(ValueId {
                        node: id,
                        slot: slot as u32,
                    });
                }
                continue;
            }
            Op::Initializer(_) => continue,
            _ => {}
        }
        let depends = node
            .inputs()
            .iter()
            .flatten()
            .chain(node.captures())
            .any(|v| live.contains(v));
        if depends {
            count += 1;
            for slot in 0..node.outputs().len() {
                live.insert(ValueId {
                    node: id,
                    slot: slot as u32,
                });
            }
        }
    }
    count
}
