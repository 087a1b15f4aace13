//! Normalisation ops: `BatchNormalization` (opset 7+, per-channel) and `LRN`.

use super::attrs::{AttrReader, AttrWriter, bad_value};
use super::facts::{input_err, merge_dim, optional, out, required};
use super::{InferInput, OpError, opset_error};
use crate::{Dim, Type};

/// `BatchNormalization` with per-channel statistics. Typed from opset 7, where `spatial = 1`
/// (the default, and the only behaviour from opset 9) is the one modelled; `spatial = 0` stays
/// opaque. Before opset 14 training mode is implied by requesting the extra outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
    pub momentum: f32,
    /// `training_mode` (opset 14+).
    pub training_mode: bool,
}

impl BatchNorm {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Option<BatchNorm>, OpError> {
        let bn = BatchNorm {
            epsilon: r.float_or("epsilon", 1e-5)?,
            momentum: r.float_or("momentum", 0.9)?,
            training_mode: opset >= 14 && r.flag_or("training_mode", false)?,
        };
        if opset < 9 && !r.flag_or("spatial", true)? {
            return Ok(None);
        }
        Ok(Some(bn))
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.training_mode && opset < 14 {
            return Err(opset_error(
                "BatchNormalization",
                opset,
                "training_mode needs opset 14",
            ));
        }
        w.float_unless("epsilon", self.epsilon, 1e-5);
        w.float_unless("momentum", self.momentum, 0.9);
        w.flag_unless("training_mode", self.training_mode, false);
        Ok(())
    }

    pub(crate) fn infer(
        &self,
        inputs: &[Option<InferInput<'_>>],
        num_outputs: usize,
    ) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let mut channels = match x.shape() {
            Some(s) if s.len() < 2 => {
                return Err(input_err(
                    0,
                    format!("expected rank 2 or more, got {}", s.len()),
                ));
            }
            Some(s) => s[1].clone(),
            None => Dim::Unknown,
        };
        let names = ["X", "scale", "B", "mean", "var"];
        for (slot, name) in names.iter().enumerate().skip(1) {
            let p = required(inputs, slot)?;
            if let Some(s) = p.shape() {
                let [d] = s.as_slice() else {
                    return Err(input_err(
                        slot,
                        format!("{name} must be 1-D, got rank {}", s.len()),
                    ));
                };
                channels = merge_dim(&channels, d).map_err(|(c, v)| {
                    input_err(
                        slot,
                        format!("{name} has {v} values but X has {c} channels"),
                    )
                })?;
            }
        }
        let mut types = vec![out(x.dtype(), x.shape().cloned())];
        // Running (and, before opset 14, saved) mean and variance: one value per channel.
        for i in 1..num_outputs {
            let like = if i % 2 == 1 { 3 } else { 4 };
            let dtype = optional(inputs, like).and_then(|p| p.dtype());
            types.push(out(dtype, Some(vec![channels.clone()])));
        }
        Ok(types)
    }
}

/// `LRN`: local response normalisation across channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Lrn {
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
    /// Number of channels to sum over (required).
    pub size: i64,
}

impl Lrn {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Lrn, OpError> {
        let size = r
            .int("size")?
            .ok_or_else(|| OpError::MissingAttr("size".into()))?;
        if size < 1 {
            return Err(bad_value("size", format!("must be at least 1, got {size}")));
        }
        Ok(Lrn {
            alpha: r.float_or("alpha", 1e-4)?,
            beta: r.float_or("beta", 0.75)?,
            bias: r.float_or("bias", 1.0)?,
            size,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.float_unless("alpha", self.alpha, 1e-4);
        w.float_unless("beta", self.beta, 0.75);
        w.float_unless("bias", self.bias, 1.0);
        w.int("size", self.size);
    }
}

/// Which normalised exponential a [`Softmax`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

/// `Softmax`, `LogSoftmax` and `Hardmax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    pub axis: i64,
    /// Before opset 13: the input is coerced to 2-D `[d0*..*d(axis-1), d(axis)*..*d(r-1)]` and
    /// normalised over the whole second part (default axis 1). From 13: over `axis` alone
    /// (default -1).
    pub coerce_2d: bool,
}

impl Softmax {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        match self.kind {
            SoftmaxKind::Softmax => "Softmax",
            SoftmaxKind::LogSoftmax => "LogSoftmax",
            SoftmaxKind::Hardmax => "Hardmax",
        }
    }

    pub(crate) fn parse(
        op_type: &str,
        opset: i64,
        r: &mut AttrReader<'_>,
    ) -> Result<Softmax, OpError> {
        let kind = match op_type {
            "Softmax" => SoftmaxKind::Softmax,
            "LogSoftmax" => SoftmaxKind::LogSoftmax,
            _ => SoftmaxKind::Hardmax,
        };
        let coerce_2d = opset < 13;
        Ok(Softmax {
            kind,
            axis: r.int_or("axis", if coerce_2d { 1 } else { -1 })?,
            coerce_2d,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.coerce_2d != (opset < 13) {
            return Err(opset_error(
                self.op_type(),
                opset,
                if self.coerce_2d {
                    "this node uses the coerce-to-2-D semantics of opsets before 13"
                } else {
                    "this node normalises over a single axis, which needs opset 13"
                },
            ));
        }
        w.int_unless("axis", self.axis, if self.coerce_2d { 1 } else { -1 });
        Ok(())
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        if let Some(r) = x.rank() {
            super::facts::attr_axis("axis", self.axis, r)?;
        }
        Ok(vec![out(x.dtype(), x.shape().cloned())])
    }
}
