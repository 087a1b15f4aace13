//! The closed set of operations: graph sources, typed ONNX ops with parsed attributes, and
//! `Opaque` for everything else so that nothing is lost.

use crate::{AttrValue, Attribute, Graph, Tensor, Type};

/// An operation. Typed variants hold attributes parsed, validated and defaulted at import;
/// passes never look attributes up by string.
#[derive(Clone, Debug)]
pub enum Op {
    /// A graph input.
    Input,
    /// A named constant tensor (ONNX initializer, dense or sparse).
    Initializer(Tensor),
    /// Inside a subgraph: a value of an enclosing graph that the subgraph reads by name.
    Outer,
    /// An op kept as it is in the file: its type, domain and attributes, with graph attributes
    /// as nested IR graphs.
    Opaque(Opaque),
}

/// An op nnslim does not type: carried through to the writer unchanged.
#[derive(Clone, Debug)]
pub struct Opaque {
    pub domain: String,
    pub op_type: String,
    pub attrs: Vec<Attribute>,
}

/// What inference knows about one present input.
#[derive(Clone, Copy, Debug)]
pub struct InferInput<'a> {
    pub ty: &'a Type,
    /// The value, when it is a constant.
    pub value: Option<&'a Tensor>,
}

/// An op as ONNX spells it: domain, type and attributes.
#[derive(Clone, Debug)]
pub struct OnnxOp {
    pub domain: String,
    pub op_type: String,
    pub attrs: Vec<Attribute>,
}

/// A problem with an op's attributes or inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("attribute '{name}': expected {want}, found {found}")]
    AttrType {
        name: String,
        want: &'static str,
        found: &'static str,
    },
    #[error("attribute '{name}': {msg}")]
    AttrValue { name: String, msg: String },
    #[error("missing required attribute '{0}'")]
    MissingAttr(String),
    #[error("input {slot}: {msg}")]
    Input { slot: usize, msg: String },
    #[error("{0}")]
    Invalid(String),
}

impl Op {
    /// The op type as ONNX names it (`Conv`, ...); `Input`, `Initializer` and `Outer` for sources.
    pub fn op_type(&self) -> &str {
        match self {
            Op::Input => "Input",
            Op::Initializer(_) => "Initializer",
            Op::Outer => "Outer",
            Op::Opaque(o) => &o.op_type,
        }
    }

    /// The op's domain (`""` is the default ONNX domain).
    pub fn domain(&self) -> &str {
        match self {
            Op::Opaque(o) => &o.domain,
            _ => "",
        }
    }

    /// True for graph sources: inputs, initializers and outer values.
    pub fn is_source(&self) -> bool {
        matches!(self, Op::Input | Op::Initializer(_) | Op::Outer)
    }

    /// True when the op is kept opaque.
    pub fn is_opaque(&self) -> bool {
        matches!(self, Op::Opaque(_))
    }

    /// The dense constant this op produces, for `Constant`-like ops.
    pub fn constant_value(&self) -> Option<&Tensor> {
        None
    }

    /// Parses an ONNX node's op. `opset` is the version of the node's domain in the model.
    /// Ops or opset versions nnslim does not type become [`Op::Opaque`].
    pub fn from_onnx(
        domain: &str,
        op_type: &str,
        opset: i64,
        attrs: Vec<Attribute>,
    ) -> Result<Op, OpError> {
        let _ = opset;
        Ok(Op::Opaque(Opaque {
            domain: domain.to_string(),
            op_type: op_type.to_string(),
            attrs,
        }))
    }

    /// The op as ONNX spells it at `opset` (the version of its domain in the model written).
    pub fn to_onnx(&self, opset: i64) -> Result<OnnxOp, OpError> {
        let _ = opset;
        match self {
            Op::Opaque(o) => Ok(OnnxOp {
                domain: o.domain.clone(),
                op_type: o.op_type.clone(),
                attrs: o.attrs.clone(),
            }),
            other => Err(OpError::Invalid(format!(
                "{} is a graph source, not an ONNX node",
                other.op_type()
            ))),
        }
    }

    /// Output types from input facts. Opaque ops return `Type::Unknown` for every output.
    pub fn infer(
        &self,
        inputs: &[Option<InferInput<'_>>],
        num_outputs: usize,
    ) -> Result<Vec<Type>, OpError> {
        let _ = inputs;
        Ok(vec![Type::Unknown; num_outputs])
    }

    /// Graphs nested in the op's attributes.
    pub fn subgraphs(&self) -> Vec<&Graph> {
        match self {
            Op::Opaque(o) => o.attrs.iter().flat_map(|a| a.value.graphs()).collect(),
            _ => Vec::new(),
        }
    }

    /// Graphs nested in the op's attributes, mutably.
    pub fn subgraphs_mut(&mut self) -> Vec<&mut Graph> {
        match self {
            Op::Opaque(o) => o
                .attrs
                .iter_mut()
                .flat_map(|a| a.value.graphs_mut())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Kept so that `AttrValue` is reachable from op code without a separate import.
#[allow(dead_code)]
fn _attr_value_kind(v: &AttrValue) -> &'static str {
    v.kind()
}
