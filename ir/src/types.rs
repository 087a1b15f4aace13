//! Value types: tensor element type plus shape with static, symbolic or unknown dimensions,
//! and the container types (sequence, map, optional) ONNX values can have.

use crate::DType;
use std::fmt;

/// One dimension of a shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// A static size.
    Known(i64),
    /// A named symbolic size such as a dynamic batch `N`; equal names are equal sizes.
    Symbol(String),
    /// A size nothing is known about.
    Unknown,
}

impl Dim {
    /// The static size, if known.
    pub fn known(&self) -> Option<i64> {
        match self {
            Dim::Known(v) => Some(*v),
            _ => None,
        }
    }
}

impl From<i64> for Dim {
    fn from(v: i64) -> Dim {
        Dim::Known(v)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(v) => write!(f, "{v}"),
            Dim::Symbol(s) => write!(f, "{s}"),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A shape: `None` rank means the rank itself is unknown.
pub type Shape = Vec<Dim>;

/// Element type and (possibly unknown) shape of a tensor value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    /// `None` when even the rank is unknown.
    pub shape: Option<Shape>,
}

impl TensorType {
    /// A tensor type with a fully static shape.
    pub fn fixed(dtype: DType, dims: &[i64]) -> TensorType {
        TensorType {
            dtype,
            shape: Some(dims.iter().map(|&d| Dim::Known(d)).collect()),
        }
    }

    /// The static dims, if every dim is known.
    pub fn static_dims(&self) -> Option<Vec<i64>> {
        self.shape.as_ref()?.iter().map(Dim::known).collect()
    }

    /// Rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(Vec::len)
    }
}

/// The type of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Type {
    /// Nothing is known (not even that it is a tensor).
    #[default]
    Unknown,
    Tensor(TensorType),
    SparseTensor(TensorType),
    Sequence(Box<Type>),
    Map(DType, Box<Type>),
    Optional(Box<Type>),
    /// ONNX opaque type (domain, name).
    Opaque(String, String),
}

impl Type {
    /// A tensor type of the given dtype and shape.
    pub fn tensor(dtype: DType, shape: Option<Shape>) -> Type {
        Type::Tensor(TensorType { dtype, shape })
    }

    /// The tensor type, if this is a dense tensor.
    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// Element type of a dense or sparse tensor.
    pub fn dtype(&self) -> Option<DType> {
        match self {
            Type::Tensor(t) | Type::SparseTensor(t) => Some(t.dtype),
            _ => None,
        }
    }

    /// Shape of a dense tensor, if its rank is known.
    pub fn shape(&self) -> Option<&Shape> {
        self.as_tensor().and_then(|t| t.shape.as_ref())
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dtype)?;
        match &self.shape {
            None => f.write_str("[*]"),
            Some(dims) => {
                f.write_str("[")?;
                for (i, d) in dims.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{d}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Unknown => f.write_str("?"),
            Type::Tensor(t) => write!(f, "{t}"),
            Type::SparseTensor(t) => write!(f, "sparse<{t}>"),
            Type::Sequence(t) => write!(f, "seq<{t}>"),
            Type::Map(k, v) => write!(f, "map<{k},{v}>"),
            Type::Optional(t) => write!(f, "opt<{t}>"),
            Type::Opaque(d, n) => write!(f, "opaque<{d}.{n}>"),
        }
    }
}
