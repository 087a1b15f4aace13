//! Kernels for the elementwise op family: `Unary`, `Binary`, `Variadic`, `Where`, `Clip` and
//! `Cast` (see `ops/mod.rs` for the routing). The element traits in [`num`] are shared with
//! the reductions.

mod binary;
mod cast;
mod erf;
pub(super) mod num;
mod packed;
#[cfg(test)]
mod tests;
mod unary;
pub(super) mod zip;

use super::NodeCx;
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value, for_numeric};
use nnslim_ir::Op;
use nnslim_ir::op::ClipAttrs;
use num::{Elem, map};

pub(crate) fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    let out = match cx.op() {
        Op::Unary(u) => {
            let x = tensor(inputs, 0)?;
            Array {
                shape: x.shape.clone(),
                data: unary::unary(*u, &x.data)?,
            }
        }
        Op::Binary(b) => binary::binary(*b, tensor(inputs, 0)?, tensor(inputs, 1)?)?,
        Op::Variadic(v) => {
            let xs: Vec<&Array> = (0..inputs.len())
                .map(|i| tensor(inputs, i))
                .collect::<Result<_, _>>()?;
            binary::variadic(*v, &xs)?
        }
        Op::Where => binary::select(tensor(inputs, 0)?, tensor(inputs, 1)?, tensor(inputs, 2)?)?,
        Op::Clip(c) => clip(
            tensor(inputs, 0)?,
            c.attrs,
            opt_tensor(inputs, 1)?,
            opt_tensor(inputs, 2)?,
        )?,
        Op::Cast(c) => cast::cast(c, tensor(inputs, 0)?)?,
        other => return unsupported(format!("{} is not an elementwise op", other.op_type())),
    };
    Ok(vec![Value::Tensor(out)])
}

/// Input `i`, which must be present and a tensor whose data matches its shape.
pub(super) fn tensor<'a>(inputs: &[Option<&'a Value>], i: usize) -> Result<&'a Array, KernelError> {
    match opt_tensor(inputs, i)? {
        Some(a) => Ok(a),
        None => invalid(format!("input {i} is missing")),
    }
}

/// Input `i` if present (a tensor whose data matches its shape).
pub(super) fn opt_tensor<'a>(
    inputs: &[Option<&'a Value>],
    i: usize,
) -> Result<Option<&'a Array>, KernelError> {
    let Some(v) = inputs.get(i).copied().flatten() else {
        return Ok(None);
    };
    let Some(a) = v.as_tensor() else {
        return invalid(format!("input {i} is not a tensor"));
    };
    let packed = matches!(a.data, Data::Packed(..));
    if !packed && a.data.len() != a.len() {
        return invalid(format!(
            "input {i} has shape {:?} but {} elements",
            a.shape,
            a.data.len()
        ));
    }
    Ok(Some(a))
}

/// `Clip`: bounds from the attributes (before opset 11) or the optional scalar inputs; a
/// minimum above the maximum gives the maximum; NaN stays NaN.
fn clip(
    x: &Array,
    attrs: Option<ClipAttrs>,
    lo: Option<&Array>,
    hi: Option<&Array>,
) -> Result<Array, KernelError> {
    fn run<T: Elem>(
        v: &[T],
        attrs: Option<(f32, f32)>,
        lo: Option<&Array>,
        hi: Option<&Array>,
    ) -> Result<Data, KernelError> {
        let bound = |b: Option<&Array>, attr: Option<f32>, default: T| match (b, attr) {
            (Some(b), _) => match T::slice(&b.data) {
                Some(&[s]) => Ok(s),
                Some(_) => invalid(format!("bounds must be scalars, got shape {:?}", b.shape)),
                None => invalid(format!(
                    "bound of type {} for {} data",
                    b.dtype(),
                    T::dtype()
                )),
            },
            (None, Some(a)) => Ok(saturating(f64::from(a))),
            (None, None) => Ok(default),
        };
        let lo = bound(lo, attrs.map(|a| a.0), T::LOWEST)?;
        let hi = bound(hi, attrs.map(|a| a.1), T::HIGHEST)?;
        Ok(T::data(map(v, |x| {
            let y = if x < lo { lo } else { x };
            if y > hi { hi } else { y }
        })))
    }
    let attrs = attrs.map(|a| (a.min, a.max));
    let data = for_numeric!(&x.data, v => run(v, attrs, lo, hi)?,
        d => return unsupported(format!("Clip of {} data", d.dtype())));
    Ok(Array {
        shape: x.shape.clone(),
        data,
    })
}

/// `v` in `T`, clamped to its range.
fn saturating<T: Elem>(v: f64) -> T {
    if v <= T::LOWEST.to_f64() {
        T::LOWEST
    } else if v >= T::HIGHEST.to_f64() {
        T::HIGHEST
    } else {
        T::from_f64(v)
    }
}
