//! `Conv` and `ConvTranspose`, N-D and grouped, in f32 or f64. A convolution is im2col and
//! a GEMM per image and group (pointwise ones multiply the image directly, stride-1 ones go
//! through full-width columns, depthwise ones are computed directly); a transposed one is a
//! GEMM and col2im.

use super::depthwise::{depthwise, plane_axes};
use super::geom::{Axis, col2im, im2col, resolve};
use super::matmul::{mm, view, view_mut};
use super::wide::{Wide, WideJob};
use super::{
    Compute, Float, PAR_MACS, compute_type, floats, input, numel, opt_input, with_scratch,
};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Value};
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef};
use nnslim_ir::op::{AutoPad, Conv, ConvTranspose, Window};
use rayon::prelude::*;

/// Shapes shared by both convolutions, checked against each other.
struct Shapes {
    batch: usize,
    /// Input channels per group, output channels per group.
    cg: usize,
    mg: usize,
    group: usize,
    kernel: Vec<usize>,
}

/// Checks X, W and B; `transposed` selects W's layout (`[C, M/g, k...]` instead of
/// `[M, C/g, k...]`).
fn check_shapes(
    x: &Array,
    w: &Array,
    b: Option<&Array>,
    window: &Window,
    group: i64,
    transposed: bool,
) -> Result<Shapes, KernelError> {
    if x.rank() < 3 || w.rank() != x.rank() {
        return invalid(format!(
            "X {:?} and W {:?} must have the same rank, at least 3",
            x.shape, w.shape
        ));
    }
    let group = usize::try_from(group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| KernelError::Invalid(format!("group {group} is not positive")))?;
    let c = x.shape[1];
    let (cg, mg) = if transposed {
        if w.shape[0] != c || !c.is_multiple_of(group) {
            return invalid(format!(
                "X {:?} and W {:?} do not fit group {group} (W is [C, M/group, kernel...])",
                x.shape, w.shape
            ));
        }
        (c / group, w.shape[1])
    } else {
        if w.shape[1] * group != c || !w.shape[0].is_multiple_of(group) {
            return invalid(format!(
                "X {:?} and W {:?} do not fit group {group} (W is [M, C/group, kernel...])",
                x.shape, w.shape
            ));
        }
        (w.shape[1], w.shape[0] / group)
    };
    let kernel = w.shape[2..].to_vec();
    if let Some(k) = &window.kernel_shape
        && (k.len() != kernel.len() || k.iter().zip(&kernel).any(|(&a, &b)| a as usize != b))
    {
        return invalid(format!("kernel_shape {k:?} differs from W {:?}", w.shape));
    }
    if let Some(b) = b
        && b.shape != [mg * group]
    {
        return invalid(format!(
            "B {:?} must be 1-D with one value per output channel ({})",
            b.shape,
            mg * group
        ));
    }
    if x.dtype() != w.dtype() {
        return invalid(format!("X is {} but W is {}", x.dtype(), w.dtype()));
    }
    numel(&x.shape)?;
    numel(&w.shape)?;
    Ok(Shapes {
        batch: x.shape[0],
        cg,
        mg,
        group,
        kernel,
    })
}

/// `Conv`.
pub(super) fn conv(op: &Conv, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "X")?;
    let w = input(inputs, 1, "W")?;
    let b = opt_input(inputs, 2, "B")?;
    let s = check_shapes(x, w, b, &op.window, op.group, false)?;
    let axes = resolve(&op.window, &x.shape[2..], &s.kernel, false)?;
    let mut shape = vec![s.batch, s.mg * s.group];
    shape.extend(axes.iter().map(|a| a.output));
    numel(&shape)?;
    let data = match compute_type(x.dtype()) {
        Some(Compute::F32) => Float::into_data(conv_impl::<f32>(x, w, b, &s, &axes)?, x.dtype()),
        Some(Compute::F64) => Float::into_data(conv_impl::<f64>(x, w, b, &s, &axes)?, x.dtype()),
        None => return unsupported(format!("Conv on {}", x.dtype())),
    };
    Ok(Array::new(shape, data).expect("output shape"))
}

fn conv_impl<F: Float>(
    x: &Array,
    w: &Array,
    b: Option<&Array>,
    s: &Shapes,
    axes: &[Axis],
) -> Result<Vec<F>, KernelError> {
    let xv = floats::<F>(x, "X")?;
    let wv = floats::<F>(w, "W")?;
    let bv = b.map(|b| floats::<F>(b, "B")).transpose()?;
    let in_len: usize = axes.iter().map(|a| a.input).product();
    let out_len: usize = axes.iter().map(|a| a.output).product();
    let k_len: usize = s.kernel.iter().product();
    let (cg, mg, g) = (s.cg, s.mg, s.group);
    let pointwise = axes
        .iter()
        .all(|a| a.kernel == 1 && a.stride == 1 && a.pad == 0 && a.input == a.output);
    // Depthwise (one input channel per group and a few outputs per channel; a single-channel
    // image with many outputs is better as a GEMM).
    let dw = if cg == 1 && g > 1 && mg <= 4 && !pointwise {
        plane_axes(axes)
    } else {
        None
    };
    let wide = if pointwise || dw.is_some() {
        None
    } else {
        Wide::new(axes).filter(|w| w.pays(mg))
    };
    // The output starts as the bias (one pass, no zeroing) and the products are added; the
    // full-width path adds the bias itself.
    let total = s.batch * mg * g * out_len;
    let (mut y, accum) = match &bv {
        Some(bv) if wide.is_none() && dw.is_none() => {
            let mut y = Vec::with_capacity(total);
            for _ in 0..s.batch {
                for &bias in bv.iter() {
                    y.extend(std::iter::repeat_n(bias, out_len));
                }
            }
            (y, Accum::Add)
        }
        _ => (vec![F::ZERO; total], Accum::Replace),
    };
    let image_flops = mg * g * cg * k_len * out_len;
    let image = |xi: &[F], yi: &mut [F], par: bool| {
        if let Some(dw) = dw {
            return depthwise(xi, &wv, bv.as_deref(), dw, mg, yi, par);
        }
        for gi in 0..g {
            let xg = &xi[gi * cg * in_len..(gi + 1) * cg * in_len];
            let wg = &wv[gi * mg * cg * k_len..(gi + 1) * mg * cg * k_len];
            let yg = &mut yi[gi * mg * out_len..(gi + 1) * mg * out_len];
            let y = view_mut(yg, mg, out_len);
            let w = view(wg, mg, cg * k_len, false);
            let pieces = if par && mg * cg * k_len * out_len >= PAR_MACS {
                rayon::current_num_threads()
            } else {
                1
            };
            if pointwise {
                mm(y, w, view(xg, cg, out_len, false), F::ONE, accum, par);
            } else if let Some(geo) = wide {
                let job = WideJob {
                    x: xg,
                    w,
                    bias: bv.as_ref().map(|b| &b[gi * mg..(gi + 1) * mg]),
                    channels: cg,
                    geo,
                };
                job.run(y, pieces);
            } else {
                let job = Im2colJob {
                    x: xg,
                    w,
                    channels: cg,
                    axes,
                    accum,
                };
                job.run(y, 0, pieces);
            }
        }
    };
    let x_img = cg * g * in_len;
    let y_img = mg * g * out_len;
    if y_img == 0 {
        return Ok(y);
    }
    // Whole images are coarse tasks: worth splitting from a quarter of the usual work.
    if s.batch > 1 && s.batch * image_flops >= PAR_MACS / 4 && rayon::current_num_threads() > 1 {
        y.par_chunks_exact_mut(y_img)
            .zip(xv.par_chunks_exact(x_img.max(1)))
            .for_each(|(yi, xi)| image(xi, yi, false));
    } else {
        for (n, yi) in y.chunks_exact_mut(y_img).enumerate() {
            image(&xv[n * x_img..(n + 1) * x_img], yi, true);
        }
    }
    Ok(y)
}

/// Output columns per im2col chunk aim for a column buffer of this many elements (it stays in
/// the L2 cache while the GEMM reads it).
const CHUNK_ELEMS: usize = 1 << 18;

/// One image and group of an im2col convolution: the columns of the output are produced in
/// chunks (im2col of the chunk into a scratch buffer, then a GEMM into those output columns),
/// split over `pieces` rayon tasks.
struct Im2colJob<'a, F> {
    x: &'a [F],
    w: MatRef<'a, F>,
    channels: usize,
    axes: &'a [Axis],
    accum: Accum,
}

impl<F: Float> Im2colJob<'_, F> {
    /// Computes the output columns `first..first + y.ncols()` into `y`.
    fn run(&self, y: MatMut<'_, F>, first: usize, pieces: usize) {
        let n = y.ncols();
        let rows = self.w.ncols();
        let chunk = (CHUNK_ELEMS / rows.max(1)).clamp(256, n.max(256));
        if pieces > 1 && n >= 512 {
            let left = pieces / 2;
            let mid = n * left / pieces;
            let (y0, y1) = y.split_at_col_mut(mid);
            rayon::join(
                || self.run(y0, first, left),
                || self.run(y1, first + mid, pieces - left),
            );
            return;
        }
        let mut y = y;
        with_scratch(rows * chunk.min(n), |col: &mut [F]| {
            let mut start = 0;
            while start < n {
                let len = chunk.min(n - start);
                let col = &mut col[..rows * len];
                let cols = first + start..first + start + len;
                im2col(self.x, self.channels, self.axes, col, cols);
                mm(
                    y.rb_mut().subcols_mut(start, len),
                    self.w,
                    view(col, rows, len, false),
                    F::ONE,
                    self.accum,
                    false,
                );
                start += len;
            }
        });
    }
}

/// Resolves a transposed convolution's axes. In the returned [`Axis`], `input` is the size of
/// the output image and `output` the number of input positions (see [`col2im`]).
fn transposed_axes(
    op: &ConvTranspose,
    input: &[usize],
    kernel: &[usize],
) -> Result<Vec<Axis>, KernelError> {
    let n = input.len();
    let w = &op.window;
    let explicit: Option<&[i64]> = match op.output_shape.as_deref() {
        Some(s) if s.len() == n => Some(s),
        Some(s) if s.len() == n + 2 => Some(&s[2..]),
        Some(s) => {
            return invalid(format!(
                "output_shape {s:?} does not fit spatial input {input:?}"
            ));
        }
        None => None,
    };
    if !op.output_padding.is_empty() && op.output_padding.len() != n {
        return invalid(format!(
            "output_padding {:?} does not fit spatial input {input:?}",
            op.output_padding
        ));
    }
    if (!w.strides.is_empty() && w.strides.len() != n)
        || (!w.dilations.is_empty() && w.dilations.len() != n)
        || (!w.pads.is_empty() && w.pads.len() != 2 * n)
    {
        return invalid(format!(
            "strides {:?}, dilations {:?} or pads {:?} do not fit spatial input {input:?}",
            w.strides, w.dilations, w.pads
        ));
    }
    let mut axes = Vec::with_capacity(n);
    for i in 0..n {
        let (s, d) = (w.stride(i), w.dilation(i));
        let k = kernel[i] as i64;
        let len = input[i] as i64;
        if s < 1 || d < 1 || k < 1 {
            return invalid(format!("axis {i}: stride {s}, dilation {d}, kernel {k}"));
        }
        let extent = (k - 1) * d + 1;
        let out_pad = op.output_padding.get(i).copied().unwrap_or(0);
        let full = s * (len - 1).max(0) + out_pad + extent;
        let target = match explicit {
            Some(e) => Some(e[i]),
            None if w.auto_pad.is_same() => Some(len * s),
            None => None,
        };
        let (out, pad) = match target {
            Some(out) => {
                let total = full - out;
                let pad = if w.auto_pad == AutoPad::SameUpper {
                    total.div_euclid(2)
                } else {
                    total - total.div_euclid(2)
                };
                (out, pad)
            }
            None if w.auto_pad == AutoPad::Valid => (full, 0),
            None => (full - w.pad_begin(i) - w.pad_end(i), w.pad_begin(i)),
        };
        if out < 0 {
            return invalid(format!(
                "axis {i}: output size {out} is negative (input {input:?}, pads {:?})",
                w.pads
            ));
        }
        axes.push(Axis {
            input: out as usize,
            output: input[i],
            kernel: kernel[i],
            stride: s as usize,
            dilation: d as usize,
            pad: pad as isize,
            pad_end: 0,
        });
    }
    Ok(axes)
}

/// `ConvTranspose`.
pub(super) fn conv_transpose(
    op: &ConvTranspose,
    inputs: &[Option<&Value>],
) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "X")?;
    let w = input(inputs, 1, "W")?;
    let b = opt_input(inputs, 2, "B")?;
    let s = check_shapes(x, w, b, &op.window, op.group, true)?;
    let axes = transposed_axes(op, &x.shape[2..], &s.kernel)?;
    let mut shape = vec![s.batch, s.mg * s.group];
    shape.extend(axes.iter().map(|a| a.input));
    numel(&shape)?;
    let data = match compute_type(x.dtype()) {
        Some(Compute::F32) => {
            Float::into_data(transpose_impl::<f32>(x, w, b, &s, &axes)?, x.dtype())
        }
        Some(Compute::F64) => {
            Float::into_data(transpose_impl::<f64>(x, w, b, &s, &axes)?, x.dtype())
        }
        None => return unsupported(format!("ConvTranspose on {}", x.dtype())),
    };
    Ok(Array::new(shape, data).expect("output shape"))
}

fn transpose_impl<F: Float>(
    x: &Array,
    w: &Array,
    b: Option<&Array>,
    s: &Shapes,
    axes: &[Axis],
) -> Result<Vec<F>, KernelError> {
    let xv = floats::<F>(x, "X")?;
    let wv = floats::<F>(w, "W")?;
    let bv = b.map(|b| floats::<F>(b, "B")).transpose()?;
    let in_len: usize = axes.iter().map(|a| a.output).product();
    let out_len: usize = axes.iter().map(|a| a.input).product();
    let k_len: usize = s.kernel.iter().product();
    let (cg, mg, g) = (s.cg, s.mg, s.group);
    let x_img = cg * g * in_len;
    let y_img = mg * g * out_len;
    let mut y = vec![F::ZERO; s.batch * y_img];
    if y_img == 0 {
        return Ok(y);
    }
    for (n, yi) in y.chunks_exact_mut(y_img).enumerate() {
        let xi = &xv[n * x_img..(n + 1) * x_img];
        for gi in 0..g {
            let xg = &xi[gi * cg * in_len..(gi + 1) * cg * in_len];
            let wg = &wv[gi * cg * mg * k_len..(gi + 1) * cg * mg * k_len];
            let yg = &mut yi[gi * mg * out_len..(gi + 1) * mg * out_len];
            with_scratch(mg * k_len * in_len, |col: &mut [F]| {
                mm(
                    view_mut(col, mg * k_len, in_len),
                    view(wg, mg * k_len, cg, true),
                    view(xg, cg, in_len, false),
                    F::ONE,
                    Accum::Replace,
                    true,
                );
                col2im(col, mg, axes, yg);
            });
            if let Some(bv) = &bv {
                for (row, &bias) in yg.chunks_exact_mut(out_len).zip(&bv[gi * mg..]) {
                    row.iter_mut().for_each(|v| *v += bias);
                }
            }
        }
    }
    Ok(y)
}
