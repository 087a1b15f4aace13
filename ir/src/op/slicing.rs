//! Ops that cut, join or index along axes: `Concat`, `Split`, `Slice`, `Gather`, `Pad`.

use super::attrs::{AttrReader, AttrWriter, bad_value, check_all};
use super::facts::{
    attr_axis, ceil_div, input_err, merge_dim, norm_axes, optional, out, required, unknown_dims,
};
use super::{InferInput, OpError, opset_error};
use crate::{Dim, Shape, Type};

/// `Concat` along `axis` (typed from opset 4, where `axis` became required).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concat {
    pub axis: i64,
}

impl Concat {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Concat, OpError> {
        let axis = r
            .int("axis")?
            .ok_or_else(|| OpError::MissingAttr("axis".into()))?;
        Ok(Concat { axis })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.int("axis", self.axis);
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        if inputs.is_empty() {
            return Err(input_err(0, "at least one input is required"));
        }
        let ins: Vec<InferInput<'_>> = (0..inputs.len())
            .map(|s| required(inputs, s))
            .collect::<Result<_, _>>()?;
        let dtype = ins.iter().find_map(|i| i.dtype());
        let shapes: Vec<(usize, &Shape)> = ins
            .iter()
            .enumerate()
            .filter_map(|(slot, i)| i.shape().map(|s| (slot, s)))
            .collect();
        let Some(&(_, first)) = shapes.first() else {
            return Ok(vec![out(dtype, None)]);
        };
        let rank = first.len();
        let axis = attr_axis("axis", self.axis, rank)?;
        let mut shape = first.clone();
        for &(slot, s) in &shapes[1..] {
            if s.len() != rank {
                return Err(input_err(
                    slot,
                    format!("rank {} differs from input 0's rank {rank}", s.len()),
                ));
            }
            for (j, d) in s.iter().enumerate() {
                if j != axis {
                    shape[j] = merge_dim(&shape[j], d).map_err(|(a, b)| {
                        input_err(
                            slot,
                            format!("axis {j} has size {b} but an earlier input has {a}"),
                        )
                    })?;
                }
            }
        }
        shape[axis] = if shapes.len() < ins.len() {
            Dim::Unknown
        } else {
            let axis_dims: Vec<&Dim> = shapes.iter().map(|(_, s)| &s[axis]).collect();
            let non_zero: Vec<&&Dim> = axis_dims.iter().filter(|d| **d != &Dim::Known(0)).collect();
            match non_zero.as_slice() {
                [] => Dim::Known(0),
                [one] => (**one).clone(),
                _ => axis_dims
                    .iter()
                    .try_fold(0i64, |acc, d| acc.checked_add(d.known()?))
                    .map_or(Dim::Unknown, Dim::Known),
            }
        };
        Ok(vec![out(dtype, Some(shape))])
    }
}

/// `Split` along `axis` (typed from opset 2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Split {
    pub axis: i64,
    /// The `split` attribute (opsets 2–12); from 13 the sizes are the optional input 1.
    pub split: Option<Vec<i64>>,
    /// `num_outputs` (opset 18+): equal chunks, the last one smaller when it does not divide.
    pub num_outputs: Option<i64>,
}

impl Split {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Split, OpError> {
        let s = Split {
            axis: r.int_or("axis", 0)?,
            split: if opset < 13 { r.ints("split")? } else { None },
            num_outputs: if opset >= 18 {
                r.int("num_outputs")?
            } else {
                None
            },
        };
        if let Some(sizes) = &s.split {
            check_all("split", sizes, |v| v >= 0, "non-negative")?;
        }
        if let Some(n) = s.num_outputs
            && n < 1
        {
            return Err(bad_value(
                "num_outputs",
                format!("must be at least 1, got {n}"),
            ));
        }
        Ok(s)
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.split.is_some() && opset >= 13 {
            return Err(opset_error(
                "Split",
                opset,
                "split is an input from opset 13; this node has the attribute",
            ));
        }
        if self.num_outputs.is_some() && opset < 18 {
            return Err(opset_error("Split", opset, "num_outputs needs opset 18"));
        }
        w.int_unless("axis", self.axis, 0);
        w.ints_opt("split", self.split.as_deref());
        if let Some(n) = self.num_outputs {
            w.int("num_outputs", n);
        }
        Ok(())
    }

    pub(crate) fn infer(
        &self,
        inputs: &[Option<InferInput<'_>>],
        n: usize,
    ) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None); n]);
        };
        let axis = attr_axis("axis", self.axis, s.len())?;
        let split_input = optional(inputs, 1);
        let sizes: Option<Vec<i64>> = match (&self.split, split_input) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(i)) => i.const_ints(),
            (None, None) => None,
        };
        if let Some(k) = self.num_outputs
            && usize::try_from(k).ok() != Some(n)
        {
            return Err(bad_value(
                "num_outputs",
                format!("is {k} but the node has {n} outputs"),
            ));
        }
        let dims: Vec<Dim> = if let Some(sizes) = sizes {
            if sizes.len() != n {
                return Err(bad_value(
                    "split",
                    format!("has {} sizes for {n} outputs", sizes.len()),
                ));
            }
            let total = sizes.iter().try_fold(0i64, |a, &v| a.checked_add(v));
            if let (Some(t), Some(d)) = (total, s[axis].known())
                && t != d
            {
                return Err(bad_value(
                    "split",
                    format!("sizes {sizes:?} sum to {t}, but axis {axis} has size {d}"),
                ));
            }
            sizes.into_iter().map(Dim::Known).collect()
        } else if split_input.is_some() {
            vec![Dim::Unknown; n]
        } else {
            equal_chunks(&s[axis], n, self.num_outputs.is_some())?
        };
        Ok(dims
            .into_iter()
            .map(|d| {
                let mut shape = s.clone();
                shape[axis] = d;
                out(dtype, Some(shape))
            })
            .collect())
    }
}

/// Sizes of `n` equal chunks of `dim`; with `last_smaller` (opset 18 `num_outputs`) the last
/// chunk takes the remainder, otherwise the split must be exact.
fn equal_chunks(dim: &Dim, n: usize, last_smaller: bool) -> Result<Vec<Dim>, OpError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let Some(d) = dim.known().filter(|&d| d >= 0) else {
        return Ok(if n == 1 {
            vec![dim.clone()]
        } else {
            vec![Dim::Unknown; n]
        });
    };
    let k = n as i64;
    if d % k == 0 {
        return Ok(vec![Dim::Known(d / k); n]);
    }
    if !last_smaller {
        return Err(OpError::Invalid(format!(
            "axis size {d} does not split evenly into {n} outputs"
        )));
    }
    let chunk = ceil_div(d, k);
    let last = d - chunk * (k - 1);
    if last < 0 {
        return Ok(vec![Dim::Unknown; n]);
    }
    let mut v = vec![Dim::Known(chunk); n - 1];
    v.push(Dim::Known(last));
    Ok(v)
}

/// What inference knows of a slice's parameters: `None` = unknown (a non-constant input),
/// `Some(None)` = absent.
struct SliceFacts {
    starts: Option<Vec<i64>>,
    ends: Option<Vec<i64>>,
    axes: Option<Option<Vec<i64>>>,
    steps: Option<Option<Vec<i64>>>,
}

/// `Slice`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Slice {
    /// Opsets 1–9: the attributes; from 10 starts/ends/axes/steps are inputs 1–4.
    pub attrs: Option<SliceAttrs>,
}

/// The attribute form of `Slice` (opsets 1–9; step 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceAttrs {
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub axes: Option<Vec<i64>>,
}

/// One axis's slice length for a static size `n` (numpy semantics with clamping).
pub fn slice_len(n: i64, start: i64, end: i64, step: i64) -> i64 {
    let (n, step) = (n as i128, step as i128);
    let norm = |v: i64| {
        let v = v as i128;
        if v < 0 { v + n } else { v }
    };
    let (s, e) = (norm(start), norm(end));
    let len = if step > 0 {
        let s = s.max(0).min(n);
        let e = e.max(0).min(n);
        if e > s { (e - s + step - 1) / step } else { 0 }
    } else {
        let s = s.max(0).min(n - 1);
        let e = e.max(-1).min(n - 1);
        if s > e { (s - e - step - 1) / -step } else { 0 }
    };
    len.clamp(0, i64::MAX as i128) as i64
}

impl Slice {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Slice, OpError> {
        if opset >= 10 {
            return Ok(Slice { attrs: None });
        }
        let starts = r
            .ints("starts")?
            .ok_or_else(|| OpError::MissingAttr("starts".into()))?;
        let ends = r
            .ints("ends")?
            .ok_or_else(|| OpError::MissingAttr("ends".into()))?;
        let axes = r.ints("axes")?;
        if ends.len() != starts.len() {
            return Err(bad_value(
                "ends",
                format!("has {} values but starts has {}", ends.len(), starts.len()),
            ));
        }
        if let Some(a) = &axes
            && a.len() != starts.len()
        {
            return Err(bad_value(
                "axes",
                format!("has {} values but starts has {}", a.len(), starts.len()),
            ));
        }
        Ok(Slice {
            attrs: Some(SliceAttrs { starts, ends, axes }),
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        match (&self.attrs, opset >= 10) {
            (Some(a), false) => {
                w.ints("starts", &a.starts);
                w.ints("ends", &a.ends);
                w.ints_opt("axes", a.axes.as_deref());
                Ok(())
            }
            (None, true) => Ok(()),
            (Some(_), true) => Err(opset_error(
                "Slice",
                opset,
                "starts/ends/axes are inputs from opset 10; this node has attributes",
            )),
            (None, false) => Err(opset_error(
                "Slice",
                opset,
                "starts/ends/axes are attributes before opset 10; this node has inputs",
            )),
        }
    }

    fn facts(&self, inputs: &[Option<InferInput<'_>>]) -> Result<SliceFacts, OpError> {
        Ok(match &self.attrs {
            Some(a) => SliceFacts {
                starts: Some(a.starts.clone()),
                ends: Some(a.ends.clone()),
                axes: Some(a.axes.clone()),
                steps: Some(None),
            },
            None => {
                let opt = |slot| match optional(inputs, slot) {
                    None => Some(None),
                    Some(i) => i.const_ints().map(Some),
                };
                SliceFacts {
                    starts: required(inputs, 1)?.const_ints(),
                    ends: required(inputs, 2)?.const_ints(),
                    axes: opt(3),
                    steps: opt(4),
                }
            }
        })
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let SliceFacts {
            starts,
            ends,
            axes,
            steps,
        } = self.facts(inputs)?;
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None)]);
        };
        let slot = |i: usize| self.attrs.is_none().then_some(i);
        let axes = match axes {
            Some(Some(a)) => Some(norm_axes(&a, s.len(), "axes", slot(3))?),
            Some(None) => match starts.as_ref().or(ends.as_ref()) {
                Some(v) if v.len() > s.len() => {
                    let msg = format!("{} starts for an input of rank {}", v.len(), s.len());
                    return Err(match self.attrs {
                        Some(_) => bad_value("starts", msg),
                        None => input_err(1, msg),
                    });
                }
                v => v.map(|v| (0..v.len()).collect()),
            },
            None => None,
        };
        let (Some(starts), Some(ends), Some(axes), Some(steps)) =
            (starts, ends, axes.clone(), steps)
        else {
            // Only the sliced axes change; which ones they are may be known.
            let mut shape = s.clone();
            for (i, d) in shape.iter_mut().enumerate() {
                if axes.as_ref().is_none_or(|a| a.contains(&i)) {
                    *d = Dim::Unknown;
                }
            }
            return Ok(vec![out(dtype, Some(shape))]);
        };
        let k = starts.len();
        let mismatch = |slot: usize, name: &str, len: usize| {
            let msg = format!("{name} has {len} values but starts has {k}");
            match self.attrs {
                Some(_) => bad_value(name, msg),
                None => input_err(slot, msg),
            }
        };
        if ends.len() != k {
            return Err(mismatch(2, "ends", ends.len()));
        }
        if axes.len() != k {
            return Err(mismatch(3, "axes", axes.len()));
        }
        let steps = steps.unwrap_or_else(|| vec![1; k]);
        if steps.len() != k {
            return Err(mismatch(4, "steps", steps.len()));
        }
        if steps.contains(&0) {
            return Err(input_err(4, "steps must not be 0"));
        }
        let mut shape = s.clone();
        for (j, &axis) in axes.iter().enumerate() {
            let (b, e, st) = (starts[j], ends[j], steps[j]);
            shape[axis] = match &s[axis] {
                Dim::Known(n) => Dim::Known(slice_len(*n, b, e, st)),
                d if b == 0 && st == 1 && e >= i64::MAX / 2 => d.clone(),
                _ => Dim::Unknown,
            };
        }
        Ok(vec![out(dtype, Some(shape))])
    }
}

/// `Gather` along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Gather {
    pub axis: i64,
}

impl Gather {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Gather, OpError> {
        Ok(Gather {
            axis: r.int_or("axis", 0)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.int_unless("axis", self.axis, 0);
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let data = required(inputs, 0)?;
        let indices = required(inputs, 1)?;
        let dtype = data.dtype();
        let (Some(ds), Some(is)) = (data.shape(), indices.shape()) else {
            if let Some(r) = data.rank() {
                attr_axis("axis", self.axis, r)?;
            }
            return Ok(vec![out(dtype, None)]);
        };
        let axis = attr_axis("axis", self.axis, ds.len())?;
        let mut shape: Shape = ds[..axis].to_vec();
        shape.extend(is.iter().cloned());
        shape.extend(ds[axis + 1..].iter().cloned());
        Ok(vec![out(dtype, Some(shape))])
    }
}

/// How `Pad` fills the new cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PadMode {
    #[default]
    Constant,
    Reflect,
    Edge,
    /// Opset 19+.
    Wrap,
}

impl PadMode {
    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Edge => "edge",
            PadMode::Wrap => "wrap",
        }
    }
}

/// `Pad` (typed from opset 2).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pad {
    pub mode: PadMode,
    /// Opsets 2–10: pads and value attributes; from 11 they are inputs 1 (`pads`) and 2
    /// (`constant_value`), and from 18 input 3 (`axes`).
    pub attrs: Option<PadAttrs>,
}

/// The attribute form of `Pad` (opsets 2–10).
#[derive(Clone, Debug, PartialEq)]
pub struct PadAttrs {
    /// `[begin_0, ..., begin_r-1, end_0, ..., end_r-1]`; negative values crop.
    pub pads: Vec<i64>,
    pub value: f32,
}

impl Pad {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Pad, OpError> {
        let modes: &[PadMode] = if opset >= 19 {
            &[
                PadMode::Constant,
                PadMode::Reflect,
                PadMode::Edge,
                PadMode::Wrap,
            ]
        } else {
            &[PadMode::Constant, PadMode::Reflect, PadMode::Edge]
        };
        let mode = r.enum_or(
            "mode",
            PadMode::Constant,
            |s| modes.iter().copied().find(|m| m.onnx_name() == s),
            if opset >= 19 {
                "constant, reflect, edge or wrap"
            } else {
                "constant, reflect or edge"
            },
        )?;
        if opset >= 11 {
            return Ok(Pad { mode, attrs: None });
        }
        let pads = r
            .ints("pads")?
            .ok_or_else(|| OpError::MissingAttr("pads".into()))?;
        if !pads.len().is_multiple_of(2) {
            return Err(bad_value(
                "pads",
                format!("expected 2 values per axis, got {}", pads.len()),
            ));
        }
        let value = r.float_or("value", 0.0)?;
        Ok(Pad {
            mode,
            attrs: Some(PadAttrs { pads, value }),
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.mode == PadMode::Wrap && opset < 19 {
            return Err(opset_error("Pad", opset, "mode wrap needs opset 19"));
        }
        w.string_unless("mode", self.mode.onnx_name(), "constant");
        match (&self.attrs, opset >= 11) {
            (Some(a), false) => {
                w.ints("pads", &a.pads);
                w.float_unless("value", a.value, 0.0);
                Ok(())
            }
            (None, true) => Ok(()),
            (Some(_), true) => Err(opset_error(
                "Pad",
                opset,
                "pads are an input from opset 11; this node has the attribute",
            )),
            (None, false) => Err(opset_error(
                "Pad",
                opset,
                "pads are an attribute before opset 11; this node has inputs",
            )),
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let pads = match &self.attrs {
            Some(a) => Some(a.pads.clone()),
            None => required(inputs, 1)?.const_ints(),
        };
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None)]);
        };
        let axes: Option<Vec<usize>> = match optional(inputs, 3).filter(|_| self.attrs.is_none()) {
            None => Some((0..s.len()).collect()),
            Some(i) => i
                .const_ints()
                .map(|a| norm_axes(&a, s.len(), "axes", Some(3)))
                .transpose()?,
        };
        let (Some(pads), Some(axes)) = (pads, axes) else {
            return Ok(vec![out(dtype, Some(unknown_dims(s.len())))]);
        };
        if pads.len() != 2 * axes.len() {
            let msg = format!(
                "expected {} values for {} axes, got {}",
                2 * axes.len(),
                axes.len(),
                pads.len()
            );
            return Err(match self.attrs {
                Some(_) => bad_value("pads", msg),
                None => input_err(1, msg),
            });
        }
        let mut shape = s.clone();
        for (j, &axis) in axes.iter().enumerate() {
            let (b, e) = (pads[j], pads[j + axes.len()]);
            shape[axis] = match &s[axis] {
                Dim::Known(n) => match n.checked_add(b).and_then(|v| v.checked_add(e)) {
                    Some(v) if v < 0 => {
                        return Err(input_err(
                            1,
                            format!("pads {b}, {e} shrink axis {axis} of size {n} below 0"),
                        ));
                    }
                    Some(v) => Dim::Known(v),
                    None => Dim::Unknown,
                },
                d if b == 0 && e == 0 => d.clone(),
                _ => Dim::Unknown,
            };
        }
        Ok(vec![out(dtype, Some(shape))])
    }
}
