//! `Resize` (typed from opset 11; the opset-10 form and `Upsample` stay opaque), with output
//! sizes from constant `scales` or `sizes` inputs.

use super::attrs::{AttrReader, AttrWriter};
use super::facts::{input_err, norm_axes, optional, out, required};
use super::{InferInput, OpError, opset_error};
use crate::{Dim, Type};

/// Interpolation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResizeMode {
    #[default]
    Nearest,
    Linear,
    Cubic,
}

/// How output coordinates map to input coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CoordinateTransform {
    #[default]
    HalfPixel,
    /// Opset 19+.
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    /// Opset 11 only in the spec text; ONNX Runtime accepts it later too.
    TfHalfPixelForNn,
    TfCropAndResize,
}

/// Rounding of `Nearest` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NearestMode {
    #[default]
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// How `sizes` are read (opset 18+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KeepAspectRatio {
    #[default]
    Stretch,
    NotLarger,
    NotSmaller,
}

macro_rules! onnx_names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The ONNX spelling.
            pub fn onnx_name(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),* }
            }
            fn parse(s: &str) -> Option<$ty> {
                match s { $($name => Some(<$ty>::$variant),)* _ => None }
            }
            const ALLOWED: &'static str = concat!($($name, " "),*);
        }
    };
}

onnx_names!(ResizeMode { Nearest => "nearest", Linear => "linear", Cubic => "cubic" });
onnx_names!(CoordinateTransform {
    HalfPixel => "half_pixel",
    HalfPixelSymmetric => "half_pixel_symmetric",
    PytorchHalfPixel => "pytorch_half_pixel",
    AlignCorners => "align_corners",
    Asymmetric => "asymmetric",
    TfHalfPixelForNn => "tf_half_pixel_for_nn",
    TfCropAndResize => "tf_crop_and_resize",
});
onnx_names!(NearestMode {
    RoundPreferFloor => "round_prefer_floor",
    RoundPreferCeil => "round_prefer_ceil",
    Floor => "floor",
    Ceil => "ceil",
});
onnx_names!(KeepAspectRatio { Stretch => "stretch", NotLarger => "not_larger", NotSmaller => "not_smaller" });

/// `Resize` (opset 11+): inputs X, roi, scales, sizes.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resize {
    pub mode: ResizeMode,
    pub coordinate_transformation_mode: CoordinateTransform,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    pub nearest_mode: NearestMode,
    /// Opset 18+.
    pub antialias: bool,
    /// Opset 18+: the axes that roi/scales/sizes refer to (default all).
    pub axes: Option<Vec<i64>>,
    /// Opset 18+.
    pub keep_aspect_ratio_policy: KeepAspectRatio,
}

const CUBIC_COEFF_A: f32 = -0.75;

impl Resize {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Resize, OpError> {
        let mut op = Resize {
            mode: r.enum_or(
                "mode",
                ResizeMode::Nearest,
                ResizeMode::parse,
                ResizeMode::ALLOWED,
            )?,
            coordinate_transformation_mode: r.enum_or(
                "coordinate_transformation_mode",
                CoordinateTransform::HalfPixel,
                CoordinateTransform::parse,
                CoordinateTransform::ALLOWED,
            )?,
            cubic_coeff_a: r.float_or("cubic_coeff_a", CUBIC_COEFF_A)?,
            exclude_outside: r.flag_or("exclude_outside", false)?,
            extrapolation_value: r.float_or("extrapolation_value", 0.0)?,
            nearest_mode: r.enum_or(
                "nearest_mode",
                NearestMode::RoundPreferFloor,
                NearestMode::parse,
                NearestMode::ALLOWED,
            )?,
            ..Resize::default()
        };
        if opset >= 18 {
            op.antialias = r.flag_or("antialias", false)?;
            op.axes = r.ints("axes")?;
            op.keep_aspect_ratio_policy = r.enum_or(
                "keep_aspect_ratio_policy",
                KeepAspectRatio::Stretch,
                KeepAspectRatio::parse,
                KeepAspectRatio::ALLOWED,
            )?;
        }
        Ok(op)
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        let newer = self.antialias
            || self.axes.is_some()
            || self.keep_aspect_ratio_policy != KeepAspectRatio::Stretch;
        if newer && opset < 18 {
            return Err(opset_error(
                "Resize",
                opset,
                "antialias, axes and keep_aspect_ratio_policy need opset 18",
            ));
        }
        w.string_unless("mode", self.mode.onnx_name(), "nearest");
        w.string_unless(
            "coordinate_transformation_mode",
            self.coordinate_transformation_mode.onnx_name(),
            "half_pixel",
        );
        w.float_unless("cubic_coeff_a", self.cubic_coeff_a, CUBIC_COEFF_A);
        w.flag_unless("exclude_outside", self.exclude_outside, false);
        w.float_unless("extrapolation_value", self.extrapolation_value, 0.0);
        w.string_unless(
            "nearest_mode",
            self.nearest_mode.onnx_name(),
            "round_prefer_floor",
        );
        w.flag_unless("antialias", self.antialias, false);
        w.ints_opt("axes", self.axes.as_deref());
        w.string_unless(
            "keep_aspect_ratio_policy",
            self.keep_aspect_ratio_policy.onnx_name(),
            "stretch",
        );
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let Some(s) = x.shape() else {
            return Ok(vec![out(dtype, None)]);
        };
        let axes: Vec<usize> = match &self.axes {
            Some(a) => norm_axes(a, s.len(), "axes", None)?,
            None => (0..s.len()).collect(),
        };
        let mut shape = s.clone();
        let sizes = optional(inputs, 3);
        let scales = optional(inputs, 2);
        let unknown = |mut shape: Vec<Dim>| {
            for &a in &axes {
                shape[a] = Dim::Unknown;
            }
            Ok(vec![out(dtype, Some(shape))])
        };
        match sizes.map(|i| i.const_ints()) {
            Some(Some(v)) if !v.is_empty() => {
                if v.len() != axes.len() {
                    return Err(input_err(
                        3,
                        format!("sizes has {} values for {} axes", v.len(), axes.len()),
                    ));
                }
                if self.keep_aspect_ratio_policy != KeepAspectRatio::Stretch {
                    return unknown(shape);
                }
                for (&a, &n) in axes.iter().zip(&v) {
                    if n < 0 {
                        return Err(input_err(3, format!("sizes has negative size {n}")));
                    }
                    shape[a] = Dim::Known(n);
                }
                return Ok(vec![out(dtype, Some(shape))]);
            }
            Some(None) => return unknown(shape),
            _ => {}
        }
        let Some(v) = scales
            .and_then(|i| i.const_floats())
            .filter(|v| !v.is_empty())
        else {
            return unknown(shape);
        };
        if v.len() != axes.len() {
            return Err(input_err(
                2,
                format!("scales has {} values for {} axes", v.len(), axes.len()),
            ));
        }
        let crop = self.coordinate_transformation_mode == CoordinateTransform::TfCropAndResize;
        for (&a, &scale) in axes.iter().zip(&v) {
            if scale.is_nan() || scale <= 0.0 {
                return Err(input_err(2, format!("scale {scale} is not positive")));
            }
            shape[a] = match &s[a] {
                _ if crop => Dim::Unknown,
                Dim::Known(n) => scaled(*n, scale),
                d if scale == 1.0 => d.clone(),
                _ => Dim::Unknown,
            };
        }
        Ok(vec![out(dtype, Some(shape))])
    }
}

/// `floor(n * scale)`, computed as runtimes do in f32; unknown where f32 and f64 disagree.
fn scaled(n: i64, scale: f32) -> Dim {
    let single = (n as f32 * scale).floor();
    let double = (n as f64 * f64::from(scale)).floor();
    if f64::from(single) != double || !double.is_finite() || double > i64::MAX as f64 / 2.0 {
        return Dim::Unknown;
    }
    Dim::Known(double as i64)
}
