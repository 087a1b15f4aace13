//! Kernels: one module per op family, dispatched on the typed `Op`.
//!
//! Each family module exposes `pub(crate) fn eval(cx, inputs) -> Result<Vec<Value>, KernelError>`
//! and handles exactly the variants routed to it below.

pub mod broadcast;
mod control;
mod elementwise;
mod nn;
mod reduce;
mod shape;

use crate::Value;
use crate::run::{KernelError, unsupported};
use nnslim_ir::{Graph, Node, NodeId, Op};
use std::collections::HashMap;

/// What a kernel may know about the node it computes.
pub struct NodeCx<'a> {
    pub graph: &'a Graph,
    pub node: NodeId,
    /// Values of enclosing graphs (and this node's captures) by name, for subgraph ops.
    pub outer: &'a HashMap<String, &'a Value>,
}

impl NodeCx<'_> {
    /// The node being computed.
    pub fn node(&self) -> &Node {
        self.graph.node(self.node)
    }

    /// The node's op.
    pub fn op(&self) -> &Op {
        &self.node().op
    }

    /// How many outputs the node has.
    pub fn num_outputs(&self) -> usize {
        self.node().outputs().len()
    }
}

/// Computes one node. Inputs are in slot order; `None` is an omitted optional input.
pub fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    match cx.op() {
        Op::Input | Op::Initializer(_) | Op::Outer => unsupported("graph sources are not computed"),
        Op::Opaque(o) => unsupported(format!(
            "{}{} is not typed by nnslim",
            if o.domain.is_empty() {
                String::new()
            } else {
                format!("{}::", o.domain)
            },
            o.op_type
        )),
        Op::Conv(_)
        | Op::ConvTranspose(_)
        | Op::Pool(_)
        | Op::GlobalPool(_)
        | Op::Gemm(_)
        | Op::MatMul
        | Op::BatchNormalization(_)
        | Op::Lrn(_)
        | Op::QuantizeLinear(_)
        | Op::DequantizeLinear(_)
        | Op::DynamicQuantizeLinear
        | Op::MatMulInteger
        | Op::ConvInteger(_) => nn::eval(cx, inputs),
        Op::Unary(_) | Op::Binary(_) | Op::Variadic(_) | Op::Where | Op::Clip(_) | Op::Cast(_) => {
            elementwise::eval(cx, inputs)
        }
        Op::Reduce(_) | Op::ArgReduce(_) | Op::Softmax(_) => reduce::eval(cx, inputs),
        Op::Flatten(_)
        | Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Concat(_)
        | Op::Split(_)
        | Op::Slice(_)
        | Op::Gather(_)
        | Op::Pad(_)
        | Op::Resize(_)
        | Op::Shape(_)
        | Op::Size
        | Op::Constant(_)
        | Op::ConstantOfShape(_)
        | Op::Identity
        | Op::Dropout(_) => shape::eval(cx, inputs),
        Op::If(_) | Op::Loop(_) | Op::Scan(_) | Op::Recurrent(_) => control::eval(cx, inputs),
    }
}
