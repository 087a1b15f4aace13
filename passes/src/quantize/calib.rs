//! Streaming activation calibration for static int8: runs the float graph over the calibration
//! batches and turns per-value statistics of fixed size into the range each activation's
//! quantization should cover (min/max, a percentile of |x|, or the KL-divergence threshold).
//!
//! Memory does not grow with the number of samples. Every requested value keeps a running
//! min/max and, for `percentile` and `entropy`, one histogram of |x| with [`BINS`] bins whose
//! width is a power of two. The range is not known in advance, so the histogram grows in one
//! pass instead of running the data twice: when a batch exceeds the covered range, the width
//! doubles (once or more) and bins merge pairwise, exactly (bin `i` → `i >> k`). Because widths
//! are powers of two, any two histograms are bin-aligned, so partial histograms computed in
//! parallel merge exactly, and the result does not depend on the batch order or the thread
//! count. The global |x| maximum always lies in the upper half of the covered range, so it spans
//! more than `BINS / 2` = 2048 bins: at least the resolution of a 2048-bin histogram fitted to
//! the exact range. Exact zeros are counted apart from the bins.

use crate::{PassError, Progress, Samples};
use nnslim_eval::{Plan, Value};
use nnslim_ir::{DType, Graph, ValueId};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// Bins per histogram (of |x|, zero excluded).
pub const BINS: usize = 4096;
/// Quantization levels the entropy method assumes on one side of zero (int8: 128).
pub const LEVELS: usize = 128;

/// How activation ranges are chosen from the calibration data.
#[derive(Clone, Debug, PartialEq)]
pub enum CalibMethod {
    /// The exact minimum and maximum over all samples.
    MinMax,
    /// Symmetric, as ONNX Runtime's percentile calibrator does by default (`symmetric=True`):
    /// the threshold `t` is the p-th percentile of |x| (p in (0, 100]), and the range is
    /// `[-t, t]` clipped to the observed `[min, max]`. Unlike ONNX Runtime (which takes the
    /// lower edge of the bin where the cumulative count crosses p), the percentile is
    /// interpolated inside that bin, so it follows numpy's `percentile(|x|, p)` to within a
    /// bin width.
    Percentile(f64),
    /// The TensorRT-style threshold minimising KL(P‖Q) between the |x| histogram clipped at
    /// the threshold (P) and its quantization into [`LEVELS`] levels (Q), clipped to the
    /// observed `[min, max]` like ONNX Runtime's entropy calibrator.
    Entropy,
}

/// A calibrated range. `min <= 0 <= max` always (zero must be exactly representable); it may
/// be `[0, 0]` for a value that was all zeros (the caller must then pick a positive scale).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

/// Calibrates `values` of `g` on `samples` with `method`: for each requested value that is an
/// f32 tensor at run time, the range its quantization should cover. Values of other types, and
/// values the run never computes (constants, values inside subgraphs), are not in the result.
/// Non-finite elements (NaN, ±∞) are ignored. Batches run in parallel with one accumulator
/// per batch in flight, merged exactly, so the result is deterministic and memory is bounded
/// by the thread count, not the sample count. Progress: `calibrate`, one step per batch.
pub fn calibrate(
    g: &Graph,
    samples: &Samples,
    values: &[ValueId],
    method: &CalibMethod,
    progress: &dyn Progress,
) -> Result<HashMap<ValueId, Range>, PassError> {
    Ok(collect(g, samples, values, method, progress)?.ranges())
}

/// Runs the calibration and returns the accumulated statistics (what [`calibrate`] turns into
/// ranges); exposed so that tests and reports can look at them.
pub fn collect(
    g: &Graph,
    samples: &Samples,
    values: &[ValueId],
    method: &CalibMethod,
    progress: &dyn Progress,
) -> Result<Calibrator, PassError> {
    Ok(collect_keeping(g, samples, values, method, progress, &HashSet::new(), 0)?.0)
}

/// What a calibration run kept of one batch: the graph outputs and the values asked for.
#[derive(Clone, Debug, Default)]
pub struct Kept {
    pub outputs: Vec<Value>,
    pub values: HashMap<ValueId, Value>,
}

/// [`collect`] that also keeps, for each of the first `batches` batches, the graph outputs and
/// the values in `keep`: the float reference a diagnosis compares against, without running
/// the float model on those samples a second time.
pub fn collect_keeping(
    g: &Graph,
    samples: &Samples,
    values: &[ValueId],
    method: &CalibMethod,
    progress: &dyn Progress,
    keep: &HashSet<ValueId>,
    batches: usize,
) -> Result<(Calibrator, Vec<Kept>), PassError> {
    let mut acc = Calibrator::new(g, values, method)?;
    let batches = batches.min(samples.batches.len());
    if (acc.slots.is_empty() && batches == 0) || samples.batches.is_empty() {
        return Ok((acc, Vec::new()));
    }
    let plan = Plan::new(g)?;
    let threads = rayon::current_num_threads().max(1);
    progress.begin("calibrate", samples.batches.len() as u64);
    let (first, rest) = samples.batches.split_at(batches);
    let mut run = || -> Result<Vec<Kept>, PassError> {
        let kept: Vec<(Calibrator, Kept)> = first
            .par_iter()
            .map(|batch| {
                let mut part = acc.empty_like();
                let mut kept = Kept::default();
                kept.outputs =
                    plan.run_hooked(&batch.values(), &HashMap::new(), &mut |v, value| {
                        part.observe(v, value);
                        if keep.contains(&v) {
                            kept.values.insert(v, value.clone());
                        }
                    })?;
                Ok((part, kept))
            })
            .collect::<Result<_, PassError>>()?;
        progress.advance(first.len() as u64);
        let kept = kept
            .into_iter()
            .map(|(part, k)| {
                acc.merge(&part);
                k
            })
            .collect();
        // Rounds of a few batches per thread: fewer waits for the slowest batch of a round,
        // progress still advances as rounds finish.
        for chunk in rest.chunks(threads * 4) {
            let parts: Vec<Calibrator> = chunk
                .par_iter()
                .try_fold(
                    || acc.empty_like(),
                    |mut part, batch| {
                        plan.run_hooked(&batch.values(), &HashMap::new(), &mut |v, value| {
                            part.observe(v, value)
                        })?;
                        Ok::<_, PassError>(part)
                    },
                )
                .collect::<Result<_, _>>()?;
            for part in &parts {
                acc.merge(part);
            }
            progress.advance(chunk.len() as u64);
        }
        Ok(kept)
    };
    let result = run();
    progress.end();
    result.map(|kept| (acc, kept))
}

/// Per-value calibration statistics of fixed size.
#[derive(Clone, Debug)]
pub struct Calibrator {
    method: CalibMethod,
    /// Requested f32 values → index into `stats`.
    slots: HashMap<ValueId, usize>,
    stats: Vec<ValueStats>,
}

#[derive(Clone, Debug)]
struct ValueStats {
    /// Whether the value was seen at all.
    seen: bool,
    /// Running min and max of the finite elements (`+∞`/`-∞` before any).
    min: f32,
    max: f32,
    /// |x| histogram, for the percentile and entropy methods.
    hist: Option<AbsHistogram>,
}

impl Calibrator {
    /// Empty statistics for the f32 (or not yet typed) values among `values`.
    /// Errors on a percentile outside (0, 100].
    pub fn new(
        g: &Graph,
        values: &[ValueId],
        method: &CalibMethod,
    ) -> Result<Calibrator, PassError> {
        if let CalibMethod::Percentile(p) = method
            && !(p.is_finite() && *p > 0.0 && *p <= 100.0)
        {
            return Err(PassError::Options {
                pass: "quantize".into(),
                message: format!("percentile must be in (0, 100], not {p}"),
            });
        }
        let mut c = Calibrator {
            method: method.clone(),
            slots: HashMap::new(),
            stats: Vec::new(),
        };
        for &v in values {
            let dtype = g.value(v).ty.dtype();
            if matches!(dtype, Some(d) if d != DType::F32) || c.slots.contains_key(&v) {
                continue;
            }
            c.slots.insert(v, c.stats.len());
            c.stats.push(c.fresh_stats());
        }
        Ok(c)
    }

    fn fresh_stats(&self) -> ValueStats {
        ValueStats {
            seen: false,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            hist: (self.method != CalibMethod::MinMax).then(AbsHistogram::new),
        }
    }

    /// Same values and method, no observations.
    fn empty_like(&self) -> Calibrator {
        Calibrator {
            method: self.method.clone(),
            slots: self.slots.clone(),
            stats: self.stats.iter().map(|_| self.fresh_stats()).collect(),
        }
    }

    /// Bytes held by the per-value statistics: fixed by the number of values and the method,
    /// independent of how many samples were observed.
    pub fn stats_bytes(&self) -> usize {
        self.stats
            .iter()
            .map(|s| {
                std::mem::size_of::<ValueStats>()
                    + s.hist
                        .as_ref()
                        .map_or(0, |h| std::mem::size_of_val(&*h.counts))
            })
            .sum()
    }

    /// How many values are being calibrated.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// True when no value is being calibrated.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Adds a computed value (ignored unless requested and an f32 tensor).
    pub fn observe(&mut self, v: ValueId, value: &Value) {
        let (Some(&slot), Some(xs)) = (
            self.slots.get(&v),
            value.as_tensor().and_then(|a| a.as_f32()),
        ) else {
            return;
        };
        self.stats[slot].add(xs);
    }

    /// Adds another accumulator over the same values (e.g. one batch computed in parallel).
    fn merge(&mut self, other: &Calibrator) {
        for (s, o) in self.stats.iter_mut().zip(&other.stats) {
            s.merge(o);
        }
    }

    /// The range of every value seen (values in parallel: the entropy search costs a few
    /// milliseconds per value).
    pub fn ranges(&self) -> HashMap<ValueId, Range> {
        let slots: Vec<(ValueId, usize)> = self.slots.iter().map(|(&v, &s)| (v, s)).collect();
        slots
            .par_iter()
            .filter_map(|&(v, slot)| {
                let s = &self.stats[slot];
                s.seen.then(|| (v, s.range(&self.method)))
            })
            .collect()
    }
}

/// Min and max of `xs` in sixteen independent lanes (vectorizes), or `None` when an element is
/// NaN or infinite (`x * 0` is then NaN) or `xs` is empty.
fn lanes_min_max(xs: &[f32]) -> Option<(f32, f32)> {
    const L: usize = 16;
    let (mut lo, mut hi, mut z) = ([f32::INFINITY; L], [f32::NEG_INFINITY; L], [0f32; L]);
    let chunks = xs.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        let c: &[f32; L] = c.try_into().expect("chunk of L");
        for i in 0..L {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
            z[i] += c[i] * 0.0;
        }
    }
    for (i, &x) in rest.iter().enumerate() {
        lo[i] = if x < lo[i] { x } else { lo[i] };
        hi[i] = if x > hi[i] { x } else { hi[i] };
        z[i] += x * 0.0;
    }
    let lo = lo.into_iter().fold(f32::INFINITY, f32::min);
    let hi = hi.into_iter().fold(f32::NEG_INFINITY, f32::max);
    (z.iter().all(|&v| v == 0.0) && !xs.is_empty()).then_some((lo, hi))
}

impl ValueStats {
    fn add(&mut self, xs: &[f32]) {
        self.seen = true;
        let (mut lo, mut hi, mut finite) = match lanes_min_max(xs) {
            Some((lo, hi)) => (lo, hi, xs.len()),
            None => (f32::INFINITY, f32::NEG_INFINITY, 0usize),
        };
        if finite != xs.len() {
            // Some element is NaN or infinite: the exact, slower loop.
            for &x in xs {
                let ok = x.abs() < f32::INFINITY;
                finite += usize::from(ok);
                lo = if ok && x < lo { x } else { lo };
                hi = if ok && x > hi { x } else { hi };
            }
        }
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        if let Some(h) = &mut self.hist
            && lo <= hi
        {
            h.add(xs, lo.abs().max(hi.abs()), finite == xs.len());
        }
    }

    fn merge(&mut self, o: &ValueStats) {
        self.seen |= o.seen;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        if let (Some(h), Some(oh)) = (&mut self.hist, &o.hist) {
            h.merge(oh);
        }
    }

    /// The range for `method`; always contains 0.
    fn range(&self, method: &CalibMethod) -> Range {
        if self.min > self.max {
            return Range { min: 0.0, max: 0.0 };
        }
        let (lo, hi) = (self.min.min(0.0), self.max.max(0.0));
        let amax = (lo.abs().max(hi.abs())) as f64;
        let t = match (method, &self.hist) {
            (CalibMethod::Percentile(p), Some(h)) => h.percentile(*p, amax),
            (CalibMethod::Entropy, Some(h)) => h.entropy_threshold(amax),
            _ => return Range { min: lo, max: hi },
        };
        let t = t.min(amax) as f32;
        Range {
            min: lo.max(-t),
            max: hi.min(t),
        }
    }
}

/// Histogram of |x| over `(0, BINS·2^exp)` with `BINS` bins of width `2^exp`; exact zeros are
/// counted in `zeros`.
#[derive(Clone, Debug)]
struct AbsHistogram {
    /// `None` until a non-zero element arrives.
    exp: Option<i32>,
    counts: Box<[u64; BINS]>,
    zeros: u64,
}

/// `2^e` as f64 (exact for the exponents used here, |e| < 1000).
fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

/// The smallest `e` with `amax <= BINS·2^e` (`amax` finite and > 0).
fn exponent_for(amax: f64) -> i32 {
    let mut e = (amax / BINS as f64).log2().ceil() as i32;
    while (BINS as f64) * pow2(e) < amax {
        e += 1;
    }
    while (BINS as f64) * pow2(e - 1) >= amax {
        e -= 1;
    }
    e
}

/// The bin counts the entropy search tries when the observed range spans `n` bins: every
/// `ceil(n / 2048)`-th one from at least `LEVELS` up to `n`, ascending.
fn candidates(n: usize) -> impl Iterator<Item = usize> {
    let stride = n.div_ceil(BINS / 2).max(1);
    let first = n - (n.saturating_sub(LEVELS) / stride) * stride;
    (first..=n).step_by(stride)
}

/// `x ln x`, with `0 ln 0 = 0`.
fn xlogx(x: f64) -> f64 {
    if x > 0.0 { x * ln(x) } else { 0.0 }
}

/// Natural logarithm of a positive, finite, normal `x` to about 1e-14 (relative to
/// `max(1, |ln x|)`), in plain arithmetic. Not `f64::ln`: glibc's `log` runs ~60× slower on a
/// thread (and the threads it spawns) whose upper AVX register state was left dirty, which
/// running the seed CNN's last Gemm in the interpreter does here (1M calls: 5 ms → 300 ms),
/// and the entropy search makes up to 260 000 calls per value.
fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2 atanh(t) = 2 (t + t³/3 + t⁵/5 + …), |t| <= 0.172: the t¹⁷ term is < 1e-14.
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let mut series = 1.0 / 15.0;
    for k in [13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        series = 1.0 / k + t2 * series;
    }
    e as f64 * std::f64::consts::LN_2 + 2.0 * t * series
}

impl AbsHistogram {
    fn new() -> AbsHistogram {
        AbsHistogram {
            exp: None,
            counts: Box::new([0; BINS]),
            zeros: 0,
        }
    }

    fn total(&self) -> u64 {
        self.zeros + self.counts.iter().sum::<u64>()
    }

    /// Widens the bins to `2^e` (no-op if they are already at least that wide).
    fn grow_to(&mut self, e: i32) {
        let Some(old) = self.exp else {
            self.exp = Some(e);
            return;
        };
        if e <= old {
            return;
        }
        let shift = (e - old) as u32;
        if shift as usize >= usize::BITS as usize || (BINS >> shift) == 0 {
            let all = self.counts.iter().sum();
            self.counts.fill(0);
            self.counts[0] = all;
        } else {
            // Ascending order: bin i moves to i >> shift <= i, which was already emptied.
            for i in 1..BINS {
                let c = std::mem::take(&mut self.counts[i]);
                self.counts[i >> shift] += c;
            }
        }
        self.exp = Some(e);
    }

    /// Adds the finite elements of `xs`, whose largest |x| is `amax`; `all_finite` says that
    /// there are no others.
    fn add(&mut self, xs: &[f32], amax: f32, all_finite: bool) {
        if amax > 0.0 {
            self.grow_to(exponent_for(amax as f64));
        }
        let Some(e) = self.exp else {
            // Nothing non-zero so far: every finite element is a zero.
            self.zeros += xs.iter().filter(|x| x.is_finite()).count() as u64;
            return;
        };
        let counts = &mut *self.counts;
        // Zeros land in bin 0 like tiny values; they are counted on the side (branch-free,
        // since half of a ReLU output is zeros) and moved out of bin 0 afterwards.
        let mut zeros = 0u64;
        if all_finite && (-120..=120).contains(&e) {
            // |x|·2^-e is exact in f32 here (no overflow: |x| <= amax <= BINS·2^e).
            let inv = pow2(-e) as f32;
            for &x in xs {
                counts[((x.abs() * inv) as usize).min(BINS - 1)] += 1;
                zeros += u64::from(x == 0.0);
            }
        } else {
            let inv = pow2(-e);
            for &x in xs.iter().filter(|x| x.is_finite()) {
                counts[(((x.abs() as f64) * inv) as usize).min(BINS - 1)] += 1;
                zeros += u64::from(x == 0.0);
            }
        }
        counts[0] -= zeros;
        self.zeros += zeros;
    }

    fn merge(&mut self, o: &AbsHistogram) {
        self.zeros += o.zeros;
        let Some(oe) = o.exp else { return };
        let e = self.exp.map_or(oe, |e| e.max(oe));
        self.grow_to(e);
        let shift = (e - oe) as u32;
        for (i, &c) in o.counts.iter().enumerate() {
            if c > 0 {
                let j = if shift >= usize::BITS { 0 } else { i >> shift };
                self.counts[j] += c;
            }
        }
    }

    /// The p-th percentile of |x| (zeros included) by numpy's linear rule: interpolated
    /// between the two order statistics around rank `(n-1)·p/100`, each placed as if the
    /// elements of its bin were spread evenly over the bin. Within one bin width of numpy's
    /// `percentile(|x|, p)`; the largest element is `amax` exactly.
    fn percentile(&self, p: f64, amax: f64) -> f64 {
        let n = self.total();
        let (true, Some(e)) = (n > 0, self.exp) else {
            return 0.0;
        };
        let rank = (n - 1) as f64 * (p / 100.0).clamp(0.0, 1.0);
        let (k, frac) = (rank.floor() as u64, rank - rank.floor());
        let at = |k: u64| {
            if k + 1 >= n {
                amax
            } else {
                self.order_statistic(k, pow2(e)).min(amax)
            }
        };
        let a = at(k);
        if frac == 0.0 {
            return a;
        }
        a + frac * (at(k + 1) - a)
    }

    /// The estimated `k`-th smallest |x| (0-based, `k < total`) for bin width `w`.
    fn order_statistic(&self, k: u64, w: f64) -> f64 {
        if k < self.zeros {
            return 0.0;
        }
        let mut below = self.zeros;
        for (i, &c) in self.counts.iter().enumerate() {
            if k < below + c {
                return (i as f64 + ((k - below) as f64 + 0.5) / c as f64) * w;
            }
            below += c;
        }
        BINS as f64 * w
    }

    /// The threshold minimising KL(P‖Q) (TensorRT's entropy calibration on this histogram,
    /// exact zeros left out since zero is represented exactly). For each candidate `i` bins:
    /// P = the first `i` bins with everything above added to the last; Q = the first `i` bins
    /// (without the clipped mass) merged into `LEVELS` levels, each level's mass spread evenly
    /// over its bins where P is non-zero. A candidate whose clipped mass lands in an empty last
    /// level has infinite divergence and is skipped; the full range never is. Ties go to the
    /// smaller threshold. Candidates are every `stride`-th bin count ending at the full range
    /// ([`candidates`]: at most 2048 of them, TensorRT's resolution), each computed with prefix
    /// sums in O(LEVELS).
    fn entropy_threshold(&self, amax: f64) -> f64 {
        let Some(e) = self.exp else { return 0.0 };
        let w = pow2(e);
        let n = ((amax / w).ceil() as usize).clamp(1, BINS);
        let h = &self.counts[..n];
        let total: u64 = self.counts.iter().sum();
        if n <= LEVELS || total == 0 {
            return amax;
        }
        // Prefix sums: counts, Σ h ln h, non-zero bins.
        let mut cum = vec![0u64; n + 1];
        let mut cum_hlogh = vec![0f64; n + 1];
        let mut cum_nz = vec![0u64; n + 1];
        for j in 0..n {
            cum[j + 1] = cum[j] + h[j];
            cum_hlogh[j + 1] = cum_hlogh[j] + xlogx(h[j] as f64);
            cum_nz[j + 1] = cum_nz[j] + u64::from(h[j] > 0);
        }
        let big_n = total as f64;
        let mut best = (f64::INFINITY, n);
        'candidates: for i in candidates(n) {
            let kept = cum[i];
            if kept == 0 {
                continue;
            }
            let clipped = total - kept;
            let last = i - 1;
            let p_last = h[last] + clipped;
            let mut kl_counts = cum_hlogh[last] + xlogx(p_last as f64);
            for k in 0..LEVELS {
                let (lo, hi) = (k * i / LEVELS, (k + 1) * i / LEVELS);
                let mass = cum[hi] - cum[lo];
                let mut nz = cum_nz[hi] - cum_nz[lo];
                let mut s = mass;
                if k == LEVELS - 1 && clipped > 0 {
                    s += clipped;
                    nz += u64::from(h[last] == 0);
                }
                if s == 0 {
                    continue;
                }
                if mass == 0 {
                    continue 'candidates;
                }
                kl_counts -= s as f64 * ln(mass as f64 / nz as f64);
            }
            let kl = kl_counts / big_n + ln(kept as f64 / big_n);
            if kl < best.0 {
                best = (kl, i);
            }
        }
        (best.1 as f64 * w).min(amax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use nnslim_eval::Array;
    use nnslim_ir::Rng;
    use nnslim_ir::text::parse_model;
    use std::cell::RefCell;

    /// Statistics of `data` fed in `chunks` pieces, each piece its own accumulator merged in.
    fn stats(method: &CalibMethod, data: &[f32], chunks: usize) -> ValueStats {
        let fresh = || ValueStats {
            seen: false,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            hist: (*method != CalibMethod::MinMax).then(AbsHistogram::new),
        };
        let mut acc = fresh();
        for piece in data.chunks(data.len().div_ceil(chunks).max(1)) {
            let mut part = fresh();
            part.add(piece);
            acc.merge(&part);
        }
        acc
    }

    fn range(method: &CalibMethod, data: &[f32]) -> Range {
        stats(method, data, 7).range(method)
    }

    /// numpy's `percentile(a, p)` (linear interpolation between order statistics).
    fn np_percentile(a: &[f32], p: f64) -> f64 {
        let mut s: Vec<f64> = a.iter().map(|&x| x as f64).collect();
        s.sort_by(f64::total_cmp);
        let r = (s.len() - 1) as f64 * p / 100.0;
        let (lo, hi) = (r.floor() as usize, r.ceil() as usize);
        s[lo] + (r - lo as f64) * (s[hi] - s[lo])
    }

    fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| lo + (hi - lo) * r.unit_f32()).collect()
    }

    /// Standard normal samples with `outliers` values at ±`at` appended.
    fn gaussian_with_outliers(n: usize, outliers: usize, at: f32, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        let mut v: Vec<f32> = (0..n).map(|_| r.normal() as f32).collect();
        v.extend((0..outliers).map(|k| if k % 2 == 0 { at } else { -at }));
        v
    }

    fn fraction_inside(data: &[f32], r: Range) -> f64 {
        let inside = data.iter().filter(|&&x| x >= r.min && x <= r.max).count();
        inside as f64 / data.len() as f64
    }

    fn bin_width(s: &ValueStats) -> f64 {
        pow2(s.hist.as_ref().and_then(|h| h.exp).expect("histogram"))
    }

    #[test]
    fn lane_min_max_matches_a_scalar_scan_and_refuses_non_finite() {
        let xs: Vec<f32> = (0..37).map(|i| ((i * 7919) % 101) as f32 - 50.0).collect();
        let lo = xs.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(lanes_min_max(&xs), Some((lo, hi)));
        assert_eq!(lanes_min_max(&[]), None);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut v = xs.clone();
            v[20] = bad;
            assert_eq!(lanes_min_max(&v), None, "{bad}");
        }
    }

    #[test]
    fn ln_matches_the_standard_library() {
        let mut x = 1e-300f64;
        while x < 1e300 {
            for y in [x, x * 1.41, x * 1.42, x * 1.5, x * 1.9999] {
                let (got, want) = (ln(y), y.ln());
                assert!(
                    (got - want).abs() <= 1e-14 * want.abs().max(1.0),
                    "{y}: {got} vs {want}"
                );
            }
            x *= 7.3;
        }
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn minmax_is_exact_and_includes_zero() {
        let data = uniform(50_000, -2.0, 5.0, 11);
        let lo = data.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let r = range(&CalibMethod::MinMax, &data);
        assert_eq!((r.min, r.max), (lo, hi));
        // All positive: the range is stretched down to 0.
        let data = uniform(50_000, 1.0, 3.0, 12);
        let hi = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(
            range(&CalibMethod::MinMax, &data),
            Range { min: 0.0, max: hi }
        );
        // Non-finite elements are ignored; the 100th percentile is the exact max |x|.
        let data = [f32::NAN, f32::INFINITY, 1.0, -2.0, f32::NEG_INFINITY];
        for m in [CalibMethod::MinMax, CalibMethod::Percentile(100.0)] {
            assert_eq!(
                range(&m, &data),
                Range {
                    min: -2.0,
                    max: 1.0
                },
                "{m:?}"
            );
        }
        // All zeros (or nothing finite): a degenerate range at 0.
        for data in [vec![0.0f32; 100], vec![f32::NAN; 3]] {
            for m in [
                CalibMethod::MinMax,
                CalibMethod::Percentile(99.9),
                CalibMethod::Entropy,
            ] {
                assert_eq!(range(&m, &data), Range { min: 0.0, max: 0.0 }, "{m:?}");
            }
        }
    }

    #[test]
    fn percentile_follows_numpy_within_a_bin() {
        let data_sets = [
            uniform(100_000, -1.0, 3.0, 1),
            gaussian_with_outliers(200_000, 20, 60.0, 2),
            uniform(30_000, 0.0, 1e-3, 3)
                .into_iter()
                .chain([0.0; 5000])
                .collect(),
        ];
        for data in &data_sets {
            let abs: Vec<f32> = data.iter().map(|x| x.abs()).collect();
            let (lo, hi) = (
                data.iter().copied().fold(0f32, f32::min),
                data.iter().copied().fold(0f32, f32::max),
            );
            for p in [10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0] {
                let m = CalibMethod::Percentile(p);
                let s = stats(&m, data, 5);
                let w = bin_width(&s);
                let want = np_percentile(&abs, p);
                let got = s
                    .hist
                    .as_ref()
                    .map(|h| h.percentile(p, (lo.abs().max(hi)) as f64))
                    .unwrap_or(f64::NAN);
                assert!(
                    (got - want).abs() <= w,
                    "p={p}: {got} vs numpy {want} (bin {w})"
                );
                let r = s.range(&m);
                let t = want.min(lo.abs().max(hi) as f64) as f32;
                assert!((r.max - hi.min(t)).abs() as f64 <= w, "p={p}: {r:?} vs {t}");
                assert!(
                    (r.min - lo.max(-t)).abs() as f64 <= w,
                    "p={p}: {r:?} vs {t}"
                );
            }
        }
        // Symmetric threshold clipped to the observed side: uniform [-1, 3] keeps min = -1.
        let data = uniform(100_000, -1.0, 3.0, 1);
        let r = range(&CalibMethod::Percentile(99.0), &data);
        let lo = data.iter().copied().fold(0f32, f32::min);
        assert_eq!(r.min, lo);
        assert!(r.max < 3.0 && r.max > 2.9, "{r:?}");
    }

    #[test]
    fn entropy_clips_outliers_but_keeps_the_mass() {
        let data = gaussian_with_outliers(200_000, 20, 60.0, 2);
        let full = range(&CalibMethod::MinMax, &data);
        assert_eq!((full.min, full.max), (-60.0, 60.0));
        let r = range(&CalibMethod::Entropy, &data);
        assert!(r.max < 0.2 * full.max && r.min > 0.2 * full.min, "{r:?}");
        assert!(
            r.max >= 3.0 && r.min <= -3.0,
            "{r:?} clips the body of N(0, 1)"
        );
        assert!(fraction_inside(&data, r) >= 0.999, "{r:?}");
        // Heavy tail on one side only (ReLU of a Laplace-like mixture): clipped below max.
        let mut rng = Rng::new(5);
        let relu: Vec<f32> = (0..200_000)
            .map(|_| {
                (-(rng.unit_f64().max(1e-12)).ln() as f32
                    * if rng.below(2) == 0 { 1.0 } else { -1.0 })
                .max(0.0)
            })
            .collect();
        let full = range(&CalibMethod::MinMax, &relu);
        let r = range(&CalibMethod::Entropy, &relu);
        assert_eq!(r.min, 0.0);
        assert!(
            r.max < full.max && fraction_inside(&relu, r) >= 0.995,
            "{r:?} vs {full:?}"
        );
    }

    #[test]
    fn entropy_keeps_a_uniform_range() {
        for (lo, hi) in [(-1.0, 3.0), (0.0, 1.0)] {
            let data = uniform(200_000, lo, hi, 7);
            let full = range(&CalibMethod::MinMax, &data);
            let r = range(&CalibMethod::Entropy, &data);
            assert!(
                r.max >= 0.98 * full.max && r.min <= 0.98 * full.min,
                "{r:?} vs {full:?}"
            );
        }
    }

    /// KL(P‖Q) for `i` kept bins, straight from the definition (None when infinite).
    fn kl_direct(h: &[u64], total: u64, i: usize) -> Option<f64> {
        let clipped: u64 = total - h[..i].iter().sum::<u64>();
        let mut p: Vec<f64> = h[..i].iter().map(|&c| c as f64).collect();
        p[i - 1] += clipped as f64;
        let mut q = vec![0f64; i];
        for k in 0..LEVELS {
            let (lo, hi) = (k * i / LEVELS, (k + 1) * i / LEVELS);
            let mass: f64 = h[lo..hi].iter().map(|&c| c as f64).sum();
            let nz = p[lo..hi].iter().filter(|&&x| x > 0.0).count();
            for j in lo..hi {
                if p[j] > 0.0 {
                    q[j] = mass / nz as f64;
                }
            }
        }
        let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
        let mut kl = 0.0;
        for (&a, &b) in p.iter().zip(&q) {
            if a > 0.0 {
                if b == 0.0 {
                    return None;
                }
                kl += a / sp * ((a / sp) / (b / sq)).ln();
            }
        }
        Some(kl)
    }

    #[test]
    fn entropy_matches_the_direct_definition() {
        // A sparse, heavy-tailed histogram (Cauchy-like) with gaps in the tail.
        let mut rng = Rng::new(9);
        let data: Vec<f32> = (0..20_000)
            .map(|_| (std::f64::consts::PI * (rng.unit_f64() - 0.5)).tan() as f32)
            .filter(|x| x.abs() < 500.0)
            .collect();
        let s = stats(&CalibMethod::Entropy, &data, 3);
        let h = s.hist.as_ref().expect("histogram");
        let w = bin_width(&s);
        let amax = s.min.abs().max(s.max) as f64;
        let n = (amax / w).ceil() as usize;
        let total: u64 = h.counts.iter().sum();
        let direct: Vec<(usize, f64)> = candidates(n)
            .filter_map(|i| kl_direct(&h.counts[..], total, i).map(|kl| (i, kl)))
            .collect();
        // The range spans more than 2048 bins, so every other bin count is tried; the tail is
        // sparse, so many candidates have an empty last level (infinite divergence).
        assert!(n > BINS / 2 && candidates(n).count() > 1500, "{n} bins");
        assert!(direct.len() > 500, "{} finite candidates", direct.len());
        let best = direct.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
        let t = h.entropy_threshold(amax);
        let chosen = (t / w).round() as usize;
        assert!(
            candidates(n).any(|i| i == chosen),
            "{chosen} is not a candidate"
        );
        let at = kl_direct(&h.counts[..], total, chosen).expect("finite");
        assert!(
            at <= best + 1e-9,
            "chosen {chosen} bins: KL {at}, best {best}"
        );
        assert!(t < 0.5 * amax, "heavy tail is clipped: {t} of {amax}");
    }

    #[test]
    fn entropy_candidates_end_at_the_full_range() {
        for n in [LEVELS + 1, 2048, 2049, 3001, 4096] {
            let c: Vec<usize> = candidates(n).collect();
            assert_eq!(c.last(), Some(&n));
            assert!(
                c[0] >= LEVELS && c.len() <= 2048,
                "{n}: {} from {}",
                c.len(),
                c[0]
            );
            assert!(c.windows(2).all(|p| p[1] - p[0] == n.div_ceil(2048)));
            assert!(c[0] - LEVELS < n.div_ceil(2048), "{n}: starts at {}", c[0]);
        }
    }

    #[test]
    fn batching_and_order_do_not_change_the_statistics() {
        // Magnitudes grow batch after batch, so the histogram widens several times.
        let mut data = Vec::new();
        for k in 0..6 {
            data.extend(uniform(5000, -(4f32.powi(k)), 3f32.powi(k), 20 + k as u64));
        }
        let mut reversed = data.clone();
        reversed.reverse();
        for m in [CalibMethod::Percentile(99.9), CalibMethod::Entropy] {
            let one = stats(&m, &data, 1);
            for other in [
                stats(&m, &data, 6),
                stats(&m, &data, 97),
                stats(&m, &reversed, 13),
            ] {
                let (a, b) = (one.hist.as_ref().unwrap(), other.hist.as_ref().unwrap());
                assert_eq!((a.exp, a.zeros, &a.counts), (b.exp, b.zeros, &b.counts));
                assert_eq!(one.range(&m), other.range(&m));
            }
        }
    }

    #[derive(Default)]
    struct Recorder(RefCell<Vec<String>>);

    impl Progress for Recorder {
        fn begin(&self, label: &str, total: u64) {
            self.0.borrow_mut().push(format!("begin {label} {total}"));
        }
        fn advance(&self, n: u64) {
            self.0.borrow_mut().push(format!("advance {n}"));
        }
        fn end(&self) {
            self.0.borrow_mut().push("end".into());
        }
    }

    const NET: &str = r#"
model ir_version=8 opsets=[""=13] producer="test"
graph "g" {
  input %x: f32[N,16]
  const %two: f32[] = 2.0
  %y = Relu(%x)
  %z = Mul(%y, %two)
  %s = Shape(%x)
  output %z
  output %s
}
"#;

    /// `rows` samples of 16 features in batches of `batch` rows; row r is uniform in ±(1 + r/10).
    fn samples(rows: usize, batch: usize) -> Samples {
        let mut r = Rng::new(3);
        let batches = (0..rows)
            .step_by(batch)
            .map(|start| {
                let n = batch.min(rows - start);
                let x: Vec<f32> = (0..n * 16)
                    .map(|k| (2.0 * r.unit_f32() - 1.0) * (1.0 + (start + k / 16) as f32 / 10.0))
                    .collect();
                HashMap::from([("x".to_string(), Value::Tensor(Array::f32(vec![n, 16], x)))]).into()
            })
            .collect();
        Samples {
            description: format!("{rows} rows"),
            batches,
            labels: None,
        }
    }

    #[test]
    fn calibrate_runs_the_graph_and_skips_non_f32_values() {
        let g = parse_model(NET).expect("parses").graph;
        let id = |n: &str| g.find_value(n).expect("value");
        let (x, y, z, s) = (id("x"), id("y"), id("z"), id("s"));
        let data = samples(40, 16);
        let progress = Recorder::default();
        let got = calibrate(&g, &data, &[x, y, z, s, y], &CalibMethod::MinMax, &progress)
            .expect("calibrates");
        assert_eq!(got.len(), 3, "the i64 shape is skipped: {got:?}");
        let all: Vec<f32> = data
            .batches
            .iter()
            .flat_map(|b| {
                b.values()["x"]
                    .as_tensor()
                    .and_then(Array::as_f32)
                    .unwrap_or(&[])
                    .to_vec()
            })
            .collect();
        let lo = all.iter().copied().fold(0f32, f32::min);
        let hi = all.iter().copied().fold(0f32, f32::max);
        assert_eq!(got[&x], Range { min: lo, max: hi });
        assert_eq!(got[&y], Range { min: 0.0, max: hi });
        assert_eq!(
            got[&z],
            Range {
                min: 0.0,
                max: 2.0 * hi
            }
        );
        let events = progress.0.borrow();
        assert_eq!(
            events.first().map(String::as_str),
            Some("begin calibrate 3")
        );
        assert_eq!(events.last().map(String::as_str), Some("end"));
        let advanced: u64 = events
            .iter()
            .filter_map(|e| e.strip_prefix("advance ")?.parse::<u64>().ok())
            .sum();
        assert_eq!(advanced, 3);
        for m in [CalibMethod::Percentile(99.0), CalibMethod::Entropy] {
            let r = calibrate(&g, &data, &[x, y], &m, &NoProgress).expect("calibrates");
            assert!(r[&x].min >= lo && r[&x].max <= hi && r[&x].min < 0.0 && r[&x].max > 0.0);
            assert_eq!(r[&y].min, 0.0);
        }
    }

    #[test]
    fn statistics_do_not_grow_with_the_number_of_samples() {
        let g = parse_model(NET).expect("parses").graph;
        let values: Vec<ValueId> = ["x", "y", "z"]
            .iter()
            .filter_map(|n| g.find_value(n))
            .collect();
        for m in [
            CalibMethod::MinMax,
            CalibMethod::Percentile(99.99),
            CalibMethod::Entropy,
        ] {
            let few = collect(&g, &samples(10, 10), &values, &m, &NoProgress).expect("few");
            let many = collect(&g, &samples(10_000, 100), &values, &m, &NoProgress).expect("many");
            assert_eq!(few.len(), 3);
            assert_eq!(few.stats_bytes(), many.stats_bytes(), "{m:?}");
            let min_bytes = if m == CalibMethod::MinMax {
                1
            } else {
                3 * BINS * 8
            };
            assert!(few.stats_bytes() >= min_bytes);
            // The larger data set (wider rows later) has a wider range.
            assert!(many.ranges()[&values[0]].max > few.ranges()[&values[0]].max);
        }
    }

    #[test]
    fn a_percentile_outside_0_to_100_is_rejected() {
        let g = parse_model(NET).expect("parses").graph;
        let x = g.find_value("x").expect("x");
        for p in [0.0, -1.0, 100.5, f64::NAN] {
            let e = calibrate(
                &g,
                &samples(4, 4),
                &[x],
                &CalibMethod::Percentile(p),
                &NoProgress,
            );
            assert!(matches!(e, Err(PassError::Options { .. })), "{p}: {e:?}");
        }
    }
}
