//! Layout ops that move or relabel elements without computing: `Reshape`, `Flatten`,
//! `Transpose`, `Squeeze`, `Unsqueeze`, and the shape queries `Shape` and `Size`.

use super::attrs::{AttrReader, AttrWriter, bad_value};
use super::facts::{Product, input_err, norm_axes, optional, out, required, show, unknown_dims};
use super::{InferInput, OpError, opset_error};
use crate::{DType, Dim, Shape, Type};

/// `Reshape` (opset 5+: the target shape is input 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Reshape {
    /// `allowzero` (opset 14+): a 0 in the target shape means size 0, not "copy this axis".
    pub allowzero: bool,
}

impl Reshape {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Reshape, OpError> {
        Ok(Reshape {
            allowzero: opset >= 14 && r.flag_or("allowzero", false)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.allowzero && opset < 14 {
            return Err(opset_error("Reshape", opset, "allowzero needs opset 14"));
        }
        w.flag_unless("allowzero", self.allowzero, false);
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let data = required(inputs, 0)?;
        let target = required(inputs, 1)?;
        let dtype = data.dtype();
        let Some(spec) = target.const_ints() else {
            let shape = target.len_1d().map(unknown_dims);
            return Ok(vec![out(dtype, shape)]);
        };
        let bad = |msg: String| input_err(1, msg);
        if spec.iter().filter(|&&v| v == -1).count() > 1 {
            return Err(bad(format!("shape {spec:?} has more than one -1")));
        }
        if let Some(v) = spec.iter().find(|&&v| v < -1) {
            return Err(bad(format!("shape {spec:?} has invalid size {v}")));
        }
        if self.allowzero && spec.contains(&0) && spec.contains(&-1) {
            return Err(bad(format!(
                "shape {spec:?} has both 0 and -1 with allowzero"
            )));
        }
        let in_shape = data.shape();
        let mut dims: Shape = Vec::with_capacity(spec.len());
        for (i, &v) in spec.iter().enumerate() {
            dims.push(match v {
                0 if !self.allowzero => match in_shape {
                    Some(s) => s.get(i).cloned().ok_or_else(|| {
                        bad(format!(
                            "shape[{i}] = 0 copies axis {i}, but the data has rank {}",
                            s.len()
                        ))
                    })?,
                    None => Dim::Unknown,
                },
                -1 => Dim::Unknown,
                v => Dim::Known(v),
            });
        }
        let Some(in_shape) = in_shape else {
            return Ok(vec![out(dtype, Some(dims))]);
        };
        let total = Product::of(in_shape);
        if let Some(hole) = spec.iter().position(|&v| v == -1) {
            let mut rest = dims.clone();
            rest.remove(hole);
            dims[hole] = total.div(&Product::of(&rest)).map_err(|_| {
                bad(format!(
                    "cannot reshape {} into {spec:?}: element counts do not divide",
                    show(in_shape)
                ))
            })?;
        } else {
            let target_total = Product::of(&dims);
            if let (Some(a), Some(b), true, true) = (
                total.known,
                target_total.known,
                total.symbols.is_empty(),
                target_total.symbols.is_empty(),
            ) && a != b
            {
                return Err(bad(format!(
                    "cannot reshape {} ({a} elements) into {} ({b} elements)",
                    show(in_shape),
                    show(&dims)
                )));
            }
        }
        Ok(vec![out(dtype, Some(dims))])
    }
}

/// `Flatten` to 2-D `[d0*..*d(axis-1), d(axis)*..*d(r-1)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flatten {
    /// In `[-r, r]`; default 1.
    pub axis: i64,
}

impl Flatten {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Flatten, OpError> {
        Ok(Flatten {
            axis: r.int_or("axis", 1)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.int_unless("axis", self.axis, 1);
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let shape = match x.shape() {
            None => vec![Dim::Unknown, Dim::Unknown],
            Some(s) => {
                let r = s.len() as i64;
                let a = if self.axis < 0 {
                    self.axis + r
                } else {
                    self.axis
                };
                if !(0..=r).contains(&a) {
                    return Err(bad_value(
                        "axis",
                        format!(
                            "{} is out of range for rank {r} (allowed [-{r}, {r}])",
                            self.axis
                        ),
                    ));
                }
                let (left, right) = s.split_at(a as usize);
                vec![Product::of(left).to_dim(), Product::of(right).to_dim()]
            }
        };
        Ok(vec![out(x.dtype(), Some(shape))])
    }
}

/// `Transpose`; `perm` defaults to reversing the axes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

impl Transpose {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Transpose, OpError> {
        let perm = r.ints("perm")?;
        if let Some(p) = &perm {
            let mut seen = vec![false; p.len()];
            for &v in p {
                match usize::try_from(v).ok().filter(|&i| i < p.len()) {
                    Some(i) if !seen[i] => seen[i] = true,
                    _ => {
                        return Err(bad_value(
                            "perm",
                            format!("{p:?} is not a permutation of 0..{}", p.len()),
                        ));
                    }
                }
            }
        }
        Ok(Transpose { perm })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.ints_opt("perm", self.perm.as_deref());
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let shape = match (x.shape(), &self.perm) {
            (None, None) => None,
            (None, Some(p)) => Some(unknown_dims(p.len())),
            (Some(s), None) => Some(s.iter().rev().cloned().collect()),
            (Some(s), Some(p)) => {
                if p.len() != s.len() {
                    return Err(bad_value(
                        "perm",
                        format!("has {} entries but the input has rank {}", p.len(), s.len()),
                    ));
                }
                Some(
                    p.iter()
                        .map(|&i| {
                            usize::try_from(i)
                                .ok()
                                .and_then(|i| s.get(i))
                                .cloned()
                                .unwrap_or(Dim::Unknown)
                        })
                        .collect(),
                )
            }
        };
        Ok(vec![out(x.dtype(), shape)])
    }
}

/// The axes of `Squeeze`/`Unsqueeze`: the attribute (opsets before 13), else the constant
/// input 1. `Ok(None)` when they come from a non-constant input.
fn axes_of(attr: &Option<Vec<i64>>, inputs: &[Option<InferInput<'_>>]) -> Option<Option<Vec<i64>>> {
    match (attr, optional(inputs, 1)) {
        (Some(a), _) => Some(Some(a.clone())),
        (None, None) => Some(None),
        (None, Some(i)) => i.const_ints().map(Some),
    }
}

/// `Squeeze`: removes size-1 axes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Squeeze {
    /// The `axes` attribute (opsets 1–12); from 13 the axes are the optional input 1.
    pub axes: Option<Vec<i64>>,
}

impl Squeeze {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Squeeze, OpError> {
        Ok(Squeeze {
            axes: if opset < 13 { r.ints("axes")? } else { None },
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.axes.is_some() && opset >= 13 {
            return Err(opset_error(
                "Squeeze",
                opset,
                "axes is an input from opset 13; this node has the attribute",
            ));
        }
        w.ints_opt("axes", self.axes.as_deref());
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None)]);
        };
        let shape = match axes_of(&self.axes, inputs) {
            // Axes from a non-constant input: the rank is known when their count is.
            None => optional(inputs, 1)
                .and_then(|i| i.len_1d())
                .and_then(|k| s.len().checked_sub(k))
                .map(unknown_dims),
            // All size-1 axes: only knowable when every dim is static.
            Some(None) => s
                .iter()
                .map(|d| d.known().map(|v| (v != 1).then(|| d.clone())))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.into_iter().flatten().collect()),
            // An empty list is read as "none" by some runtimes and "all" by others.
            Some(Some(a)) if a.is_empty() => None,
            Some(Some(a)) => {
                let slot = self.axes.is_none().then_some(1);
                let axes = norm_axes(&a, s.len(), "axes", slot)?;
                for &i in &axes {
                    if let Some(v) = s[i].known().filter(|&v| v != 1) {
                        let msg = format!("cannot squeeze axis {i} of size {v}");
                        return Err(match slot {
                            Some(slot) => input_err(slot, msg),
                            None => bad_value("axes", msg),
                        });
                    }
                }
                Some(
                    s.iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(i))
                        .map(|(_, d)| d.clone())
                        .collect(),
                )
            }
        };
        Ok(vec![out(dtype, shape)])
    }
}

/// `Unsqueeze`: inserts size-1 axes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Unsqueeze {
    /// The required `axes` attribute (opsets 1–12); from 13 the axes are the required input 1.
    pub axes: Option<Vec<i64>>,
}

impl Unsqueeze {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Unsqueeze, OpError> {
        if opset >= 13 {
            return Ok(Unsqueeze { axes: None });
        }
        let axes = r
            .ints("axes")?
            .ok_or_else(|| OpError::MissingAttr("axes".into()))?;
        Ok(Unsqueeze { axes: Some(axes) })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        match (&self.axes, opset >= 13) {
            (Some(a), false) => {
                w.ints("axes", a);
                Ok(())
            }
            (None, true) => Ok(()),
            (Some(_), true) => Err(opset_error(
                "Unsqueeze",
                opset,
                "axes is an input from opset 13; this node has the attribute",
            )),
            (None, false) => Err(opset_error(
                "Unsqueeze",
                opset,
                "axes is an attribute before opset 13; this node has the input",
            )),
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        if self.axes.is_none() {
            required(inputs, 1)?;
        }
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None)]);
        };
        let shape = match axes_of(&self.axes, inputs).flatten() {
            None => optional(inputs, 1)
                .and_then(|i| i.len_1d())
                .map(|k| unknown_dims(s.len() + k)),
            Some(a) => {
                let rank = s.len() + a.len();
                let slot = self.axes.is_none().then_some(1);
                let axes = norm_axes(&a, rank, "axes", slot)?;
                let mut rest = s.iter();
                Some(
                    (0..rank)
                        .map(|i| {
                            if axes.contains(&i) {
                                Dim::Known(1)
                            } else {
                                rest.next().cloned().unwrap_or(Dim::Unknown)
                            }
                        })
                        .collect(),
                )
            }
        };
        Ok(vec![out(dtype, shape)])
    }
}

/// `Shape`: the input's dims as a 1-D int64 tensor, optionally sliced `[start, end)` (opset 15+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShapeOf {
    pub start: i64,
    pub end: Option<i64>,
}

impl ShapeOf {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<ShapeOf, OpError> {
        if opset < 15 {
            return Ok(ShapeOf::default());
        }
        Ok(ShapeOf {
            start: r.int_or("start", 0)?,
            end: r.int("end")?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if (self.start != 0 || self.end.is_some()) && opset < 15 {
            return Err(opset_error("Shape", opset, "start/end need opset 15"));
        }
        w.int_unless("start", self.start, 0);
        if let Some(e) = self.end {
            w.int("end", e);
        }
        Ok(())
    }

    /// The `[start, end)` range of axes selected for an input of rank `rank`.
    pub fn range(&self, rank: usize) -> std::ops::Range<usize> {
        let r = rank as i64;
        let clamp = |v: i64| {
            let v = if v < 0 { v.saturating_add(r) } else { v };
            v.clamp(0, r) as usize
        };
        let start = clamp(self.start);
        let end = clamp(self.end.unwrap_or(r));
        start..end.max(start)
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let len = match x.tensor().and_then(|t| t.shape.as_ref()) {
            Some(s) => Dim::Known(self.range(s.len()).len() as i64),
            None => Dim::Unknown,
        };
        Ok(vec![Type::tensor(DType::I64, Some(vec![len]))])
    }
}
