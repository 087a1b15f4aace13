//! Inference helpers shared by the typed ops: reading input facts, numpy broadcasting over
//! symbolic dims, axis normalisation, symbolic products and dim merging.

use super::{InferInput, OpError};
use crate::{DType, Dim, Shape, TensorType, Type};

impl<'a> InferInput<'a> {
    /// The dense tensor type, if the input is known to be a dense tensor.
    pub fn tensor(&self) -> Option<&'a TensorType> {
        self.ty.as_tensor()
    }

    /// The element type, if known.
    pub fn dtype(&self) -> Option<DType> {
        self.tensor()
            .map(|t| t.dtype)
            .filter(|d| *d != DType::Undefined)
    }

    /// The shape, if the rank is known.
    pub fn shape(&self) -> Option<&'a Shape> {
        self.tensor().and_then(|t| t.shape.as_ref())
    }

    /// The rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape().map(Vec::len)
    }

    /// The constant value as integers, if the input is a dense integer constant.
    pub fn const_ints(&self) -> Option<Vec<i64>> {
        self.value.and_then(|t| t.to_i64_vec().ok())
    }

    /// The constant value as floats, if the input is a dense floating-point constant.
    pub fn const_floats(&self) -> Option<Vec<f32>> {
        self.value.and_then(|t| t.to_f32_vec().ok())
    }

    /// The number of elements of a 1-D input (a shape or axes list), from its value or its
    /// static shape; `None` beyond [`MAX_RANK`].
    pub fn len_1d(&self) -> Option<usize> {
        let n = match (self.value, self.shape().map(Vec::as_slice)) {
            (Some(t), _) if t.dims.len() == 1 => t.dims[0],
            (None, Some([Dim::Known(n)])) => *n,
            _ => return None,
        };
        usize::try_from(n).ok().filter(|&n| n <= MAX_RANK)
    }
}

/// The largest rank inference builds from a declared length (a guard against absurd shapes).
pub(crate) const MAX_RANK: usize = 1024;

/// The input at `slot`; a missing required input is an error.
pub(crate) fn required<'a>(
    inputs: &[Option<InferInput<'a>>],
    slot: usize,
) -> Result<InferInput<'a>, OpError> {
    optional(inputs, slot).ok_or_else(|| OpError::Input {
        slot,
        msg: "required input is missing".into(),
    })
}

/// The input at `slot`, if present.
pub(crate) fn optional<'a>(
    inputs: &[Option<InferInput<'a>>],
    slot: usize,
) -> Option<InferInput<'a>> {
    inputs.get(slot).copied().flatten()
}

/// A dense tensor type; unknown element type makes the whole type unknown.
pub(crate) fn out(dtype: Option<DType>, shape: Option<Shape>) -> Type {
    match dtype {
        Some(d) => Type::tensor(d, shape),
        None => Type::Unknown,
    }
}

/// An input error for `slot`.
pub(crate) fn input_err(slot: usize, msg: impl Into<String>) -> OpError {
    OpError::Input {
        slot,
        msg: msg.into(),
    }
}

/// Formats a shape as `[N,3,?]`.
pub(crate) fn show(shape: &[Dim]) -> String {
    let parts: Vec<String> = shape.iter().map(Dim::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// Normalises a possibly negative axis against `rank` (valid range `[-rank, rank-1]`).
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = if axis < 0 { axis.checked_add(r)? } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// [`norm_axis`] for an attribute: out of range is an `AttrValue` error naming it.
pub(crate) fn attr_axis(name: &str, axis: i64, rank: usize) -> Result<usize, OpError> {
    norm_axis(axis, rank).ok_or_else(|| {
        super::attrs::bad_value(
            name,
            format!("axis {axis} is out of range for an input of rank {rank}"),
        )
    })
}

/// Normalises a list of axes (from attribute `name` or, when `slot` is given, from that input);
/// duplicates and out-of-range axes are errors.
pub(crate) fn norm_axes(
    axes: &[i64],
    rank: usize,
    name: &str,
    slot: Option<usize>,
) -> Result<Vec<usize>, OpError> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let msg = match norm_axis(a, rank) {
            None => Some(format!("axis {a} is out of range for rank {rank}")),
            Some(n) if out.contains(&n) => Some(format!("axis {a} is repeated in {axes:?}")),
            Some(n) => {
                out.push(n);
                None
            }
        };
        if let Some(msg) = msg {
            return Err(match slot {
                Some(slot) => input_err(slot, format!("{name}: {msg}")),
                None => super::attrs::bad_value(name, msg),
            });
        }
    }
    Ok(out)
}

/// The broadcast of one output position's dims, numpy style; `Err` when two known sizes
/// other than 1 differ.
fn broadcast_dim(dims: &[&Dim]) -> Result<Dim, (i64, i64)> {
    let mut known: Option<i64> = None;
    let mut symbol: Option<&str> = None;
    let mut ambiguous = false;
    for d in dims {
        match d {
            Dim::Known(1) => {}
            Dim::Known(v) => match known {
                Some(k) if k != *v => return Err((k, *v)),
                _ => known = Some(*v),
            },
            Dim::Symbol(s) => match symbol {
                Some(t) if t != s => ambiguous = true,
                _ => symbol = Some(s),
            },
            Dim::Unknown => ambiguous = true,
        }
    }
    Ok(match (known, symbol) {
        // A known size other than 1 wins: every other dim is that size or 1.
        (Some(k), _) => Dim::Known(k),
        (None, Some(s)) if !ambiguous => Dim::Symbol(s.to_string()),
        (None, None) if !ambiguous => Dim::Known(1),
        _ => Dim::Unknown,
    })
}

/// Multidirectional (numpy) broadcasting of several shapes.
pub(crate) fn broadcast(shapes: &[&Shape]) -> Result<Shape, OpError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut result = Vec::with_capacity(rank);
    for i in 0..rank {
        // Position `i` counted from the left of the output.
        let dims: Vec<&Dim> = shapes
            .iter()
            .filter_map(|s| (i + s.len()).checked_sub(rank).map(|j| &s[j]))
            .collect();
        let d = broadcast_dim(&dims).map_err(|(a, b)| {
            let all: Vec<String> = shapes.iter().map(|s| show(s)).collect();
            OpError::Invalid(format!(
                "shapes {} cannot be broadcast: size {a} vs {b} at output axis {i}",
                all.join(", ")
            ))
        })?;
        result.push(d);
    }
    Ok(result)
}

/// Broadcasts the shapes of the given inputs; `None` when any rank is unknown.
pub(crate) fn broadcast_inputs(ins: &[InferInput<'_>]) -> Result<Option<Shape>, OpError> {
    let shapes: Option<Vec<&Shape>> = ins.iter().map(|i| i.shape()).collect();
    shapes.map(|s| broadcast(&s)).transpose()
}

/// Two dims that must be equal: the more specific one, or `Err` when both are known and differ.
pub(crate) fn merge_dim(a: &Dim, b: &Dim) -> Result<Dim, (i64, i64)> {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) if x != y => Err((*x, *y)),
        (Dim::Known(_), _) | (Dim::Symbol(_), Dim::Unknown) => Ok(a.clone()),
        _ => Ok(b.clone()),
    }
}

/// A product of dims kept symbolically: a known factor times named symbols.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Product {
    /// `None` when the known part overflowed or a factor is unknown.
    pub known: Option<i64>,
    pub symbols: Vec<String>,
}

impl Product {
    pub fn of(dims: &[Dim]) -> Product {
        let mut p = Product {
            known: Some(1),
            symbols: Vec::new(),
        };
        for d in dims {
            match d {
                Dim::Known(v) => p.known = p.known.and_then(|k| k.checked_mul(*v)),
                Dim::Symbol(s) => p.symbols.push(s.clone()),
                Dim::Unknown => p.known = None,
            }
        }
        p.symbols.sort();
        p
    }

    /// The product as one dim: static, a single symbol times 1, or unknown.
    pub fn to_dim(&self) -> Dim {
        match (self.known, self.symbols.as_slice()) {
            (Some(k), []) => Dim::Known(k),
            (Some(1), [s]) => Dim::Symbol(s.clone()),
            _ => Dim::Unknown,
        }
    }

    /// `self / other` as a dim when it is exact: known parts divide and `other`'s symbols are
    /// a sub-multiset of `self`'s. `Err` when everything is static and does not divide.
    pub fn div(&self, other: &Product) -> Result<Dim, (i64, i64)> {
        let (Some(a), Some(b)) = (self.known, other.known) else {
            return Ok(Dim::Unknown);
        };
        let mut rest = self.symbols.clone();
        for s in &other.symbols {
            match rest.iter().position(|r| r == s) {
                Some(i) => {
                    rest.remove(i);
                }
                None => return Ok(Dim::Unknown),
            }
        }
        if a < 0 || b <= 0 {
            return Ok(Dim::Unknown);
        }
        if a % b != 0 {
            return if rest.is_empty() && other.symbols.is_empty() && self.symbols.is_empty() {
                Err((a, b))
            } else {
                Ok(Dim::Unknown)
            };
        }
        Ok(Product {
            known: Some(a / b),
            symbols: rest,
        }
        .to_dim())
    }
}

/// `ceil(a / b)` for `b > 0` (`i64::div_ceil` is not stable).
pub(crate) fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b != 0 && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

/// A shape of `rank` unknown dims.
pub(crate) fn unknown_dims(rank: usize) -> Shape {
    vec![Dim::Unknown; rank]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(dims: &[&str]) -> Shape {
        dims.iter()
            .map(|d| match d.parse::<i64>() {
                Ok(v) => Dim::Known(v),
                Err(_) if *d == "?" => Dim::Unknown,
                Err(_) => Dim::Symbol(d.to_string()),
            })
            .collect()
    }

    #[test]
    fn broadcasts_symbols() {
        let b = broadcast(&[&s(&["N", "3", "1"]), &s(&["1", "4"])]).unwrap();
        assert_eq!(b, s(&["N", "3", "4"]));
        let b = broadcast(&[&s(&["N", "1"]), &s(&["M", "5"])]).unwrap();
        assert_eq!(b, s(&["?", "5"]));
        let b = broadcast(&[&s(&["N"]), &s(&["?"])]).unwrap();
        assert_eq!(b, s(&["?"]));
        let b = broadcast(&[&s(&["N"]), &s(&["1"])]).unwrap();
        assert_eq!(b, s(&["N"]));
        let e = broadcast(&[&s(&["2", "3"]), &s(&["4"])]).unwrap_err();
        assert!(e.to_string().contains("3 vs 4"), "{e}");
        assert_eq!(broadcast(&[&s(&[]), &s(&["2"])]).unwrap(), s(&["2"]));
    }

    #[test]
    fn axes_and_products() {
        assert_eq!(norm_axis(-1, 3), Some(2));
        assert_eq!(norm_axis(3, 3), None);
        assert_eq!(norm_axis(i64::MIN, 3), None);
        assert!(norm_axes(&[0, -3], 3, "axes", None).is_err());
        let p = Product::of(&s(&["N", "3", "4"]));
        assert_eq!(p.div(&Product::of(&s(&["N"]))), Ok(Dim::Known(12)));
        assert_eq!(
            p.div(&Product::of(&s(&["12"]))),
            Ok(Dim::Symbol("N".into()))
        );
        assert_eq!(p.div(&Product::of(&s(&["5"]))), Ok(Dim::Unknown));
        assert_eq!(
            Product::of(&s(&["6"])).div(&Product::of(&s(&["4"]))),
            Err((6, 4))
        );
        assert_eq!(
            Product::of(&s(&["N", "1"])).to_dim(),
            Dim::Symbol("N".into())
        );
        assert_eq!(
            Product::of(&[Dim::Known(i64::MAX), Dim::Known(2)]).to_dim(),
            Dim::Unknown
        );
    }
}
