//! Rank choice for `low-rank`: what a split costs at each rank, which ranks are worth it, and
//! the global budget allocation (least energy lost per MAC or parameter saved).

/// What a layer with an `rows × cols` weight matrix costs, and what its split costs at rank
/// `r`: `r·(rows + cols)` weights instead of `rows·cols`, and as many MACs per position
/// (`positions`: output rows of a Gemm/MatMul, output pixels of a Conv, batch dims as 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    pub rows: u64,
    pub cols: u64,
    /// MACs of the layer divided by `rows·cols`; `None` when its shapes are not known.
    pub positions: Option<u64>,
}

impl Cost {
    /// Weights of the unsplit layer.
    pub fn params(&self) -> u64 {
        self.rows * self.cols
    }

    /// Weights of both factors at rank `r`.
    pub fn params_at(&self, r: usize) -> u64 {
        r as u64 * (self.rows + self.cols)
    }

    /// MACs of the unsplit layer, when known.
    pub fn macs(&self) -> Option<u64> {
        self.positions.map(|p| p * self.params())
    }

    /// MACs of both factors at rank `r`, when known.
    pub fn macs_at(&self, r: usize) -> Option<u64> {
        self.positions.map(|p| p * self.params_at(r))
    }

    /// The largest rank whose split has fewer weights and MACs than the layer and keeps at
    /// most `1 − min_saving` of them (MACs and weights shrink by the same factor); 0 when no
    /// rank does.
    pub fn max_useful_rank(&self, min_saving: f64) -> usize {
        let full = self.params();
        let sum = self.rows + self.cols;
        if sum == 0 {
            return 0;
        }
        // Strictly fewer: r·(m + n) < m·n.
        let strict = (full - 1) / sum;
        let allowed = ((1.0 - min_saving) * full as f64 / sum as f64).floor();
        let allowed = if allowed.is_finite() && allowed > 0.0 {
            allowed as u64
        } else {
            0
        };
        strict.min(allowed) as usize
    }
}

/// What the budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    Macs,
    Params,
}

/// A layer as the budget allocator sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub cost: Cost,
    /// The largest rank worth splitting at ([`Cost::max_useful_rank`]); 0: never split.
    pub max_rank: usize,
    /// Fraction of the layer's `Σσ²` each leading singular value carries (at least
    /// `max_rank` of them).
    pub energy: Vec<f64>,
}

impl Candidate {
    fn cost_at(&self, rank: Option<usize>, measure: Measure) -> f64 {
        let c = &self.cost;
        // Layers with unknown shapes count one position.
        let per = match measure {
            Measure::Macs => c.positions.unwrap_or(1),
            Measure::Params => 1,
        };
        (per * rank.map_or(c.params(), |r| c.params_at(r))) as f64
    }

    /// Energy kept at `rank` (all of it unsplit).
    fn kept(&self, rank: Option<usize>) -> f64 {
        rank.map_or(1.0, |r| self.energy.iter().take(r).sum())
    }
}

/// The outcome of [`allocate_budget`].
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    /// Per candidate, the rank to split at (`None`: left as it is).
    pub ranks: Vec<Option<usize>>,
    /// The candidates' total cost before and after, in the budget's measure.
    pub before: f64,
    pub after: f64,
    /// Whether `after ≤ keep · before` was reached.
    pub reached: bool,
}

/// Chooses ranks so that the candidates together keep at most `keep` of their MACs (or
/// weights), greedily taking the step that loses the least energy per unit saved. A layer's
/// first step splits it at its `max_rank` (losing the energy beyond it); each further step
/// lowers its rank by one (losing that singular value's share). Energy is counted as a
/// fraction of each layer's own `Σσ²`, so layers of different scales compare. Ties go to the
/// earlier candidate. Stops when the budget is met or no step is left.
pub fn allocate_budget(cands: &[Candidate], keep: f64, measure: Measure) -> Allocation {
    let mut ranks: Vec<Option<usize>> = vec![None; cands.len()];
    let before: f64 = cands.iter().map(|c| c.cost_at(None, measure)).sum();
    let target = keep * before;
    let mut total = before;
    while total > target {
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, c) in cands.iter().enumerate() {
            let next = match ranks[i] {
                None if c.max_rank >= 1 => c.max_rank,
                Some(r) if r > 1 => r - 1,
                _ => continue,
            };
            let saved = c.cost_at(ranks[i], measure) - c.cost_at(Some(next), measure);
            if saved <= 0.0 {
                continue;
            }
            let lost = c.kept(ranks[i]) - c.kept(Some(next));
            let ratio = lost.max(0.0) / saved;
            if best.is_none_or(|(b, _, _)| ratio < b) {
                best = Some((ratio, i, next));
            }
        }
        let Some((_, i, next)) = best else {
            break;
        };
        total += cands[i].cost_at(Some(next), measure) - cands[i].cost_at(ranks[i], measure);
        ranks[i] = Some(next);
    }
    Allocation {
        ranks,
        before,
        after: total,
        reached: total <= target,
    }
}
