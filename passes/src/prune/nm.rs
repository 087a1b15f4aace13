//! N:M semi-structured pruning: in every group of `M` consecutive weights along the reduction
//! dimension (Gemm/MatMul: input features; Conv: input channels at each kernel position, i.e.
//! axis 1 of `W[O, I, kh, kw]` for fixed `o, kh, kw`), the `N` largest magnitudes stay.

use super::LayerReport;
use super::weights::{by_magnitude, prunable_weights, write_weight};
use crate::PassError;
use nnslim_ir::Graph;

/// What `pattern=N:M` did: the pruned layers and notes on layers left (partly) alone.
#[derive(Clone, Debug, Default)]
pub struct PatternOutcome {
    pub layers: Vec<LayerReport>,
    pub notes: Vec<String>,
}

/// Prunes every prunable weight of `g` to the `n:m` pattern (`0 < n ≤ m`). Numerical contract:
/// in each full group of `m` along the reduction axis the `m − n` smallest magnitudes (ties:
/// the earlier position first) become zero; other elements are unchanged. When the reduction size is not a multiple of `m`, the last partial group of each
/// row is left as it is (and said in a note); layers without a reduction axis of at least `m`
/// are not changed.
pub fn prune_pattern(g: &mut Graph, n: usize, m: usize) -> Result<PatternOutcome, PassError> {
    let mut out = PatternOutcome::default();
    for w in prunable_weights(g)? {
        let Some(axis) = w.reduction_axis else {
            out.notes
                .push(format!("{}: no reduction axis, left dense", w.layer));
            continue;
        };
        let d: Vec<usize> = w.dims.iter().map(|&x| x.max(0) as usize).collect();
        let size = d[axis];
        if size < m {
            out.notes.push(format!(
                "{}: reduction size {size} < {m}, left dense",
                w.layer
            ));
            continue;
        }
        if !size.is_multiple_of(m) {
            out.notes.push(format!(
                "{}: reduction size {size} is not a multiple of {m}; the last {} of each row stay dense",
                w.layer,
                size % m
            ));
        }
        let pruned = prune_groups(&w.values, &d, axis, n, m);
        write_weight(g, &w, &pruned)?;
        out.layers.push(LayerReport::pruned(
            &w,
            &pruned,
            Some(1.0 - n as f64 / m as f64),
        ));
    }
    Ok(out)
}

/// `values` (row-major with dims `d`) with the `m − n` smallest magnitudes of every full group
/// of `m` consecutive elements along `axis` set to zero.
pub(crate) fn prune_groups(
    values: &[f32],
    d: &[usize],
    axis: usize,
    n: usize,
    m: usize,
) -> Vec<f32> {
    let outer: usize = d[..axis].iter().product();
    let size = d[axis];
    let inner: usize = d[axis + 1..].iter().product();
    let mut out = values.to_vec();
    let mut group = vec![0f32; m];
    for o in 0..outer {
        for i in 0..inner {
            for start in (0..size / m).map(|k| k * m) {
                let at = |j: usize| (o * size + start + j) * inner + i;
                for (j, x) in group.iter_mut().enumerate() {
                    *x = values[at(j)];
                }
                for j in by_magnitude(&group).into_iter().take(m - n) {
                    out[at(j)] = 0.0;
                }
            }
        }
    }
    out
}
