//! Pooling: windowed `MaxPool` / `AveragePool` / `LpPool` and the global pools.

use super::attrs::{AttrReader, AttrWriter, bad_value};
use super::conv::Window;
use super::facts::{input_err, out, required};
use super::{InferInput, OpError, opset_error};
use crate::{DType, Dim, Shape, Type};

/// What a windowed pool computes, with the attributes only that kind has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// `MaxPool`; `column_major_indices` is `storage_order = 1` (opset 8+).
    Max { column_major_indices: bool },
    /// `AveragePool`; `count_include_pad` from opset 7 (before: padding not counted).
    Average { count_include_pad: bool },
    /// `LpPool` with integer `p` (opset 2+).
    Lp { p: i64 },
}

/// A windowed pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kind: PoolKind,
    /// Geometry; `kernel_shape` is always present.
    pub window: Window,
    /// Output sizes rounded up instead of down.
    pub ceil_mode: bool,
}

/// First opsets of pool features: (op, ceil_mode, dilations).
fn feature_opsets(kind: &PoolKind) -> (&'static str, i64, i64) {
    match kind {
        PoolKind::Max { .. } => ("MaxPool", 10, 10),
        PoolKind::Average { .. } => ("AveragePool", 10, 19),
        PoolKind::Lp { .. } => ("LpPool", 18, 18),
    }
}

impl Pool {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        feature_opsets(&self.kind).0
    }

    pub(crate) fn parse(
        op_type: &str,
        opset: i64,
        r: &mut AttrReader<'_>,
    ) -> Result<Pool, OpError> {
        let kind = match op_type {
            "MaxPool" => PoolKind::Max {
                column_major_indices: opset >= 8 && r.flag_or("storage_order", false)?,
            },
            "AveragePool" => PoolKind::Average {
                count_include_pad: opset >= 7 && r.flag_or("count_include_pad", false)?,
            },
            _ => {
                let p = r.int_or("p", 2)?;
                if p < 1 {
                    return Err(bad_value("p", format!("must be at least 1, got {p}")));
                }
                PoolKind::Lp { p }
            }
        };
        let (_, ceil_from, dilations_from) = feature_opsets(&kind);
        let window = Window::parse(r, true, opset >= dilations_from)?;
        let ceil_mode = opset >= ceil_from && r.flag_or("ceil_mode", false)?;
        Ok(Pool {
            kind,
            window,
            ceil_mode,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        let (op, ceil_from, dilations_from) = feature_opsets(&self.kind);
        if self.ceil_mode && opset < ceil_from {
            return Err(opset_error(
                op,
                opset,
                "ceil_mode needs opset 10 (LpPool: 18)",
            ));
        }
        if self.window.is_dilated() && opset < dilations_from {
            return Err(opset_error(
                op,
                opset,
                &format!("dilations need opset {dilations_from}"),
            ));
        }
        self.window.write(w);
        w.flag_unless("ceil_mode", self.ceil_mode, false);
        match self.kind {
            PoolKind::Max {
                column_major_indices,
            } => {
                if column_major_indices && opset < 8 {
                    return Err(opset_error(op, opset, "storage_order needs opset 8"));
                }
                w.flag_unless("storage_order", column_major_indices, false);
            }
            PoolKind::Average { count_include_pad } => {
                if count_include_pad && opset < 7 {
                    return Err(opset_error(op, opset, "count_include_pad needs opset 7"));
                }
                w.flag_unless("count_include_pad", count_include_pad, false);
            }
            PoolKind::Lp { p } => w.int_unless("p", p, 2),
        }
        Ok(())
    }

    pub(crate) fn infer(
        &self,
        inputs: &[Option<InferInput<'_>>],
        num_outputs: usize,
    ) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = x.dtype();
        let kernel = self.window.kernel_shape.as_deref().unwrap_or_default();
        let n = kernel.len();
        let shape = match x.shape() {
            None => None,
            Some(xs) => {
                if xs.len() != n + 2 {
                    return Err(input_err(
                        0,
                        format!(
                            "rank {} does not fit kernel_shape {kernel:?} (expected rank {})",
                            xs.len(),
                            n + 2
                        ),
                    ));
                }
                let mut shape: Shape = xs[..2].to_vec();
                for (i, &k) in kernel.iter().enumerate() {
                    shape.push(self.window.output_dim(i, &xs[i + 2], k, self.ceil_mode)?);
                }
                Some(shape)
            }
        };
        let mut types = vec![out(dtype, shape.clone())];
        if num_outputs > 1 && matches!(self.kind, PoolKind::Max { .. }) {
            types.push(Type::tensor(DType::I64, shape));
        }
        Ok(types)
    }
}

/// A global pool over all spatial axes: output `[N, C, 1, ..., 1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobalPool {
    Average,
    Max,
    /// `GlobalLpPool` with integer `p` (opset 2+).
    Lp {
        p: i64,
    },
}

impl GlobalPool {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        match self {
            GlobalPool::Average => "GlobalAveragePool",
            GlobalPool::Max => "GlobalMaxPool",
            GlobalPool::Lp { .. } => "GlobalLpPool",
        }
    }

    pub(crate) fn parse(op_type: &str, r: &mut AttrReader<'_>) -> Result<GlobalPool, OpError> {
        Ok(match op_type {
            "GlobalAveragePool" => GlobalPool::Average,
            "GlobalMaxPool" => GlobalPool::Max,
            _ => {
                let p = r.int_or("p", 2)?;
                if p < 1 {
                    return Err(bad_value("p", format!("must be at least 1, got {p}")));
                }
                GlobalPool::Lp { p }
            }
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        if let GlobalPool::Lp { p } = self {
            w.int_unless("p", *p, 2);
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let shape = match x.shape() {
            None => None,
            Some(xs) if xs.len() < 2 => {
                return Err(input_err(
                    0,
                    format!("expected rank 2 or more, got {}", xs.len()),
                ));
            }
            Some(xs) => {
                let mut s = xs[..2].to_vec();
                s.resize(xs.len(), Dim::Known(1));
                Some(s)
            }
        };
        Ok(vec![out(x.dtype(), shape)])
    }
}
