//! Kernels for the shape op family: layout (`Reshape`, `Flatten`, `Transpose`, `Squeeze`,
//! `Unsqueeze`), joining and cutting (`Concat`, `Split`, `Slice`, `Gather`, `Pad`), `Resize`,
//! shape queries, constants, `Identity` and `Dropout`. Everything that only moves elements is
//! generic over the element type (strings and packed types included) and never converts.

pub(crate) mod elems;
mod layout;
mod random;
mod resize;
mod slicing;
#[cfg(test)]
mod tests;

use super::NodeCx;
use crate::run::{KernelError, invalid};
use crate::{Array, Data, Value};
use nnslim_ir::Op;

pub(crate) use layout::permute as layout_permute;
pub(crate) use slicing::slice_axis;

pub(crate) fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    let one = |a: Array| Ok(vec![Value::Tensor(a)]);
    match cx.op() {
        Op::Identity => Ok(vec![value(inputs, 0)?.clone()]),
        Op::Flatten(f) => one(layout::flatten(f, tensor(inputs, 0)?)?),
        Op::Reshape(r) => one(layout::reshape(
            r,
            tensor(inputs, 0)?,
            &ints(tensor(inputs, 1)?, "shape")?,
        )?),
        Op::Transpose(t) => one(layout::transpose(t, tensor(inputs, 0)?)?),
        Op::Squeeze(s) => {
            let axes = attr_or_input(&s.axes, inputs, 1, "axes")?;
            one(layout::squeeze(tensor(inputs, 0)?, axes.as_deref())?)
        }
        Op::Unsqueeze(u) => {
            let Some(axes) = attr_or_input(&u.axes, inputs, 1, "axes")? else {
                return invalid("axes are required");
            };
            one(layout::unsqueeze(tensor(inputs, 0)?, &axes)?)
        }
        Op::Shape(s) => {
            let x = tensor(inputs, 0)?;
            let dims: Vec<i64> = x.shape[s.range(x.rank())]
                .iter()
                .map(|&d| d as i64)
                .collect();
            one(Array::i64(vec![dims.len()], dims))
        }
        Op::Size => one(Array::i64(vec![], vec![tensor(inputs, 0)?.len() as i64])),
        Op::Constant(c) => one(Array::from_tensor(c.value()).or_else(|e| invalid(e.to_string()))?),
        Op::ConstantOfShape(c) => {
            let fill = Array::from_tensor(&c.value).or_else(|e| invalid(e.to_string()))?;
            one(layout::constant_of_shape(
                &fill,
                &ints(tensor(inputs, 0)?, "shape")?,
            )?)
        }
        Op::Dropout(d) => random::dropout(d, inputs, cx.num_outputs()),
        Op::Concat(c) => {
            let xs = (0..inputs.len())
                .map(|i| tensor(inputs, i))
                .collect::<Result<Vec<_>, _>>()?;
            one(slicing::concat(c.axis, &xs)?)
        }
        Op::Split(s) => slicing::split(s, inputs, cx.num_outputs()),
        Op::Slice(s) => one(slicing::slice(s, inputs)?),
        Op::Gather(g) => one(slicing::gather_axis(
            tensor(inputs, 0)?,
            g.axis,
            tensor(inputs, 1)?,
        )?),
        Op::Pad(p) => one(slicing::pad(p, inputs)?),
        Op::Resize(r) => one(resize::resize(r, inputs)?),
        other => invalid(format!("{} is not a shape op", other.op_type())),
    }
}

/// The value at `slot`, which must be present.
pub(crate) fn value<'a>(
    inputs: &[Option<&'a Value>],
    slot: usize,
) -> Result<&'a Value, KernelError> {
    match inputs.get(slot).copied().flatten() {
        Some(v) => Ok(v),
        None => invalid(format!("input {slot} is required")),
    }
}

/// Checks that an array's data holds as many elements as its shape says.
pub(crate) fn checked(a: &Array) -> Result<&Array, KernelError> {
    let want = a.shape.iter().try_fold(1usize, |x, &d| x.checked_mul(d));
    let ok = match (&a.data, want) {
        (Data::Packed(..), Some(n)) => a.data.len() >= n,
        (_, Some(n)) => a.data.len() == n,
        _ => false,
    };
    if ok {
        Ok(a)
    } else {
        invalid(format!(
            "array of shape {:?} holds {} elements",
            a.shape,
            a.data.len()
        ))
    }
}

/// The tensor at `slot`, which must be present.
pub(crate) fn tensor<'a>(
    inputs: &[Option<&'a Value>],
    slot: usize,
) -> Result<&'a Array, KernelError> {
    match value(inputs, slot)? {
        Value::Tensor(a) => checked(a),
        _ => invalid(format!("input {slot} must be a tensor")),
    }
}

/// The tensor at `slot`, if present.
pub(crate) fn opt_tensor<'a>(
    inputs: &[Option<&'a Value>],
    slot: usize,
) -> Result<Option<&'a Array>, KernelError> {
    match inputs.get(slot).copied().flatten() {
        None => Ok(None),
        Some(_) => tensor(inputs, slot).map(Some),
    }
}

/// The elements of an integer tensor (a shape, axes, pads, indices...).
pub(crate) fn ints(a: &Array, what: &str) -> Result<Vec<i64>, KernelError> {
    match &a.data {
        Data::Bool(_) => invalid(format!("{what} must be integers, got bool")),
        _ => match a.to_i64_vec() {
            Some(v) => Ok(v),
            None => invalid(format!("{what} must be integers, got {}", a.dtype())),
        },
    }
}

/// A list from the attribute form when the op has it, else from the optional input `slot`.
fn attr_or_input(
    attr: &Option<Vec<i64>>,
    inputs: &[Option<&Value>],
    slot: usize,
    what: &str,
) -> Result<Option<Vec<i64>>, KernelError> {
    match attr {
        Some(a) => Ok(Some(a.clone())),
        None => opt_tensor(inputs, slot)?.map(|t| ints(t, what)).transpose(),
    }
}

/// Normalises `axis` against `rank` (valid range `[-rank, rank-1]`).
pub(crate) fn norm_axis(axis: i64, rank: usize, what: &str) -> Result<usize, KernelError> {
    let r = rank as i64;
    let a = if axis < 0 {
        axis.saturating_add(r)
    } else {
        axis
    };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        invalid(format!("{what} {axis} is out of range for rank {rank}"))
    }
}

/// Normalises a list of axes; repeated axes are an error.
pub(crate) fn norm_axes(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>, KernelError> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = norm_axis(a, rank, what)?;
        if out.contains(&n) {
            return invalid(format!("{what} {axes:?} repeat axis {n}"));
        }
        out.push(n);
    }
    Ok(out)
}

/// An array with `shape` and `data`; the count must agree (an internal invariant here).
pub(crate) fn array(shape: Vec<usize>, data: Data) -> Result<Array, KernelError> {
    Array::new(shape, data).or_else(|e| invalid(e.to_string()))
}
