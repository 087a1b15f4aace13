//! Kernels for the reduction family: `Reduce*`, `ArgMax`/`ArgMin` and
//! `Softmax`/`LogSoftmax`/`Hardmax` (see `ops/mod.rs` for the routing).
//!
//! Float reductions accumulate in f64 and round once; integer sums and products wrap in the
//! element type; `Max`/`Min` propagate NaN. Reducing an empty set gives the identity of the
//! reduction (0, 1, −inf for `Max`/`LogSum`/`LogSumExp`, the type's minimum for integer
//! `Max`, ...); reducing over no axes (`noop_with_empty_axes`) reduces each element alone,
//! so `ReduceSumSquare` still squares (as ONNX Runtime and the reference do).

mod arg;
mod fold;
mod softmax;
#[cfg(test)]
mod tests;

use super::NodeCx;
use super::elementwise::num::{Elem, map, max_nan, min_nan};
use super::elementwise::{opt_tensor, tensor};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value, for_numeric};
use fold::fold;
use nnslim_ir::Op;
use nnslim_ir::op::{Reduce, ReduceKind};

pub(crate) fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    let x = tensor(inputs, 0)?;
    let out = match cx.op() {
        Op::Reduce(r) => reduce(r, x, opt_tensor(inputs, 1)?)?,
        Op::ArgReduce(a) => arg::arg_reduce(a, x)?,
        Op::Softmax(s) => softmax::softmax(s, x)?,
        other => return unsupported(format!("{} is not a reduction", other.op_type())),
    };
    Ok(vec![Value::Tensor(out)])
}

/// `axis` in `0..rank` (negative counts from the end).
pub(super) fn norm_axis(axis: i64, rank: usize) -> Result<usize, KernelError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return invalid(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok((if axis < 0 { axis + r } else { axis }) as usize)
}

/// Which axes `r` reduces over: a mask over the input's axes (all false: each element alone).
fn reduced_axes(r: &Reduce, x: &Array, axes: Option<&Array>) -> Result<Vec<bool>, KernelError> {
    let rank = x.rank();
    let list = match (&r.axes, axes) {
        (Some(a), _) => a.clone(),
        (None, Some(a)) => match a.to_i64_vec() {
            Some(v) => v,
            None => return invalid(format!("axes must be integers, not {}", a.dtype())),
        },
        (None, None) => Vec::new(),
    };
    if list.is_empty() {
        return Ok(vec![!r.noop_with_empty_axes; rank]);
    }
    let mut mask = vec![false; rank];
    for &a in &list {
        let i = norm_axis(a, rank)?;
        if std::mem::replace(&mut mask[i], true) {
            return invalid(format!("axis {a} is listed twice"));
        }
    }
    Ok(mask)
}

/// A `Reduce*` node.
fn reduce(r: &Reduce, x: &Array, axes: Option<&Array>) -> Result<Array, KernelError> {
    let mask = reduced_axes(r, x, axes)?;
    let shape: Vec<usize> = x
        .shape
        .iter()
        .zip(&mask)
        .filter_map(|(&d, &m)| match (m, r.keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let data = match &x.data {
        Data::Bool(v) if matches!(r.kind, ReduceKind::Max | ReduceKind::Min) => {
            let v = typed(r.kind, &map(v, u8::from), &x.shape, &mask);
            Data::Bool(map(&v, |b| b != 0))
        }
        d => for_numeric!(d, v => Elem::data(typed(r.kind, v, &x.shape, &mask)),
            _ => return unsupported(format!("{} of {} data", r.kind.op_type(), d.dtype()))),
    };
    Ok(Array { shape, data })
}

/// The reduction of `x` (shape `shape`) over the axes in `mask`.
fn typed<T: Elem>(kind: ReduceKind, x: &[T], shape: &[usize], mask: &[bool]) -> Vec<T> {
    let count: usize = shape
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(d, _)| d)
        .product();
    match kind {
        ReduceKind::Max => fold(x, shape, mask, T::LOWEST, max_nan),
        ReduceKind::Min => fold(x, shape, mask, T::HIGHEST, min_nan),
        ReduceKind::LogSumExp => {
            // Online log-sum-exp: (running max, sum of exp(v - max)).
            let acc = fold(x, shape, mask, (f64::NEG_INFINITY, 0.0), |(m, s), v: T| {
                let v = v.to_f64();
                if v.is_nan() || m.is_nan() {
                    (f64::NAN, s)
                } else if v == f64::NEG_INFINITY {
                    (m, s)
                } else if v == m {
                    (m, s + 1.0)
                } else if v > m {
                    (v, s * (m - v).exp() + 1.0)
                } else {
                    (m, s + (v - m).exp())
                }
            });
            map(&acc, |(m, s)| {
                T::from_f64(if s == 0.0 { m } else { m + s.ln() })
            })
        }
        _ if T::FLOAT || matches!(kind, ReduceKind::L2 | ReduceKind::LogSum) => {
            let acc = match kind {
                ReduceKind::Prod => fold(x, shape, mask, 1.0, |a, v: T| a * v.to_f64()),
                ReduceKind::L1 => fold(x, shape, mask, 0.0, |a, v: T| a + v.to_f64().abs()),
                ReduceKind::L2 | ReduceKind::SumSquare => {
                    fold(x, shape, mask, 0.0, |a, v: T| a + v.to_f64() * v.to_f64())
                }
                _ => fold(x, shape, mask, 0.0, |a, v: T| a + v.to_f64()),
            };
            let n = count as f64;
            map(&acc, |a| {
                T::from_f64(match kind {
                    ReduceKind::Mean => a / n,
                    ReduceKind::L2 => a.sqrt(),
                    ReduceKind::LogSum => a.ln(),
                    _ => a,
                })
            })
        }
        _ => {
            // Integers: exact in i128, wrapping to the type's width at the end.
            let acc = match kind {
                ReduceKind::Prod => fold(x, shape, mask, 1, |a: i128, v: T| {
                    a.wrapping_mul(v.to_i128())
                }),
                ReduceKind::L1 => fold(x, shape, mask, 0, |a: i128, v: T| {
                    a.wrapping_add(v.to_i128().abs())
                }),
                ReduceKind::SumSquare => fold(x, shape, mask, 0, |a: i128, v: T| {
                    a.wrapping_add(v.to_i128().wrapping_mul(v.to_i128()))
                }),
                _ => fold(x, shape, mask, 0, |a: i128, v: T| {
                    a.wrapping_add(v.to_i128())
                }),
            };
            let n = count.max(1) as i128;
            map(&acc, |a| {
                T::from_i128(if kind == ReduceKind::Mean { a / n } else { a })
            })
        }
    }
}
