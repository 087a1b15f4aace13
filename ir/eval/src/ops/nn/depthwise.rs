//! Depthwise convolutions (one input channel per group) over one or two spatial axes,
//! computed directly on a polyphase copy of each padded plane (a GEMM per channel would be a
//! one-row product, all call overhead).

use super::geom::Axis;
use super::{Float, copy_run};
use rayon::prelude::*;

/// Multiply-adds per image above which channels are computed in parallel.
const PAR_DEPTHWISE: usize = 1 << 20;

/// `(vertical, horizontal)` axes of a 1-D or 2-D window (1-D gets a unit vertical axis).
pub(super) fn plane_axes(axes: &[Axis]) -> Option<(Axis, Axis)> {
    let unit = Axis::UNIT;
    match axes {
        [h] => Some((unit, *h)),
        [v, h] => Some((*v, *h)),
        _ => None,
    }
}

/// The polyphase layout of one padded input plane: for strides `(sv, sh)` the plane is split
/// into `sv * sh` phases (`phase (a, b)` holds padded rows `a, a + sv, ...` and columns
/// `b, b + sh, ...`), so every kernel tap reads one phase contiguously and a whole output
/// plane (`OH` rows of `wq` columns, the last `wq - OW` discarded) is one multiply-add run.
struct Poly {
    v: Axis,
    h: Axis,
    wq: usize,
    phase_len: usize,
    /// Per kernel tap (row-major): the phase and the offset in it.
    taps: Vec<(usize, usize)>,
}

impl Poly {
    fn new(v: Axis, h: Axis) -> Poly {
        let hp = v.input + (v.pad + v.pad_end) as usize;
        let wp = h.input + (h.pad + h.pad_end) as usize;
        let (hq, wq) = (hp.div_ceil(v.stride), wp.div_ceil(h.stride));
        let jmax = (h.kernel - 1) * h.dilation / h.stride;
        let mut taps = Vec::with_capacity(v.kernel * h.kernel);
        for kh in 0..v.kernel {
            for kw in 0..h.kernel {
                let (r, c) = (kh * v.dilation, kw * h.dilation);
                let phase = (r % v.stride) * h.stride + c % h.stride;
                taps.push((phase, (r / v.stride) * wq + c / h.stride));
            }
        }
        Poly {
            v,
            h,
            wq,
            phase_len: hq * wq + jmax,
            taps,
        }
    }

    /// One output plane `y` (`[OH, OW]`) from the input plane `x` with weights `w`.
    fn plane<F: Float>(&self, x: &[F], w: &[F], bias: F, buf: &mut Vec<F>, y: &mut [F]) {
        let (v, h, wq) = (self.v, self.h, self.wq);
        let phases = v.stride * h.stride * self.phase_len;
        let full_len = v.output * wq;
        buf.clear();
        buf.resize(phases + full_len, F::ZERO);
        let (ph, full) = buf.split_at_mut(phases);
        for (ih, line) in x.chunks_exact(h.input).enumerate() {
            let r = ih + v.pad as usize;
            let row0 = (r % v.stride) * h.stride * self.phase_len + (r / v.stride) * wq;
            if h.stride == 1 {
                let at = row0 + h.pad as usize;
                copy_run(&mut ph[at..at + h.input], line);
            } else {
                // Input columns q, q + sh, ... are padded columns q + pad, ...: phase
                // (q + pad) % sh from position (q + pad) / sh on.
                let (sh, pad) = (h.stride, h.pad as usize);
                for q in 0..sh.min(line.len()) {
                    let at = row0 + ((q + pad) % sh) * self.phase_len + (q + pad) / sh;
                    let chunks = line[q..].chunks_exact(sh);
                    let (n, last) = (chunks.len(), chunks.remainder().first().copied());
                    for (d, c) in ph[at..].iter_mut().zip(chunks) {
                        *d = c[0];
                    }
                    if let Some(v) = last {
                        ph[at + n] = v;
                    }
                }
            }
        }
        full.fill(bias);
        for (&wv, &(phase, off)) in w.iter().zip(&self.taps) {
            let at = phase * self.phase_len + off;
            for (d, &s) in full.iter_mut().zip(&ph[at..at + full_len]) {
                *d += wv * s;
            }
        }
        for (row, src) in y.chunks_exact_mut(h.output).zip(full.chunks_exact(wq)) {
            copy_run(row, &src[..h.output]);
        }
    }
}

/// One image: `x` is `[C, in]`, `w` is `[C * mg, K]`, `y` is `[C * mg, out]`; output channel
/// `c * mg + m` reads input channel `c`.
pub(super) fn depthwise<F: Float>(
    x: &[F],
    w: &[F],
    bias: Option<&[F]>,
    (v, h): (Axis, Axis),
    mg: usize,
    y: &mut [F],
    par: bool,
) {
    let (in_len, out_len) = (v.input * h.input, v.output * h.output);
    let k_len = v.kernel * h.kernel;
    if out_len == 0 || k_len == 0 {
        return;
    }
    let poly = Poly::new(v, h);
    let plane = |o: usize, yp: &mut [F], buf: &mut Vec<F>| {
        let xp = &x[(o / mg) * in_len..(o / mg + 1) * in_len];
        let wp = &w[o * k_len..(o + 1) * k_len];
        let b = bias.map_or(F::ZERO, |b| b[o]);
        poly.plane(xp, wp, b, buf, yp);
    };
    if par && y.len() * k_len >= PAR_DEPTHWISE && rayon::current_num_threads() > 1 {
        y.par_chunks_exact_mut(out_len)
            .enumerate()
            .for_each_init(Vec::new, |buf, (o, yp)| plane(o, yp, buf));
    } else {
        let mut buf = Vec::new();
        for (o, yp) in y.chunks_exact_mut(out_len).enumerate() {
            plane(o, yp, &mut buf);
        }
    }
}
