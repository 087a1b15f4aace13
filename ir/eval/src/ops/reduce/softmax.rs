//! `Softmax`, `LogSoftmax` and `Hardmax`, over one axis (opset 13+) or, with `coerce_2d`,
//! over all axes from `axis` on. Both are blocks of `n` rows of `inner` elements each,
//! normalised down the rows; f16/bf16 compute in f32.

use super::norm_axis;
use crate::Array;
use crate::ops::elementwise::num::{FloatFn, Real, map_float, max_nan};
use crate::run::{KernelError, unsupported};
use nnslim_ir::op::{Softmax, SoftmaxKind};
use std::convert::Infallible;

pub(super) fn softmax(s: &Softmax, x: &Array) -> Result<Array, KernelError> {
    let (n, inner) = match x.rank() {
        0 => (1, 1),
        rank => {
            let axis = norm_axis(s.axis, rank)?;
            let after: usize = x.shape[axis + 1..].iter().product();
            if s.coerce_2d {
                (x.shape[axis] * after, 1)
            } else {
                (x.shape[axis], after)
            }
        }
    };
    let kernel = Kernel {
        kind: s.kind,
        n,
        inner,
    };
    match map_float(&x.data, &kernel) {
        Some(Ok(data)) => Ok(Array {
            shape: x.shape.clone(),
            data,
        }),
        _ => unsupported(format!("{} of {} data", s.op_type(), x.dtype())),
    }
}

struct Kernel {
    kind: SoftmaxKind,
    n: usize,
    inner: usize,
}

impl FloatFn for Kernel {
    type Error = Infallible;

    fn call<T: Real>(&self, x: &[T]) -> Result<Vec<T>, Infallible> {
        let mut out = x.to_vec();
        let inner = self.inner;
        if self.n * inner == 0 {
            return Ok(out);
        }
        if inner == 1 {
            for row in out.chunks_exact_mut(self.n) {
                contiguous(self.kind, row);
            }
            return Ok(out);
        }
        let soft = self.kind == SoftmaxKind::Softmax;
        let (mut m, mut sum) = (vec![T::ZERO; inner], vec![T::ZERO; inner]);
        for block in out.chunks_exact_mut(self.n * inner) {
            m.copy_from_slice(&block[..inner]);
            for row in block.chunks_exact(inner).skip(1) {
                for (m, &v) in m.iter_mut().zip(row) {
                    *m = max_nan(*m, v);
                }
            }
            if self.kind == SoftmaxKind::Hardmax {
                hardmax(block, &m);
                continue;
            }
            sum.fill(T::ZERO);
            for row in block.chunks_exact_mut(inner) {
                for ((v, &m), s) in row.iter_mut().zip(&m).zip(&mut sum) {
                    let e = (*v - m).exp();
                    *s = *s + e;
                    *v = if soft { e } else { *v - m };
                }
            }
            for row in block.chunks_exact_mut(inner) {
                for (v, &s) in row.iter_mut().zip(&sum) {
                    *v = if soft { *v / s } else { *v - s.ln() };
                }
            }
        }
        Ok(out)
    }
}

/// One contiguous row normalised (the last-axis and coerced-2-D cases).
fn contiguous<T: Real>(kind: SoftmaxKind, row: &mut [T]) {
    let m = row.iter().fold(row[0], |m, &v| max_nan(m, v));
    match kind {
        SoftmaxKind::Softmax => {
            let mut sum = T::ZERO;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                sum = sum + *v;
            }
            for v in row.iter_mut() {
                *v = *v / sum;
            }
        }
        SoftmaxKind::LogSoftmax => {
            let sum = row.iter().fold(T::ZERO, |s, &v| s + (v - m).exp());
            let log = sum.ln();
            for v in row.iter_mut() {
                *v = (*v - m) - log;
            }
        }
        SoftmaxKind::Hardmax => hardmax(row, &[m]),
    }
}

/// 1 at the first maximum of each column of `block` (`m` holds the maxima), 0 elsewhere.
fn hardmax<T: Real>(block: &mut [T], m: &[T]) {
    let mut found = vec![false; m.len()];
    for row in block.chunks_exact_mut(m.len()) {
        for ((v, &m), f) in row.iter_mut().zip(m).zip(&mut found) {
            let hit = !*f && (*v == m || (v.is_nan() && m.is_nan()));
            *f |= hit;
            *v = if hit { T::ONE } else { T::ZERO };
        }
    }
}
