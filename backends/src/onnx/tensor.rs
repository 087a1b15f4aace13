//! IR tensors and types → ONNX `TensorProto`, `SparseTensorProto` and `TypeProto`.

use nnslim_ir::{Dim, Tensor, TensorData, TensorType, Type};
use nnslim_proto::onnx;
use onnx::type_proto::Value as TypeValue;

/// A dense or string tensor as a `TensorProto` named `name`; numeric data goes to `raw_data`
/// (shared, not copied).
pub fn tensor_to_proto(name: &str, t: &Tensor) -> onnx::TensorProto {
    let mut p = onnx::TensorProto {
        dims: t.dims.clone(),
        data_type: Some(t.dtype.onnx_code()),
        name: (!name.is_empty()).then(|| name.to_string()),
        doc_string: (!t.doc_string.is_empty()).then(|| t.doc_string.clone()),
        ..Default::default()
    };
    match &t.data {
        TensorData::Dense(raw) => p.raw_data = Some(raw.clone()),
        TensorData::Strings(s) => p.string_data = s.as_ref().clone(),
        // A sparse tensor asked for as dense is written through `sparse_to_proto` instead.
        TensorData::Sparse(sp) => return tensor_to_proto(name, &sp.values),
    }
    p
}

/// A sparse tensor as a `SparseTensorProto` (values named `name`).
pub fn sparse_to_proto(name: &str, t: &Tensor) -> onnx::SparseTensorProto {
    match &t.data {
        TensorData::Sparse(sp) => onnx::SparseTensorProto {
            values: Some(tensor_to_proto(name, &sp.values)),
            indices: Some(tensor_to_proto("", &sp.indices)),
            dims: t.dims.clone(),
        },
        _ => onnx::SparseTensorProto {
            values: Some(tensor_to_proto(name, t)),
            indices: None,
            dims: t.dims.clone(),
        },
    }
}

/// A value type as a `TypeProto` (`Type::Unknown` → a `TypeProto` with no value).
pub fn type_to_proto(t: &Type) -> onnx::TypeProto {
    let boxed = |t: &Type| Some(Box::new(type_to_proto(t)));
    let value = match t {
        Type::Unknown => None,
        Type::Tensor(tt) => Some(TypeValue::TensorType(onnx::type_proto::Tensor {
            elem_type: Some(tt.dtype.onnx_code()),
            shape: shape_to_proto(tt),
        })),
        Type::SparseTensor(tt) => Some(TypeValue::SparseTensorType(
            onnx::type_proto::SparseTensor {
                elem_type: Some(tt.dtype.onnx_code()),
                shape: shape_to_proto(tt),
            },
        )),
        Type::Sequence(e) => Some(TypeValue::SequenceType(Box::new(
            onnx::type_proto::Sequence {
                elem_type: boxed(e),
            },
        ))),
        Type::Optional(e) => Some(TypeValue::OptionalType(Box::new(
            onnx::type_proto::Optional {
                elem_type: boxed(e),
            },
        ))),
        Type::Map(k, v) => Some(TypeValue::MapType(Box::new(onnx::type_proto::Map {
            key_type: Some(k.onnx_code()),
            value_type: boxed(v),
        }))),
        Type::Opaque(d, n) => Some(TypeValue::OpaqueType(onnx::type_proto::Opaque {
            domain: Some(d.clone()),
            name: Some(n.clone()),
        })),
    };
    onnx::TypeProto {
        value,
        denotation: None,
    }
}

fn shape_to_proto(tt: &TensorType) -> Option<onnx::TensorShapeProto> {
    use onnx::tensor_shape_proto::{Dimension, dimension::Value};
    tt.shape.as_ref().map(|dims| onnx::TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| Dimension {
                value: match d {
                    Dim::Known(v) => Some(Value::DimValue(*v)),
                    Dim::Symbol(s) => Some(Value::DimParam(s.clone())),
                    Dim::Unknown => None,
                },
                denotation: None,
            })
            .collect(),
    })
}
