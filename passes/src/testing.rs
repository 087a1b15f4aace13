//! Differential checks for rewrites: run the graph before and after on the same seeded random
//! inputs and compare outputs within the contract tolerance. Used by the unit tests of every
//! rewrite, the filetests and the pass manager's fidelity rows.

use nnslim_eval::{Plan, Value, random_input};
use nnslim_ir::{Graph, Op};
use std::collections::HashMap;

/// Seeded random values for every real graph input (initializers listed as inputs keep their
/// values): floats in [0, 1), small integers; symbolic dims become 1.
pub fn random_inputs(g: &Graph, seed: u64) -> Result<HashMap<String, Value>, String> {
    let mut m = HashMap::new();
    for (i, v) in g.inputs().into_iter().enumerate() {
        if !matches!(g.node(v.node).op, Op::Input) {
            continue;
        }
        let info = g.value(v);
        let a = random_input(&info.name, &info.ty, seed.wrapping_add(i as u64))?;
        m.insert(info.name.clone(), Value::Tensor(a));
    }
    Ok(m)
}

/// Runs a graph with the interpreter.
pub fn run(g: &Graph, inputs: &HashMap<String, Value>) -> Result<Vec<Value>, String> {
    let plan = Plan::new(g).map_err(|e| e.to_string())?;
    plan.run(inputs, &HashMap::new()).map_err(|e| e.to_string())
}

/// Whether `got` matches `want` within the contract tolerance (f32/f64:
/// |a − b| ≤ 1e-4·|b| + 1e-5 element-wise, plus `extra_rel`·|b|; other types: equal).
pub fn matches(got: &Value, want: &Value, extra_rel: f64) -> Result<(), String> {
    let (Value::Tensor(a), Value::Tensor(b)) = (got, want) else {
        return if got == want {
            Ok(())
        } else {
            Err("non-tensor values differ".into())
        };
    };
    if a.shape != b.shape {
        return Err(format!("shape {:?} != expected {:?}", a.shape, b.shape));
    }
    if a.dtype() != b.dtype() {
        return Err(format!("type {} != expected {}", a.dtype(), b.dtype()));
    }
    match (a.to_f32_vec(), b.to_f32_vec()) {
        (Some(x), Some(y)) if a.dtype().is_float() => {
            for (i, (&p, &q)) in x.iter().zip(&y).enumerate() {
                let (p, q) = (p as f64, q as f64);
                let ok = (p - q).abs() <= (1e-4 + extra_rel) * q.abs() + 1e-5
                    || (p.is_nan() && q.is_nan())
                    || p == q;
                if !ok {
                    return Err(format!("element {i}: {p} != expected {q}"));
                }
            }
            Ok(())
        }
        _ if a == b => Ok(()),
        _ => Err("values differ".into()),
    }
}

/// Runs `before` and `after` on the same seeded random inputs (seeds `seed..seed+runs`) and
/// checks that every output matches.
pub fn differential(before: &Graph, after: &Graph, seed: u64, runs: u64) -> Result<(), String> {
    for s in seed..seed + runs {
        let inputs = random_inputs(before, s)?;
        let want = run(before, &inputs).map_err(|e| format!("before: {e}"))?;
        let got = run(after, &inputs).map_err(|e| format!("after: {e}"))?;
        if want.len() != got.len() {
            return Err(format!("{} outputs != expected {}", got.len(), want.len()));
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let name = after
                .outputs()
                .get(i)
                .map(|v| after.value(*v).name.clone())
                .unwrap_or_default();
            matches(g, w, 0.0).map_err(|e| format!("output {i} {name:?} (seed {s}): {e}"))?;
        }
    }
    Ok(())
}

/// Parses a one-graph model at `opset` of the default domain from the body of its graph
/// (inputs, constants, nodes, outputs in the text IR), for tests: panics with the parser's
/// message and the text when it does not parse.
pub fn model_of(opset: i64, body: &str) -> nnslim_ir::Model {
    let text = format!(
        "model ir_version=8 opsets=[\"\"={opset}] producer=\"t\"\ngraph \"g\" {{\n{body}\n}}"
    );
    nnslim_ir::text::parse_model(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
