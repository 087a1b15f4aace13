//! Windowed pools (`MaxPool` with its optional `Indices`, `AveragePool`, `LpPool`; 1-D to
//! 3-D) and the global pools. Windows are precomputed per axis; reductions fold the leading
//! axes into a line first (vectorisable), then each output folds its taps on that line.

use super::geom::{Axis, resolve};
use super::{Compute, Float, compute_type, floats, input, numel};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use half::{bf16, f16};
use nnslim_ir::op::{GlobalPool, Pool, PoolKind};
use rayon::prelude::*;

/// Input elements per batch above which planes are pooled in parallel.
const PAR_ELEMS: usize = 1 << 17;

/// The windows of one spatial axis. The valid taps of a window are consecutive kernel
/// positions, so each window is `count` offsets `first + j * jump` (offsets already multiplied
/// by the axis' stride in the plane); `padded` counts the taps inside the padded input (what
/// `count_include_pad` divides by).
struct AxisTaps {
    first: Vec<usize>,
    count: Vec<usize>,
    padded: Vec<usize>,
    jump: usize,
    /// Offset between consecutive windows (stride times step).
    stride: usize,
    kernel: usize,
    /// The windows whose taps are all inside the input (a contiguous range).
    interior: (usize, usize),
}

impl AxisTaps {
    fn new(a: &Axis, step: usize) -> AxisTaps {
        let mut t = AxisTaps {
            first: Vec::with_capacity(a.output),
            count: Vec::with_capacity(a.output),
            padded: Vec::with_capacity(a.output),
            jump: a.dilation * step,
            stride: a.stride * step,
            kernel: a.kernel,
            interior: (0, 0),
        };
        let end = a.input as isize + a.pad_end;
        for o in 0..a.output {
            let (mut padded, mut first, mut count) = (0, 0, 0);
            for k in 0..a.kernel {
                let i = (o * a.stride + k * a.dilation) as isize - a.pad;
                if i >= -a.pad && i < end {
                    padded += 1;
                }
                if i >= 0 && (i as usize) < a.input {
                    if count == 0 {
                        first = i as usize * step;
                    }
                    count += 1;
                }
            }
            t.first.push(first);
            t.count.push(count);
            t.padded.push(padded);
        }
        let full = |o: &usize| t.count[*o] == a.kernel;
        if let Some(lo) = (0..a.output).find(full) {
            let hi = (lo..a.output).find(|o| !full(o)).unwrap_or(a.output);
            t.interior = (lo, hi);
        }
        t
    }

    /// The offsets of window `o`.
    #[inline]
    fn at(&self, o: usize) -> impl Iterator<Item = usize> + Clone + use<> {
        let (first, jump) = (self.first[o], self.jump);
        (0..self.count[o]).map(move |j| first + j * jump)
    }
}

/// Pool geometry padded to three spatial axes.
struct Geometry {
    taps: [AxisTaps; 3],
    out: [usize; 3],
    input: [usize; 3],
}

impl Geometry {
    fn new(axes: &[Axis]) -> Result<Geometry, KernelError> {
        if axes.len() > 3 {
            return unsupported(format!(
                "pooling over {} spatial axes (at most 3)",
                axes.len()
            ));
        }
        let unit = Axis::UNIT;
        let mut full = [unit; 3];
        full[3 - axes.len()..].copy_from_slice(axes);
        let input = full.map(|a| a.input);
        let steps = [input[1] * input[2], input[2], 1];
        Ok(Geometry {
            taps: [0, 1, 2].map(|i| AxisTaps::new(&full[i], steps[i])),
            out: full.map(|a| a.output),
            input,
        })
    }

    fn in_len(&self) -> usize {
        self.input.iter().product()
    }

    fn out_len(&self) -> usize {
        self.out.iter().product()
    }
}

/// `MaxPool`, `AveragePool`, `LpPool`; `Indices` (second output of `MaxPool`) on request.
pub(super) fn pool(
    op: &Pool,
    inputs: &[Option<&Value>],
    num_outputs: usize,
) -> Result<Vec<Array>, KernelError> {
    let x = input(inputs, 0, "X")?;
    let kernel: Vec<usize> = op
        .window
        .kernel_shape
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|&k| usize::try_from(k).unwrap_or(0))
        .collect();
    if x.rank() != kernel.len() + 2 {
        return invalid(format!(
            "X {:?} does not fit kernel_shape {kernel:?} (expected rank {})",
            x.shape,
            kernel.len() + 2
        ));
    }
    numel(&x.shape)?;
    let axes = resolve(&op.window, &x.shape[2..], &kernel, op.ceil_mode)?;
    let geo = Geometry::new(&axes)?;
    let mut shape = x.shape[..2].to_vec();
    shape.extend(axes.iter().map(|a| a.output));
    numel(&shape)?;
    let planes = x.shape[0] * x.shape[1];
    let dtype = x.dtype();
    let mut outs = Vec::new();
    match op.kind {
        PoolKind::Max {
            column_major_indices,
        } => {
            let want_indices = num_outputs > 1;
            macro_rules! max {
                ($($v:ident => $lowest:expr),*) => {
                    match &x.data {
                        $(Data::$v(v) if want_indices => {
                            let (y, idx) = max_pool(v, $lowest, &geo, planes);
                            (Data::$v(y), idx)
                        })*
                        $(Data::$v(v) => {
                            let y = separable(v, &geo, planes, $lowest, |v| v,
                                |a, b| if b > a { b } else { a }, None::<fn(_, _, _) -> _>);
                            (Data::$v(y), Vec::new())
                        })*
                        _ => return unsupported(format!("MaxPool on {dtype}")),
                    }
                };
            }
            let (y, idx) = max!(
                F32 => f32::MIN, F64 => f64::MIN, F16 => f16::MIN, BF16 => bf16::MIN,
                I8 => i8::MIN, U8 => u8::MIN, I16 => i16::MIN, U16 => u16::MIN,
                I32 => i32::MIN, U32 => u32::MIN, I64 => i64::MIN, U64 => u64::MIN
            );
            outs.push(Array::new(shape.clone(), y).expect("output shape"));
            if want_indices {
                let idx = indices(idx, &geo, column_major_indices);
                outs.push(Array::new(shape, Data::I64(idx)).expect("output shape"));
            }
        }
        _ => {
            let data = match compute_type(dtype) {
                Some(Compute::F32) => Float::into_data(avg_lp::<f32>(op, x, &geo, planes)?, dtype),
                Some(Compute::F64) => Float::into_data(avg_lp::<f64>(op, x, &geo, planes)?, dtype),
                None => return unsupported(format!("{} on {dtype}", op.op_type())),
            };
            outs.push(Array::new(shape, data).expect("output shape"));
        }
    }
    Ok(outs)
}

/// Max over every window with the flat (row-major, whole tensor) index of each maximum
/// (the first one on ties; padding never wins).
fn max_pool<T: Copy + PartialOrd + Send + Sync>(
    x: &[T],
    lowest: T,
    geo: &Geometry,
    planes: usize,
) -> (Vec<T>, Vec<usize>) {
    let (in_len, out_len) = (geo.in_len(), geo.out_len());
    let mut y = vec![lowest; planes * out_len];
    let mut idx = vec![0usize; planes * out_len];
    if out_len == 0 {
        return (y, idx);
    }
    for (p, (yp, ip)) in y
        .chunks_exact_mut(out_len)
        .zip(idx.chunks_exact_mut(out_len))
        .enumerate()
    {
        let xp = &x[p * in_len..(p + 1) * in_len];
        let [tx, ty, tz] = &geo.taps;
        let mut slots = yp.iter_mut().zip(ip.iter_mut());
        for o0 in 0..geo.out[0] {
            for o1 in 0..geo.out[1] {
                for o2 in 0..geo.out[2] {
                    let mut best: Option<(T, usize)> = None;
                    for a in tx.at(o0) {
                        for b in ty.at(o1) {
                            for c in tz.at(o2) {
                                let v = xp[a + b + c];
                                if best.is_none_or(|(m, _)| v > m) {
                                    best = Some((v, a + b + c));
                                }
                            }
                        }
                    }
                    let (v, i) = best.unwrap_or((lowest, 0));
                    if let Some((ys, is)) = slots.next() {
                        *ys = v;
                        *is = p * in_len + i;
                    }
                }
            }
        }
    }
    (y, idx)
}

/// Row-major flat indices to i64, or to plane offset + column-major spatial position.
fn indices(idx: Vec<usize>, geo: &Geometry, column_major: bool) -> Vec<i64> {
    let in_len = geo.in_len().max(1);
    let [_, d1, d2] = geo.input;
    idx.into_iter()
        .map(|i| {
            if !column_major {
                return i as i64;
            }
            let (plane, s) = (i / in_len, i % in_len);
            let (c0, c1, c2) = (s / (d1 * d2), (s / d2) % d1, s % d2);
            (plane * in_len + c2 * (geo.input[0] * d1) + c1 * geo.input[0] + c0) as i64
        })
        .collect()
}

fn avg_lp<F: Float>(
    op: &Pool,
    x: &Array,
    geo: &Geometry,
    planes: usize,
) -> Result<Vec<F>, KernelError> {
    let xv = floats::<F>(x, "X")?;
    let add = |a: F, b: F| a + b;
    Ok(match op.kind {
        PoolKind::Lp { p } => separable(
            &xv,
            geo,
            planes,
            F::ZERO,
            |v| lp_term(v, p),
            add,
            Some(|acc, _, _| lp_root(acc, p)),
        ),
        PoolKind::Average { count_include_pad } => separable(
            &xv,
            geo,
            planes,
            F::ZERO,
            |v| v,
            add,
            Some(|acc: F, valid, padded| {
                acc / F::from_usize(if count_include_pad { padded } else { valid })
            }),
        ),
        PoolKind::Max { .. } => separable(
            &xv,
            geo,
            planes,
            F::NEG_INFINITY,
            |v| v,
            |a, b| if b > a { b } else { a },
            None::<fn(F, usize, usize) -> F>,
        ),
    })
}

/// A window reduction computed separably: the leading axes' taps are folded into a line of
/// the last axis (vectorisable), then each output folds its taps on that line. `finish` (if
/// any) gets the fold, the number of valid taps and the number of taps inside the padded input.
fn separable<T: Copy + Default + Send + Sync>(
    x: &[T],
    geo: &Geometry,
    planes: usize,
    init: T,
    map: impl Fn(T) -> T + Sync,
    fold: impl Fn(T, T) -> T + Sync,
    finish: Option<impl Fn(T, usize, usize) -> T + Sync>,
) -> Vec<T> {
    let (in_len, out_len, width) = (geo.in_len(), geo.out_len(), geo.input[2]);
    // Every element is written below; zeros let the allocator hand out fresh pages.
    let mut y = vec![T::default(); planes * out_len];
    if out_len == 0 {
        return y;
    }
    let [tx, ty, tz] = &geo.taps;
    // 2x2 windows at stride 2 inside the input (the common max pool): rows in pairs, exact
    // slices so the inner loop has no bounds checks or per-row set-up.
    let whole = |t: &AxisTaps, n: usize| t.interior == (0, n);
    if geo.out[0] == 1
        && tx.kernel == 1
        && [ty, tz]
            .iter()
            .all(|t| t.kernel == 2 && t.first.first() == Some(&0))
        && ty.stride == 2 * width
        && ty.jump == width
        && tz.stride == 2
        && tz.jump == 1
        && whole(ty, geo.out[1])
        && whole(tz, geo.out[2])
        && finish.is_none()
    {
        let ow = geo.out[2];
        let pairs = |xp: &[T], yp: &mut [T]| {
            for (oy, out) in yp.chunks_exact_mut(ow).enumerate() {
                let r0 = &xp[2 * oy * width..][..2 * ow];
                let r1 = &xp[(2 * oy + 1) * width..][..2 * ow];
                for ((y, a), b) in out
                    .iter_mut()
                    .zip(r0.chunks_exact(2))
                    .zip(r1.chunks_exact(2))
                {
                    let m = fold(fold(init, map(a[0])), map(a[1]));
                    *y = fold(fold(m, map(b[0])), map(b[1]));
                }
            }
        };
        if planes * in_len >= PAR_ELEMS && rayon::current_num_threads() > 1 {
            y.par_chunks_exact_mut(out_len)
                .zip(x.par_chunks_exact(in_len.max(1)))
                .for_each(|(yp, xp)| pairs(xp, yp));
        } else {
            for (yp, xp) in y
                .chunks_exact_mut(out_len)
                .zip(x.chunks_exact(in_len.max(1)))
            {
                pairs(xp, yp);
            }
        }
        return y;
    }
    let plane = |xp: &[T], yp: &mut [T], line: &mut Vec<T>| {
        let mut out_rows = yp.chunks_exact_mut(geo.out[2]);
        for o0 in 0..geo.out[0] {
            for o1 in 0..geo.out[1] {
                line.clear();
                for a in tx.at(o0) {
                    for b in ty.at(o1) {
                        let row = &xp[a + b..a + b + width];
                        if line.is_empty() {
                            line.extend(row.iter().map(|&v| fold(init, map(v))));
                        } else {
                            for (l, &v) in line.iter_mut().zip(row) {
                                *l = fold(*l, map(v));
                            }
                        }
                    }
                }
                if line.is_empty() {
                    line.resize(width, init);
                }
                let rows = tx.count[o0] * ty.count[o1];
                let padded = tx.padded[o0] * ty.padded[o1];
                let Some(out) = out_rows.next() else {
                    return;
                };
                horizontal(line, tz, out, init, &fold);
                if let Some(finish) = &finish {
                    let counts = out.iter_mut().zip(&tz.count).zip(&tz.padded);
                    for ((y, &count), &pad) in counts {
                        *y = finish(*y, rows * count, padded * pad);
                    }
                }
            }
        }
    };
    if planes * in_len >= PAR_ELEMS && rayon::current_num_threads() > 1 {
        y.par_chunks_exact_mut(out_len)
            .zip(x.par_chunks_exact(in_len.max(1)))
            .for_each_init(Vec::new, |line, (yp, xp)| plane(xp, yp, line));
    } else {
        let mut line = Vec::with_capacity(width);
        for (yp, xp) in y
            .chunks_exact_mut(out_len)
            .zip(x.chunks_exact(in_len.max(1)))
        {
            plane(xp, yp, &mut line);
        }
    }
    y
}

/// Folds the windows of the last axis over `line` into `out`: the interior windows tap by
/// tap across all outputs (independent operations that pipeline, and vectorise for stride 1),
/// the edge windows one by one.
#[inline]
fn horizontal<T: Copy>(
    line: &[T],
    tz: &AxisTaps,
    out: &mut [T],
    init: T,
    fold: &impl Fn(T, T) -> T,
) {
    let (lo, hi) = tz.interior;
    let edge = |o: usize| {
        line[tz.first[o]..]
            .iter()
            .step_by(tz.jump)
            .take(tz.count[o])
            .fold(init, |acc, &v| fold(acc, v))
    };
    if lo >= hi {
        for (o, y) in out.iter_mut().enumerate() {
            *y = edge(o);
        }
        return;
    }
    for o in (0..lo).chain(hi..out.len()) {
        out[o] = edge(o);
    }
    let inner = &mut out[lo..hi];
    let n = inner.len();
    let base = tz.first[lo];
    let s = tz.stride;
    for k in 0..tz.kernel {
        let start = base + k * tz.jump;
        let src = &line[start..start + (n - 1) * s + 1];
        if k == 0 {
            for (j, y) in inner.iter_mut().enumerate() {
                *y = src[j * s];
            }
        } else if s == 1 {
            for (y, &v) in inner.iter_mut().zip(src) {
                *y = fold(*y, v);
            }
        } else {
            for (j, y) in inner.iter_mut().enumerate() {
                *y = fold(*y, src[j * s]);
            }
        }
    }
}

#[inline]
fn lp_term<F: Float>(v: F, p: i64) -> F {
    match p {
        1 => v.abs(),
        2 => v * v,
        _ => v.abs().powf(F::from_f64(p as f64)),
    }
}

#[inline]
fn lp_root<F: Float>(acc: F, p: i64) -> F {
    match p {
        1 => acc,
        2 => acc.sqrt(),
        _ => acc.powf(F::ONE / F::from_f64(p as f64)),
    }
}

/// `GlobalAveragePool`, `GlobalMaxPool`, `GlobalLpPool`: one value per `[N, C]` plane.
pub(super) fn global_pool(
    op: &GlobalPool,
    inputs: &[Option<&Value>],
) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "X")?;
    if x.rank() < 2 {
        return invalid(format!("X {:?} must have rank 2 or more", x.shape));
    }
    numel(&x.shape)?;
    let mut shape = x.shape[..2].to_vec();
    shape.resize(x.rank(), 1);
    let planes = x.shape[0] * x.shape[1];
    let dtype = x.dtype();
    let data = match compute_type(dtype) {
        Some(Compute::F32) => Float::into_data(global::<f32>(op, x, planes)?, dtype),
        Some(Compute::F64) => Float::into_data(global::<f64>(op, x, planes)?, dtype),
        None => return unsupported(format!("{} on {dtype}", op.op_type())),
    };
    Ok(Array::new(shape, data).expect("output shape"))
}

fn global<F: Float>(op: &GlobalPool, x: &Array, planes: usize) -> Result<Vec<F>, KernelError> {
    let xv = floats::<F>(x, "X")?;
    let len: usize = x.shape[2..].iter().product();
    if len == 0 {
        return Ok(vec![F::from_f64(f64::NAN); planes]);
    }
    Ok(xv
        .chunks_exact(len)
        .take(planes)
        .map(|p| match op {
            GlobalPool::Average => lanes(p, F::ZERO, |v| v, |a, b| a + b) / F::from_usize(len),
            GlobalPool::Max => lanes(p, F::NEG_INFINITY, |v| v, |a, b| if b > a { b } else { a }),
            GlobalPool::Lp { p: e } => {
                lp_root(lanes(p, F::ZERO, |v| lp_term(v, *e), |a, b| a + b), *e)
            }
        })
        .collect())
}

/// Folds `v` in 8 interleaved lanes (so it vectorises), then the lanes together.
#[inline]
fn lanes<F: Float>(v: &[F], init: F, map: impl Fn(F) -> F, fold: impl Fn(F, F) -> F) -> F {
    let mut acc = [init; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = fold(*a, map(x));
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a = fold(*a, map(x));
    }
    acc.into_iter().fold(init, fold)
}
