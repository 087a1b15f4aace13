//! nnslim-ir: the graph IR every nnslim pass and backend speaks — graphs of typed ops over
//! values with dtypes and (symbolic) shapes, constant tensors, shape inference and a verifier.
//! No file formats and no I/O live here.

mod attr;
mod dtype;
mod graph;
mod model;
pub mod op;
mod rng;
mod scope;
pub mod stats;
mod tensor;
pub mod text;
mod types;
mod verify;

pub use attr::{AttrValue, Attribute};
pub use dtype::DType;
pub use graph::{
    Graph, GraphError, NewNode, Node, NodeId, ValueId, ValueInfo, node_label, refine, tensor_type,
};
pub use model::{Foreign, Model, OpsetId};
pub use op::{InferInput, OnnxOp, Op, OpError, Opaque};
pub use rng::Rng;
pub use scope::{Scope, ScopedGraph};
pub use tensor::{SparseData, Tensor, TensorData, TensorError, element_count};
pub use types::{Dim, Shape, TensorType, Type};
pub use verify::{VerifyError, VerifyErrors, verify};
