//! `nnslim bench`: in-process latency of one run (median, p10, p90 after warm-up).

use super::random_input;
use crate::exec::real_inputs;
use nnslim_eval::{Plan, Value};
use nnslim_ir::Model;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::time::Instant;

/// Latency statistics in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub iters: usize,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub mean: f64,
}

/// The `q`-quantile of sorted samples (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times `iters` runs after `warmup` runs on seeded random inputs (batch 1 for dynamic dims).
pub fn bench(model: &Model, iters: usize, warmup: usize) -> Result<Stats, String> {
    let mut feed = HashMap::new();
    for (i, (name, ty)) in real_inputs(model).iter().enumerate() {
        feed.insert(
            name.clone(),
            Value::Tensor(random_input(name, ty, i as u64)?),
        );
    }
    let plan = Plan::new(&model.graph).map_err(|e| e.to_string())?;
    let none = HashMap::new();
    for _ in 0..warmup {
        plan.run(&feed, &none).map_err(|e| e.to_string())?;
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        plan.run(&feed, &none).map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(Stats {
        iters: times.len(),
        median: quantile(&times, 0.5),
        p10: quantile(&times, 0.1),
        p90: quantile(&times, 0.9),
        mean: times.iter().sum::<f64>() / times.len() as f64,
    })
}

/// `0.00123` s → `1.230 ms`.
fn duration(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

impl Stats {
    /// As JSON, times in milliseconds.
    pub fn to_json(&self, backend: &str) -> Json {
        json!({
            "backend": backend,
            "iters": self.iters,
            "median_ms": self.median * 1e3,
            "p10_ms": self.p10 * 1e3,
            "p90_ms": self.p90 * 1e3,
            "mean_ms": self.mean * 1e3,
        })
    }

    /// For a terminal.
    pub fn to_text(&self, backend: &str) -> String {
        format!(
            "backend {backend}, {} runs: median {}, p10 {}, p90 {}, mean {}\n",
            self.iters,
            duration(self.median),
            duration(self.p10),
            duration(self.p90),
            duration(self.mean)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let v: Vec<f64> = (1..=11).map(|x| x as f64).collect();
        assert_eq!(quantile(&v, 0.5), 6.0);
        assert_eq!(quantile(&v, 0.1), 2.0);
        assert_eq!(quantile(&v, 0.9), 10.0);
        assert_eq!(duration(0.00123), "1.230 ms");
        assert_eq!(duration(2e-5), "20.0 µs");
    }
}
