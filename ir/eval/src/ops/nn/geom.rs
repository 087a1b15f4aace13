//! Sliding-window geometry resolved for concrete shapes (output sizes and padding per spatial
//! axis), and the im2col / col2im transforms the convolutions multiply through.

use super::{Float, copy_run};
use crate::run::{KernelError, invalid};
use nnslim_ir::op::{AutoPad, Window};

/// One spatial axis of a sliding window over a concrete input. `pad` is the padding before
/// the first element (negative only for transposed convolutions whose `output_shape` crops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Axis {
    pub input: usize,
    pub output: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad: isize,
    /// Padding after the last element (used by average pools that count padding).
    pub pad_end: isize,
}

impl Axis {
    /// A size-1 axis with a size-1 window: what a missing spatial axis behaves like.
    pub const UNIT: Axis = Axis {
        input: 1,
        output: 1,
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad: 0,
        pad_end: 0,
    };

    /// The range of window positions `o` (of `count`) whose tap `k` reads inside the input, for
    /// a forward window: input index `o * stride - pad + k * dilation`.
    #[inline]
    pub fn valid(&self, k: usize, count: usize) -> (usize, usize) {
        let s = self.stride as isize;
        let off = (k * self.dilation) as isize - self.pad;
        // o * s + off >= 0  and  o * s + off < input
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
        let hi = if (self.input as isize) <= off {
            0
        } else {
            (self.input as isize - off + s - 1) / s
        };
        let hi = (hi.max(0) as usize).min(count);
        let lo = (lo as usize).min(hi);
        (lo, hi)
    }
}

fn positive(v: i64, what: &str) -> Result<usize, KernelError> {
    match usize::try_from(v) {
        Ok(u) if u > 0 => Ok(u),
        _ => invalid(format!("{what} must be positive, got {v}")),
    }
}

/// Resolves `window` over the spatial sizes `input` with kernel sizes `kernel` (convolutions
/// and pools; `ceil_mode` only for pools). Output sizes and pads follow the ONNX spec: `SAME_*`
/// gives `ceil(in / stride)` outputs with the odd padding cell at the end (upper) or start
/// (lower); `ceil_mode` drops a last window that would start in the end padding.
pub(super) fn resolve(
    window: &Window,
    input: &[usize],
    kernel: &[usize],
    ceil_mode: bool,
) -> Result<Vec<Axis>, KernelError> {
    let n = input.len();
    if kernel.len() != n {
        return invalid(format!(
            "kernel {kernel:?} does not fit spatial input {input:?}"
        ));
    }
    for (name, len, per) in [
        ("strides", window.strides.len(), 1),
        ("dilations", window.dilations.len(), 1),
        ("pads", window.pads.len(), 2),
    ] {
        if len != 0 && len != n * per {
            return invalid(format!(
                "{name} has {len} values; spatial input {input:?} needs {}",
                n * per
            ));
        }
    }
    let mut axes = Vec::with_capacity(n);
    for i in 0..n {
        let k = kernel[i];
        if k == 0 {
            return invalid(format!("kernel {kernel:?} has an empty axis"));
        }
        let stride = positive(window.stride(i), "strides")?;
        let dilation = positive(window.dilation(i), "dilations")?;
        let len = input[i];
        let extent = (k - 1)
            .checked_mul(dilation)
            .and_then(|e| e.checked_add(1))
            .ok_or_else(|| KernelError::Invalid("kernel extent overflows".into()))?;
        let (output, pad, pad_end) = match window.auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => {
                let out = len.div_ceil(stride);
                let total = ((out.max(1) - 1) * stride + extent).saturating_sub(len);
                let begin = if window.auto_pad == AutoPad::SameUpper {
                    total / 2
                } else {
                    total - total / 2
                };
                (out, begin, total - begin)
            }
            AutoPad::Valid | AutoPad::NotSet => {
                let (pb, pe) = if window.auto_pad == AutoPad::Valid {
                    (0, 0)
                } else {
                    let pb = usize::try_from(window.pad_begin(i));
                    let pe = usize::try_from(window.pad_end(i));
                    match (pb, pe) {
                        (Ok(b), Ok(e)) => (b, e),
                        _ => return invalid(format!("pads {:?} are negative", window.pads)),
                    }
                };
                let padded = len + pb + pe;
                if padded < extent {
                    return invalid(format!(
                        "spatial axis {i}: padded input size {padded} (input {input:?}, pads {:?}) \
                         is smaller than the kernel extent {extent} (kernel {kernel:?})",
                        window.pads
                    ));
                }
                let span = padded - extent;
                let mut out = if ceil_mode {
                    span.div_ceil(stride) + 1
                } else {
                    span / stride + 1
                };
                if ceil_mode && (out - 1) * stride >= len + pb {
                    out -= 1;
                }
                (out, pb, pe)
            }
        };
        axes.push(Axis {
            input: len,
            output,
            kernel: k,
            stride,
            dilation,
            pad: pad as isize,
            pad_end: pad_end as isize,
        });
    }
    Ok(axes)
}

/// Calls `f(outer_offset_in, flat)` for the positions `flat` in `range` of all axes but the
/// last (row-major), where `tap` holds the kernel position of every axis; positions whose
/// input index falls outside the input get `None` as the input offset (row-major over the
/// inputs of those axes). `pos` is scratch space of one entry per axis.
fn for_outer(
    axes: &[Axis],
    tap: &[usize],
    pos: &mut [usize],
    range: std::ops::Range<usize>,
    mut f: impl FnMut(Option<usize>, usize),
) {
    let outer = &axes[..axes.len() - 1];
    let mut rest = range.start;
    for (i, a) in outer.iter().enumerate().rev() {
        pos[i] = rest % a.output.max(1);
        rest /= a.output.max(1);
    }
    for flat in range {
        let mut off_in = Some(0usize);
        for (i, a) in outer.iter().enumerate() {
            let idx = (pos[i] * a.stride + tap[i] * a.dilation) as isize - a.pad;
            off_in = match off_in {
                Some(o) if idx >= 0 && (idx as usize) < a.input => Some(o * a.input + idx as usize),
                _ => None,
            };
        }
        f(off_in, flat);
        for i in (0..outer.len()).rev() {
            pos[i] += 1;
            if pos[i] < outer[i].output {
                break;
            }
            pos[i] = 0;
        }
    }
}

/// Splits a flat kernel index into per-axis kernel positions.
fn unflatten(mut flat: usize, axes: &[Axis], tap: &mut [usize]) {
    for (i, a) in axes.iter().enumerate().rev() {
        tap[i] = flat % a.kernel;
        flat /= a.kernel;
    }
}

/// Fills `col` (`[channels * K, cols.len()]` row-major; K = kernel size) with the output
/// positions `cols` (row-major over all output axes) of one image `x` (`[channels,
/// input...]`); taps in the padding read zero.
pub(super) fn im2col<T: Float>(
    x: &[T],
    channels: usize,
    axes: &[Axis],
    col: &mut [T],
    cols: std::ops::Range<usize>,
) {
    let in_len: usize = axes.iter().map(|a| a.input).product();
    let kernel: usize = axes.iter().map(|a| a.kernel).product();
    let last = axes[axes.len() - 1];
    let ow = last.output;
    let width = cols.len();
    if width == 0 || ow == 0 {
        return;
    }
    let outer = cols.start / ow..cols.end.div_ceil(ow);
    let mut tap = vec![0usize; axes.len()];
    let mut pos = vec![0usize; axes.len()];
    let rows = col.chunks_exact_mut(width).take(channels * kernel);
    for (r, row) in rows.enumerate() {
        let (c, k) = (r / kernel, r % kernel);
        unflatten(k, axes, &mut tap);
        let plane = &x[c * in_len..(c + 1) * in_len];
        let kl = tap[axes.len() - 1];
        let (lo, hi) = last.valid(kl, ow);
        let start = (kl * last.dilation) as isize - last.pad;
        for_outer(axes, &tap, &mut pos, outer.clone(), |off_in, flat| {
            // The part [s0, s1) of this output row that falls in `cols`.
            let row0 = flat * ow;
            let s0 = cols.start.max(row0) - row0;
            let s1 = cols.end.min(row0 + ow) - row0;
            let seg = &mut row[row0 + s0 - cols.start..row0 + s1 - cols.start];
            let Some(base) = off_in else {
                seg.fill(T::default());
                return;
            };
            let line = &plane[base * last.input..(base + 1) * last.input];
            let a = lo.clamp(s0, s1);
            let b = hi.clamp(a, s1);
            seg[..a - s0].fill(T::default());
            seg[b - s0..].fill(T::default());
            if a < b {
                let first = (a as isize * last.stride as isize + start) as usize;
                let dst = &mut seg[a - s0..b - s0];
                if last.stride == 1 {
                    copy_run(dst, &line[first..first + (b - a)]);
                } else {
                    let src = line[first..].chunks(last.stride).map(|c| c[0]);
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = s;
                    }
                }
            }
        });
    }
}

/// The transpose of [`im2col`] with accumulation, for transposed convolutions: adds `col`
/// (`[channels * K, P_in]`, one column per input position) into `y` (`[channels, output...]`),
/// where here `axes[i].input` is the size of the *output* image and `axes[i].output` the
/// number of input positions (the window slides over the input, scattering into the output).
pub(super) fn col2im<T: Copy + std::ops::AddAssign>(
    col: &[T],
    channels: usize,
    axes: &[Axis],
    y: &mut [T],
) {
    let y_len: usize = axes.iter().map(|a| a.input).product();
    let pos_len: usize = axes.iter().map(|a| a.output).product();
    let kernel: usize = axes.iter().map(|a| a.kernel).product();
    let last = axes[axes.len() - 1];
    let ow = last.output;
    let mut tap = vec![0usize; axes.len()];
    let mut pos = vec![0usize; axes.len()];
    for (r, row) in col
        .chunks_exact(pos_len)
        .take(channels * kernel)
        .enumerate()
    {
        let (c, k) = (r / kernel, r % kernel);
        unflatten(k, axes, &mut tap);
        let plane = &mut y[c * y_len..(c + 1) * y_len];
        let kl = tap[axes.len() - 1];
        let (lo, hi) = last.valid(kl, ow);
        if lo >= hi {
            continue;
        }
        let start = (kl * last.dilation) as isize - last.pad;
        let count = axes[..axes.len() - 1].iter().map(|a| a.output).product();
        for_outer(axes, &tap, &mut pos, 0..count, |off_in, flat| {
            let Some(base) = off_in else { return };
            let seg = &row[flat * ow..(flat + 1) * ow];
            let line = &mut plane[base * last.input..(base + 1) * last.input];
            let first = (lo as isize * last.stride as isize + start) as usize;
            let dst = line[first..].iter_mut().step_by(last.stride);
            for (d, s) in dst.zip(&seg[lo..hi]) {
                *d += *s;
            }
        });
    }
}
