//! Convolutions: the sliding-window geometry shared with pooling (`Window`, `AutoPad`), `Conv`
//! and `ConvTranspose`, with output-size inference over static and symbolic dims.

use super::attrs::{AttrReader, AttrWriter, bad_value, check_all};
use super::facts::{ceil_div, input_err, optional, out, required, unknown_dims};
use super::{InferInput, OpError, opset_error};
use crate::{Dim, Shape, Type};

/// How padding is chosen (`auto_pad`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AutoPad {
    /// Explicit `pads` (default).
    #[default]
    NotSet,
    /// Output size `ceil(in / stride)`; an odd total padding puts the extra cell at the end.
    SameUpper,
    /// Output size `ceil(in / stride)`; an odd total padding puts the extra cell at the start.
    SameLower,
    /// No padding.
    Valid,
}

impl AutoPad {
    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            AutoPad::NotSet => "NOTSET",
            AutoPad::SameUpper => "SAME_UPPER",
            AutoPad::SameLower => "SAME_LOWER",
            AutoPad::Valid => "VALID",
        }
    }

    fn parse(s: &str) -> Option<AutoPad> {
        [
            AutoPad::NotSet,
            AutoPad::SameUpper,
            AutoPad::SameLower,
            AutoPad::Valid,
        ]
        .into_iter()
        .find(|a| a.onnx_name() == s)
    }

    /// True for the two `SAME_*` modes.
    pub fn is_same(self) -> bool {
        matches!(self, AutoPad::SameUpper | AutoPad::SameLower)
    }
}

/// Sliding-window geometry of convolutions and pools. Empty lists mean the ONNX default for
/// every spatial axis (stride 1, dilation 1, no padding).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Window {
    /// `kernel_shape`; `None` for a `Conv` that takes it from the weights.
    pub kernel_shape: Option<Vec<i64>>,
    pub strides: Vec<i64>,
    pub dilations: Vec<i64>,
    /// `[begin_0, ..., begin_n-1, end_0, ..., end_n-1]`.
    pub pads: Vec<i64>,
    pub auto_pad: AutoPad,
}

impl Window {
    /// Stride of spatial axis `i`.
    pub fn stride(&self, i: usize) -> i64 {
        self.strides.get(i).copied().unwrap_or(1)
    }

    /// Dilation of spatial axis `i`.
    pub fn dilation(&self, i: usize) -> i64 {
        self.dilations.get(i).copied().unwrap_or(1)
    }

    /// Explicit padding before spatial axis `i`.
    pub fn pad_begin(&self, i: usize) -> i64 {
        self.pads.get(i).copied().unwrap_or(0)
    }

    /// Explicit padding after spatial axis `i`.
    pub fn pad_end(&self, i: usize) -> i64 {
        self.pads.get(self.pads.len() / 2 + i).copied().unwrap_or(0)
    }

    /// Whether any dilation differs from 1.
    pub fn is_dilated(&self) -> bool {
        self.dilations.iter().any(|&d| d != 1)
    }

    /// Reads the window attributes; `dilations` only when the op version has them.
    pub(crate) fn parse(
        r: &mut AttrReader<'_>,
        kernel_required: bool,
        with_dilations: bool,
    ) -> Result<Window, OpError> {
        let kernel_shape = r.ints("kernel_shape")?;
        if kernel_required && kernel_shape.is_none() {
            return Err(OpError::MissingAttr("kernel_shape".into()));
        }
        let mut w = Window {
            kernel_shape,
            strides: r.ints_or_empty("strides")?,
            dilations: if with_dilations {
                r.ints_or_empty("dilations")?
            } else {
                Vec::new()
            },
            pads: r.ints_or_empty("pads")?,
            auto_pad: r.enum_or(
                "auto_pad",
                AutoPad::NotSet,
                AutoPad::parse,
                "NOTSET, SAME_UPPER, SAME_LOWER or VALID",
            )?,
        };
        if let Some(k) = &w.kernel_shape {
            check_all("kernel_shape", k, |v| v > 0, "positive")?;
        }
        check_all("strides", &w.strides, |v| v > 0, "positive")?;
        check_all("dilations", &w.dilations, |v| v > 0, "positive")?;
        check_all("pads", &w.pads, |v| v >= 0, "non-negative")?;
        if !w.pads.len().is_multiple_of(2) {
            return Err(bad_value(
                "pads",
                format!(
                    "expected 2 values per spatial axis (begins then ends), got {}",
                    w.pads.len()
                ),
            ));
        }
        let n = w
            .kernel_shape
            .as_ref()
            .map(Vec::len)
            .or((!w.strides.is_empty()).then_some(w.strides.len()))
            .or((!w.dilations.is_empty()).then_some(w.dilations.len()))
            .or((!w.pads.is_empty()).then_some(w.pads.len() / 2));
        if let Some(n) = n {
            w.check_rank(n)?;
        }
        // Defaults are stored as empty lists, so a spelled-out default and an omitted one
        // parse to the same window.
        if w.strides.iter().all(|&s| s == 1) {
            w.strides.clear();
        }
        if w.dilations.iter().all(|&d| d == 1) {
            w.dilations.clear();
        }
        if w.pads.iter().all(|&p| p == 0) {
            w.pads.clear();
        }
        Ok(w)
    }

    /// Checks that every given list fits `n` spatial axes.
    pub(crate) fn check_rank(&self, n: usize) -> Result<(), OpError> {
        let lens = [
            (
                "kernel_shape",
                self.kernel_shape.as_ref().map_or(0, Vec::len),
                1,
            ),
            ("strides", self.strides.len(), 1),
            ("dilations", self.dilations.len(), 1),
            ("pads", self.pads.len(), 2),
        ];
        for (name, len, per_axis) in lens {
            if len != 0 && len != n * per_axis {
                return Err(bad_value(
                    name,
                    format!(
                        "expected {} values for {n} spatial axes, got {len}",
                        n * per_axis
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.string_unless("auto_pad", self.auto_pad.onnx_name(), "NOTSET");
        w.ints_opt("kernel_shape", self.kernel_shape.as_deref());
        if self.strides.iter().any(|&s| s != 1) {
            w.ints("strides", &self.strides);
        }
        if self.is_dilated() {
            w.ints("dilations", &self.dilations);
        }
        if self.pads.iter().any(|&p| p != 0) {
            w.ints("pads", &self.pads);
        }
    }

    /// Output size of spatial axis `i` for input size `input` and kernel size `kernel`
    /// (convolution and pooling; `ceil_mode` only for pools).
    pub(crate) fn output_dim(
        &self,
        i: usize,
        input: &Dim,
        kernel: i64,
        ceil_mode: bool,
    ) -> Result<Dim, OpError> {
        let s = self.stride(i);
        if s < 1 {
            return Err(bad_value(
                "strides",
                format!("values must be positive, got {s}"),
            ));
        }
        let extent = kernel
            .checked_sub(1)
            .and_then(|k| k.checked_mul(self.dilation(i)))
            .and_then(|k| k.checked_add(1));
        let Some(extent) = extent else {
            return Ok(Dim::Unknown);
        };
        if self.auto_pad.is_same() {
            return Ok(match input {
                Dim::Known(n) => Dim::Known(ceil_div(*n, s)),
                d if s == 1 => d.clone(),
                _ => Dim::Unknown,
            });
        }
        let (pb, pe) = match self.auto_pad {
            AutoPad::Valid => (0, 0),
            _ => (self.pad_begin(i), self.pad_end(i)),
        };
        let n = match input {
            Dim::Known(n) => *n,
            d if extent == 1 && s == 1 && pb == 0 && pe == 0 => return Ok(d.clone()),
            _ => return Ok(Dim::Unknown),
        };
        let Some(padded) = n.checked_add(pb).and_then(|v| v.checked_add(pe)) else {
            return Ok(Dim::Unknown);
        };
        let Some(span) = padded.checked_sub(extent) else {
            return Ok(Dim::Unknown);
        };
        if span < 0 {
            return Err(OpError::Invalid(format!(
                "spatial axis {i}: padded input size {padded} is smaller than the kernel extent {extent}"
            )));
        }
        let rounded = if ceil_mode {
            ceil_div(span, s)
        } else {
            span / s
        };
        let Some(out) = rounded.checked_add(1) else {
            return Ok(Dim::Unknown);
        };
        if !ceil_mode {
            return Ok(Dim::Known(out));
        }
        // A last window starting in the end padding is dropped by ONNX Runtime (and by the
        // spec from MaxPool-22 on) but not by earlier spec text: leave that case open.
        if (out - 1)
            .checked_mul(s)
            .is_none_or(|start| start >= n.saturating_add(pb))
        {
            return Ok(Dim::Unknown);
        }
        Ok(Dim::Known(out))
    }
}

fn parse_group(r: &mut AttrReader<'_>) -> Result<i64, OpError> {
    let group = r.int_or("group", 1)?;
    if group < 1 {
        return Err(bad_value(
            "group",
            format!("must be at least 1, got {group}"),
        ));
    }
    Ok(group)
}

/// `Conv`: N-D convolution, opsets 1+.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv {
    pub window: Window,
    pub group: i64,
}

impl Conv {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Conv, OpError> {
        Ok(Conv {
            window: Window::parse(r, false, true)?,
            group: parse_group(r)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        self.window.write(w);
        w.int_unless("group", self.group, 1);
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 1)?;
        let dtype = x.dtype().or(w.dtype());
        let Some(rank) = common_rank(x, w)? else {
            return Ok(vec![out(dtype, None)]);
        };
        let n = rank - 2;
        self.window.check_rank(n)?;
        let xs = x.shape().cloned().unwrap_or_else(|| unknown_dims(rank));
        let ws = w.shape().cloned().unwrap_or_else(|| unknown_dims(rank));
        let g = self.group;
        if g < 1 {
            return Err(bad_value("group", format!("must be at least 1, got {g}")));
        }
        if let (Some(c), Some(wc)) = (xs[1].known(), ws[1].known())
            && wc.checked_mul(g) != Some(c)
        {
            return Err(input_err(
                1,
                format!("X has {c} channels but W expects {wc} per group × group {g}"),
            ));
        }
        if let Some(c) = xs[1].known()
            && c % g != 0
        {
            return Err(bad_value(
                "group",
                format!("{g} does not divide the {c} input channels"),
            ));
        }
        if let Some(m) = ws[0].known()
            && m % g != 0
        {
            return Err(bad_value(
                "group",
                format!("{g} does not divide the {m} output channels of W"),
            ));
        }
        let mut m = ws[0].clone();
        if let Some(b) = optional(inputs, 2).and_then(|b| b.shape()) {
            match b.as_slice() {
                [bd] => {
                    m = super::facts::merge_dim(&m, bd).map_err(|(wm, bm)| {
                        input_err(
                            2,
                            format!("B has {bm} values but W has {wm} output channels"),
                        )
                    })?
                }
                _ => return Err(input_err(2, format!("B must be 1-D, got rank {}", b.len()))),
            }
        }
        let mut shape: Shape = vec![xs[0].clone(), m];
        for i in 0..n {
            let kernel = kernel_dim(&self.window, &ws, i)?;
            shape.push(match kernel {
                Some(k) => self.window.output_dim(i, &xs[i + 2], k, false)?,
                None if self.window.auto_pad.is_same() => {
                    self.window.output_dim(i, &xs[i + 2], 1, false)?
                }
                None => Dim::Unknown,
            });
        }
        Ok(vec![out(dtype, Some(shape))])
    }
}

/// The rank shared by X and W (at least 3), if either is known.
fn common_rank(x: InferInput<'_>, w: InferInput<'_>) -> Result<Option<usize>, OpError> {
    let rank = match (x.rank(), w.rank()) {
        (Some(a), Some(b)) if a != b => {
            return Err(input_err(1, format!("W has rank {b} but X has rank {a}")));
        }
        (a, b) => a.or(b),
    };
    match rank {
        Some(r) if r < 3 => Err(input_err(
            0,
            format!("expected rank 3 or more (N, C, spatial...), got {r}"),
        )),
        r => Ok(r),
    }
}

/// Kernel size of spatial axis `i`: the attribute, checked against W's dims, or W's dims.
fn kernel_dim(window: &Window, ws: &[Dim], i: usize) -> Result<Option<i64>, OpError> {
    let from_w = ws.get(i + 2).and_then(Dim::known);
    match window.kernel_shape.as_ref().and_then(|k| k.get(i).copied()) {
        Some(k) => match from_w {
            Some(wk) if wk != k => Err(bad_value(
                "kernel_shape",
                format!("spatial axis {i} is {k} but W's kernel is {wk}"),
            )),
            _ => Ok(Some(k)),
        },
        None => Ok(from_w),
    }
}

/// `ConvTranspose`: N-D transposed convolution, opsets 1+ (`SAME_*` padding only from 11, where
/// its meaning was fixed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvTranspose {
    pub window: Window,
    pub group: i64,
    /// Extra size added to one side of each spatial output axis; empty = zeros.
    pub output_padding: Vec<i64>,
    /// Explicit spatial output size (pads are then computed).
    pub output_shape: Option<Vec<i64>>,
}

impl ConvTranspose {
    /// `None` for the versions whose `SAME_*` semantics nnslim does not model (before 11).
    pub(crate) fn parse(
        r: &mut AttrReader<'_>,
        opset: i64,
    ) -> Result<Option<ConvTranspose>, OpError> {
        let window = Window::parse(r, false, true)?;
        let mut op = ConvTranspose {
            group: parse_group(r)?,
            output_padding: r.ints_or_empty("output_padding")?,
            output_shape: r.ints("output_shape")?,
            window,
        };
        check_all(
            "output_padding",
            &op.output_padding,
            |v| v >= 0,
            "non-negative",
        )?;
        if let Some(s) = &op.output_shape {
            check_all("output_shape", s, |v| v >= 0, "non-negative")?;
        }
        if op.output_padding.iter().all(|&p| p == 0) {
            op.output_padding.clear();
        }
        Ok((opset >= 11 || !op.window.auto_pad.is_same()).then_some(op))
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if opset < 11 && self.window.auto_pad.is_same() {
            return Err(opset_error(
                "ConvTranspose",
                opset,
                "SAME_UPPER/SAME_LOWER placed padding differently before opset 11",
            ));
        }
        self.window.write(w);
        w.int_unless("group", self.group, 1);
        if self.output_padding.iter().any(|&p| p != 0) {
            w.ints("output_padding", &self.output_padding);
        }
        w.ints_opt("output_shape", self.output_shape.as_deref());
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 1)?;
        let dtype = x.dtype().or(w.dtype());
        let Some(rank) = common_rank(x, w)? else {
            return Ok(vec![out(dtype, None)]);
        };
        let n = rank - 2;
        self.window.check_rank(n)?;
        if !self.output_padding.is_empty() && self.output_padding.len() != n {
            return Err(bad_value(
                "output_padding",
                format!("expected {n} values, got {}", self.output_padding.len()),
            ));
        }
        let xs = x.shape().cloned().unwrap_or_else(|| unknown_dims(rank));
        let ws = w.shape().cloned().unwrap_or_else(|| unknown_dims(rank));
        let g = self.group;
        if g < 1 {
            return Err(bad_value("group", format!("must be at least 1, got {g}")));
        }
        if let (Some(c), Some(wc)) = (xs[1].known(), ws[0].known())
            && c != wc
        {
            return Err(input_err(
                1,
                format!("X has {c} channels but W has {wc} input channels"),
            ));
        }
        if let Some(c) = xs[1].known()
            && c % g != 0
        {
            return Err(bad_value(
                "group",
                format!("{g} does not divide the {c} input channels"),
            ));
        }
        let m = match (&ws[1], g) {
            (Dim::Known(v), _) => v.checked_mul(g).map_or(Dim::Unknown, Dim::Known),
            (d, 1) => d.clone(),
            _ => Dim::Unknown,
        };
        let explicit: Option<&[i64]> = match self.output_shape.as_deref() {
            Some(s) if s.len() == n => Some(s),
            Some(s) if s.len() == n + 2 => Some(&s[2..]),
            Some(s) => {
                return Err(bad_value(
                    "output_shape",
                    format!("expected {n} spatial sizes, got {}", s.len()),
                ));
            }
            None => None,
        };
        let mut shape: Shape = vec![xs[0].clone(), m];
        for i in 0..n {
            if let Some(e) = explicit {
                shape.push(Dim::Known(e[i]));
                continue;
            }
            let kernel = kernel_dim(&self.window, &ws, i)?;
            shape.push(match (&xs[i + 2], kernel) {
                (Dim::Known(len), Some(k)) => self.transposed_size(i, *len, k)?,
                _ => Dim::Unknown,
            });
        }
        Ok(vec![out(dtype, Some(shape))])
    }

    /// `stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pads`.
    fn transposed_size(&self, i: usize, len: i64, kernel: i64) -> Result<Dim, OpError> {
        let w = &self.window;
        let s = w.stride(i);
        if w.auto_pad.is_same() {
            return Ok(len.checked_mul(s).map_or(Dim::Unknown, Dim::Known));
        }
        let pads = match w.auto_pad {
            AutoPad::Valid => Some(0),
            _ => w.pad_begin(i).checked_add(w.pad_end(i)),
        };
        let size = (|| {
            s.checked_mul(len.checked_sub(1)?)?
                .checked_add(self.output_padding.get(i).copied().unwrap_or(0))?
                .checked_add(kernel.checked_sub(1)?.checked_mul(w.dilation(i))?)?
                .checked_add(1)?
                .checked_sub(pads?)
        })();
        match size {
            Some(v) if v < 0 => Err(OpError::Invalid(format!(
                "spatial axis {i}: output size {v} is negative (pads too large)"
            ))),
            Some(v) => Ok(Dim::Known(v)),
            None => Ok(Dim::Unknown),
        }
    }
}
