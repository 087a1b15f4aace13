//! The closed set of operations: graph sources, typed ONNX ops with parsed attributes, and
//! `Opaque` for everything else so that nothing is lost.
//!
//! Each typed op is parsed once from its ONNX attributes (validated and defaulted for the opset
//! the model imports), written back with [`Op::to_onnx`] exactly as that opset spells it, and
//! infers its output types with [`Op::infer`]. Where an attribute became an input in a later
//! opset, the typed struct records which form the node uses (an `Option` holding the attribute
//! form); where the semantics changed, it records the semantics (e.g.
//! [`Softmax::coerce_2d`]). Op versions whose semantics nnslim does not model stay opaque.

mod attrs;
mod cast;
mod constant;
mod control;
mod conv;
mod elementwise;
mod facts;
mod layout;
mod linalg;
mod norm;
mod pool;
mod quant;
mod reduce;
mod resize;
mod rnn;
mod slicing;
#[cfg(test)]
mod tests;

pub use cast::{Cast, CastRounding, DequantizeLinear, Dropout, QuantizeLinear};
pub use constant::{Constant, ConstantForm, ConstantOfShape};
pub use control::{If, Loop, Scan};
pub use conv::{AutoPad, Conv, ConvTranspose, Window};
pub use elementwise::{Binary, Clip, ClipAttrs, ShiftDirection, Unary, Variadic};
pub use layout::{Flatten, Reshape, ShapeOf, Squeeze, Transpose, Unsqueeze};
pub use linalg::Gemm;
pub use norm::{BatchNorm, Lrn, Softmax, SoftmaxKind};
pub use pool::{GlobalPool, Pool, PoolKind};
pub use reduce::{ArgReduce, Reduce, ReduceKind};
pub use resize::{CoordinateTransform, KeepAspectRatio, NearestMode, Resize, ResizeMode};
pub use rnn::{Activation, ActivationFn, Cell, Direction, Recurrent};
pub use slicing::{Concat, Gather, Pad, PadAttrs, PadMode, Slice, SliceAttrs, Split, slice_len};

use crate::{Attribute, Graph, Tensor, Type};
use attrs::{AttrReader, AttrWriter};

/// The newest opset of the default domain whose op semantics nnslim knows (onnx 1.23).
/// Nodes of models importing a newer opset stay opaque.
pub const MAX_KNOWN_OPSET: i64 = 28;

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

    // Neural-network layers.
    Conv(Conv),
    ConvTranspose(ConvTranspose),
    /// `MaxPool`, `AveragePool`, `LpPool`.
    Pool(Pool),
    /// `GlobalAveragePool`, `GlobalMaxPool`, `GlobalLpPool`.
    GlobalPool(GlobalPool),
    Gemm(Gemm),
    MatMul,
    BatchNormalization(BatchNorm),
    Lrn(Lrn),
    /// `Softmax`, `LogSoftmax`, `Hardmax`.
    Softmax(Softmax),

    // Elementwise.
    /// Activations and one-input math.
    Unary(Unary),
    /// Two-input broadcasting arithmetic, comparisons, logic, `PRelu`.
    Binary(Binary),
    /// `Max`, `Min`, `Mean`, `Sum`.
    Variadic(Variadic),
    /// `Where(condition, X, Y)`.
    Where,
    Clip(Clip),

    // Layout and indexing.
    Flatten(Flatten),
    Reshape(Reshape),
    Transpose(Transpose),
    Squeeze(Squeeze),
    Unsqueeze(Unsqueeze),
    Concat(Concat),
    Split(Split),
    Slice(Slice),
    Gather(Gather),
    Pad(Pad),
    Resize(Resize),

    // Reductions.
    /// `ReduceSum`, `ReduceMean`, ... .
    Reduce(Reduce),
    /// `ArgMax`, `ArgMin`.
    ArgReduce(ArgReduce),

    // Shapes, types and constants.
    /// `Shape`.
    Shape(ShapeOf),
    /// `Size`.
    Size,
    Cast(Cast),
    Constant(Constant),
    ConstantOfShape(ConstantOfShape),
    Identity,
    Dropout(Dropout),
    QuantizeLinear(QuantizeLinear),
    DequantizeLinear(DequantizeLinear),
    /// `DynamicQuantizeLinear` (opset 11+): uint8 `y`, f32 `y_scale` and uint8 `y_zero_point`
    /// from the input's range (widened to include 0).
    DynamicQuantizeLinear,
    /// `MatMulInteger` (opset 10+): int8/uint8 operands less their zero points, int32 result.
    MatMulInteger,
    /// `ConvInteger` (opset 10+): `Conv`'s attributes, int8/uint8 operands less their zero
    /// points, int32 result, no bias.
    ConvInteger(Conv),

    // Control flow and recurrence.
    /// `If`: the branches are nested graphs.
    If(If),
    /// `Loop`: the body is a nested graph.
    Loop(Loop),
    /// `Scan`: the body is a nested graph.
    Scan(Scan),
    /// `RNN`, `GRU`, `LSTM`.
    Recurrent(Recurrent),

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
    /// The op cannot be spelled at the requested opset (the node must be rewritten first).
    #[error("{op} cannot be written at opset {opset}: {msg}")]
    Opset { op: String, opset: i64, msg: String },
    #[error("{0}")]
    Invalid(String),
}

/// `Err` when a feature in use (`used`) needs opset `from` but the op is written at `opset`.
pub(crate) fn needs_opset(
    op: &str,
    opset: i64,
    used: bool,
    from: i64,
    what: &str,
) -> Result<(), OpError> {
    if used && opset < from {
        Err(opset_error(
            op,
            opset,
            &format!("{what} needs opset {from}"),
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn opset_error(op: &str, opset: i64, msg: &str) -> OpError {
    OpError::Opset {
        op: op.to_string(),
        opset,
        msg: msg.to_string(),
    }
}

/// The first opset from which nnslim types `op_type` (default domain); `None` if never.
/// Earlier versions (legacy `broadcast`/`consumed_inputs` attributes and other semantics) stay
/// opaque.
pub fn first_typed_opset(op_type: &str) -> Option<i64> {
    Some(match op_type {
        "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" | "GlobalAveragePool"
        | "GlobalMaxPool" | "MatMul" | "LRN" | "Softmax" | "LogSoftmax" | "Hardmax" | "Not"
        | "Softplus" | "Softsign" | "Flatten" | "Transpose" | "Slice" | "Gather" | "Squeeze"
        | "Unsqueeze" | "Shape" | "Size" | "Constant" | "Identity" | "ArgMax" | "ArgMin" => 1,
        "If" => 1,
        "LpPool" | "GlobalLpPool" | "Split" | "Pad" => 2,
        "Concat" => 4,
        "Reshape" => 5,
        "Relu" | "LeakyRelu" | "Elu" | "Selu" | "Sigmoid" | "HardSigmoid" | "Tanh" | "Exp"
        | "Log" | "Sqrt" | "Reciprocal" | "Neg" | "Abs" | "Floor" | "Ceil" | "Clip" | "Max"
        | "Min" | "Mean" | "Sum" | "Cast" => 6,
        "Gemm" | "BatchNormalization" | "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal"
        | "Less" | "Greater" | "And" | "Or" | "Xor" | "PRelu" | "Sin" | "Cos" | "Tan" | "Asin"
        | "Acos" | "Atan" | "Dropout" | "LSTM" | "GRU" | "RNN" => 7,
        "Erf" | "Sign" | "Sinh" | "Cosh" | "Asinh" | "Acosh" | "Atanh" | "IsNaN" | "Where"
        | "ConstantOfShape" | "Scan" => 9,
        "Mod" | "ThresholdedRelu" | "IsInf" | "QuantizeLinear" | "DequantizeLinear" => 10,
        "MatMulInteger" | "ConvInteger" => 10,
        "DynamicQuantizeLinear" => 11,
        "Round" | "BitShift" | "Resize" | "Loop" => 11,
        "Celu" | "LessOrEqual" | "GreaterOrEqual" => 12,
        "HardSwish" => 14,
        "Mish" => 18,
        "Gelu" => 20,
        _ if op_type.starts_with("Reduce")
            && reduce::ReduceKind::from_op_type(op_type).is_some() =>
        {
            1
        }
        _ => return None,
    })
}

/// Parses a typed op; `Ok(None)` when the node's form is one nnslim keeps opaque.
fn parse_typed(op_type: &str, opset: i64, r: &mut AttrReader<'_>) -> Result<Option<Op>, OpError> {
    let op = match op_type {
        "Conv" => Op::Conv(Conv::parse(r)?),
        "ConvTranspose" => match ConvTranspose::parse(r, opset)? {
            Some(c) => Op::ConvTranspose(c),
            None => return Ok(None),
        },
        "MaxPool" | "AveragePool" | "LpPool" => Op::Pool(Pool::parse(op_type, opset, r)?),
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => {
            Op::GlobalPool(GlobalPool::parse(op_type, r)?)
        }
        "Gemm" => Op::Gemm(Gemm::parse(r)?),
        "MatMul" => Op::MatMul,
        "BatchNormalization" => match BatchNorm::parse(opset, r)? {
            Some(b) => Op::BatchNormalization(b),
            None => return Ok(None),
        },
        "LRN" => Op::Lrn(Lrn::parse(r)?),
        "Softmax" | "LogSoftmax" | "Hardmax" => Op::Softmax(Softmax::parse(op_type, opset, r)?),
        "Where" => Op::Where,
        "Clip" => Op::Clip(Clip::parse(opset, r)?),
        "Flatten" => Op::Flatten(Flatten::parse(r)?),
        "Reshape" => Op::Reshape(Reshape::parse(opset, r)?),
        "Transpose" => Op::Transpose(Transpose::parse(r)?),
        "Squeeze" => Op::Squeeze(Squeeze::parse(opset, r)?),
        "Unsqueeze" => Op::Unsqueeze(Unsqueeze::parse(opset, r)?),
        "Concat" => Op::Concat(Concat::parse(r)?),
        "Split" => Op::Split(Split::parse(opset, r)?),
        "Slice" => Op::Slice(Slice::parse(opset, r)?),
        "Gather" => Op::Gather(Gather::parse(r)?),
        "Pad" => Op::Pad(Pad::parse(opset, r)?),
        "Resize" => Op::Resize(Resize::parse(opset, r)?),
        "ArgMax" | "ArgMin" => Op::ArgReduce(ArgReduce::parse(op_type, opset, r)?),
        "Shape" => Op::Shape(ShapeOf::parse(opset, r)?),
        "Size" => Op::Size,
        "Cast" => Op::Cast(Cast::parse(opset, r)?),
        "Constant" => match Constant::parse(opset, r)? {
            Some(c) => Op::Constant(c),
            None => return Ok(None),
        },
        "ConstantOfShape" => Op::ConstantOfShape(ConstantOfShape::parse(r)?),
        "Identity" => Op::Identity,
        "Dropout" => Op::Dropout(Dropout::parse(opset, r)?),
        "QuantizeLinear" => Op::QuantizeLinear(QuantizeLinear::parse(opset, r)?),
        "DequantizeLinear" => Op::DequantizeLinear(DequantizeLinear::parse(opset, r)?),
        "DynamicQuantizeLinear" => Op::DynamicQuantizeLinear,
        "MatMulInteger" => Op::MatMulInteger,
        "ConvInteger" => Op::ConvInteger(Conv::parse(r)?),
        "If" => Op::If(If::parse(r)?),
        "Loop" => Op::Loop(Loop::parse(r)?),
        "Scan" => Op::Scan(Scan::parse(r)?),
        "RNN" | "GRU" | "LSTM" => match Recurrent::parse(op_type, opset, r)? {
            Some(op) => Op::Recurrent(op),
            None => return Ok(None),
        },
        _ => {
            if let Some(kind) = ReduceKind::from_op_type(op_type) {
                Op::Reduce(Reduce::parse(kind, opset, r)?)
            } else if let Some(v) = Variadic::from_op_type(op_type) {
                Op::Variadic(v)
            } else if Unary::is_unary(op_type) {
                Op::Unary(Unary::parse(op_type, r)?)
            } else if Binary::is_binary(op_type) {
                Op::Binary(Binary::parse(op_type, r)?)
            } else {
                return Ok(None);
            }
        }
    };
    Ok(Some(op))
}

impl Op {
    /// The op type as ONNX names it (`Conv`, ...); `Input`, `Initializer` and `Outer` for sources.
    pub fn op_type(&self) -> &str {
        match self {
            Op::Input => "Input",
            Op::Initializer(_) => "Initializer",
            Op::Outer => "Outer",
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::Pool(p) => p.op_type(),
            Op::GlobalPool(p) => p.op_type(),
            Op::Gemm(_) => "Gemm",
            Op::MatMul => "MatMul",
            Op::BatchNormalization(_) => "BatchNormalization",
            Op::Lrn(_) => "LRN",
            Op::Softmax(s) => s.op_type(),
            Op::Unary(u) => u.op_type(),
            Op::Binary(b) => b.op_type(),
            Op::Variadic(v) => v.op_type(),
            Op::Where => "Where",
            Op::Clip(_) => "Clip",
            Op::Flatten(_) => "Flatten",
            Op::Reshape(_) => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Squeeze(_) => "Squeeze",
            Op::Unsqueeze(_) => "Unsqueeze",
            Op::Concat(_) => "Concat",
            Op::Split(_) => "Split",
            Op::Slice(_) => "Slice",
            Op::Gather(_) => "Gather",
            Op::Pad(_) => "Pad",
            Op::Resize(_) => "Resize",
            Op::Reduce(r) => r.kind.op_type(),
            Op::ArgReduce(a) => a.op_type(),
            Op::Shape(_) => "Shape",
            Op::Size => "Size",
            Op::Cast(_) => "Cast",
            Op::Constant(_) => "Constant",
            Op::ConstantOfShape(_) => "ConstantOfShape",
            Op::Identity => "Identity",
            Op::Dropout(_) => "Dropout",
            Op::QuantizeLinear(_) => "QuantizeLinear",
            Op::DequantizeLinear(_) => "DequantizeLinear",
            Op::DynamicQuantizeLinear => "DynamicQuantizeLinear",
            Op::MatMulInteger => "MatMulInteger",
            Op::ConvInteger(_) => "ConvInteger",
            Op::If(_) => "If",
            Op::Loop(_) => "Loop",
            Op::Scan(_) => "Scan",
            Op::Recurrent(r) => r.cell.op_type(),
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

    /// The dense constant this op produces, for `Constant` nodes.
    pub fn constant_value(&self) -> Option<&Tensor> {
        match self {
            Op::Constant(c) => Some(c.value()),
            _ => None,
        }
    }

    /// Parses an ONNX node's op. `opset` is the version of the node's domain in the model.
    /// Ops or opset versions nnslim does not type become [`Op::Opaque`], as do nodes with an
    /// attribute the typed op does not know for that version (or a doc string or function
    /// reference on an attribute, which a typed op would drop). A known attribute of the wrong
    /// kind or with an invalid value is an error.
    pub fn from_onnx(
        domain: &str,
        op_type: &str,
        opset: i64,
        attrs: Vec<Attribute>,
    ) -> Result<Op, OpError> {
        let opaque = |attrs| {
            Ok(Op::Opaque(Opaque {
                domain: domain.to_string(),
                op_type: op_type.to_string(),
                attrs,
            }))
        };
        let standard = domain.is_empty() || domain == "ai.onnx";
        let typed = first_typed_opset(op_type)
            .is_some_and(|from| (from..=MAX_KNOWN_OPSET).contains(&opset));
        let plain = attrs
            .iter()
            .all(|a| a.doc_string.is_empty() && a.ref_attr_name.is_none());
        if !(standard && typed && plain) {
            return opaque(attrs);
        }
        let mut r = AttrReader::new(&attrs);
        match parse_typed(op_type, opset, &mut r) {
            Ok(Some(op)) if r.leftovers().is_empty() => Ok(op),
            Ok(_) => opaque(attrs),
            // A required attribute missing next to one this version does not have: a form
            // nnslim does not know, not necessarily a broken node.
            Err(OpError::MissingAttr(_)) if !r.leftovers().is_empty() => opaque(attrs),
            Err(e) => Err(e),
        }
    }

    /// The op as ONNX spells it at `opset` (the version of its domain in the model written).
    /// Fails when the op cannot be expressed at that opset as it stands (for example axes held
    /// as an attribute where the opset wants an input): such nodes must be rewritten first.
    pub fn to_onnx(&self, opset: i64) -> Result<OnnxOp, OpError> {
        let mut w = AttrWriter::new();
        match self {
            Op::Opaque(o) => {
                return Ok(OnnxOp {
                    domain: o.domain.clone(),
                    op_type: o.op_type.clone(),
                    attrs: o.attrs.clone(),
                });
            }
            Op::Input | Op::Initializer(_) | Op::Outer => {
                return Err(OpError::Invalid(format!(
                    "{} is a graph source, not an ONNX node",
                    self.op_type()
                )));
            }
            _ => {}
        }
        let op_type = self.op_type();
        let from = first_typed_opset(op_type).unwrap_or(1);
        if opset < from || opset > MAX_KNOWN_OPSET {
            return Err(opset_error(
                op_type,
                opset,
                &format!("nnslim writes it for opsets {from} to {MAX_KNOWN_OPSET}"),
            ));
        }
        match self {
            Op::Conv(c) => c.write(&mut w),
            Op::ConvTranspose(c) => c.write(&mut w, opset)?,
            Op::Pool(p) => p.write(&mut w, opset)?,
            Op::GlobalPool(p) => p.write(&mut w),
            Op::Gemm(g) => g.write(&mut w),
            Op::BatchNormalization(b) => b.write(&mut w, opset)?,
            Op::Lrn(l) => l.write(&mut w),
            Op::Softmax(s) => s.write(&mut w, opset)?,
            Op::Unary(u) => u.write(&mut w),
            Op::Binary(b) => b.write(&mut w),
            Op::Clip(c) => c.write(&mut w, opset)?,
            Op::Flatten(f) => f.write(&mut w),
            Op::Reshape(r) => r.write(&mut w, opset)?,
            Op::Transpose(t) => t.write(&mut w),
            Op::Squeeze(s) => s.write(&mut w, opset)?,
            Op::Unsqueeze(u) => u.write(&mut w, opset)?,
            Op::Concat(c) => c.write(&mut w),
            Op::Split(s) => s.write(&mut w, opset)?,
            Op::Slice(s) => s.write(&mut w, opset)?,
            Op::Gather(g) => g.write(&mut w),
            Op::Pad(p) => p.write(&mut w, opset)?,
            Op::Resize(r) => r.write(&mut w, opset)?,
            Op::Reduce(r) => r.write(&mut w, opset)?,
            Op::ArgReduce(a) => a.write(&mut w, opset)?,
            Op::Shape(s) => s.write(&mut w, opset)?,
            Op::Cast(c) => c.write(&mut w, opset)?,
            Op::Constant(c) => c.write(&mut w, opset),
            Op::ConstantOfShape(c) => c.write(&mut w),
            Op::Dropout(d) => d.write(&mut w, opset)?,
            Op::QuantizeLinear(q) => q.write(&mut w, opset)?,
            Op::DequantizeLinear(d) => d.write(&mut w, opset)?,
            Op::ConvInteger(c) => c.write(&mut w),
            Op::DynamicQuantizeLinear | Op::MatMulInteger => {}
            Op::If(i) => i.write(&mut w),
            Op::Loop(l) => l.write(&mut w),
            Op::Scan(s) => s.write(&mut w),
            Op::Recurrent(r) => r.write(&mut w, opset)?,
            Op::MatMul | Op::Variadic(_) | Op::Where | Op::Size | Op::Identity => {}
            Op::Input | Op::Initializer(_) | Op::Outer | Op::Opaque(_) => {}
        }
        Ok(OnnxOp {
            domain: String::new(),
            op_type: op_type.to_string(),
            attrs: w.finish(),
        })
    }

    /// Output types from input facts (`None` = omitted optional input). Unknown facts give
    /// unknown outputs; errors only for definite contradictions. Opaque ops return
    /// `Type::Unknown` for every output.
    pub fn infer(
        &self,
        inputs: &[Option<InferInput<'_>>],
        num_outputs: usize,
    ) -> Result<Vec<Type>, OpError> {
        let n = num_outputs;
        let mut types = match self {
            Op::Input | Op::Outer | Op::Opaque(_) => Vec::new(),
            Op::Initializer(t) => vec![crate::graph::initializer_type(t)],
            Op::Conv(c) => c.infer(inputs)?,
            Op::ConvTranspose(c) => c.infer(inputs)?,
            Op::Pool(p) => p.infer(inputs, n)?,
            Op::GlobalPool(p) => p.infer(inputs)?,
            Op::Gemm(g) => g.infer(inputs)?,
            Op::MatMul => linalg::infer_matmul(inputs)?,
            Op::BatchNormalization(b) => b.infer(inputs, n)?,
            Op::Lrn(_) => same_as_input(inputs)?,
            Op::Softmax(s) => s.infer(inputs)?,
            Op::Unary(u) => u.infer(inputs)?,
            Op::Binary(b) => b.infer(inputs)?,
            Op::Variadic(_) => {
                let all: Vec<usize> = (0..inputs.len()).collect();
                elementwise::infer_broadcast(inputs, &all)?
            }
            Op::Where => {
                facts::required(inputs, 0)?;
                elementwise::infer_broadcast(inputs, &[1, 2])?
            }
            Op::Clip(_) => same_as_input(inputs)?,
            Op::Flatten(f) => f.infer(inputs)?,
            Op::Reshape(r) => r.infer(inputs)?,
            Op::Transpose(t) => t.infer(inputs)?,
            Op::Squeeze(s) => s.infer(inputs)?,
            Op::Unsqueeze(u) => u.infer(inputs)?,
            Op::Concat(c) => c.infer(inputs)?,
            Op::Split(s) => s.infer(inputs, n)?,
            Op::Slice(s) => s.infer(inputs)?,
            Op::Gather(g) => g.infer(inputs)?,
            Op::Pad(p) => p.infer(inputs)?,
            Op::Resize(r) => r.infer(inputs)?,
            Op::Reduce(r) => r.infer(inputs)?,
            Op::ArgReduce(a) => a.infer(inputs)?,
            Op::Shape(s) => s.infer(inputs)?,
            Op::Size => {
                facts::required(inputs, 0)?;
                vec![Type::tensor(crate::DType::I64, Some(Vec::new()))]
            }
            Op::Cast(c) => c.infer(inputs)?,
            Op::Constant(c) => c.infer(),
            Op::ConstantOfShape(c) => c.infer(inputs)?,
            Op::Identity => vec![facts::required(inputs, 0)?.ty.clone()],
            Op::Dropout(d) => d.infer(inputs, n)?,
            Op::QuantizeLinear(q) => q.infer(inputs)?,
            Op::DequantizeLinear(d) => d.infer(inputs)?,
            Op::DynamicQuantizeLinear => quant::infer_dynamic_quantize(inputs)?,
            Op::MatMulInteger => quant::infer_matmul_integer(inputs)?,
            Op::ConvInteger(c) => quant::infer_conv_integer(c, inputs)?,
            Op::If(i) => i.infer(inputs)?,
            Op::Loop(l) => l.infer(inputs)?,
            Op::Scan(s) => s.infer(inputs)?,
            Op::Recurrent(r) => r.infer(inputs)?,
        };
        types.resize(n, Type::Unknown);
        Ok(types)
    }

    /// Graphs nested in the op's attributes.
    pub fn subgraphs(&self) -> Vec<&Graph> {
        match self {
            Op::Opaque(o) => o.attrs.iter().flat_map(|a| a.value.graphs()).collect(),
            Op::If(i) => vec![&*i.then_branch, &*i.else_branch],
            Op::Loop(l) => vec![&*l.body],
            Op::Scan(s) => vec![&*s.body],
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
            Op::If(i) => vec![&mut *i.then_branch, &mut *i.else_branch],
            Op::Loop(l) => vec![&mut *l.body],
            Op::Scan(s) => vec![&mut *s.body],
            _ => Vec::new(),
        }
    }
}

/// The first input's dense type, unchanged.
fn same_as_input(inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
    let x = facts::required(inputs, 0)?;
    Ok(vec![facts::out(x.dtype(), x.shape().cloned())])
}
