//! `quantize(kmeans=K, per=tensor|channel)`: weight clustering. Each Conv, ConvTranspose, Gemm
//! and MatMul f32 weight is replaced by a codebook of at most `K` centroids (one per tensor, or
//! one per output channel) and packed indices, rebuilt at load time by a few integer ops and
//! one `Gather`. Clustering is 1-D k-means: Lloyd iterations on the sorted values, where each
//! cluster is a contiguous run, so an iteration costs O(K log n) with prefix sums.
//!
//! Seeding is deterministic, at the quantiles, not k-means++. Measured with ONNX Runtime on the
//! 10 000 Fashion-MNIST test images (k = 16, per tensor): k-means++ seeding reaches a higher
//! weight SQNR (its seeds favour the tails) but costs 0.4 to 2.3 points on the seed CNN and 3.9
//! to 15 points on the folded mobile CNN over six seeds, while quantile seeding keeps more
//! centroids where most weights are and costs 0.4 and 3.5 points, the same on every run.
//!
//! ## Emitted form (opset 7+, no opset change)
//!
//! Indices take `b` bits (1, 2, 4 or 8: the smallest with 2^b ≥ codebook size), `p = 8 / b` per
//! byte. For a weight `w` with `n` elements in row-major order, `m = n / p`:
//! - `w.codes`: uint8 `[m]`, byte `j` holds `idx[i·m + j]` in bits `b·i .. b·(i+1)` for
//!   `i < p` (the weight is split into `p` consecutive parts, one per bit field, so unpacking is
//!   a Concat of whole parts, not an interleave);
//! - `w.tail`: int32 `[n − p·m]` (fewer than `p` indices), when `n` is not a multiple of `p`;
//! - `w.codebook`: f32 `[G·K]` (G = 1, or the number of output channels);
//! - `x = Cast(codes, to=INT32)`; per part `q = Div(x, 2^b)`, `part = Sub(x, Mul(q, 2^b))`,
//!   `x = q` (the last part is `x` itself); `Concat(parts…, tail)`, `Reshape` to the weight's
//!   shape; per channel, `Add` the offsets `c·K` (int32, `[C, 1, …]`), so one `Gather` over
//!   the flattened codebook serves every channel; `w = Gather(codebook, indices)`.
//!
//! `Cast` from uint8 inflates the codes, so our `fold` pass does not fold the chain back into an
//! f32 weight (except for codes of at most 64 bytes, which it treats as shape-like and folds;
//! they save next to nothing); ONNX Runtime folds it at load.

use super::LayerReport;
use super::half::ensure_opset;
use super::weights::sqnr_db;
use crate::PassError;
use crate::rewrite::{Names, add_const, const_f32};
use nnslim_ir::op::{Binary, Cast, Concat, Gather, Reshape};
use nnslim_ir::{DType, Graph, Model, NewNode, Op, Rng, Tensor, TensorData, ValueId, node_label};
use std::collections::BTreeSet;

/// Lloyd iterations stop after this many rounds even if assignments still change.
pub const MAX_ITERATIONS: usize = 50;

/// The first opset with broadcasting integer Div/Sub/Mul/Add and the typed Cast.
const MIN_OPSET: i64 = 7;

/// Clusters every eligible weight into at most `k` centroids (`2 ≤ k ≤ 256`), per tensor or
/// (`per_channel`) per output channel (axis 0 of Conv and of Gemm with `transB=1`, axis 1 of
/// ConvTranspose and of Gemm without, the last axis of a MatMul weight), and emits the packed
/// form of the module docs.
///
/// Eligible: a dense f32 initializer with finite values, read only as the weight (input 1) of
/// those layers with the same channel axis, not a graph input or output, not read by a
/// subgraph, and whose clustered form (codes, tail, codebook, offsets and shape constants) is
/// smaller than the f32 tensor — otherwise it stays float (e.g. a tiny first convolution with a
/// codebook per channel). Each centroid is the mean of its cluster, each weight maps to its
/// nearest centroid (a local minimum of the squared reconstruction error; see the module docs
/// for the seeding).
///
/// The model's opset must be 7 or more (nothing is raised). The result depends only on the
/// model: `_rng` is not drawn from (seeding is deterministic; the parameter keeps the mode's
/// interface uniform). Returns one report per clustered weight, in topological order.
pub fn cluster_weights(
    model: &mut Model,
    k: usize,
    per_channel: bool,
    _rng: &mut Rng,
) -> Result<Vec<LayerReport>, PassError> {
    if !(2..=256).contains(&k) {
        return Err(PassError::Options {
            pass: "quantize".into(),
            message: format!("kmeans={k}: the codebook size must be in 2..=256"),
        });
    }
    let weights = eligible(&model.graph)?;
    let mut plans = Vec::new();
    for w in weights {
        let axis = if per_channel { w.axis } else { None };
        let clustered = cluster(&w.values, &w.dims, axis, k);
        let after = clustered.storage_bytes(w.dims.len());
        if after >= 4 * w.values.len() as u64 {
            continue;
        }
        let sqnr = sqnr_db(&w.values, &clustered.reconstruct());
        plans.push((w, clustered, after, sqnr));
    }
    if plans.is_empty() {
        return Ok(Vec::new());
    }
    ensure_opset(
        model,
        MIN_OPSET,
        "k-means codebooks (integer Div, Cast)",
        false,
    )?;
    let g = &mut model.graph;
    let mut names = Names::of(g);
    let mut reports = Vec::with_capacity(plans.len());
    let mut dead = Vec::with_capacity(plans.len());
    // Only nodes are added until every weight is done, so the ids collected stay valid.
    for (w, c, after, sqnr) in plans {
        emit(g, &mut names, &w, &c)?;
        dead.push(w.value.node);
        reports.push(LayerReport {
            layer: w.layer,
            op: w.op,
            params: w.values.len() as u64,
            bytes_before: 4 * w.values.len() as u64,
            bytes_after: after,
            weight_sqnr_db: sqnr,
            output_sqnr_db: None,
        });
    }
    for id in dead {
        g.remove_node(id)?;
    }
    Ok(reports)
}

/// A weight to cluster.
struct Weight {
    value: ValueId,
    dims: Vec<i64>,
    values: Vec<f32>,
    /// The output-channel axis, when per-channel codebooks apply.
    axis: Option<usize>,
    /// Label and op type of the first layer reading it.
    layer: String,
    op: String,
}

/// The output-channel axis of a layer's weight (input 1) of rank `rank`, or `None` when the
/// node is not a layer whose weight is clustered. `Some(None)`: a layer, but no channel axis.
fn weight_axis(op: &Op, rank: usize) -> Option<Option<usize>> {
    let axis = match op {
        Op::Conv(_) => 0,
        Op::ConvTranspose(_) => 1,
        Op::Gemm(g) => usize::from(!g.trans_b),
        Op::MatMul if rank >= 2 => rank - 1,
        Op::MatMul => return Some(None),
        _ => return None,
    };
    Some((axis < rank).then_some(axis))
}

/// The weights to cluster, in the topological order of their first reader.
fn eligible(g: &Graph) -> Result<Vec<Weight>, PassError> {
    let captured: Vec<ValueId> = g
        .node_ids()
        .flat_map(|n| g.node(n).captures().to_vec())
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in g.topo_order()? {
        let node = g.node(id);
        let Some(Some(v)) = node.inputs().get(1) else {
            continue;
        };
        let v = *v;
        let Op::Initializer(t) = &g.node(v.node).op else {
            continue;
        };
        let rank = t.dims.len();
        if weight_axis(&node.op, rank).is_none() || !seen.insert(v) {
            continue;
        }
        if t.dtype != DType::F32
            || !matches!(t.data, TensorData::Dense(_))
            || g.is_input(v.node)
            || g.outputs().contains(&v)
            || captured.contains(&v)
        {
            continue;
        }
        // Every reader must read it as a weight with the same channel axis.
        let axes: Vec<Option<Option<usize>>> = g
            .uses(v)
            .into_iter()
            .map(|(n, slot)| {
                (slot == 1)
                    .then(|| weight_axis(&g.node(n).op, rank))
                    .flatten()
            })
            .collect();
        let axis = axes[0].flatten();
        if axes.iter().any(|a| *a != Some(axis)) {
            continue;
        }
        let Some(values) = const_f32(g, v) else {
            continue;
        };
        if values.is_empty() || values.iter().any(|x| !x.is_finite()) {
            continue;
        }
        out.push(Weight {
            value: v,
            dims: t.dims.clone(),
            values,
            axis,
            layer: node_label(node),
            op: node.op.op_type().to_string(),
        });
    }
    Ok(out)
}

/// A clustered weight: codebooks of `book` entries per group and one index per element.
struct Clustered {
    /// Groups (1, or the channels along the axis) × `book` centroids.
    codebook: Vec<f32>,
    book: usize,
    /// Per element (row-major), the index within its group's codebook.
    indices: Vec<u8>,
    /// For per-channel codebooks: (axis, elements before it, channels, elements after it).
    channels: Option<(usize, usize, usize, usize)>,
}

impl Clustered {
    /// Bits per index: the smallest of 1, 2, 4, 8 that addresses `book` entries.
    fn bits(&self) -> u32 {
        [1, 2, 4, 8]
            .into_iter()
            .find(|&b| (1usize << b) >= self.book)
            .unwrap_or(8)
    }

    /// Bytes of everything the emitted form stores for a weight of rank `rank`.
    fn storage_bytes(&self, rank: usize) -> u64 {
        let n = self.indices.len() as u64;
        let per = u64::from(8 / self.bits());
        let (codes, tail) = (n / per, n % per);
        let radix = if per > 1 { 4 } else { 0 };
        let offsets = self.channels.map_or(0, |(_, _, c, _)| 4 * c as u64);
        codes + 4 * tail + 4 * self.codebook.len() as u64 + offsets + 8 * rank as u64 + radix
    }

    /// The weight as the emitted graph rebuilds it.
    fn reconstruct(&self) -> Vec<f32> {
        self.indices
            .iter()
            .enumerate()
            .map(|(i, &q)| self.codebook[self.group_of(i) * self.book + usize::from(q)])
            .collect()
    }

    fn group_of(&self, i: usize) -> usize {
        self.channels.map_or(0, |(_, _, c, inner)| (i / inner) % c)
    }
}

/// Clusters `values` (a row-major tensor with `dims`) into at most `k` centroids per group.
fn cluster(values: &[f32], dims: &[i64], axis: Option<usize>, k: usize) -> Clustered {
    let channels = axis.map(|a| {
        let d: Vec<usize> = dims.iter().map(|&x| x.max(0) as usize).collect();
        let outer: usize = d[..a].iter().product();
        let inner: usize = d[a + 1..].iter().product();
        (a, outer, d[a], inner)
    });
    let groups: Vec<Vec<usize>> = match channels {
        None => vec![(0..values.len()).collect()],
        Some((_, outer, c, inner)) => (0..c)
            .map(|ch| {
                (0..outer)
                    .flat_map(|o| {
                        let base = (o * c + ch) * inner;
                        base..base + inner
                    })
                    .collect()
            })
            .collect(),
    };
    let mut books = Vec::with_capacity(groups.len());
    let mut indices = vec![0u8; values.len()];
    for members in &groups {
        let xs: Vec<f32> = members.iter().map(|&i| values[i]).collect();
        let (book, assign) = kmeans_1d(&xs, k);
        for (&i, &q) in members.iter().zip(&assign) {
            indices[i] = q;
        }
        books.push(book);
    }
    let book = books.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut codebook = Vec::with_capacity(book * books.len());
    for b in &books {
        codebook.extend_from_slice(b);
        // Unused slots of a shorter codebook: never addressed.
        codebook.resize(codebook.len() + book - b.len(), 0.0);
    }
    Clustered {
        codebook,
        book,
        indices,
        channels,
    }
}

/// 1-D k-means of `xs` (finite, non-empty) into at most `k` sorted centroids. With no more
/// than `k` distinct values the centroids are those values (exact). Otherwise the centroids
/// start at the `(j + ½)/k` quantiles and Lloyd iterations run until the assignment stops
/// changing (at most [`MAX_ITERATIONS`]); a centroid left without values (e.g. duplicates at
/// a value most weights share, such as pruned zeros) moves to the extreme value of the cluster
/// with the largest squared error, so all `k` stay in use. Deterministic. Returns the
/// centroids and each value's centroid index (its nearest centroid).
pub fn kmeans_1d(xs: &[f32], k: usize) -> (Vec<f32>, Vec<u8>) {
    let n = xs.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| f64::from(xs[i])).collect();
    let mut distinct = sorted.clone();
    distinct.dedup();
    let centroids: Vec<f64> = if distinct.len() <= k {
        distinct
    } else {
        let sums = Sums::new(&sorted);
        let mut c: Vec<f64> = (0..k)
            .map(|j| sorted[((2 * j + 1) * n / (2 * k)).min(n - 1)])
            .collect();
        c.dedup();
        let mut prev = Vec::new();
        for _ in 0..=MAX_ITERATIONS {
            refill(&sorted, &sums, &mut c, k);
            let starts = boundaries(&sorted, &c);
            if starts == prev {
                break;
            }
            c = starts
                .windows(2)
                .filter(|r| r[1] > r[0])
                .map(|r| sums.mean(r[0], r[1]))
                .collect();
            c.sort_by(f64::total_cmp);
            c.dedup();
            prev = starts;
        }
        refill(&sorted, &sums, &mut c, k);
        c
    };
    // Nearest centroid: runs between midpoints of the sorted centroids.
    let starts = boundaries(&sorted, &centroids);
    let mut assign = vec![0u8; n];
    for (j, run) in starts.windows(2).enumerate() {
        for &i in &order[run[0]..run[1]] {
            assign[i] = j as u8;
        }
    }
    (centroids.into_iter().map(|c| c as f32).collect(), assign)
}

/// Prefix sums of sorted values and their squares: mean and squared error of any run in O(1).
struct Sums {
    s: Vec<f64>,
    s2: Vec<f64>,
}

impl Sums {
    fn new(sorted: &[f64]) -> Sums {
        let (mut s, mut s2) = (vec![0f64], vec![0f64]);
        for &x in sorted {
            s.push(s[s.len() - 1] + x);
            s2.push(s2[s2.len() - 1] + x * x);
        }
        Sums { s, s2 }
    }

    /// Mean of `sorted[a..b]` (`a < b`).
    fn mean(&self, a: usize, b: usize) -> f64 {
        (self.s[b] - self.s[a]) / (b - a) as f64
    }

    /// Squared error of `sorted[a..b]` around its mean.
    fn sse(&self, a: usize, b: usize) -> f64 {
        if b <= a {
            return 0.0;
        }
        let sum = self.s[b] - self.s[a];
        (self.s2[b] - self.s2[a] - sum * sum / (b - a) as f64).max(0.0)
    }
}

/// Adds centroids until there are `k` (or no cluster can be split): each new one is the extreme
/// value, farthest from the centroid, of the run with the largest squared error.
fn refill(sorted: &[f64], sums: &Sums, c: &mut Vec<f64>, k: usize) {
    while c.len() < k {
        let starts = boundaries(sorted, c);
        let Some(j) = (0..c.len())
            .filter(|&j| starts[j + 1] > starts[j])
            .max_by(|&a, &b| {
                let (ea, eb) = (
                    sums.sse(starts[a], starts[a + 1]),
                    sums.sse(starts[b], starts[b + 1]),
                );
                ea.total_cmp(&eb).then(b.cmp(&a))
            })
        else {
            return;
        };
        let (lo, hi) = (sorted[starts[j]], sorted[starts[j + 1] - 1]);
        let x = if (hi - c[j]).abs() > (c[j] - lo).abs() {
            hi
        } else {
            lo
        };
        if c.contains(&x) {
            return;
        }
        c.push(x);
        c.sort_by(f64::total_cmp);
    }
}

/// Start of each centroid's run in `sorted` (plus `n` at the end): values below the midpoint
/// between centroids `j − 1` and `j` belong to `j − 1`.
fn boundaries(sorted: &[f64], c: &[f64]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(c.len() + 1);
    starts.push(0);
    for j in 1..c.len() {
        let mid = 0.5 * (c[j - 1] + c[j]);
        starts.push(sorted.partition_point(|&x| x < mid));
    }
    starts.push(sorted.len());
    starts
}

/// Emits the packed form of `c` for weight `w` and moves `w`'s readers (and name) to it.
fn emit(g: &mut Graph, names: &mut Names, w: &Weight, c: &Clustered) -> Result<(), PassError> {
    let name = g.value(w.value).name.clone();
    let err = |e: nnslim_ir::TensorError| PassError::Node {
        node: name.clone(),
        op: "Initializer".into(),
        message: e.to_string(),
    };
    let bits = c.bits();
    let per = (8 / bits) as usize;
    let n = c.indices.len();
    let m = n / per;
    let mut codes = vec![0u8; m];
    for part in 0..per {
        for (j, byte) in codes.iter_mut().enumerate() {
            *byte |= c.indices[part * m + j] << (bits as usize * part);
        }
    }
    let tail: Vec<i32> = c.indices[per * m..].iter().map(|&q| i32::from(q)).collect();

    let node = |g: &mut Graph, op: Op, inputs: Vec<ValueId>, out: String| {
        let id = g.add_node(
            NewNode::new(
                op,
                inputs.into_iter().map(Some).collect(),
                vec![out.clone()],
            )
            .named(out),
        )?;
        Ok::<ValueId, PassError>(ValueId { node: id, slot: 0 })
    };
    let mut parts = Vec::with_capacity(per + 1);
    if m > 0 {
        let codes = Tensor::from_raw(DType::U8, vec![m as i64], codes.into()).map_err(err)?;
        let codes = add_const(g, names, &format!("{name}.codes"), codes);
        let mut x = node(
            g,
            Op::Cast(Cast::to(DType::I32)),
            vec![codes],
            names.fresh(&format!("{name}.codes_i32")),
        )?;
        if per > 1 {
            let radix = i32_tensor(vec![], &[1 << bits]).map_err(err)?;
            let radix = add_const(g, names, &format!("{name}.radix"), radix);
            for part in 0..per - 1 {
                let q = node(
                    g,
                    Op::Binary(Binary::Div),
                    vec![x, radix],
                    names.fresh(&format!("{name}.q{part}")),
                )?;
                let qr = node(
                    g,
                    Op::Binary(Binary::Mul),
                    vec![q, radix],
                    names.fresh(&format!("{name}.qr{part}")),
                )?;
                parts.push(node(
                    g,
                    Op::Binary(Binary::Sub),
                    vec![x, qr],
                    names.fresh(&format!("{name}.part{part}")),
                )?);
                x = q;
            }
        }
        parts.push(x);
    }
    if !tail.is_empty() {
        let t = i32_tensor(vec![tail.len() as i64], &tail).map_err(err)?;
        parts.push(add_const(g, names, &format!("{name}.tail"), t));
    }
    let flat = if parts.len() == 1 {
        parts[0]
    } else {
        node(
            g,
            Op::Concat(Concat { axis: 0 }),
            parts,
            names.fresh(&format!("{name}.indices_flat")),
        )?
    };
    let shape = Tensor::from_i64(vec![w.dims.len() as i64], &w.dims).map_err(err)?;
    let shape = add_const(g, names, &format!("{name}.shape"), shape);
    let mut indices = node(
        g,
        Op::Reshape(Reshape { allowzero: false }),
        vec![flat, shape],
        names.fresh(&format!("{name}.indices")),
    )?;
    if let Some((axis, _, channels, _)) = c.channels {
        let offsets: Vec<i32> = (0..channels).map(|ch| (ch * c.book) as i32).collect();
        let mut dims = vec![channels as i64];
        dims.resize(w.dims.len() - axis, 1);
        let offsets = i32_tensor(dims, &offsets).map_err(err)?;
        let offsets = add_const(g, names, &format!("{name}.offsets"), offsets);
        indices = node(
            g,
            Op::Binary(Binary::Add),
            vec![indices, offsets],
            names.fresh(&format!("{name}.channel_indices")),
        )?;
    }
    let book = Tensor::from_f32(vec![c.codebook.len() as i64], &c.codebook).map_err(err)?;
    let book = add_const(g, names, &format!("{name}.codebook"), book);
    // The original keeps a placeholder name until it is removed; the Gather takes its name.
    g.value_mut(w.value).name = names.fresh(&format!("{name}.f32"));
    let rebuilt = node(
        g,
        Op::Gather(Gather { axis: 0 }),
        vec![book, indices],
        name.clone(),
    )?;
    g.replace_all_uses(w.value, rebuilt)?;
    Ok(())
}

/// A dense int32 tensor.
fn i32_tensor(dims: Vec<i64>, values: &[i32]) -> Result<Tensor, nnslim_ir::TensorError> {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Tensor::from_raw(DType::I32, dims, raw.into())
}

#[cfg(test)]
mod tests;
