//! Generic node attributes, as they come from a file. Typed ops parse these once at import;
//! `Op::Opaque` keeps them as they are. Graph-valued attributes hold nested IR graphs.

use crate::{Graph, Tensor, Type};

/// A named attribute.
#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
    pub doc_string: String,
    /// Inside function bodies: the name of the function attribute this one refers to.
    pub ref_attr_name: Option<String>,
}

impl Attribute {
    /// An attribute with no doc string or reference.
    pub fn new(name: impl Into<String>, value: AttrValue) -> Attribute {
        Attribute {
            name: name.into(),
            value,
            doc_string: String::new(),
            ref_attr_name: None,
        }
    }
}

/// The value of an attribute.
#[derive(Clone, Debug)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(Tensor),
    Graph(Box<Graph>),
    SparseTensor(Tensor),
    Type(Type),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<Graph>),
    SparseTensors(Vec<Tensor>),
    Types(Vec<Type>),
}

impl AttrValue {
    /// The ONNX name of the value's kind (`INT`, `FLOATS`, ...), for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            AttrValue::Float(_) => "FLOAT",
            AttrValue::Int(_) => "INT",
            AttrValue::String(_) => "STRING",
            AttrValue::Tensor(_) => "TENSOR",
            AttrValue::Graph(_) => "GRAPH",
            AttrValue::SparseTensor(_) => "SPARSE_TENSOR",
            AttrValue::Type(_) => "TYPE_PROTO",
            AttrValue::Floats(_) => "FLOATS",
            AttrValue::Ints(_) => "INTS",
            AttrValue::Strings(_) => "STRINGS",
            AttrValue::Tensors(_) => "TENSORS",
            AttrValue::Graphs(_) => "GRAPHS",
            AttrValue::SparseTensors(_) => "SPARSE_TENSORS",
            AttrValue::Types(_) => "TYPE_PROTOS",
        }
    }

    /// The nested graphs this value holds.
    pub fn graphs(&self) -> &[Graph] {
        match self {
            AttrValue::Graph(g) => std::slice::from_ref(&**g),
            AttrValue::Graphs(gs) => gs,
            _ => &[],
        }
    }

    /// The nested graphs this value holds, mutably.
    pub fn graphs_mut(&mut self) -> &mut [Graph] {
        match self {
            AttrValue::Graph(g) => std::slice::from_mut(&mut **g),
            AttrValue::Graphs(gs) => gs,
            _ => &mut [],
        }
    }
}
