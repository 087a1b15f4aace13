//! Unstructured magnitude pruning: the smallest weights become zeros, each layer to the ratio
//! (`scope=layer`) or under one magnitude threshold shared by every layer (`scope=global`).
//! Zeros are written into the dense weights; biases are not pruned.

use super::LayerReport;
use super::weights::{
    Weight, by_magnitude, count_for, prunable_weights, write_weight, zero_smallest,
};
use crate::PassError;
use nnslim_ir::Graph;

/// Where the magnitude threshold applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every layer is pruned to the ratio on its own.
    Layer,
    /// One threshold over all layers: the ratio holds for the parameters in total.
    Global,
}

/// Prunes every prunable weight of `g` to `ratio` (a fraction in (0, 1)) by magnitude.
/// Numerical contract: exactly `round(ratio · n)` elements of each weight (`Layer`), or of all
/// weights together (`Global`), are the ones set to zero, and they are the smallest in
/// magnitude (ties broken by position); every other element is unchanged.
pub fn prune_magnitude(
    g: &mut Graph,
    ratio: f64,
    scope: Scope,
) -> Result<Vec<LayerReport>, PassError> {
    let weights = prunable_weights(g)?;
    match scope {
        Scope::Layer => {
            let ratios = vec![ratio; weights.len()];
            prune_layers(g, &weights, &ratios)
        }
        Scope::Global => prune_global(g, &weights, ratio),
    }
}

/// Prunes `weights[i]` to `ratios[i]` by magnitude.
pub(crate) fn prune_layers(
    g: &mut Graph,
    weights: &[Weight],
    ratios: &[f64],
) -> Result<Vec<LayerReport>, PassError> {
    let mut out = Vec::with_capacity(weights.len());
    for (w, &r) in weights.iter().zip(ratios) {
        let pruned = zero_smallest(&w.values, count_for(r, w.params()));
        write_weight(g, w, &pruned)?;
        out.push(LayerReport::pruned(w, &pruned, Some(r)));
    }
    Ok(out)
}

/// One threshold over all weights: the `round(ratio · total)` smallest magnitudes overall.
fn prune_global(
    g: &mut Graph,
    weights: &[Weight],
    ratio: f64,
) -> Result<Vec<LayerReport>, PassError> {
    let all: Vec<f32> = weights
        .iter()
        .flat_map(|w| w.values.iter().copied())
        .collect();
    let k = count_for(ratio, all.len());
    let mut cut = vec![false; all.len()];
    for i in by_magnitude(&all).into_iter().take(k) {
        cut[i] = true;
    }
    let mut out = Vec::with_capacity(weights.len());
    let mut start = 0;
    for w in weights {
        let n = w.params();
        let mine = &cut[start..start + n];
        let pruned: Vec<f32> = w
            .values
            .iter()
            .zip(mine)
            .map(|(&x, &c)| if c { 0.0 } else { x })
            .collect();
        start += n;
        write_weight(g, w, &pruned)?;
        let share = mine.iter().filter(|&&c| c).count() as f64 / n as f64;
        out.push(LayerReport::pruned(w, &pruned, Some(share)));
    }
    Ok(out)
}
