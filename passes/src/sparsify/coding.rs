//! Sparse coding (`sparsify(dictionary=K, atoms=S)`): a Gemm/MatMul weight `W` becomes a dense
//! dictionary `D` (`K` unit-norm atoms) times sparse codes `C` (at most `S` non-zeros per
//! column), learned by alternating minimisation of `‖M − D·C‖_F` (K-SVD):
//!
//! - codes: orthogonal matching pursuit per column, on the Gram matrix `DᵀD` (Batch-OMP), each
//!   column's coefficients the least-squares fit on its chosen atoms (a Cholesky solve, faer);
//! - dictionary: a K-SVD sweep, each atom and its coefficients the best rank-1 fit of the
//!   residual of the columns using it; an unused atom restarts as the worst-coded column;
//! - start: `K` columns of `M` chosen by pivoted Gram–Schmidt (the next is the one least
//!   explained by those already chosen), normalised.
//!
//! `M` is the weight as stored, `[rows, cols]`, or its transpose when it has more rows than
//! columns, so that atoms are the short side (many signals, each a short vector). The pass keeps
//! the best factors seen over the iterations.
//!
//! ## Emitted form
//!
//! The weight's value is replaced by `MatMul(D, C)` (or `MatMul(Cᵀ, Dᵀ)` for a transposed `M`)
//! of two initializers, the codes stored as a sparse initializer when that is smaller. The
//! product has the weight's own shape and orientation, so the layer (Gemm with or without
//! `transB`, MatMul) is untouched. ONNX Runtime folds the product at load; our `fold` keeps it
//! (its result is larger than its constant inputs).

use super::storage::{sparse_bytes, to_sparse};
use crate::rewrite::{Names, add_const, captured_values, replace_value};
use crate::{PassError, Progress};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};
use nnslim_ir::{DType, Graph, Op, Tensor, ValueId, node_label};
use rayon::prelude::*;
use serde_json::json;

/// Factors of `M ≈ D·C`.
#[derive(Clone, Debug)]
pub struct Factors {
    /// `D`, rows × K, unit-norm columns (an atom that no code uses may be zero).
    pub dictionary: Mat<f64>,
    /// Per column of `M`: `(atom, coefficient)` pairs, at most `atoms` of them.
    pub codes: Vec<Vec<(usize, f64)>>,
    /// `‖M − D·C‖_F / ‖M‖_F` (0 for a zero matrix).
    pub error: f64,
}

impl Factors {
    /// Non-zero code coefficients.
    pub fn nonzeros(&self) -> usize {
        self.codes.iter().map(Vec::len).sum()
    }

    /// The codes as a dense K × cols matrix.
    pub fn code_matrix(&self) -> Mat<f64> {
        code_matrix(self.dictionary.ncols(), &self.codes)
    }
}

/// Orthogonal matching pursuit of one signal `w` over a dictionary with unit-norm atoms, from
/// `gram = DᵀD` and `dtw = Dᵀw`: at most `atoms` steps, each adding the atom most correlated
/// with the residual and refitting every chosen coefficient by least squares. Stops early when
/// the residual is (numerically) zero or the next atom is linearly dependent on those chosen.
pub fn omp(gram: MatRef<'_, f64>, dtw: &[f64], atoms: usize) -> Vec<(usize, f64)> {
    let k = dtw.len();
    let scale = dtw.iter().fold(0f64, |m, x| m.max(x.abs()));
    let mut support: Vec<usize> = Vec::new();
    let mut coef: Vec<f64> = Vec::new();
    let mut corr = dtw.to_vec();
    while support.len() < atoms.min(k) {
        let mut best = None;
        let mut best_abs = 1e-12 * scale;
        for (i, &c) in corr.iter().enumerate() {
            if c.abs() > best_abs && !support.contains(&i) && gram[(i, i)] > 0.0 {
                best = Some(i);
                best_abs = c.abs();
            }
        }
        let Some(next) = best else { break };
        support.push(next);
        let n = support.len();
        let g = Mat::from_fn(n, n, |a, b| gram[(support[a], support[b])]);
        let Ok(llt) = g.llt(Side::Lower) else {
            support.pop();
            break;
        };
        let mut x = Mat::from_fn(n, 1, |a, _| dtw[support[a]]);
        llt.solve_in_place(x.as_mut());
        if (0..n).any(|a| !x[(a, 0)].is_finite()) {
            support.pop();
            break;
        }
        coef = (0..n).map(|a| x[(a, 0)]).collect();
        for (i, c) in corr.iter_mut().enumerate() {
            *c = dtw[i]
                - support
                    .iter()
                    .zip(&coef)
                    .map(|(&s, &x)| gram[(i, s)] * x)
                    .sum::<f64>();
        }
    }
    support.into_iter().zip(coef).collect()
}

/// Codes every column of `m` over `d` with [`omp`] (columns in parallel; each is independent,
/// so the result does not depend on the thread count).
pub fn code_columns(
    m: MatRef<'_, f64>,
    d: MatRef<'_, f64>,
    atoms: usize,
) -> Vec<Vec<(usize, f64)>> {
    let gram = d.transpose() * d;
    let dtm = d.transpose() * m;
    (0..m.ncols())
        .into_par_iter()
        .map(|j| {
            let dtw: Vec<f64> = (0..dtm.nrows()).map(|i| dtm[(i, j)]).collect();
            omp(gram.as_ref(), &dtw, atoms)
        })
        .collect()
}

/// `‖m − d·c‖_F / ‖m‖_F` (0 when `m` is zero).
pub fn relative_error(m: MatRef<'_, f64>, d: MatRef<'_, f64>, c: MatRef<'_, f64>) -> f64 {
    let r = m - d * c;
    let norm = m.norm_l2();
    if norm == 0.0 { 0.0 } else { r.norm_l2() / norm }
}

/// Learns `m ≈ D·C` with `k` atoms and at most `atoms` non-zeros per column of `C` over
/// `iterations` dictionary updates (see the module docs); returns the best factors seen.
pub fn learn(m: MatRef<'_, f64>, k: usize, atoms: usize, iterations: usize) -> Factors {
    let mut d = initial_dictionary(m, k);
    let mut best: Option<Factors> = None;
    for it in 0..=iterations {
        let codes = code_columns(m, d.as_ref(), atoms);
        let c = code_matrix(k, &codes);
        let error = relative_error(m, d.as_ref(), c.as_ref());
        let next = (error > 0.0 && it < iterations).then(|| {
            let mut swept = codes.clone();
            update_dictionary(m, d.clone(), &mut swept, c.as_ref())
        });
        if best.as_ref().is_none_or(|b| error < b.error) {
            best = Some(Factors {
                dictionary: d,
                codes,
                error,
            });
        }
        match next {
            Some(n) => d = n,
            None => break,
        }
    }
    best.unwrap_or_else(|| Factors {
        dictionary: Mat::zeros(m.nrows(), k),
        codes: vec![Vec::new(); m.ncols()],
        error: 1.0,
    })
}

/// Codes as a dense `k` × columns matrix.
fn code_matrix(k: usize, codes: &[Vec<(usize, f64)>]) -> Mat<f64> {
    let mut c = Mat::zeros(k, codes.len());
    for (j, col) in codes.iter().enumerate() {
        for &(a, x) in col {
            c[(a, j)] = x;
        }
    }
    c
}

/// `k` columns of `m` by pivoted Gram–Schmidt, normalised (after the rank of `m` is exhausted,
/// the remaining columns of largest norm; zero atoms when `m` has fewer non-zero columns).
fn initial_dictionary(m: MatRef<'_, f64>, k: usize) -> Mat<f64> {
    let (rows, cols) = (m.nrows(), m.ncols());
    let mut residual = m.to_owned();
    let norms: Vec<f64> = (0..cols).map(|j| m.col(j).norm_l2()).collect();
    let top = norms.iter().fold(0f64, |a, &b| a.max(b));
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < k.min(cols) {
        let (j, r) = (0..cols)
            .filter(|j| !chosen.contains(j))
            .map(|j| (j, residual.col(j).norm_l2()))
            .fold((usize::MAX, 0.0), |b, c| if c.1 > b.1 { c } else { b });
        if j == usize::MAX || r <= 1e-9 * top {
            break;
        }
        chosen.push(j);
        let q: Vec<f64> = (0..rows).map(|i| residual[(i, j)] / r).collect();
        for c in 0..cols {
            let dot: f64 = (0..rows).map(|i| q[i] * residual[(i, c)]).sum();
            for (i, qi) in q.iter().enumerate() {
                residual[(i, c)] -= dot * qi;
            }
        }
    }
    let mut rest: Vec<usize> = (0..cols)
        .filter(|j| !chosen.contains(j) && norms[*j] > 0.0)
        .collect();
    rest.sort_by(|a, b| norms[*b].total_cmp(&norms[*a]).then(a.cmp(b)));
    chosen.extend(rest.into_iter().take(k - chosen.len().min(k)));
    Mat::from_fn(rows, k, |i, a| match chosen.get(a) {
        Some(&j) => m[(i, j)] / norms[j],
        None => 0.0,
    })
}

/// Power-iteration steps of each rank-1 atom update.
const POWER_STEPS: usize = 8;

/// Atoms whose cosine with an earlier atom exceeds this are restarted.
const MAX_COHERENCE: f64 = 0.99;

/// One K-SVD sweep: each used atom in turn becomes the leading left singular vector of the
/// residual of the columns that use it (with the atom's own contribution added back), and those
/// columns' coefficients for it the matching right singular vector scaled by σ (the best rank-1
/// fit, by power iteration from the current atom), so the error never grows. Unused atoms, and
/// atoms nearly parallel to an earlier one, restart as the normalised columns of `m` with the
/// largest residual.
fn update_dictionary(
    m: MatRef<'_, f64>,
    mut d: Mat<f64>,
    codes: &mut [Vec<(usize, f64)>],
    c: MatRef<'_, f64>,
) -> Mat<f64> {
    let (rows, k) = (d.nrows(), d.ncols());
    let mut residual = m - &d * c;
    let mut users: Vec<Vec<(usize, usize)>> = vec![Vec::new(); k];
    for (j, col) in codes.iter().enumerate() {
        for (slot, &(a, _)) in col.iter().enumerate() {
            users[a].push((j, slot));
        }
    }
    let mut unused = Vec::new();
    for (a, who) in users.iter().enumerate() {
        if who.is_empty() {
            unused.push(a);
            continue;
        }
        // E = residual of the users + d_a·c_a.
        let e = Mat::from_fn(rows, who.len(), |i, u| {
            let (j, slot) = who[u];
            residual[(i, j)] + d[(i, a)] * codes[j][slot].1
        });
        let mut u: Vec<f64> = (0..rows).map(|i| d[(i, a)]).collect();
        let mut v = vec![0f64; who.len()];
        for _ in 0..POWER_STEPS {
            for (col, x) in v.iter_mut().enumerate() {
                *x = (0..rows).map(|i| e[(i, col)] * u[i]).sum();
            }
            let mut next: Vec<f64> = (0..rows)
                .map(|i| (0..who.len()).map(|col| e[(i, col)] * v[col]).sum())
                .collect();
            let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
            if !(norm.is_finite() && norm > 0.0) {
                break;
            }
            next.iter_mut().for_each(|x| *x /= norm);
            u = next;
        }
        for (col, x) in v.iter_mut().enumerate() {
            *x = (0..rows).map(|i| e[(i, col)] * u[i]).sum();
        }
        for (col, &(j, slot)) in who.iter().enumerate() {
            codes[j][slot].1 = v[col];
            for i in 0..rows {
                residual[(i, j)] = e[(i, col)] - u[i] * v[col];
            }
        }
        for (i, &x) in u.iter().enumerate() {
            d[(i, a)] = x;
        }
    }
    // An atom (nearly) parallel to an earlier one adds nothing: restart it too.
    for a in 0..k {
        if unused.contains(&a) {
            continue;
        }
        let twin = (0..a).filter(|b| !unused.contains(b)).any(|b| {
            let dot: f64 = (0..rows).map(|i| d[(i, a)] * d[(i, b)]).sum();
            dot.abs() > MAX_COHERENCE
        });
        if twin {
            unused.push(a);
        }
    }
    let mut worst: Vec<(usize, f64)> = (0..m.ncols())
        .map(|j| (j, residual.col(j).norm_l2()))
        .collect();
    worst.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    for (a, &(j, _)) in unused.into_iter().zip(&worst) {
        let n = m.col(j).norm_l2();
        for i in 0..rows {
            d[(i, a)] = if n > 0.0 { m[(i, j)] / n } else { 0.0 };
        }
    }
    d
}

/// What sparse coding did to one weight.
#[derive(Clone, Debug, PartialEq)]
pub struct CodedLayer {
    /// The first layer reading the weight (label) and its op type.
    pub layer: String,
    pub op: String,
    /// The weight's name and dims.
    pub weight: String,
    pub dims: Vec<i64>,
    /// Whether the factorised matrix is the weight's transpose.
    pub transposed: bool,
    pub dictionary: usize,
    pub atoms: usize,
    /// Stored values: the weight's elements before; dictionary plus non-zero codes after.
    pub values_before: u64,
    pub values_after: u64,
    /// `‖W − D·C‖_F / ‖W‖_F` with the f32 factors as stored.
    pub relative_error: f64,
    /// Bytes of the weight before; of the dictionary and codes (as stored) after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Whether the codes are stored as a sparse initializer.
    pub sparse_codes: bool,
}

impl CodedLayer {
    /// The report row.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "layer": self.layer,
            "op": self.op,
            "weight": self.weight,
            "dims": self.dims,
            "factorised": if self.transposed { "W^T" } else { "W" },
            "dictionary": self.dictionary,
            "atoms": self.atoms,
            "stored_values_before": self.values_before,
            "stored_values_after": self.values_after,
            "relative_error": self.relative_error,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "codes": if self.sparse_codes { "sparse" } else { "dense" },
        })
    }
}

/// A weight to code.
struct Candidate {
    value: ValueId,
    name: String,
    dims: Vec<i64>,
    values: Vec<f32>,
    layer: String,
    op: String,
}

/// The 2-D dense f32 initializers read as the weight (input 1) of a Gemm or MatMul, not graph
/// inputs or outputs and not read by a subgraph, in the topological order of their first such
/// reader.
fn candidates(g: &Graph) -> Result<Vec<Candidate>, PassError> {
    let captured = captured_values(g);
    let mut out: Vec<Candidate> = Vec::new();
    for id in g.topo_order()? {
        let node = g.node(id);
        if !matches!(node.op, Op::Gemm(_) | Op::MatMul) {
            continue;
        }
        let Some(Some(v)) = node.inputs().get(1).copied() else {
            continue;
        };
        let Op::Initializer(t) = &g.node(v.node).op else {
            continue;
        };
        if t.dtype != DType::F32
            || t.dims.len() != 2
            || t.raw().is_none()
            || g.is_input(v.node)
            || g.outputs().contains(&v)
            || captured.contains(&v)
            || out.iter().any(|c| c.value == v)
        {
            continue;
        }
        let Ok(values) = t.to_f32_vec() else { continue };
        if values.is_empty() || values.iter().any(|x| !x.is_finite()) {
            continue;
        }
        out.push(Candidate {
            value: v,
            name: g.value(v).name.clone(),
            dims: t.dims.clone(),
            values,
            layer: node_label(node),
            op: node.op.op_type().to_string(),
        });
    }
    Ok(out)
}

/// Options of sparse coding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CodingOptions {
    /// Atoms in each dictionary (`K`).
    pub dictionary: usize,
    /// Non-zero codes per column at most (`S`).
    pub atoms: usize,
    /// Dictionary updates.
    pub iterations: usize,
}

/// Sparse-codes every Gemm/MatMul weight (see [`candidates`]) whose dictionary plus non-zero
/// codes are fewer values than the weight, and emits the form of the module docs. Returns the
/// coded layers, and one line per weight left dense saying why.
pub fn code_weights(
    g: &mut Graph,
    opts: CodingOptions,
    progress: &dyn Progress,
) -> Result<(Vec<CodedLayer>, Vec<String>), PassError> {
    let list = candidates(g)?;
    let mut names = Names::of(g);
    let mut coded = Vec::new();
    let mut kept = Vec::new();
    let mut dead = Vec::new();
    progress.begin("sparse coding", list.len() as u64);
    for w in list {
        progress.advance(1);
        let (a, b) = (w.dims[0] as usize, w.dims[1] as usize);
        let transposed = a > b;
        let (rows, cols) = if transposed { (b, a) } else { (a, b) };
        let k = opts.dictionary;
        let before = (a * b) as u64;
        if (rows * k) as u64 >= before {
            kept.push(format!(
                "{} ({}×{}): a {rows}×{k} dictionary alone holds as many values",
                w.layer, a, b
            ));
            continue;
        }
        let m = Mat::from_fn(rows, cols, |i, j| {
            let (r, c) = if transposed { (j, i) } else { (i, j) };
            w.values[r * b + c] as f64
        });
        let f = learn(m.as_ref(), k, opts.atoms.min(k), opts.iterations);
        let after = (rows * k + f.nonzeros()) as u64;
        if after >= before {
            kept.push(format!(
                "{} ({a}×{b}): {after} stored values would not be fewer than {before}",
                w.layer
            ));
            continue;
        }
        // The factors as stored (f32), and the error they give.
        let d32 = Mat::from_fn(rows, k, |i, j| f.dictionary[(i, j)] as f32 as f64);
        let c = f.code_matrix();
        let c32 = Mat::from_fn(k, cols, |i, j| c[(i, j)] as f32 as f64);
        let error = relative_error(m.as_ref(), d32.as_ref(), c32.as_ref());
        // W = D·C, or for a transposed M, W = Cᵀ·Dᵀ.
        let (left, right) = if transposed {
            (c32.transpose().to_owned(), d32.transpose().to_owned())
        } else {
            (d32, c32)
        };
        let codes_left = transposed;
        let tensor = |x: &Mat<f64>| {
            let v: Vec<f32> = (0..x.nrows())
                .flat_map(|i| (0..x.ncols()).map(move |j| x[(i, j)] as f32))
                .collect();
            Tensor::from_f32(vec![x.nrows() as i64, x.ncols() as i64], &v)
        };
        let err = |e: nnslim_ir::TensorError| PassError::Unsupported {
            pass: "sparsify".into(),
            message: format!("weight {:?}: {e}", w.name),
        };
        let (mut lt, mut rt) = (tensor(&left).map_err(err)?, tensor(&right).map_err(err)?);
        let codes = if codes_left { &mut lt } else { &mut rt };
        let dense_codes = 4 * (k * cols) as u64;
        let mut sparse_codes = false;
        let mut codes_bytes = dense_codes;
        if let Some(sp) = to_sparse(codes) {
            let nnz = match &sp.data {
                nnslim_ir::TensorData::Sparse(s) => s.values.len(),
                _ => 0,
            };
            if sparse_bytes(nnz, 4) < dense_codes {
                codes_bytes = sparse_bytes(nnz, 4);
                sparse_codes = true;
                *codes = sp;
            }
        }
        let (lname, rname) = if codes_left {
            ("codes", "dictionary")
        } else {
            ("dictionary", "codes")
        };
        let l = add_const(g, &mut names, &format!("{}.{lname}", w.name), lt);
        let r = add_const(g, &mut names, &format!("{}.{rname}", w.name), rt);
        replace_value(
            g,
            &mut names,
            w.value,
            &format!("{}/decode", w.name),
            Op::MatMul,
            vec![Some(l), Some(r)],
        )?;
        // Removed after the loop: no node is removed while candidates' ids are held.
        dead.push(w.value.node);
        coded.push(CodedLayer {
            layer: w.layer,
            op: w.op,
            weight: w.name,
            dims: w.dims,
            transposed,
            dictionary: k,
            atoms: opts.atoms.min(k),
            values_before: before,
            values_after: after,
            relative_error: error,
            bytes_before: 4 * before,
            bytes_after: 4 * (rows * k) as u64 + codes_bytes,
            sparse_codes,
        });
    }
    progress.end();
    for id in dead {
        g.remove_node(id)?;
    }
    Ok((coded, kept))
}
