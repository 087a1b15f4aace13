//! Matrix products: `Gemm` (opset 7+, unidirectional broadcast of C) and `MatMul` (numpy
//! semantics: batch broadcasting, 1-D operands).

use super::attrs::{AttrReader, AttrWriter};
use super::facts::{broadcast, input_err, merge_dim, optional, out, required};
use super::{InferInput, OpError};
use crate::{Dim, Shape, Type};

/// `Gemm`: `Y = alpha * A' * B' + beta * C`, typed from opset 7 (before 7 C broadcast only
/// with `broadcast=1`). C is optional from opset 11; an omitted C is simply an absent input.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Gemm {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Gemm, OpError> {
        Ok(Gemm {
            alpha: r.float_or("alpha", 1.0)?,
            beta: r.float_or("beta", 1.0)?,
            trans_a: r.flag_or("transA", false)?,
            trans_b: r.flag_or("transB", false)?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.float_unless("alpha", self.alpha, 1.0);
        w.float_unless("beta", self.beta, 1.0);
        w.flag_unless("transA", self.trans_a, false);
        w.flag_unless("transB", self.trans_b, false);
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        let c = optional(inputs, 2);
        let dtype = a.dtype().or(b.dtype());
        let matrix = |slot: usize, shape: Option<&Shape>, trans: bool| match shape {
            None => Ok((Dim::Unknown, Dim::Unknown)),
            Some(s) if s.len() == 2 => Ok(if trans {
                (s[1].clone(), s[0].clone())
            } else {
                (s[0].clone(), s[1].clone())
            }),
            Some(s) => Err(input_err(
                slot,
                format!("expected a 2-D matrix, got rank {}", s.len()),
            )),
        };
        let (m, ka) = matrix(0, a.shape(), self.trans_a)?;
        let (kb, n) = matrix(1, b.shape(), self.trans_b)?;
        merge_dim(&ka, &kb).map_err(|(x, y)| {
            input_err(
                1,
                format!("inner dimensions differ: A gives K = {x}, B gives K = {y}"),
            )
        })?;
        let shape = vec![m, n];
        if let Some(cs) = c.and_then(|c| c.shape()) {
            // C must broadcast to [M, N] without growing it.
            let both = broadcast(&[&shape, cs]).map_err(|e| input_err(2, e.to_string()))?;
            if cs.len() > 2 {
                return Err(input_err(2, format!("C has rank {} (at most 2)", cs.len())));
            }
            let grows = both
                .iter()
                .zip(&shape)
                .any(|(b, y)| b.known().is_some() && y.known().is_some() && b != y);
            if grows {
                return Err(input_err(2, "C does not broadcast to [M, N]"));
            }
        }
        Ok(vec![out(dtype, Some(shape))])
    }
}

/// `MatMul` output type (numpy `matmul`).
pub(crate) fn infer_matmul(inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
    let a = required(inputs, 0)?;
    let b = required(inputs, 1)?;
    let dtype = a.dtype().or(b.dtype());
    let (Some(sa), Some(sb)) = (a.shape(), b.shape()) else {
        return Ok(vec![out(dtype, None)]);
    };
    if sa.is_empty() || sb.is_empty() {
        let slot = if sa.is_empty() { 0 } else { 1 };
        return Err(input_err(slot, "MatMul operands must have rank 1 or more"));
    }
    // 1-D operands: A [K] is [1, K], B [K] is [K, 1]; the added axis is removed again.
    let mut pa = sa.clone();
    let mut pb = sb.clone();
    if pa.len() == 1 {
        pa.insert(0, Dim::Known(1));
    }
    if pb.len() == 1 {
        pb.push(Dim::Known(1));
    }
    let (ra, rb) = (pa.len(), pb.len());
    merge_dim(&pa[ra - 1], &pb[rb - 2]).map_err(|(x, y)| {
        input_err(
            1,
            format!("inner dimensions differ: A has K = {x}, B has K = {y}"),
        )
    })?;
    let batch = broadcast(&[&pa[..ra - 2].to_vec(), &pb[..rb - 2].to_vec()])?;
    let mut shape = batch;
    if sa.len() > 1 {
        shape.push(pa[ra - 2].clone());
    }
    if sb.len() > 1 {
        shape.push(pb[rb - 1].clone());
    }
    Ok(vec![out(dtype, Some(shape))])
}
