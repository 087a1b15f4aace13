//! Reductions: `Reduce*` (axes as attribute or, from opset 13/18, as input) and
//! `ArgMax`/`ArgMin`.

use super::attrs::{AttrReader, AttrWriter};
use super::facts::{attr_axis, norm_axes, optional, out, required, unknown_dims};
use super::{InferInput, OpError, opset_error};
use crate::{DType, Dim, Shape, Type};

/// What a [`Reduce`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

const REDUCE_KINDS: [(&str, ReduceKind); 10] = [
    ("ReduceSum", ReduceKind::Sum),
    ("ReduceMean", ReduceKind::Mean),
    ("ReduceMax", ReduceKind::Max),
    ("ReduceMin", ReduceKind::Min),
    ("ReduceProd", ReduceKind::Prod),
    ("ReduceL1", ReduceKind::L1),
    ("ReduceL2", ReduceKind::L2),
    ("ReduceLogSum", ReduceKind::LogSum),
    ("ReduceLogSumExp", ReduceKind::LogSumExp),
    ("ReduceSumSquare", ReduceKind::SumSquare),
];

impl ReduceKind {
    /// The ONNX op type.
    pub fn op_type(self) -> &'static str {
        REDUCE_KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }

    pub(crate) fn from_op_type(op_type: &str) -> Option<ReduceKind> {
        REDUCE_KINDS
            .iter()
            .find(|(n, _)| *n == op_type)
            .map(|(_, k)| *k)
    }

    /// The opset from which the axes are an input (13 for `ReduceSum`, 18 for the others).
    pub fn axes_input_opset(self) -> i64 {
        if self == ReduceKind::Sum { 13 } else { 18 }
    }
}

/// A `Reduce*` op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub keepdims: bool,
    /// The `axes` attribute (before [`ReduceKind::axes_input_opset`]); afterwards the axes are
    /// the optional input 1. Absent axes reduce over all axes.
    pub axes: Option<Vec<i64>>,
    /// With the axes input: an absent or empty axes input means "reduce nothing".
    pub noop_with_empty_axes: bool,
}

impl Reduce {
    pub(crate) fn parse(
        kind: ReduceKind,
        opset: i64,
        r: &mut AttrReader<'_>,
    ) -> Result<Reduce, OpError> {
        let input_form = opset >= kind.axes_input_opset();
        Ok(Reduce {
            kind,
            keepdims: r.flag_or("keepdims", true)?,
            axes: if input_form { None } else { r.ints("axes")? },
            noop_with_empty_axes: input_form && r.flag_or("noop_with_empty_axes", false)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        let from = self.kind.axes_input_opset();
        let op = self.kind.op_type();
        if self.axes.is_some() && opset >= from {
            return Err(opset_error(
                op,
                opset,
                &format!("axes is an input from opset {from}; this node has the attribute"),
            ));
        }
        if self.noop_with_empty_axes && opset < from {
            return Err(opset_error(
                op,
                opset,
                &format!("noop_with_empty_axes needs opset {from}"),
            ));
        }
        w.flag_unless("keepdims", self.keepdims, true);
        w.ints_opt("axes", self.axes.as_deref());
        w.flag_unless("noop_with_empty_axes", self.noop_with_empty_axes, false);
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None)]);
        };
        let r = s.len();
        let slot = self.axes.is_none().then_some(1);
        // `None`: the axes are not known.
        let axes: Option<Vec<i64>> = match (&self.axes, optional(inputs, 1)) {
            // An empty attribute list is read as "all" by some runtimes and "none" by others.
            (Some(a), _) if a.is_empty() => None,
            (Some(a), _) => Some(a.clone()),
            (None, None) => Some(Vec::new()),
            (None, Some(i)) => i.const_ints(),
        };
        let shape: Option<Shape> = match axes {
            None => {
                let k = optional(inputs, 1)
                    .filter(|_| slot.is_some())
                    .and_then(|i| i.len_1d());
                match (self.keepdims, k) {
                    (true, _) => Some(unknown_dims(r)),
                    (false, Some(k)) if k > 0 => r.checked_sub(k).map(unknown_dims),
                    (false, _) => None,
                }
            }
            Some(a) if a.is_empty() && self.noop_with_empty_axes => Some(s.clone()),
            Some(a) if a.is_empty() => Some(if self.keepdims {
                vec![Dim::Known(1); r]
            } else {
                Vec::new()
            }),
            Some(a) => {
                let axes = norm_axes(&a, r, "axes", slot)?;
                Some(reduced(s, &axes, self.keepdims))
            }
        };
        Ok(vec![out(dtype, shape)])
    }
}

/// `s` with `axes` set to 1 (`keepdims`) or removed.
fn reduced(s: &[Dim], axes: &[usize], keepdims: bool) -> Shape {
    s.iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Known(1)),
            (true, false) => None,
        })
        .collect()
}

/// `ArgMax` / `ArgMin`: int64 indices along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgReduce {
    /// `true` for `ArgMax`, `false` for `ArgMin`.
    pub max: bool,
    pub axis: i64,
    pub keepdims: bool,
    /// `select_last_index` (opset 12+): ties pick the last index.
    pub select_last_index: bool,
}

impl ArgReduce {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        if self.max { "ArgMax" } else { "ArgMin" }
    }

    pub(crate) fn parse(
        op_type: &str,
        opset: i64,
        r: &mut AttrReader<'_>,
    ) -> Result<ArgReduce, OpError> {
        Ok(ArgReduce {
            max: op_type == "ArgMax",
            axis: r.int_or("axis", 0)?,
            keepdims: r.flag_or("keepdims", true)?,
            select_last_index: opset >= 12 && r.flag_or("select_last_index", false)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.select_last_index && opset < 12 {
            return Err(opset_error(
                self.op_type(),
                opset,
                "select_last_index needs opset 12",
            ));
        }
        w.int_unless("axis", self.axis, 0);
        w.flag_unless("keepdims", self.keepdims, true);
        w.flag_unless("select_last_index", self.select_last_index, false);
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let shape = match x.shape() {
            None => None,
            Some(s) => {
                let axis = attr_axis("axis", self.axis, s.len())?;
                Some(reduced(s, &[axis], self.keepdims))
            }
        };
        Ok(vec![Type::tensor(DType::I64, shape)])
    }
}
