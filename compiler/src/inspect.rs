//! `nnslim inspect`: what a model is made of — interface, opsets, ops, parameters, MACs, ops kept
//! opaque, external data — as a terminal report or one JSON object.

use crate::frontend::Loaded;
use nnslim_ir::stats::{GraphStats, graph_stats};
use nnslim_ir::{Graph, Model, Op, Type, ValueId};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;

/// One graph input or output.
struct Port {
    name: String,
    ty: Type,
}

fn ports(g: &Graph, values: &[ValueId]) -> Vec<Port> {
    values
        .iter()
        .map(|&v| Port {
            name: g.value(v).name.clone(),
            ty: g.value(v).ty.clone(),
        })
        .collect()
}

/// Real inputs: IR-3 initializers listed as inputs are weights, not inputs.
fn real_inputs(g: &Graph) -> Vec<ValueId> {
    g.inputs()
        .into_iter()
        .filter(|v| matches!(g.node(v.node).op, Op::Input))
        .collect()
}

fn opset_map(m: &Model) -> serde_json::Map<String, Value> {
    m.opsets
        .iter()
        .map(|o| {
            let d = if o.domain.is_empty() {
                "ai.onnx"
            } else {
                &o.domain
            };
            (d.to_string(), json!(o.version))
        })
        .collect()
}

fn port_json(p: &Port) -> Value {
    let (dtype, shape) = match p.ty.as_tensor() {
        Some(t) => (
            json!(t.dtype.name()),
            t.shape
                .as_ref()
                .map(|s| {
                    json!(
                        s.iter()
                            .map(|d| match d {
                                nnslim_ir::Dim::Known(v) => json!(v),
                                nnslim_ir::Dim::Symbol(s) => json!(s),
                                nnslim_ir::Dim::Unknown => Value::Null,
                            })
                            .collect::<Vec<_>>()
                    )
                })
                .unwrap_or(Value::Null),
        ),
        None => (Value::Null, Value::Null),
    };
    json!({"name": p.name, "type": p.ty.to_string(), "dtype": dtype, "shape": shape})
}

/// The report as one JSON object.
pub fn to_json(path: &Path, loaded: &Loaded) -> Value {
    let m = &loaded.model;
    let g = &m.graph;
    let s = graph_stats(g);
    json!({
        "file": path.display().to_string(),
        "file_bytes": loaded.file_size,
        "ir_version": m.ir_version,
        "producer": format!("{} {}", m.producer_name, m.producer_version).trim(),
        "opsets": opset_map(m),
        "inputs": ports(g, &real_inputs(g)).iter().map(port_json).collect::<Vec<_>>(),
        "outputs": ports(g, g.outputs()).iter().map(port_json).collect::<Vec<_>>(),
        "nodes": s.nodes,
        "ops": s.ops,
        "params": s.params,
        "zero_params": s.zero_params,
        "param_bytes": s.param_bytes.iter().map(|(d, b)| (d.name().to_string(), json!(b))).collect::<serde_json::Map<_, _>>(),
        "macs": s.macs,
        "macs_by_op": s.macs_by_op,
        "macs_unknown_nodes": s.macs_unknown,
        "opaque": s.opaque,
        "external_data": loaded.external_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1536` → `1.5 KiB`.
fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `12_345_678` → `12.3 M`.
fn si(n: u64) -> String {
    let units = ["", " K", " M", " G", " T", " P"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        n.to_string()
    } else {
        format!("{v:.2}{}", units[u])
    }
}

/// The report for a terminal.
pub fn to_text(path: &Path, loaded: &Loaded) -> String {
    let m = &loaded.model;
    let g = &m.graph;
    let s: GraphStats = graph_stats(g);
    let mut o = String::new();
    let _ = writeln!(o, "{}  ({})", path.display(), bytes(loaded.file_size));
    let producer = format!("{} {}", m.producer_name, m.producer_version);
    let _ = writeln!(
        o,
        "  ir_version {}, producer {}",
        m.ir_version,
        if producer.trim().is_empty() {
            "(none)"
        } else {
            producer.trim()
        }
    );
    let opsets: Vec<String> = opset_map(m)
        .iter()
        .map(|(d, v)| format!("{d} {v}"))
        .collect();
    let _ = writeln!(o, "  opsets: {}", opsets.join(", "));
    for (title, list) in [
        ("inputs", ports(g, &real_inputs(g))),
        ("outputs", ports(g, g.outputs())),
    ] {
        let _ = writeln!(o, "\n{title}:");
        let w = list.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &list {
            let _ = writeln!(o, "  {:w$}  {}", p.name, p.ty);
        }
    }
    let _ = writeln!(
        o,
        "\nnodes: {} ({} op types)",
        thousands(s.nodes as u64),
        s.ops.len()
    );
    let mut ops: Vec<(&String, &usize)> = s.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let w = ops.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, n) in ops {
        let macs = s
            .macs_by_op
            .get(k)
            .map(|m| format!("  {} MACs", si(*m)))
            .unwrap_or_default();
        let _ = writeln!(o, "  {k:w$}  {n:>6}{macs}");
    }
    let _ = writeln!(o, "\nparameters: {} ({})", thousands(s.params), {
        let total: u64 = s.param_bytes.values().sum();
        bytes(total)
    });
    for (d, b) in &s.param_bytes {
        let _ = writeln!(o, "  {:8} {}", d.name(), bytes(*b));
    }
    if s.zero_params > 0 {
        let _ = writeln!(
            o,
            "  zeros    {} weights ({:.1} % of the parameters; pruned or rounded to zero)",
            thousands(s.zero_params),
            s.zero_params as f64 * 100.0 / s.params.max(1) as f64
        );
    }
    let _ = writeln!(
        o,
        "\nMACs per run: {} (Conv, ConvTranspose, Gemm, MatMul; symbolic dims counted as 1)",
        si(s.macs)
    );
    if !s.macs_unknown.is_empty() {
        let _ = writeln!(
            o,
            "  not estimated (shapes unknown; try --input-shape): {}",
            s.macs_unknown.join(", ")
        );
    }
    if s.opaque.is_empty() {
        let _ = writeln!(o, "\nopaque ops: none (every op is typed)");
    } else {
        let list: Vec<&str> = s.opaque.iter().map(String::as_str).collect();
        let _ = writeln!(
            o,
            "\nopaque ops ({}, carried through unchanged; passes do not optimise them): {}",
            list.len(),
            list.join(", ")
        );
    }
    if loaded.external_files.is_empty() {
        let _ = writeln!(o, "external data: none");
    } else {
        let _ = writeln!(o, "external data:");
        for f in &loaded.external_files {
            let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            let _ = writeln!(o, "  {}  ({})", f.display(), bytes(size));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(si(12_345_678), "12.35 M");
        assert_eq!(si(999), "999");
    }
}
