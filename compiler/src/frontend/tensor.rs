//! ONNX `TensorProto` / `SparseTensorProto` / `TypeProto` → IR tensors and types.

use super::external::{ExternalData, ExternalError};
use bytes::Bytes;
use nnslim_ir::{DType, Dim, Tensor, TensorData, TensorError, TensorType, Type};
use nnslim_proto::onnx;
use nnslim_proto::onnx::type_proto::Value as TypeValue;
use std::sync::Arc;

/// Why a tensor or type could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TensorReadError {
    #[error("unknown data type code {0}")]
    UnknownDType(i32),
    #[error(transparent)]
    Shape(#[from] TensorError),
    #[error(transparent)]
    External(#[from] ExternalError),
    #[error("sparse tensor has no {0}")]
    SparseMissing(&'static str),
    #[error("{field} holds {got} values but {want} are needed")]
    FieldCount {
        field: &'static str,
        want: u64,
        got: u64,
    },
    #[error("dimension {0} of the shape is negative")]
    NegativeDim(i64),
    #[error("nested types deeper than {0} levels")]
    TooDeep(usize),
}

/// The IR element type for an ONNX data-type code.
pub fn dtype(code: i32) -> Result<DType, TensorReadError> {
    DType::from_onnx(code).ok_or(TensorReadError::UnknownDType(code))
}

/// Reads a dense tensor (inline fields, `raw_data`, or external data).
pub fn read_tensor(
    t: &onnx::TensorProto,
    ext: &mut ExternalData,
) -> Result<Tensor, TensorReadError> {
    let dt = dtype(t.data_type())?;
    let dims = t.dims.clone();
    let n = nnslim_ir::element_count(&dims)?;
    let external = t.data_location() == onnx::tensor_proto::DataLocation::External;
    let data = if dt == DType::String {
        if t.string_data.len() as u64 != n {
            return Err(TensorReadError::FieldCount {
                field: "string_data",
                want: n,
                got: t.string_data.len() as u64,
            });
        }
        TensorData::Strings(Arc::new(t.string_data.clone()))
    } else if external {
        let entries: Vec<(String, String)> = t
            .external_data
            .iter()
            .map(|e| (e.key().to_string(), e.value().to_string()))
            .collect();
        TensorData::Dense(ext.read(&entries)?)
    } else if let Some(raw) = &t.raw_data {
        TensorData::Dense(raw.clone())
    } else {
        TensorData::Dense(typed_fields(t, dt, n)?)
    };
    let tensor = Tensor {
        dtype: dt,
        dims,
        data,
        doc_string: t.doc_string().to_string(),
    };
    tensor.check()?;
    Ok(tensor)
}

/// Packs the typed repeated fields (`float_data`, `int32_data`, ...) into raw little-endian bytes.
fn typed_fields(t: &onnx::TensorProto, dt: DType, n: u64) -> Result<Bytes, TensorReadError> {
    use DType::*;
    let count = |field: &'static str, got: usize, want: u64| {
        if got as u64 == want {
            Ok(())
        } else {
            Err(TensorReadError::FieldCount {
                field,
                want,
                got: got as u64,
            })
        }
    };
    let mut out = Vec::new();
    match dt {
        F32 => {
            count("float_data", t.float_data.len(), n)?;
            t.float_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        Complex64 => {
            count("float_data", t.float_data.len(), n.saturating_mul(2))?;
            t.float_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        F64 => {
            count("double_data", t.double_data.len(), n)?;
            t.double_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        Complex128 => {
            count("double_data", t.double_data.len(), n.saturating_mul(2))?;
            t.double_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        I64 => {
            count("int64_data", t.int64_data.len(), n)?;
            t.int64_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        U32 => {
            count("uint64_data", t.uint64_data.len(), n)?;
            t.uint64_data
                .iter()
                .for_each(|v| out.extend((*v as u32).to_le_bytes()));
        }
        U64 => {
            count("uint64_data", t.uint64_data.len(), n)?;
            t.uint64_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        I32 => {
            count("int32_data", t.int32_data.len(), n)?;
            t.int32_data
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        I16 | U16 | F16 | BF16 => {
            count("int32_data", t.int32_data.len(), n)?;
            t.int32_data
                .iter()
                .for_each(|v| out.extend((*v as u16).to_le_bytes()));
        }
        I8 | U8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 => {
            count("int32_data", t.int32_data.len(), n)?;
            out.extend(t.int32_data.iter().map(|v| *v as u8));
        }
        // Sub-byte types: each int32 holds one already-packed byte.
        U4 | I4 | F4E2M1 | U2 | I2 => {
            let want = dt.storage_bytes(n).unwrap_or(0);
            count("int32_data", t.int32_data.len(), want)?;
            out.extend(t.int32_data.iter().map(|v| *v as u8));
        }
        // 6-bit types: one code per int32, packed here LSB-first.
        F6E2M3 | F6E3M2 => {
            count("int32_data", t.int32_data.len(), n)?;
            let mut acc: u32 = 0;
            let mut bits = 0;
            for v in &t.int32_data {
                acc |= ((*v as u32) & 0x3f) << bits;
                bits += 6;
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
            if bits > 0 {
                out.push(acc as u8);
            }
        }
        String | Undefined => return Err(TensorReadError::UnknownDType(dt.onnx_code())),
    }
    Ok(Bytes::from(out))
}

/// Reads a sparse tensor: values, indices and the dense shape.
pub fn read_sparse(
    s: &onnx::SparseTensorProto,
    ext: &mut ExternalData,
) -> Result<Tensor, TensorReadError> {
    let values = read_tensor(
        s.values
            .as_ref()
            .ok_or(TensorReadError::SparseMissing("values"))?,
        ext,
    )?;
    let indices = read_tensor(
        s.indices
            .as_ref()
            .ok_or(TensorReadError::SparseMissing("indices"))?,
        ext,
    )?;
    nnslim_ir::element_count(&s.dims)?;
    Ok(Tensor {
        dtype: values.dtype,
        dims: s.dims.clone(),
        doc_string: String::new(),
        data: TensorData::Sparse(Arc::new(nnslim_ir::SparseData { values, indices })),
    })
}

/// The name a sparse tensor goes by (its values tensor's name).
pub fn sparse_name(s: &onnx::SparseTensorProto) -> &str {
    s.values.as_ref().map(|v| v.name()).unwrap_or("")
}

const MAX_TYPE_DEPTH: usize = 64;

/// Reads a value type. A `TypeProto` with no value is `Type::Unknown`.
pub fn read_type(t: &onnx::TypeProto) -> Result<Type, TensorReadError> {
    read_type_at(t, 0)
}

fn read_type_at(t: &onnx::TypeProto, depth: usize) -> Result<Type, TensorReadError> {
    if depth > MAX_TYPE_DEPTH {
        return Err(TensorReadError::TooDeep(MAX_TYPE_DEPTH));
    }
    let inner = |e: &Option<Box<onnx::TypeProto>>| -> Result<Type, TensorReadError> {
        e.as_deref()
            .map(|t| read_type_at(t, depth + 1))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(match &t.value {
        None => Type::Unknown,
        Some(TypeValue::TensorType(tt)) => Type::Tensor(tensor_type(tt.elem_type(), &tt.shape)?),
        Some(TypeValue::SparseTensorType(tt)) => {
            Type::SparseTensor(tensor_type(tt.elem_type(), &tt.shape)?)
        }
        Some(TypeValue::SequenceType(s)) => Type::Sequence(Box::new(inner(&s.elem_type)?)),
        Some(TypeValue::OptionalType(s)) => Type::Optional(Box::new(inner(&s.elem_type)?)),
        Some(TypeValue::MapType(m)) => {
            Type::Map(dtype(m.key_type())?, Box::new(inner(&m.value_type)?))
        }
        Some(TypeValue::OpaqueType(o)) => {
            Type::Opaque(o.domain().to_string(), o.name().to_string())
        }
    })
}

fn tensor_type(
    elem: i32,
    shape: &Option<onnx::TensorShapeProto>,
) -> Result<TensorType, TensorReadError> {
    use onnx::tensor_shape_proto::dimension::Value;
    let shape = shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(Value::DimValue(v)) if *v < 0 => Err(TensorReadError::NegativeDim(*v)),
                    Some(Value::DimValue(v)) => Ok(Dim::Known(*v)),
                    Some(Value::DimParam(p)) => Ok(Dim::Symbol(p.clone())),
                    None => Ok(Dim::Unknown),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(TensorType {
        dtype: dtype(elem)?,
        shape,
    })
}
