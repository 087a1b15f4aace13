//! Layout kernels: `Reshape`, `Flatten`, `Transpose`, `Squeeze`, `Unsqueeze` and
//! `ConstantOfShape`. Only `Transpose` moves elements; the rest relabel the shape.

use super::elems::{element_count, gather_tables, identity_tables, repeat};
use super::{array, norm_axes};
use crate::Array;
use crate::ops::broadcast::strides;
use crate::run::{KernelError, invalid};
use nnslim_ir::op::{Flatten, Reshape, Transpose};

/// `Reshape`: 0 copies the input's dim at that position (unless `allowzero`), -1 is inferred.
pub(crate) fn reshape(op: &Reshape, x: &Array, spec: &[i64]) -> Result<Array, KernelError> {
    if spec.iter().filter(|&&v| v == -1).count() > 1 {
        return invalid(format!("shape {spec:?} has more than one -1"));
    }
    if let Some(v) = spec.iter().find(|&&v| v < -1) {
        return invalid(format!("shape {spec:?} has invalid size {v}"));
    }
    if op.allowzero && spec.contains(&0) && spec.contains(&-1) {
        return invalid(format!("shape {spec:?} has both 0 and -1 with allowzero"));
    }
    let mut dims = Vec::with_capacity(spec.len());
    for (i, &v) in spec.iter().enumerate() {
        dims.push(match v {
            0 if !op.allowzero => match x.shape.get(i) {
                Some(&d) => d,
                None => {
                    return invalid(format!(
                        "shape[{i}] = 0 copies axis {i}, but the data has rank {}",
                        x.rank()
                    ));
                }
            },
            -1 => 1,
            v => usize::try_from(v).or_else(|_| invalid(format!("size {v} is too large")))?,
        });
    }
    let total = x.len();
    let known = element_count(&dims)?;
    if let Some(hole) = spec.iter().position(|&v| v == -1) {
        if known == 0 || !total.is_multiple_of(known) {
            return invalid(format!(
                "cannot reshape {:?} into {spec:?}: element counts do not divide",
                x.shape
            ));
        }
        dims[hole] = total / known;
    } else if known != total {
        return invalid(format!(
            "cannot reshape {:?} ({total} elements) into {dims:?} ({known} elements)",
            x.shape
        ));
    }
    array(dims, x.data.clone())
}

/// `Flatten` to `[d0*..*d(axis-1), d(axis)*..]`.
pub(crate) fn flatten(op: &Flatten, x: &Array) -> Result<Array, KernelError> {
    let r = x.rank() as i64;
    let a = if op.axis < 0 { op.axis + r } else { op.axis };
    if !(0..=r).contains(&a) {
        return invalid(format!("axis {} is out of range for rank {r}", op.axis));
    }
    let (left, right) = x.shape.split_at(a as usize);
    let shape = vec![left.iter().product(), right.iter().product()];
    array(shape, x.data.clone())
}

/// `Transpose`: output axis `a` is input axis `perm[a]`.
pub(crate) fn transpose(op: &Transpose, x: &Array) -> Result<Array, KernelError> {
    let rank = x.rank();
    let perm: Vec<usize> = match &op.perm {
        Some(p) => {
            if p.len() != rank {
                return invalid(format!("perm {p:?} does not fit rank {rank}"));
            }
            p.iter().map(|&i| i as usize).collect()
        }
        None => (0..rank).rev().collect(),
    };
    permute(x, &perm)
}

/// The array with its axes reordered: output axis `a` is input axis `perm[a]` (a permutation).
pub(crate) fn permute(x: &Array, perm: &[usize]) -> Result<Array, KernelError> {
    let mut seen = vec![false; x.rank()];
    for &p in perm {
        match seen.get_mut(p) {
            Some(s) if !*s => *s = true,
            _ => return invalid(format!("{perm:?} is not a permutation of 0..{}", x.rank())),
        }
    }
    if perm.len() != x.rank() {
        return invalid(format!("perm {perm:?} does not fit rank {}", x.rank()));
    }
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(x.clone());
    }
    let st = strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let pstrides: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let tables = identity_tables(&shape, &pstrides);
    let data = gather_tables(&x.data, None, &tables)?;
    array(shape, data)
}

/// `Squeeze`: removes the listed axes (all size-1 axes when none are listed).
pub(crate) fn squeeze(x: &Array, axes: Option<&[i64]>) -> Result<Array, KernelError> {
    let axes = match axes {
        Some(a) if !a.is_empty() => norm_axes(a, x.rank(), "axes")?,
        _ => (0..x.rank()).filter(|&i| x.shape[i] == 1).collect(),
    };
    if let Some(&a) = axes.iter().find(|&&a| x.shape[a] != 1) {
        return invalid(format!("cannot squeeze axis {a} of size {}", x.shape[a]));
    }
    let shape = (0..x.rank())
        .filter(|i| !axes.contains(i))
        .map(|i| x.shape[i])
        .collect();
    array(shape, x.data.clone())
}

/// `Unsqueeze`: inserts size-1 axes at the listed positions of the output.
pub(crate) fn unsqueeze(x: &Array, axes: &[i64]) -> Result<Array, KernelError> {
    let rank = x.rank() + axes.len();
    let axes = norm_axes(axes, rank, "axes")?;
    let mut rest = x.shape.iter();
    let shape = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                rest.next().copied().unwrap_or(1)
            }
        })
        .collect();
    array(shape, x.data.clone())
}

/// `ConstantOfShape`: `fill` (one element) repeated over `dims`.
pub(crate) fn constant_of_shape(fill: &Array, dims: &[i64]) -> Result<Array, KernelError> {
    let shape = dims
        .iter()
        .map(|&d| {
            usize::try_from(d).or_else(|_| invalid(format!("shape {dims:?} has a negative size")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n = element_count(&shape)?;
    if fill.is_empty() {
        return invalid("value has no element");
    }
    let data = repeat(&fill.data, 0, n)?;
    array(shape, data)
}
