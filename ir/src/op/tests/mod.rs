//! Unit tests of the typed ops: parsing with defaults, rejection of bad attributes, opaque
//! fallbacks, `to_onnx` round trips, and shape/dtype inference.

mod fuzz;
mod infer;
mod parse;
mod roundtrip;

use super::{InferInput, Op, OpError};
use crate::{AttrValue, Attribute, DType, Dim, Tensor, Type};

pub(super) fn int(name: &str, v: i64) -> Attribute {
    Attribute::new(name, AttrValue::Int(v))
}

pub(super) fn ints(name: &str, v: &[i64]) -> Attribute {
    Attribute::new(name, AttrValue::Ints(v.to_vec()))
}

pub(super) fn float(name: &str, v: f32) -> Attribute {
    Attribute::new(name, AttrValue::Float(v))
}

pub(super) fn string(name: &str, v: &str) -> Attribute {
    Attribute::new(name, AttrValue::String(v.as_bytes().to_vec()))
}

pub(super) fn tensor(name: &str, t: Tensor) -> Attribute {
    Attribute::new(name, AttrValue::Tensor(t))
}

/// Parses a default-domain op, which must succeed.
pub(super) fn parse(op_type: &str, opset: i64, attrs: Vec<Attribute>) -> Op {
    Op::from_onnx("", op_type, opset, attrs).unwrap_or_else(|e| panic!("{op_type}@{opset}: {e}"))
}

/// Parses a default-domain op, which must fail; returns the error.
pub(super) fn parse_err(op_type: &str, opset: i64, attrs: Vec<Attribute>) -> OpError {
    match Op::from_onnx("", op_type, opset, attrs) {
        Ok(op) => panic!("{op_type}@{opset} parsed as {op:?}"),
        Err(e) => e,
    }
}

/// A type from a dtype and dims written as text: numbers, `?` (unknown) or symbol names.
pub(super) fn ty(dtype: DType, dims: &[&str]) -> Type {
    Type::tensor(dtype, Some(dims.iter().map(|d| dim(d)).collect()))
}

pub(super) fn dim(d: &str) -> Dim {
    match d.parse::<i64>() {
        Ok(v) => Dim::Known(v),
        Err(_) if d == "?" => Dim::Unknown,
        Err(_) => Dim::Symbol(d.to_string()),
    }
}

pub(super) fn f32s(dims: &[&str]) -> Type {
    ty(DType::F32, dims)
}

pub(super) fn i64_const(values: &[i64]) -> Tensor {
    Tensor::from_i64(vec![values.len() as i64], values).unwrap()
}

/// An input fact: a type, and a constant value when given.
pub(super) struct Fact(pub Type, pub Option<Tensor>);

impl Fact {
    /// A non-constant input of type `t`.
    pub fn of(t: Type) -> Option<Fact> {
        Some(Fact(t, None))
    }

    /// A constant i64 vector input.
    pub fn ints(values: &[i64]) -> Option<Fact> {
        let t = i64_const(values);
        Some(Fact(crate::tensor_type(&t), Some(t)))
    }

    /// A constant f32 vector input.
    pub fn floats(values: &[f32]) -> Option<Fact> {
        let t = Tensor::from_f32(vec![values.len() as i64], values).unwrap();
        Some(Fact(crate::tensor_type(&t), Some(t)))
    }
}

/// Runs inference with the given input facts (`None` = omitted input).
pub(super) fn infer_n(op: &Op, facts: &[Option<Fact>], n: usize) -> Result<Vec<Type>, OpError> {
    let inputs: Vec<Option<InferInput<'_>>> = facts
        .iter()
        .map(|f| {
            f.as_ref().map(|Fact(t, v)| InferInput {
                ty: t,
                value: v.as_ref(),
            })
        })
        .collect();
    op.infer(&inputs, n)
}

/// Inference of a one-output op; must succeed.
pub(super) fn infer1(op: &Op, facts: &[Option<Fact>]) -> Type {
    infer_n(op, facts, 1)
        .unwrap_or_else(|e| panic!("{op:?}: {e}"))
        .remove(0)
}
