//! `ArgMax` / `ArgMin`: the int64 index of the extreme along one axis. Ties pick the first
//! index (the last with `select_last_index`); NaN counts as the extreme, first one winning.

use super::norm_axis;
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, for_numeric};
use nnslim_ir::op::ArgReduce;

pub(super) fn arg_reduce(a: &ArgReduce, x: &Array) -> Result<Array, KernelError> {
    let axis = norm_axis(a.axis, x.rank())?;
    let n = x.shape[axis];
    if n == 0 {
        return invalid(format!("{} over an empty axis", a.op_type()));
    }
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let idx = match &x.data {
        Data::Bool(v) => best(a, v, outer, n, inner),
        d => for_numeric!(d, v => best(a, v, outer, n, inner),
            _ => return unsupported(format!("{} of {} data", a.op_type(), d.dtype()))),
    };
    let mut shape = x.shape.clone();
    if a.keepdims {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    Ok(Array::i64(shape, idx))
}

/// Whether `v` replaces the current extreme `b`.
fn better<T: PartialOrd + Copy>(a: &ArgReduce, v: T, b: T) -> bool {
    let nan = |t: T| t.partial_cmp(&t).is_none();
    if nan(b) {
        return false;
    }
    if nan(v) {
        return true;
    }
    match (a.max, a.select_last_index) {
        (true, false) => v > b,
        (true, true) => v >= b,
        (false, false) => v < b,
        (false, true) => v <= b,
    }
}

/// For each (outer, inner) position, the index along the axis of length `n`.
fn best<T: PartialOrd + Copy>(
    a: &ArgReduce,
    x: &[T],
    outer: usize,
    n: usize,
    inner: usize,
) -> Vec<i64> {
    let mut out = Vec::with_capacity(outer * inner);
    if outer * inner == 0 {
        return out;
    }
    let (mut idx, mut val) = (vec![0i64; inner], x[..inner].to_vec());
    for block in x.chunks_exact(n * inner).take(outer) {
        idx.fill(0);
        val.copy_from_slice(&block[..inner]);
        for (k, row) in block.chunks_exact(inner).enumerate().skip(1) {
            for ((i, b), &v) in idx.iter_mut().zip(val.iter_mut()).zip(row) {
                if better(a, v, *b) {
                    *b = v;
                    *i = k as i64;
                }
            }
        }
        out.extend_from_slice(&idx);
    }
    out
}
