//! `Resize` as the ONNX reference defines it: one axis at a time, every coordinate
//! transformation mode; `nearest` picks elements (any element type, exact), `linear` and
//! `cubic` interpolate in f64 (with the antialias filters when downscaling) and round back.

use super::elems::{element_count, scalar_f64};
use super::slicing::{all_coords, take_coords};
use super::{array, ints, norm_axes, opt_tensor, tensor};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use half::{bf16, f16};
use nnslim_ir::op::{CoordinateTransform, KeepAspectRatio, NearestMode, Resize, ResizeMode};

/// The most taps an antialias filter may have (a guard against tiny scales).
const MAX_TAPS: usize = 1 << 16;

/// One axis to resize: its input and output sizes, scale and region of interest.
#[derive(Clone, Copy)]
struct Axis {
    input: usize,
    output: usize,
    scale: f64,
    roi: (f64, f64),
}

impl Axis {
    fn is_identity(&self) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
        close(self.scale, 1.0)
            && self.output == self.input
            && close(self.roi.0, 0.0)
            && close(self.roi.1, 1.0)
    }

    /// The input coordinate of output coordinate `y`, and whether it lies outside the input
    /// (`tf_crop_and_resize` only).
    fn source(&self, mode: CoordinateTransform, y: f64) -> (f64, bool) {
        let (inw, s) = (self.input as f64, self.scale);
        let outw = s * inw;
        let x = match mode {
            CoordinateTransform::AlignCorners if outw == 1.0 => 0.0,
            CoordinateTransform::AlignCorners => y * (inw - 1.0) / (outw - 1.0),
            CoordinateTransform::Asymmetric => y / s,
            CoordinateTransform::TfCropAndResize => {
                let (r0, r1) = self.roi;
                let x = if outw == 1.0 {
                    (r1 - r0) * (inw - 1.0) / 2.0
                } else {
                    y * (r1 - r0) * (inw - 1.0) / (outw - 1.0)
                };
                let x = x + r0 * (inw - 1.0);
                return (x, x < 0.0 || x > inw - 1.0);
            }
            CoordinateTransform::PytorchHalfPixel if outw == 1.0 => -0.5,
            CoordinateTransform::PytorchHalfPixel | CoordinateTransform::HalfPixel => {
                (y + 0.5) / s - 0.5
            }
            CoordinateTransform::HalfPixelSymmetric => {
                let adjustment = self.output as f64 / outw;
                let offset = inw / 2.0 * (1.0 - adjustment);
                offset + (y + 0.5) / s - 0.5
            }
            CoordinateTransform::TfHalfPixelForNn => (y + 0.5) / s,
        };
        (x, false)
    }
}

/// Per-axis output sizes, scales and regions of interest (every axis; untouched ones scale 1).
fn plan(
    op: &Resize,
    x: &Array,
    inputs: &[Option<&Value>],
) -> Result<(Vec<Axis>, Vec<usize>), KernelError> {
    let r = x.rank();
    let resized = match &op.axes {
        Some(a) => norm_axes(a, r, "axes")?,
        None => (0..r).collect(),
    };
    let floats = |slot: usize| -> Result<Option<Vec<f64>>, KernelError> {
        match opt_tensor(inputs, slot)? {
            Some(t) if !t.is_empty() => match to_f64(&t.data) {
                Some(v) => Ok(Some(v)),
                None => invalid(format!("input {slot} must be floating point")),
            },
            _ => Ok(None),
        }
    };
    let roi = floats(1)?;
    let scales = floats(2)?;
    let sizes = match opt_tensor(inputs, 3)? {
        Some(t) if !t.is_empty() => Some(ints(t, "sizes")?),
        _ => None,
    };
    let k = resized.len();
    let mut axes: Vec<Axis> = x
        .shape
        .iter()
        .map(|&n| Axis {
            input: n,
            output: n,
            scale: 1.0,
            roi: (0.0, 1.0),
        })
        .collect();
    let crop = op.coordinate_transformation_mode == CoordinateTransform::TfCropAndResize;
    if let (Some(roi), true) = (&roi, crop) {
        if roi.len() != 2 * k {
            return invalid(format!("roi has {} values for {k} axes", roi.len()));
        }
        for (i, &a) in resized.iter().enumerate() {
            axes[a].roi = (roi[i], roi[k + i]);
        }
    }
    match (scales, sizes) {
        (Some(_), Some(_)) => return invalid("only one of scales and sizes may be given"),
        (None, None) => return invalid("one of scales and sizes is required"),
        (Some(sc), None) => {
            if sc.len() != k {
                return invalid(format!("scales has {} values for {k} axes", sc.len()));
            }
            for (&a, &s) in resized.iter().zip(&sc) {
                let out = s * axes[a].input as f64;
                let usable = s > 0.0 && out.is_finite() && out < super::elems::MAX_ELEMENTS as f64;
                if !usable {
                    return invalid(format!("scale {s} is not usable for axis {a}"));
                }
                axes[a].scale = s;
                axes[a].output = out as usize;
            }
        }
        (None, Some(sz)) => {
            if sz.len() != k {
                return invalid(format!("sizes has {} values for {k} axes", sz.len()));
            }
            for (&a, &n) in resized.iter().zip(&sz) {
                let Ok(n) = usize::try_from(n) else {
                    return invalid(format!("sizes has negative size {n}"));
                };
                axes[a].output = n;
                axes[a].scale = n as f64 / axes[a].input as f64;
            }
            if op.keep_aspect_ratio_policy != KeepAspectRatio::Stretch {
                let it = resized.iter().map(|&a| axes[a].scale);
                let s = match op.keep_aspect_ratio_policy {
                    KeepAspectRatio::NotLarger => it.fold(f64::INFINITY, f64::min),
                    _ => it.fold(f64::NEG_INFINITY, f64::max),
                };
                for &a in &resized {
                    axes[a].scale = s;
                    axes[a].output = (s * axes[a].input as f64 + 0.5) as usize;
                }
            }
        }
    }
    for (a, ax) in axes.iter().enumerate() {
        if ax.output > super::elems::MAX_ELEMENTS {
            return invalid(format!(
                "output size {} of axis {a} is too large",
                ax.output
            ));
        }
        if ax.input == 0 && ax.output > 0 {
            return invalid(format!("cannot resize empty axis {a} to {}", ax.output));
        }
    }
    Ok((axes, resized))
}

pub(crate) fn resize(op: &Resize, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let x = tensor(inputs, 0)?;
    let (axes, order) = plan(op, x, inputs)?;
    let out_shape: Vec<usize> = axes.iter().map(|a| a.output).collect();
    element_count(&out_shape)?;
    let mode = op.coordinate_transformation_mode;
    if op.mode == ResizeMode::Nearest {
        let mut coords = all_coords(&x.shape);
        for &a in &order {
            let ax = axes[a];
            if ax.is_identity() {
                continue;
            }
            coords[a] = (0..ax.output)
                .map(|y| nearest(op.nearest_mode, ax, ax.source(mode, y as f64)))
                .collect();
        }
        let fill = scalar_f64(x.dtype(), f64::from(op.extrapolation_value));
        if fill.is_none() && coords.iter().flatten().any(Option::is_none) {
            return unsupported(format!("extrapolating {} elements", x.dtype()));
        }
        return take_coords(&x.shape, &x.data, &coords, fill.as_ref());
    }
    let Some(mut data) = to_f64(&x.data) else {
        return unsupported(format!(
            "{} resize of {} elements",
            op.mode.onnx_name(),
            x.dtype()
        ));
    };
    let mut shape = x.shape.clone();
    for &a in &order {
        let ax = axes[a];
        if ax.is_identity() {
            continue;
        }
        data = interpolate(op, &data, &shape, a, ax)?;
        shape[a] = ax.output;
    }
    match from_f64(x.dtype(), &data) {
        Some(d) => array(shape, d),
        None => unsupported(format!("resize of {} elements", x.dtype())),
    }
}

/// The input coordinate nearest to `x` by `mode` (clamped), `None` when extrapolated.
fn nearest(mode: NearestMode, ax: Axis, (x, outside): (f64, bool)) -> Option<usize> {
    if outside {
        return None;
    }
    let fl = x.floor();
    let up = if x == fl {
        false
    } else {
        let ratio = x - fl;
        match mode {
            NearestMode::RoundPreferFloor => ratio > 0.5,
            NearestMode::RoundPreferCeil => ratio >= 0.5,
            NearestMode::Floor => false,
            NearestMode::Ceil => true,
        }
    };
    let i = fl + f64::from(u8::from(up));
    Some(i.clamp(0.0, ax.input.saturating_sub(1) as f64) as usize)
}

/// Interpolation weights for a fractional position `ratio` in `(0, 1]`.
fn coefficients(op: &Resize, ratio: f64, scale: f64) -> Vec<f64> {
    let a = f64::from(op.cubic_coeff_a);
    let normalise = |c: Vec<f64>| {
        let sum: f64 = c.iter().sum();
        c.into_iter().map(|v| v / sum).collect()
    };
    match (op.mode, op.antialias) {
        (ResizeMode::Cubic, false) => {
            let (r, q) = (ratio, 1.0 - ratio);
            vec![
                ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
                ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a,
            ]
        }
        (ResizeMode::Cubic, true) => {
            let s = scale.min(1.0);
            let start = (-2.0 / s).floor() as i64 + 1;
            let taps = (start..2 - start).map(|i| {
                let x = (s * (i as f64 - ratio)).abs();
                if x <= 1.0 {
                    (a + 2.0) * x * x * x - (a + 3.0) * x * x + 1.0
                } else if x < 2.0 {
                    a * x * x * x - 5.0 * a * x * x + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            });
            normalise(taps.collect())
        }
        (_, true) => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            let taps = (start..start + footprint)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0));
            normalise(taps.collect())
        }
        _ => vec![1.0 - ratio, ratio],
    }
}

/// Resizes axis `a` of `(data, shape)` to `ax.output` with linear or cubic weights.
fn interpolate(
    op: &Resize,
    data: &[f64],
    shape: &[usize],
    a: usize,
    ax: Axis,
) -> Result<Vec<f64>, KernelError> {
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    let taps_for = |s: f64| {
        let s = s.min(1.0);
        match op.mode {
            ResizeMode::Cubic => 2.0 * (2.0 - (-2.0 / s).floor() - 1.0),
            _ => 2.0 - 2.0 * ((-1.0 / s).floor() + 1.0),
        }
    };
    let few = taps_for(ax.scale) <= MAX_TAPS as f64;
    if op.antialias && !few {
        return unsupported(format!(
            "antialias at scale {} needs too many taps",
            ax.scale
        ));
    }
    let last = ax.input.saturating_sub(1) as i64;
    // Per output coordinate: neighbour indices and weights, or the extrapolation value.
    let mut rows: Vec<Option<(Vec<usize>, Vec<f64>)>> = Vec::with_capacity(ax.output);
    for y in 0..ax.output {
        let (x, outside) = ax.source(op.coordinate_transformation_mode, y as f64);
        if outside {
            rows.push(None);
            continue;
        }
        let fl = x.floor();
        let ratio = if x == fl { 1.0 } else { x - fl };
        let mut w = coefficients(op, ratio, ax.scale);
        let n = w.len() as i64;
        let pad = (n + 1) / 2;
        let xp = x + pad as f64;
        let p = xp.floor();
        let frac = xp - p;
        let offset = if n % 2 == 0 {
            if frac == 0.0 { -(n / 2) } else { -(n / 2) + 1 }
        } else {
            let base = -((n - 1) / 2);
            if frac <= 0.5 { base } else { base + 1 }
        };
        let start = (p as i64).saturating_add(offset).saturating_sub(pad);
        let idx: Vec<i64> = (0..n).map(|k| start.saturating_add(k)).collect();
        if op.exclude_outside {
            for (wk, &i) in w.iter_mut().zip(&idx) {
                if i < 0 || i > last {
                    *wk = 0.0;
                }
            }
            let sum: f64 = w.iter().sum();
            let sum = if sum == 0.0 { 1.0 } else { sum };
            w.iter_mut().for_each(|v| *v /= sum);
        }
        let idx = idx.into_iter().map(|i| i.clamp(0, last) as usize).collect();
        rows.push(Some((idx, w)));
    }
    let extrapolated = f64::from(op.extrapolation_value);
    let mut out = vec![0.0; outer * ax.output * inner];
    for o in 0..outer {
        let src = &data[o * ax.input * inner..(o + 1) * ax.input * inner];
        for (y, row) in rows.iter().enumerate() {
            let dst = &mut out[(o * ax.output + y) * inner..(o * ax.output + y + 1) * inner];
            match row {
                None => dst.fill(extrapolated),
                Some((idx, w)) => {
                    for (&i, &wk) in idx.iter().zip(w) {
                        let line = &src[i * inner..(i + 1) * inner];
                        dst.iter_mut().zip(line).for_each(|(d, &s)| *d += wk * s);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Numeric elements widened to f64.
fn to_f64(d: &Data) -> Option<Vec<f64>> {
    Some(match d {
        Data::F64(v) => v.clone(),
        Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::F16(v) => v.iter().map(|x| x.to_f64()).collect(),
        Data::BF16(v) => v.iter().map(|x| x.to_f64()).collect(),
        Data::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
        _ => return None,
    })
}

/// f64 values narrowed to `dtype` (integers rounded half to even and saturated).
fn from_f64(dtype: nnslim_ir::DType, v: &[f64]) -> Option<Data> {
    use nnslim_ir::DType as T;
    let r = |x: &f64| x.round_ties_even();
    Some(match dtype {
        T::F64 => Data::F64(v.to_vec()),
        T::F32 => Data::F32(v.iter().map(|&x| x as f32).collect()),
        T::F16 => Data::F16(v.iter().map(|&x| f16::from_f64(x)).collect()),
        T::BF16 => Data::BF16(v.iter().map(|&x| bf16::from_f64(x)).collect()),
        T::I8 => Data::I8(v.iter().map(|x| r(x) as i8).collect()),
        T::I16 => Data::I16(v.iter().map(|x| r(x) as i16).collect()),
        T::I32 => Data::I32(v.iter().map(|x| r(x) as i32).collect()),
        T::I64 => Data::I64(v.iter().map(|x| r(x) as i64).collect()),
        T::U8 => Data::U8(v.iter().map(|x| r(x) as u8).collect()),
        T::U16 => Data::U16(v.iter().map(|x| r(x) as u16).collect()),
        T::U32 => Data::U32(v.iter().map(|x| r(x) as u32).collect()),
        T::U64 => Data::U64(v.iter().map(|x| r(x) as u64).collect()),
        _ => return None,
    })
}
