//! Constant tensors: element type, dims and shared little-endian storage (dense, string or sparse).

use crate::DType;
use bytes::Bytes;
use std::sync::Arc;

/// How a tensor's elements are stored.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Packed little-endian elements in ONNX `raw_data` layout (sub-byte types packed low nibble first).
    /// `Bytes` shares the storage: cloning a graph copies no weights, and memory-mapped external
    /// data stays mapped.
    Dense(Bytes),
    /// One byte string per element (`DType::String`).
    Strings(Arc<Vec<Vec<u8>>>),
    /// COO sparse storage: `values` is a 1-D tensor of the non-zeros, `indices` an int64 tensor of
    /// shape `[nnz]` (linearised) or `[nnz, rank]`.
    Sparse(Arc<SparseData>),
}

/// Values and indices of a sparse tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseData {
    pub values: Tensor,
    pub indices: Tensor,
}

/// A constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub dims: Vec<i64>,
    pub data: TensorData,
    /// Free text carried from the file.
    pub doc_string: String,
}

/// A tensor whose storage does not match its type and dims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    #[error("negative dimension {0}")]
    NegativeDim(i64),
    #[error("element count overflows")]
    Overflow,
    #[error("holds {got} bytes but {dtype} {dims:?} needs {want}")]
    ByteCount {
        dtype: DType,
        dims: Vec<i64>,
        want: u64,
        got: u64,
    },
    #[error("holds {got} strings but dims {dims:?} need {want}")]
    StringCount { dims: Vec<i64>, want: u64, got: u64 },
    #[error("element type {0} cannot be stored densely")]
    NoDenseLayout(DType),
    #[error("expected element type {want}, found {got}")]
    WrongType { want: &'static str, got: DType },
}

/// Number of elements of a shape, checking for negative dims and overflow.
pub fn element_count(dims: &[i64]) -> Result<u64, TensorError> {
    dims.iter().try_fold(1u64, |acc, &d| {
        let d = u64::try_from(d).map_err(|_| TensorError::NegativeDim(d))?;
        acc.checked_mul(d).ok_or(TensorError::Overflow)
    })
}

impl Tensor {
    /// A dense tensor from raw little-endian bytes, checked against dtype and dims.
    pub fn from_raw(dtype: DType, dims: Vec<i64>, raw: Bytes) -> Result<Tensor, TensorError> {
        let t = Tensor {
            dtype,
            dims,
            data: TensorData::Dense(raw),
            doc_string: String::new(),
        };
        t.check()?;
        Ok(t)
    }

    /// A dense f32 tensor.
    pub fn from_f32(dims: Vec<i64>, values: &[f32]) -> Result<Tensor, TensorError> {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_raw(DType::F32, dims, Bytes::from(raw))
    }

    /// A dense i64 tensor.
    pub fn from_i64(dims: Vec<i64>, values: &[i64]) -> Result<Tensor, TensorError> {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_raw(DType::I64, dims, Bytes::from(raw))
    }

    /// Checks that the storage holds exactly what dtype and dims call for.
    pub fn check(&self) -> Result<(), TensorError> {
        let n = element_count(&self.dims)?;
        match &self.data {
            TensorData::Dense(raw) => {
                let want = self
                    .dtype
                    .storage_bytes(n)
                    .ok_or(TensorError::NoDenseLayout(self.dtype))?;
                let got = raw.len() as u64;
                if want != got {
                    return Err(TensorError::ByteCount {
                        dtype: self.dtype,
                        dims: self.dims.clone(),
                        want,
                        got,
                    });
                }
            }
            TensorData::Strings(s) => {
                if s.len() as u64 != n {
                    return Err(TensorError::StringCount {
                        dims: self.dims.clone(),
                        want: n,
                        got: s.len() as u64,
                    });
                }
            }
            TensorData::Sparse(sp) => {
                sp.values.check()?;
                sp.indices.check()?;
            }
        }
        Ok(())
    }

    /// Number of elements (the dims were checked when the tensor was made).
    pub fn len(&self) -> u64 {
        element_count(&self.dims).unwrap_or(0)
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dense raw bytes, if stored densely.
    pub fn raw(&self) -> Option<&Bytes> {
        match &self.data {
            TensorData::Dense(b) => Some(b),
            _ => None,
        }
    }

    /// Bytes of storage (dense: raw size; strings: total length; sparse: values + indices).
    pub fn storage_size(&self) -> u64 {
        match &self.data {
            TensorData::Dense(b) => b.len() as u64,
            TensorData::Strings(s) => s.iter().map(|x| x.len() as u64).sum(),
            TensorData::Sparse(sp) => sp.values.storage_size() + sp.indices.storage_size(),
        }
    }

    /// Elements as i64, for integer tensors (shape, axes, pads inputs and the like).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, TensorError> {
        let raw = self.dense_of(&[
            DType::I64,
            DType::I32,
            DType::I16,
            DType::I8,
            DType::U8,
            DType::U16,
            DType::U32,
            DType::U64,
            DType::Bool,
        ])?;
        Ok(match self.dtype {
            DType::I64 | DType::U64 => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::I32 => raw
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as i64)
                .collect(),
            DType::U32 => raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as i64)
                .collect(),
            DType::I16 => raw
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::U16 => raw
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DType::I8 => raw.iter().map(|&b| b as i8 as i64).collect(),
            _ => raw.iter().map(|&b| b as i64).collect(),
        })
    }

    /// Elements as f32, for f32/f64/f16/bf16 tensors.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>, TensorError> {
        let raw = self.dense_of(&[DType::F32, DType::F64, DType::F16, DType::BF16])?;
        Ok(match self.dtype {
            DType::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            DType::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            _ => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        })
    }

    fn dense_of(&self, allowed: &[DType]) -> Result<&Bytes, TensorError> {
        match (&self.data, allowed.contains(&self.dtype)) {
            (TensorData::Dense(b), true) => Ok(b),
            _ => Err(TensorError::WrongType {
                want: "a dense numeric tensor",
                got: self.dtype,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_sizes() {
        assert!(Tensor::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]).is_ok());
        assert!(matches!(
            Tensor::from_f32(vec![2, 3], &[1.0]),
            Err(TensorError::ByteCount {
                want: 24,
                got: 4,
                ..
            })
        ));
        assert_eq!(element_count(&[-1, 2]), Err(TensorError::NegativeDim(-1)));
        assert_eq!(element_count(&[i64::MAX, 4]), Err(TensorError::Overflow));
    }

    #[test]
    fn reads_ints_and_floats() {
        let t = Tensor::from_i64(vec![3], &[1, -2, 3]).unwrap();
        assert_eq!(t.to_i64_vec().unwrap(), vec![1, -2, 3]);
        let f = Tensor::from_f32(vec![2], &[0.5, -1.0]).unwrap();
        assert_eq!(f.to_f32_vec().unwrap(), vec![0.5, -1.0]);
        assert!(f.to_i64_vec().is_err());
    }
}
