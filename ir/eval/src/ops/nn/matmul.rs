//! Matrix products: the shared GEMM (faer for floats, split over rayon threads when large;
//! plain loops with wrapping arithmetic for integers), `Gemm` and `MatMul`.

use super::{Compute, Float, PAR_MACS, compute_type, floats, input, numel, opt_input};
use crate::ops::broadcast::{broadcast_index, broadcast_shapes};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use faer::{Accum, MatMut, MatRef, Par};
use nnslim_ir::op::Gemm;

/// Fewest output rows or columns per rayon piece.
const PAR_MIN_COLS: usize = 64;

/// `c = alpha * a @ b (+ c when accumulating)` on faer views; with `par`, split over the rayon
/// pool when the product is large enough to pay for it: by output columns, or by rows when
/// there are more rows (each piece then packs only its share of `a`).
pub(super) fn mm<T: Float>(
    c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    alpha: T,
    accum: Accum,
    par: bool,
) {
    let pieces = if par && c.nrows() * c.ncols() * a.ncols() >= PAR_MACS {
        rayon::current_num_threads().min(c.nrows().max(c.ncols()) / PAR_MIN_COLS)
    } else {
        1
    };
    split_mm(c, a, b, alpha, accum, pieces.max(1));
}

fn split_mm<T: Float>(
    c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    alpha: T,
    accum: Accum,
    pieces: usize,
) {
    if a.ncols() == 0 {
        if accum == Accum::Replace {
            let mut c = c;
            for j in 0..c.ncols() {
                for i in 0..c.nrows() {
                    c[(i, j)] = T::ZERO;
                }
            }
        }
        return;
    }
    if c.nrows() == 0 || c.ncols() == 0 {
        return;
    }
    if pieces <= 1 {
        faer::linalg::matmul::matmul(c, accum, a, b, alpha, Par::Seq);
        return;
    }
    let left = pieces / 2;
    if c.nrows() > c.ncols() {
        let mid = c.nrows() * left / pieces;
        let (c0, c1) = c.split_at_row_mut(mid);
        let (a0, a1) = a.split_at_row(mid);
        rayon::join(
            || split_mm(c0, a0, b, alpha, accum, left),
            || split_mm(c1, a1, b, alpha, accum, pieces - left),
        );
    } else {
        let mid = c.ncols() * left / pieces;
        let (c0, c1) = c.split_at_col_mut(mid);
        let (b0, b1) = b.split_at_col(mid);
        rayon::join(
            || split_mm(c0, a, b0, alpha, accum, left),
            || split_mm(c1, a, b1, alpha, accum, pieces - left),
        );
    }
}

/// A row-major `[rows, cols]` view of `v`, transposed when `trans` (then `v` is `[cols, rows]`).
pub(super) fn view<T>(v: &[T], rows: usize, cols: usize, trans: bool) -> MatRef<'_, T> {
    if trans {
        MatRef::from_row_major_slice(&v[..rows * cols], cols, rows).transpose()
    } else {
        MatRef::from_row_major_slice(&v[..rows * cols], rows, cols)
    }
}

/// A mutable row-major `[rows, cols]` view.
pub(super) fn view_mut<T>(v: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(&mut v[..rows * cols], rows, cols)
}

/// Integer element types of `MatMul` / `Gemm` (wrapping arithmetic, like ONNX Runtime).
trait Int: Copy + Default {
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn from_f32(v: f32) -> Option<Self>;
}

macro_rules! impl_int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                self.wrapping_add(a.wrapping_mul(b))
            }
            fn from_f32(v: f32) -> Option<Self> {
                let t = v as $t;
                (t as f32 == v).then_some(t)
            }
        }
    )*};
}
impl_int!(i32, i64, u32, u64);

/// `c += alpha * a' @ b'` on integers; `a` is `[m, k]` (`[k, m]` when `at`), `b` is `[k, n]`
/// (`[n, k]` when `bt`), `c` is `[m, n]`.
#[allow(clippy::too_many_arguments)]
fn int_gemm<T: Int>(
    (m, k, n): (usize, usize, usize),
    a: &[T],
    at: bool,
    b: &[T],
    bt: bool,
    alpha: T,
    c: &mut [T],
) {
    let mut row = vec![T::default(); n];
    for (i, ci) in c.chunks_exact_mut(n).take(m).enumerate() {
        row.fill(T::default());
        for p in 0..k {
            let av = if at { a[p * m + i] } else { a[i * k + p] };
            if bt {
                for (j, r) in row.iter_mut().enumerate() {
                    *r = r.mul_add(av, b[j * k + p]);
                }
            } else {
                for (r, &bv) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                    *r = r.mul_add(av, bv);
                }
            }
        }
        for (cv, &r) in ci.iter_mut().zip(&row) {
            *cv = cv.mul_add(alpha, r);
        }
    }
}

/// `Gemm`: `Y = alpha * A' @ B' + beta * C`, C broadcast to `[M, N]`.
pub(super) fn gemm(op: &Gemm, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let a = input(inputs, 0, "A")?;
    let b = input(inputs, 1, "B")?;
    let c = opt_input(inputs, 2, "C")?;
    let (&[ar, ac], &[br, bc]) = (a.shape.as_slice(), b.shape.as_slice()) else {
        return invalid(format!(
            "A {:?} and B {:?} must both be matrices",
            a.shape, b.shape
        ));
    };
    let (m, ka) = if op.trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if op.trans_b { (bc, br) } else { (br, bc) };
    if ka != kb {
        return invalid(format!(
            "inner dimensions differ: A {:?} (transA {}) and B {:?} (transB {})",
            a.shape, op.trans_a, b.shape, op.trans_b
        ));
    }
    // C's element for every output element.
    let c_index = match c {
        Some(c) if op.beta != 0.0 => {
            let ok = c.rank() <= 2 && broadcast_shapes(&[&c.shape, &[m, n]]) == Some(vec![m, n]);
            if !ok {
                return invalid(format!("C {:?} does not broadcast to [{m}, {n}]", c.shape));
            }
            Some((c, broadcast_index(&c.shape, &[m, n])))
        }
        _ => None,
    };
    let dtype = a.dtype();
    let data = match compute_type(dtype) {
        Some(Compute::F32) => float_gemm::<f32>(op, a, b, c_index, (m, ka, n))?,
        Some(Compute::F64) => float_gemm::<f64>(op, a, b, c_index, (m, ka, n))?,
        None => {
            macro_rules! ints {
                ($($v:ident),*) => {
                    match (&a.data, &b.data) {
                        $((Data::$v(av), Data::$v(bv)) => {
                            let cv = match &c_index {
                                Some((c, _)) => match &c.data {
                                    Data::$v(cv) => Some(&cv[..]),
                                    _ => return invalid(format!("C is {}, A is {dtype}", c.dtype())),
                                },
                                None => None,
                            };
                            let alpha = Int::from_f32(op.alpha);
                            let beta = Int::from_f32(op.beta);
                            let (Some(alpha), Some(beta)) = (alpha, beta) else {
                                return unsupported(format!(
                                    "integer Gemm with non-integer alpha {} or beta {}",
                                    op.alpha, op.beta
                                ));
                            };
                            let mut y = vec![Default::default(); m * n];
                            if let (Some(cv), Some((_, idx))) = (cv, &c_index) {
                                for (yv, &i) in y.iter_mut().zip(idx) {
                                    *yv = Int::mul_add(*yv, beta, cv[i]);
                                }
                            }
                            int_gemm((m, ka, n), av, op.trans_a, bv, op.trans_b, alpha, &mut y);
                            Data::$v(y)
                        })*
                        _ => return unsupported(format!(
                            "Gemm on {dtype} and {}", b.dtype()
                        )),
                    }
                };
            }
            ints!(I32, I64, U32, U64)
        }
    };
    Ok(Array::new(vec![m, n], data).expect("m * n elements"))
}

fn float_gemm<T: Float>(
    op: &Gemm,
    a: &Array,
    b: &Array,
    c: Option<(&Array, Vec<usize>)>,
    (m, k, n): (usize, usize, usize),
) -> Result<Data, KernelError> {
    let av = floats::<T>(a, "A")?;
    let bv = floats::<T>(b, "B")?;
    let mut y = vec![T::ZERO; m * n];
    let mut accum = Accum::Replace;
    if let Some((c, idx)) = c {
        let cv = floats::<T>(c, "C")?;
        let beta = T::from_f64(op.beta as f64);
        for (yv, &i) in y.iter_mut().zip(&idx) {
            *yv = beta * cv[i];
        }
        accum = Accum::Add;
    }
    mm(
        view_mut(&mut y, m, n),
        view(&av, m, k, op.trans_a),
        view(&bv, k, n, op.trans_b),
        T::from_f64(op.alpha as f64),
        accum,
        true,
    );
    Ok(T::into_data(y, a.dtype()))
}

/// `MatMul` with numpy semantics: 1-D operands and batch broadcasting.
pub(super) fn matmul(inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let a = input(inputs, 0, "A")?;
    let b = input(inputs, 1, "B")?;
    if a.rank() == 0 || b.rank() == 0 {
        return invalid(format!(
            "operands must have rank 1 or more, got A {:?} and B {:?}",
            a.shape, b.shape
        ));
    }
    let mut sa = a.shape.clone();
    let mut sb = b.shape.clone();
    if sa.len() == 1 {
        sa.insert(0, 1);
    }
    if sb.len() == 1 {
        sb.push(1);
    }
    let (ra, rb) = (sa.len(), sb.len());
    let (m, k, kb, n) = (sa[ra - 2], sa[ra - 1], sb[rb - 2], sb[rb - 1]);
    let batch = broadcast_shapes(&[&sa[..ra - 2], &sb[..rb - 2]]);
    let Some(batch) = batch.filter(|_| k == kb) else {
        return invalid(format!(
            "A {:?} and B {:?} do not multiply",
            a.shape, b.shape
        ));
    };
    let mut shape = batch.clone();
    if a.rank() > 1 {
        shape.push(m);
    }
    if b.rank() > 1 {
        shape.push(n);
    }
    numel(&shape)?;
    let plan = BatchPlan::new(&sa[..ra - 2], &sb[..rb - 2], &batch, (m, k, n));
    let dtype = a.dtype();
    let data = match compute_type(dtype) {
        Some(Compute::F32) => float_matmul::<f32>(a, b, &plan)?,
        Some(Compute::F64) => float_matmul::<f64>(a, b, &plan)?,
        None => {
            macro_rules! ints {
                ($($v:ident),*) => {
                    match (&a.data, &b.data) {
                        $((Data::$v(av), Data::$v(bv)) => {
                            let mut y = vec![Default::default(); plan.out_len()];
                            plan.for_each(&mut y, |(m, k, n), ao, bo, yv| {
                                int_gemm((m, k, n), &av[ao..], false, &bv[bo..], false,
                                    1, yv)
                            });
                            Data::$v(y)
                        })*
                        _ => return unsupported(format!(
                            "MatMul on {dtype} and {}", b.dtype()
                        )),
                    }
                };
            }
            ints!(I32, I64, U32, U64)
        }
    };
    Ok(Array::new(shape, data).expect("shape matches the product"))
}

fn float_matmul<T: Float>(a: &Array, b: &Array, plan: &BatchPlan) -> Result<Data, KernelError> {
    let av = floats::<T>(a, "A")?;
    let bv = floats::<T>(b, "B")?;
    let mut y = vec![T::ZERO; plan.out_len()];
    plan.for_each(&mut y, |(m, k, n), ao, bo, yv| {
        mm(
            view_mut(yv, m, n),
            view(&av[ao..], m, k, false),
            view(&bv[bo..], k, n, false),
            T::ONE,
            Accum::Replace,
            true,
        )
    });
    Ok(T::into_data(y, a.dtype()))
}

/// The matrix products of a batched `MatMul`: offsets of each A and B matrix. When B is a
/// single matrix shared by the whole batch of A, the batch is folded into A's rows.
struct BatchPlan {
    dims: (usize, usize, usize),
    pairs: Vec<(usize, usize)>,
}

impl BatchPlan {
    fn new(ba: &[usize], bb: &[usize], batch: &[usize], (m, k, n): (usize, usize, usize)) -> Self {
        let count: usize = batch.iter().product();
        if bb.iter().product::<usize>() == 1 && ba == batch {
            return BatchPlan {
                dims: (m * count, k, n),
                pairs: vec![(0, 0)],
            };
        }
        let ia = broadcast_index(ba, batch);
        let ib = broadcast_index(bb, batch);
        BatchPlan {
            dims: (m, k, n),
            pairs: ia
                .into_iter()
                .zip(ib)
                .map(|(i, j)| (i * m * k, j * k * n))
                .collect(),
        }
    }

    fn out_len(&self) -> usize {
        let (m, _, n) = self.dims;
        m * n * self.pairs.len()
    }

    fn for_each<T>(
        &self,
        y: &mut [T],
        mut f: impl FnMut((usize, usize, usize), usize, usize, &mut [T]),
    ) {
        let (m, _, n) = self.dims;
        if m * n == 0 {
            return;
        }
        for (yv, &(ao, bo)) in y.chunks_exact_mut(m * n).zip(&self.pairs) {
            f(self.dims, ao, bo, yv);
        }
    }
}
