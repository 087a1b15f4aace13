//! Stride-1 1-D and 2-D convolutions on full-width columns: with the input padded to
//! `[Hp, Wp]`, the column row of a kernel tap is one contiguous run of the padded plane
//! (`OH * Wp` values, a few of them past the right edge), so im2col is a few long copies
//! instead of one short copy per output row. The GEMM yields `Wp` columns per output row, of
//! which the first `OW` are kept (plus the bias).

use super::geom::Axis;
use super::matmul::{mm, view, view_mut};
use super::{Float, copy_run, with_scratch};
use faer::reborrow::ReborrowMut;
use faer::{Accum, MatMut, MatRef};

/// Column-buffer elements per block of output rows (stays in L2 while the GEMM reads it).
const BLOCK_ELEMS: usize = 1 << 18;

/// Geometry of a stride-1 convolution over one or two spatial axes (`h` = 1 for 1-D).
#[derive(Clone, Copy, Debug)]
pub(super) struct Wide {
    h: usize,
    w: usize,
    hp: usize,
    wp: usize,
    top: usize,
    left: usize,
    kh: usize,
    kw: usize,
    dh: usize,
    dw: usize,
    ow: usize,
}

impl Wide {
    /// The geometry, when every axis has stride 1 and there are at most two.
    pub fn new(axes: &[Axis]) -> Option<Wide> {
        let unit = Axis::UNIT;
        let (v, h) = match axes {
            [h] => (unit, *h),
            [v, h] => (*v, *h),
            _ => return None,
        };
        if [v, h]
            .iter()
            .any(|a| a.stride != 1 || a.pad < 0 || a.pad_end < 0)
        {
            return None;
        }
        let hp = v.input + v.pad as usize + v.pad_end as usize;
        let wp = h.input + h.pad as usize + h.pad_end as usize;
        let oh = hp.checked_sub((v.kernel - 1) * v.dilation)?;
        let ow = wp.checked_sub((h.kernel - 1) * h.dilation)?;
        (oh == v.output && ow == h.output && ow > 0).then_some(Wide {
            h: v.input,
            w: h.input,
            hp,
            wp,
            top: v.pad as usize,
            left: h.pad as usize,
            kh: v.kernel,
            kw: h.kernel,
            dh: v.dilation,
            dw: h.dilation,
            ow,
        })
    }

    /// Whether the full-width path beats im2col for `m` output channels: it spends
    /// `m * (Wp - OW)` extra multiply-adds per output row and per column row to save one short
    /// copy (about as costly as a few hundred multiply-adds in the GEMM).
    pub fn pays(&self, m: usize) -> bool {
        m * (self.wp - self.ow) <= 400
    }

    fn padded(&self) -> bool {
        self.hp != self.h || self.wp != self.w
    }

    /// Elements per padded plane: the plane plus the overrun of the last tap's run.
    fn plane(&self) -> usize {
        self.hp * self.wp + (self.kw - 1) * self.dw
    }
}

/// One image and group: `x` is `[channels, h, w]`, `w` the `[M/g, channels * K]` weights.
pub(super) struct WideJob<'a, F> {
    pub x: &'a [F],
    pub w: MatRef<'a, F>,
    pub bias: Option<&'a [F]>,
    pub channels: usize,
    pub geo: Wide,
}

impl<F: Float> WideJob<'_, F> {
    /// Computes `y` (`[M/g, OH * OW]`), split over `pieces` rayon tasks by output rows.
    pub fn run(&self, y: MatMut<'_, F>, pieces: usize) {
        let g = self.geo;
        if !g.padded() {
            return self.rows(self.x, g.h * g.w, y, 0, pieces);
        }
        let plane = g.plane();
        with_scratch(self.channels * plane, |xp: &mut [F]| {
            for (c, dst) in xp.chunks_exact_mut(plane).enumerate() {
                dst.fill(F::ZERO);
                let src = &self.x[c * g.h * g.w..(c + 1) * g.h * g.w];
                for (r, line) in src.chunks_exact(g.w).enumerate() {
                    let at = (g.top + r) * g.wp + g.left;
                    copy_run(&mut dst[at..at + g.w], line);
                }
            }
            self.rows(xp, plane, y, 0, pieces);
        });
    }

    /// Output rows `first..` (as many as `y` has columns for) from the padded planes `src`
    /// (`stride` elements apart).
    fn rows(&self, src: &[F], stride: usize, y: MatMut<'_, F>, first: usize, pieces: usize) {
        let g = self.geo;
        let k_rows = self.w.ncols();
        let count = y.ncols() / g.ow;
        let block = (BLOCK_ELEMS / (k_rows * g.wp).max(1)).clamp(1, count.max(1));
        if pieces > 1 && count >= 2 {
            let left = pieces / 2;
            let mid = count * left / pieces;
            let (y0, y1) = y.split_at_col_mut(mid * g.ow);
            rayon::join(
                || self.rows(src, stride, y0, first, left),
                || self.rows(src, stride, y1, first + mid, pieces - left),
            );
            return;
        }
        let mg = self.w.nrows();
        let len = block * g.wp;
        let mut y = y;
        with_scratch(k_rows * len + mg * len, |buf: &mut [F]| {
            let (col, full) = buf.split_at_mut(k_rows * len);
            let mut r = 0;
            while r < count {
                let n = block.min(count - r);
                let width = n * g.wp;
                self.gather(src, stride, first + r, width, &mut col[..k_rows * width]);
                let full = &mut full[..mg * width];
                mm(
                    view_mut(full, mg, width),
                    self.w,
                    view(col, k_rows, width, false),
                    F::ONE,
                    Accum::Replace,
                    false,
                );
                let mut out = y.rb_mut().subcols_mut(r * g.ow, n * g.ow);
                for m in 0..mg {
                    let bias = self.bias.map_or(F::ZERO, |b| b[m]);
                    let Some(dst) = out.rb_mut().row_mut(m).try_as_row_major_mut() else {
                        continue;
                    };
                    let rows = dst.as_slice_mut().chunks_exact_mut(g.ow);
                    let lines = full[m * width..(m + 1) * width].chunks_exact(g.wp);
                    for (d, s) in rows.zip(lines) {
                        for (d, &s) in d.iter_mut().zip(s) {
                            *d = s + bias;
                        }
                    }
                }
                r += n;
            }
        });
    }

    /// The column rows of output rows `first..` (`width` columns each): for every channel
    /// and kernel tap one run of the padded plane; past the end of `src` reads zero.
    fn gather(&self, src: &[F], stride: usize, first: usize, width: usize, col: &mut [F]) {
        let g = self.geo;
        let mut rows = col.chunks_exact_mut(width);
        for c in 0..self.channels {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let Some(row) = rows.next() else { return };
                    let at = c * stride + (first + i * g.dh) * g.wp + j * g.dw;
                    let avail = src.len().saturating_sub(at).min(width);
                    copy_run(&mut row[..avail], &src[at..at + avail]);
                    row[avail..].fill(F::ZERO);
                }
            }
        }
    }
}
