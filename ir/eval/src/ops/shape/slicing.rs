//! Joining, cutting and indexing kernels: `Concat`, `Split`, `Slice`, `Gather`, `Pad`.

use super::elems::{Run, element_count, gather_runs, gather_tables, repeat, scalar_f64, zero_of};
use super::{array, ints, norm_axes, norm_axis, opt_tensor, tensor};
use crate::ops::broadcast::strides;
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use nnslim_ir::op::{Pad, PadMode, Slice, Split, slice_len};

/// Input coordinates along each axis for every output coordinate (`None`: a fill element).
pub(crate) type Coords = Vec<Vec<Option<usize>>>;

/// The elements of `(shape, data)` picked by `coords`; the output shape is the coords' lengths.
pub(crate) fn take_coords(
    shape: &[usize],
    data: &Data,
    coords: &Coords,
    fill: Option<&Data>,
) -> Result<Array, KernelError> {
    let st = strides(shape);
    let tables: Coords = coords
        .iter()
        .zip(&st)
        .map(|(c, &s)| c.iter().map(|o| o.map(|i| i * s)).collect())
        .collect();
    let out_shape: Vec<usize> = coords.iter().map(Vec::len).collect();
    let data = gather_tables(data, fill, &tables)?;
    array(out_shape, data)
}

/// Every coordinate of each axis of `shape`.
pub(crate) fn all_coords(shape: &[usize]) -> Coords {
    shape.iter().map(|&n| (0..n).map(Some).collect()).collect()
}

/// `[start, start + len)` of `axis`.
pub(crate) fn slice_axis(
    x: &Array,
    axis: usize,
    start: usize,
    len: usize,
) -> Result<Array, KernelError> {
    let mut coords = all_coords(&x.shape);
    coords[axis] = (start..start + len).map(Some).collect();
    take_coords(&x.shape, &x.data, &coords, None)
}

/// `Concat` along `axis`: equal ranks, equal dims except along the axis.
pub(crate) fn concat(axis: i64, xs: &[&Array]) -> Result<Array, KernelError> {
    let Some(first) = xs.first() else {
        return invalid("Concat needs at least one input");
    };
    let rank = first.rank();
    let axis = norm_axis(axis, rank, "axis")?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for (j, x) in xs.iter().enumerate() {
        let same = x.rank() == rank && (0..rank).all(|a| a == axis || x.shape[a] == first.shape[a]);
        if !same {
            return invalid(format!(
                "input {j} has shape {:?}, which does not concatenate with {:?} on axis {axis}",
                x.shape, first.shape
            ));
        }
        shape[axis] += x.shape[axis];
    }
    let n = element_count(&shape)?;
    let outer: usize = first.shape[..axis].iter().product();
    let rows: Vec<usize> = xs
        .iter()
        .map(|x| x.shape[axis..].iter().product())
        .collect();
    let rows = &rows;
    let runs = (0..outer).flat_map(|o| {
        rows.iter()
            .enumerate()
            .map(move |(j, &r)| Run::span(j, o * r, r))
    });
    let datas: Vec<&Data> = xs.iter().map(|x| &x.data).collect();
    array(shape, gather_runs(&datas, n, runs)?)
}

fn sizes(v: &[i64], what: &str) -> Result<Vec<usize>, KernelError> {
    v.iter()
        .map(|&s| {
            usize::try_from(s).or_else(|_| invalid(format!("{what} {v:?} has a negative size")))
        })
        .collect()
}

/// `Split` into `n` outputs: sizes from the attribute or input 1, else equal chunks (the last
/// one smaller with `num_outputs`).
pub(crate) fn split(
    op: &Split,
    inputs: &[Option<&Value>],
    n: usize,
) -> Result<Vec<Value>, KernelError> {
    let x = tensor(inputs, 0)?;
    let axis = norm_axis(op.axis, x.rank(), "axis")?;
    let d = x.shape[axis];
    let given = match (&op.split, opt_tensor(inputs, 1)?) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(t)) if !t.is_empty() => Some(ints(t, "split")?),
        _ => None,
    };
    let parts = match given {
        Some(s) => sizes(&s, "split")?,
        None => {
            if n == 0 {
                return invalid("Split has no outputs");
            }
            if let Some(k) = op.num_outputs
                && k as usize != n
            {
                return invalid(format!("num_outputs is {k} but the node has {n} outputs"));
            }
            if op.num_outputs.is_some() {
                let chunk = d.div_ceil(n);
                match d.checked_sub(chunk * (n - 1)) {
                    Some(last) => {
                        let mut v = vec![chunk; n - 1];
                        v.push(last);
                        v
                    }
                    None => return invalid(format!("axis size {d} cannot split into {n} chunks")),
                }
            } else if d % n == 0 {
                vec![d / n; n]
            } else {
                return invalid(format!(
                    "axis size {d} does not split evenly into {n} outputs"
                ));
            }
        }
    };
    if parts.len() != n {
        return invalid(format!("{} split sizes for {n} outputs", parts.len()));
    }
    if parts.iter().try_fold(0usize, |a, &p| a.checked_add(p)) != Some(d) {
        return invalid(format!("split sizes {parts:?} do not sum to axis size {d}"));
    }
    let mut start = 0;
    let mut outs = Vec::with_capacity(n);
    for p in parts {
        outs.push(Value::Tensor(slice_axis(x, axis, start, p)?));
        start += p;
    }
    Ok(outs)
}

/// `Slice` with numpy semantics: clamped starts/ends, negative steps.
pub(crate) fn slice(op: &Slice, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let x = tensor(inputs, 0)?;
    let opt = |slot, what| opt_tensor(inputs, slot)?.map(|t| ints(t, what)).transpose();
    let (starts, ends, axes, steps) = match &op.attrs {
        Some(a) => (a.starts.clone(), a.ends.clone(), a.axes.clone(), None),
        None => (
            ints(tensor(inputs, 1)?, "starts")?,
            ints(tensor(inputs, 2)?, "ends")?,
            opt(3, "axes")?,
            opt(4, "steps")?,
        ),
    };
    let k = starts.len();
    let axes = match axes {
        Some(a) => norm_axes(&a, x.rank(), "axes")?,
        None if k <= x.rank() => (0..k).collect(),
        None => return invalid(format!("{k} starts for an input of rank {}", x.rank())),
    };
    let steps = steps.unwrap_or_else(|| vec![1; k]);
    if ends.len() != k || axes.len() != k || steps.len() != k {
        return invalid(format!(
            "starts, ends, axes and steps have {k}, {}, {} and {} values",
            ends.len(),
            axes.len(),
            steps.len()
        ));
    }
    let mut coords = all_coords(&x.shape);
    for j in 0..k {
        let (axis, step) = (axes[j], steps[j]);
        if step == 0 {
            return invalid("steps must not be 0");
        }
        let n = x.shape[axis] as i128;
        let len = slice_len(n as i64, starts[j], ends[j], step);
        let s = starts[j] as i128;
        let s = if s < 0 { s + n } else { s };
        let first = if step > 0 {
            s.clamp(0, n)
        } else {
            s.clamp(0, (n - 1).max(0))
        };
        coords[axis] = (0..len as i128)
            .map(|i| Some((first + i * step as i128) as usize))
            .collect();
    }
    take_coords(&x.shape, &x.data, &coords, None)
}

/// `Gather` along `axis`; negative indices count from the end.
pub(crate) fn gather_axis(x: &Array, axis: i64, indices: &Array) -> Result<Array, KernelError> {
    let axis = norm_axis(axis, x.rank(), "axis")?;
    let n = x.shape[axis];
    let idx = ints(indices, "indices")?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + n as i64 } else { i };
            match usize::try_from(j).ok().filter(|&j| j < n) {
                Some(j) => Ok(Some(j)),
                None => invalid(format!(
                    "index {i} is out of range for axis {axis} of size {n}"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let view = [outer, n, inner];
    let coords = vec![
        (0..outer).map(Some).collect(),
        idx,
        (0..inner).map(Some).collect(),
    ];
    let flat = take_coords(&view, &x.data, &coords, None)?;
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&indices.shape);
    shape.extend(&x.shape[axis + 1..]);
    array(shape, flat.data)
}

/// The input coordinate that padded coordinate `c` (relative to the kept range of `m`
/// elements) reads in `mode`; `None` for constant padding or an empty axis.
fn pad_coord(mode: PadMode, c: i64, m: i64) -> Option<i64> {
    if (0..m).contains(&c) {
        return Some(c);
    }
    if m == 0 {
        return None;
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Edge => Some(c.clamp(0, m - 1)),
        PadMode::Wrap => Some(c.rem_euclid(m)),
        PadMode::Reflect if m == 1 => Some(0),
        PadMode::Reflect => {
            let period = 2 * (m - 1);
            let r = c.rem_euclid(period);
            Some(if r < m { r } else { period - r })
        }
    }
}

/// `Pad`: negative pads crop first; `reflect`, `edge` and `wrap` read the kept elements.
pub(crate) fn pad(op: &Pad, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let x = tensor(inputs, 0)?;
    let rank = x.rank();
    let (pads, fill, axes) = match &op.attrs {
        Some(a) => {
            let fill = match scalar_f64(x.dtype(), f64::from(a.value)) {
                Some(f) => f,
                None if a.value == 0.0 => zero_of(x.dtype())?,
                None => return unsupported(format!("pad value {} for {}", a.value, x.dtype())),
            };
            (a.pads.clone(), fill, (0..rank).collect::<Vec<_>>())
        }
        None => {
            let pads = ints(tensor(inputs, 1)?, "pads")?;
            let fill = match opt_tensor(inputs, 2)? {
                Some(v) if !v.is_empty() => {
                    if v.dtype() != x.dtype() {
                        return invalid(format!(
                            "constant_value is {} but the data is {}",
                            v.dtype(),
                            x.dtype()
                        ));
                    }
                    repeat(&v.data, 0, 1)?
                }
                _ => zero_of(x.dtype())?,
            };
            let axes = match opt_tensor(inputs, 3)? {
                Some(a) => norm_axes(&ints(a, "axes")?, rank, "axes")?,
                None => (0..rank).collect(),
            };
            (pads, fill, axes)
        }
    };
    if pads.len() != 2 * axes.len() {
        return invalid(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let mut coords = all_coords(&x.shape);
    for (j, &axis) in axes.iter().enumerate() {
        let (b, e) = (pads[j], pads[j + axes.len()]);
        let n = x.shape[axis] as i64;
        let keep_from = b.min(0).saturating_neg();
        let keep_to = n.saturating_add(e.min(0));
        let m = keep_to.checked_sub(keep_from).unwrap_or(-1);
        let out = m
            .checked_add(b.max(0))
            .and_then(|v| v.checked_add(e.max(0)));
        let out = match out {
            Some(v) if m >= 0 && v <= super::elems::MAX_ELEMENTS as i64 => v,
            _ => return invalid(format!("pads {b}, {e} do not fit axis {axis} of size {n}")),
        };
        let mut axis_coords = Vec::with_capacity(out as usize);
        for o in 0..out {
            let c = pad_coord(op.mode, o - b.max(0), m);
            if c.is_none() && op.mode != PadMode::Constant {
                return invalid(format!(
                    "cannot pad an empty axis {axis} in {} mode",
                    op.mode.onnx_name()
                ));
            }
            axis_coords.push(c.map(|c| (c + keep_from) as usize));
        }
        coords[axis] = axis_coords;
    }
    take_coords(&x.shape, &x.data, &coords, Some(&fill))
}
