//! Element-type and pass-through ops: `Cast`, `Dropout`, and `QuantizeLinear` /
//! `DequantizeLinear`.

use super::attrs::{AttrReader, AttrWriter, bad_value};
use super::facts::{input_err, optional, out, required};
use super::{InferInput, OpError, needs_opset, opset_error};
use crate::{DType, Type};

/// Rounding of casts to float8e8m0 (`round_mode`, opset 24+).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CastRounding {
    /// Away from zero (default).
    #[default]
    Up,
    /// Towards zero.
    Down,
    /// To nearest, ties up.
    Nearest,
}

impl CastRounding {
    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            CastRounding::Up => "up",
            CastRounding::Down => "down",
            CastRounding::Nearest => "nearest",
        }
    }
}

/// `Cast` (typed from opset 6, where `to` became an integer type code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cast {
    pub to: DType,
    /// Saturate out-of-range values when casting to float8 (opset 19+, default true).
    pub saturate: bool,
    pub round_mode: CastRounding,
}

impl Cast {
    /// A plain cast to `to`.
    pub fn to(to: DType) -> Cast {
        Cast {
            to,
            saturate: true,
            round_mode: CastRounding::Up,
        }
    }

    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Cast, OpError> {
        let code = r
            .int("to")?
            .ok_or_else(|| OpError::MissingAttr("to".into()))?;
        let to = i32::try_from(code)
            .ok()
            .and_then(DType::from_onnx)
            .filter(|d| *d != DType::Undefined)
            .ok_or_else(|| bad_value("to", format!("{code} is not a data type to cast to")))?;
        let saturate = opset < 19 || r.flag_or("saturate", true)?;
        let round_mode = if opset >= 24 {
            r.enum_or(
                "round_mode",
                CastRounding::Up,
                |s| {
                    [CastRounding::Up, CastRounding::Down, CastRounding::Nearest]
                        .into_iter()
                        .find(|m| m.onnx_name() == s)
                },
                "up, down or nearest",
            )?
        } else {
            CastRounding::Up
        };
        Ok(Cast {
            to,
            saturate,
            round_mode,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if !self.saturate && opset < 19 {
            return Err(opset_error("Cast", opset, "saturate = 0 needs opset 19"));
        }
        if self.round_mode != CastRounding::Up && opset < 24 {
            return Err(opset_error("Cast", opset, "round_mode needs opset 24"));
        }
        w.int("to", i64::from(self.to.onnx_code()));
        w.flag_unless("saturate", self.saturate, true);
        w.string_unless("round_mode", self.round_mode.onnx_name(), "up");
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![out(Some(self.to), x.shape().cloned())])
    }
}

/// `Dropout` (typed from opset 7). At inference it is an identity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Opsets 7–11: the `ratio` attribute; from 12, ratio and training_mode are inputs 1 and 2
    /// and this is `None`.
    pub ratio: Option<f32>,
    /// Opsets 7–9: the mask output has the data's element type (bool from 10).
    pub mask_like_data: bool,
    /// `seed` (opset 12+).
    pub seed: Option<i64>,
}

impl Dropout {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Dropout, OpError> {
        if opset >= 12 {
            return Ok(Dropout {
                ratio: None,
                mask_like_data: false,
                seed: r.int("seed")?,
            });
        }
        Ok(Dropout {
            ratio: Some(r.float_or("ratio", 0.5)?),
            mask_like_data: opset < 10,
            seed: None,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        let fail = |msg| Err(opset_error("Dropout", opset, msg));
        match (self.ratio, opset >= 12) {
            (Some(_), true) => {
                return fail("ratio is an input from opset 12; this node has the attribute");
            }
            (None, false) => {
                return fail("ratio is an attribute before opset 12; this node has the input");
            }
            _ => {}
        }
        if self.mask_like_data != (opset < 10) {
            return fail("the mask's element type is the data's before opset 10 and bool from 10");
        }
        if let Some(ratio) = self.ratio {
            w.float_unless("ratio", ratio, 0.5);
        }
        if let Some(seed) = self.seed {
            if opset < 12 {
                return fail("seed needs opset 12");
            }
            w.int("seed", seed);
        }
        Ok(())
    }

    pub(crate) fn infer(
        &self,
        inputs: &[Option<InferInput<'_>>],
        num_outputs: usize,
    ) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let mut types = vec![x.ty.clone()];
        if num_outputs > 1 {
            let dtype = if self.mask_like_data {
                x.dtype()
            } else {
                Some(DType::Bool)
            };
            types.push(out(dtype, x.shape().cloned()));
        }
        Ok(types)
    }
}

/// `QuantizeLinear` (typed from opset 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantizeLinear {
    /// Per-axis / blocked quantization axis (opset 13+; default 1).
    pub axis: i64,
    /// Saturate for float8 outputs (opset 19+, default true).
    pub saturate: bool,
    /// Blocked quantization block size (opset 21+; 0 = not blocked).
    pub block_size: i64,
    /// `output_dtype` (opset 21+); otherwise the zero point's type, or u8.
    pub output_dtype: Option<DType>,
    /// `precision` of the division (opset 23+); otherwise the scale's type.
    pub precision: Option<DType>,
}

fn parse_block_size(r: &mut AttrReader<'_>) -> Result<i64, OpError> {
    let b = r.int_or("block_size", 0)?;
    if b < 0 {
        return Err(bad_value(
            "block_size",
            format!("must not be negative, got {b}"),
        ));
    }
    Ok(b)
}

impl QuantizeLinear {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<QuantizeLinear, OpError> {
        Ok(QuantizeLinear {
            axis: if opset >= 13 { r.int_or("axis", 1)? } else { 1 },
            saturate: opset < 19 || r.flag_or("saturate", true)?,
            block_size: if opset >= 21 { parse_block_size(r)? } else { 0 },
            output_dtype: if opset >= 21 {
                r.dtype("output_dtype")?
            } else {
                None
            },
            precision: if opset >= 23 {
                r.dtype("precision")?
            } else {
                None
            },
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        let need = |cond: bool, from: i64, what: &str| {
            needs_opset("QuantizeLinear", opset, cond, from, what)
        };
        need(self.axis != 1, 13, "axis")?;
        need(!self.saturate, 19, "saturate = 0")?;
        need(self.block_size != 0, 21, "block_size")?;
        need(self.output_dtype.is_some(), 21, "output_dtype")?;
        need(self.precision.is_some(), 23, "precision")?;
        w.int_unless("axis", self.axis, 1);
        w.flag_unless("saturate", self.saturate, true);
        w.int_unless("block_size", self.block_size, 0);
        if let Some(d) = self.output_dtype {
            w.int("output_dtype", i64::from(d.onnx_code()));
        }
        if let Some(d) = self.precision {
            w.int("precision", i64::from(d.onnx_code()));
        }
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        required(inputs, 1)?;
        let zp = optional(inputs, 2).map(|z| z.dtype());
        let dtype = match (self.output_dtype, zp) {
            (Some(d), Some(Some(z))) if d != z => {
                return Err(input_err(
                    2,
                    format!("zero point is {z} but output_dtype is {d}"),
                ));
            }
            (Some(d), _) => Some(d),
            (None, Some(z)) => z,
            (None, None) => Some(DType::U8),
        };
        Ok(vec![out(dtype, x.shape().cloned())])
    }
}

/// `DequantizeLinear` (typed from opset 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DequantizeLinear {
    /// Per-axis / blocked axis (opset 13+; default 1).
    pub axis: i64,
    /// Blocked quantization block size (opset 21+; 0 = not blocked).
    pub block_size: i64,
    /// `output_dtype` (opset 23+); otherwise the scale's type.
    pub output_dtype: Option<DType>,
}

impl DequantizeLinear {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<DequantizeLinear, OpError> {
        Ok(DequantizeLinear {
            axis: if opset >= 13 { r.int_or("axis", 1)? } else { 1 },
            block_size: if opset >= 21 { parse_block_size(r)? } else { 0 },
            output_dtype: if opset >= 23 {
                r.dtype("output_dtype")?
            } else {
                None
            },
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        let need = |cond: bool, from: i64, what: &str| {
            needs_opset("DequantizeLinear", opset, cond, from, what)
        };
        need(self.axis != 1, 13, "axis")?;
        need(self.block_size != 0, 21, "block_size")?;
        need(self.output_dtype.is_some(), 23, "output_dtype")?;
        w.int_unless("axis", self.axis, 1);
        w.int_unless("block_size", self.block_size, 0);
        if let Some(d) = self.output_dtype {
            w.int("output_dtype", i64::from(d.onnx_code()));
        }
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let scale = required(inputs, 1)?;
        let dtype = self.output_dtype.or(scale.dtype());
        Ok(vec![out(dtype, x.shape().cloned())])
    }
}
