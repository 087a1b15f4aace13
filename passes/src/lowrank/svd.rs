//! Truncated singular value decompositions for `low-rank`: the full thin SVD (faer) and a
//! randomized SVD (Halko, Martinsson and Tropp's range finder) for large matrices.
//!
//! Everything is computed in f64 on one thread (`Par::Seq`), so the same matrix (and, for the
//! randomized SVD, the same seed) gives bit-identical factors on every machine and run.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
};
use faer::linalg::matmul::matmul;
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Accum, Conj, Mat, MatRef, Par};
use nnslim_ir::Rng;

/// Why a decomposition failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SvdError {
    /// The slice does not hold `rows × cols` values, or a dimension is zero.
    #[error("a {rows}×{cols} matrix needs {} values, got {len}", rows * cols)]
    Shape {
        rows: usize,
        cols: usize,
        len: usize,
    },
    /// A value is NaN or infinite.
    #[error("the matrix has a non-finite value")]
    NonFinite,
    /// faer's SVD did not converge.
    #[error("the SVD did not converge")]
    NoConvergence,
}

/// The leading singular triplets of an m×n matrix `W ≈ U·diag(s)·Vᵀ`, with the energy of the
/// whole spectrum (`‖W‖_F² = Σσ²`, exact even when only some triplets are known).
#[derive(Clone, Debug)]
pub struct Svd {
    /// Singular values, non-increasing.
    pub s: Vec<f64>,
    /// Left singular vectors, m × `s.len()`.
    pub u: Mat<f64>,
    /// Right singular vectors, n × `s.len()`.
    pub v: Mat<f64>,
    /// `‖W‖_F²`.
    pub total_energy: f64,
}

impl Svd {
    /// Rows of the decomposed matrix.
    pub fn rows(&self) -> usize {
        self.u.nrows()
    }

    /// Columns of the decomposed matrix.
    pub fn cols(&self) -> usize {
        self.v.nrows()
    }

    /// Fraction of `Σσ²` the first `r` triplets keep (1 for a zero matrix).
    pub fn energy_kept(&self, r: usize) -> f64 {
        if self.total_energy <= 0.0 {
            return 1.0;
        }
        let kept: f64 = self.s.iter().take(r).map(|x| x * x).sum();
        (kept / self.total_energy).min(1.0)
    }

    /// The smallest rank (at least 1) whose triplets keep `energy` of `Σσ²`, if the known
    /// triplets reach it.
    pub fn rank_for_energy(&self, energy: f64) -> Option<usize> {
        let target = energy * self.total_energy;
        let mut kept = 0.0;
        for (i, x) in self.s.iter().enumerate() {
            kept += x * x;
            // A relative slack so that energy=1 is reached despite rounding.
            if kept >= target * (1.0 - 1e-12) {
                return Some(i + 1);
            }
        }
        (self.total_energy <= 0.0).then_some(1)
    }

    /// The balanced factors of the rank-`r` truncation, as row-major f32:
    /// `left = U_r·√S_r` (m × r) and `right = √S_r·V_rᵀ` (r × n), so `left·right = W_r`.
    pub fn factors(&self, r: usize) -> (Vec<f32>, Vec<f32>) {
        let r = r.min(self.s.len());
        let (m, n) = (self.rows(), self.cols());
        let root: Vec<f64> = self.s[..r].iter().map(|x| x.sqrt()).collect();
        let mut left = Vec::with_capacity(m * r);
        for i in 0..m {
            left.extend((0..r).map(|k| (self.u[(i, k)] * root[k]) as f32));
        }
        let mut right = Vec::with_capacity(r * n);
        for (k, rk) in root.iter().enumerate() {
            right.extend((0..n).map(|j| (self.v[(j, k)] * rk) as f32));
        }
        (left, right)
    }

    /// The rank-`r` truncation `U_r·diag(s_r)·V_rᵀ`, row-major (m × n).
    pub fn reconstruct(&self, r: usize) -> Vec<f64> {
        let r = r.min(self.s.len());
        let (m, n) = (self.rows(), self.cols());
        let mut us = self.u.get(.., ..r).to_owned();
        for k in 0..r {
            for i in 0..m {
                us[(i, k)] *= self.s[k];
            }
        }
        let mut w = Mat::<f64>::zeros(m, n);
        matmul(
            w.as_mut(),
            Accum::Replace,
            us.as_ref(),
            self.v.get(.., ..r).transpose(),
            1.0,
            Par::Seq,
        );
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            out.extend((0..n).map(|j| w[(i, j)]));
        }
        out
    }
}

/// `‖W − W_r‖_F` for the rank-`r` truncation of `svd` (`w` row-major, as given to it).
pub fn truncation_error(w: &[f32], svd: &Svd, r: usize) -> f64 {
    svd.reconstruct(r)
        .iter()
        .zip(w)
        .map(|(a, &b)| (a - f64::from(b)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Reads a row-major `rows × cols` slice into an f64 matrix, checking shape and values.
fn to_mat(w: &[f32], rows: usize, cols: usize) -> Result<Mat<f64>, SvdError> {
    if rows == 0 || cols == 0 || rows.checked_mul(cols) != Some(w.len()) {
        return Err(SvdError::Shape {
            rows,
            cols,
            len: w.len(),
        });
    }
    if w.iter().any(|x| !x.is_finite()) {
        return Err(SvdError::NonFinite);
    }
    Ok(Mat::from_fn(rows, cols, |i, j| f64::from(w[i * cols + j])))
}

fn frobenius2(a: MatRef<'_, f64>) -> f64 {
    let mut sum = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            sum += a[(i, j)] * a[(i, j)];
        }
    }
    sum
}

/// The thin SVD of `a` on one thread, its first `keep` triplets, with `total_energy` as the
/// energy of the spectrum (that of the matrix `a` stands for).
fn thin_svd(a: MatRef<'_, f64>, keep: usize, total_energy: f64) -> Result<Svd, SvdError> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut s = Diag::<f64>::zeros(k);
    let mut u = Mat::<f64>::zeros(m, k);
    let mut v = Mat::<f64>::zeros(n, k);
    let scratch = svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        Par::Seq,
        Default::default(),
    );
    svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|_| SvdError::NoConvergence)?;
    let keep = keep.min(k);
    Ok(Svd {
        s: s.column_vector().iter().take(keep).copied().collect(),
        u: if keep < k {
            u.get(.., ..keep).to_owned()
        } else {
            u
        },
        v: if keep < k {
            v.get(.., ..keep).to_owned()
        } else {
            v
        },
        total_energy,
    })
}

/// An orthonormal basis of the column space of `a` (m × min(m, n)): the thin Q of its
/// Householder QR, on one thread.
pub fn orthonormal_basis(a: Mat<f64>) -> Mat<f64> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let block = recommended_block_size::<f64>(m, n);
    let mut qr = a;
    let mut coeff = Mat::<f64>::zeros(block, k);
    qr_in_place(
        qr.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(qr_in_place_scratch::<f64>(
            m,
            n,
            block,
            Par::Seq,
            Default::default(),
        ))),
        Default::default(),
    );
    // The Householder vectors: the strictly lower part of the first k columns, unit diagonal.
    let basis = Mat::from_fn(m, k, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Greater => qr[(i, j)],
        std::cmp::Ordering::Equal => 1.0,
        std::cmp::Ordering::Less => 0.0,
    });
    let mut q = Mat::<f64>::identity(m, k);
    apply_block_householder_sequence_on_the_left_in_place_with_conj(
        basis.as_ref(),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(
            apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(m, block, k),
        )),
    );
    q
}

/// `a·b` on one thread.
fn product(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    c
}

/// The full thin SVD of the row-major `rows × cols` matrix `w`: all `min(rows, cols)`
/// triplets.
pub fn full_svd(w: &[f32], rows: usize, cols: usize) -> Result<Svd, SvdError> {
    let a = to_mat(w, rows, cols)?;
    thin_svd(a.as_ref(), rows.min(cols), frobenius2(a.as_ref()))
}

/// How the randomized SVD sketches a matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sketch {
    /// Extra sketch columns beyond the rank (the sketch has `rank + oversample` columns).
    pub oversample: usize,
    /// Power iterations: each multiplies by `W·Wᵀ` once more (with re-orthonormalization),
    /// sharpening a slowly decaying spectrum.
    pub power_iters: usize,
}

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch {
            oversample: 10,
            power_iters: 2,
        }
    }
}

/// The leading `rank` triplets of the row-major `rows × cols` matrix `w` by randomized SVD: a
/// Gaussian sketch `Y = W·Ω` with `rank + oversample` columns (drawn from `rng`), `q` power
/// iterations `Y ← W·(Wᵀ·Q)` with a QR after every product, `Q = qr(Y)`, then the small SVD
/// of `B = Qᵀ·W` lifted back (`U = Q·U_B`). Deterministic for a given `rng` state. When the
/// sketch would be as wide as the matrix, the full SVD is computed instead (same result,
/// cheaper).
pub fn randomized_svd(
    w: &[f32],
    rows: usize,
    cols: usize,
    rank: usize,
    sketch: Sketch,
    rng: &mut Rng,
) -> Result<Svd, SvdError> {
    let a = to_mat(w, rows, cols)?;
    let total_energy = frobenius2(a.as_ref());
    let small = rows.min(cols);
    let rank = rank.clamp(1, small);
    let width = (rank + sketch.oversample).min(small);
    if width >= small {
        return thin_svd(a.as_ref(), rank, total_energy);
    }
    let omega = Mat::from_fn(cols, width, |_, _| rng.normal());
    let mut q = orthonormal_basis(product(a.as_ref(), omega.as_ref()));
    for _ in 0..sketch.power_iters {
        let z = orthonormal_basis(product(a.transpose(), q.as_ref()));
        q = orthonormal_basis(product(a.as_ref(), z.as_ref()));
    }
    let b = product(q.transpose(), a.as_ref());
    let small_svd = thin_svd(b.as_ref(), rank, total_energy)?;
    Ok(Svd {
        u: product(q.as_ref(), small_svd.u.as_ref()),
        ..small_svd
    })
}
