//! Runtime arrays: a shape plus typed element storage, converted from and to IR tensors.

use bytes::Bytes;
use half::{bf16, f16};
use nnslim_ir::{DType, Tensor, TensorData};
use std::sync::Arc;

/// Typed element storage in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    Str(Vec<Vec<u8>>),
    /// Types the interpreter stores but does not compute on (float8, int4, complex, ...):
    /// packed little-endian bytes as in ONNX `raw_data`.
    Packed(DType, Bytes),
}

/// A dense n-dimensional array.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Calls `$body` with `$v` bound to the typed `Vec` of every numeric variant (not bool,
/// strings or packed types; those go to `$other`).
#[macro_export]
macro_rules! for_numeric {
    ($data:expr, $v:ident => $body:expr, $other:pat => $fallback:expr) => {
        match $data {
            $crate::Data::F32($v) => $body,
            $crate::Data::F64($v) => $body,
            $crate::Data::F16($v) => $body,
            $crate::Data::BF16($v) => $body,
            $crate::Data::I8($v) => $body,
            $crate::Data::I16($v) => $body,
            $crate::Data::I32($v) => $body,
            $crate::Data::I64($v) => $body,
            $crate::Data::U8($v) => $body,
            $crate::Data::U16($v) => $body,
            $crate::Data::U32($v) => $body,
            $crate::Data::U64($v) => $body,
            $other => $fallback,
        }
    };
}

macro_rules! data_from_vec {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<Vec<$t>> for Data {
            fn from(v: Vec<$t>) -> Data {
                Data::$v(v)
            }
        })*
    };
}

data_from_vec!(
    f32 => F32, f64 => F64, f16 => F16, bf16 => BF16, i8 => I8, i16 => I16, i32 => I32,
    i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64, bool => Bool, Vec<u8> => Str,
);

/// Why an IR tensor cannot become an array.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArrayError {
    #[error("tensor is sparse; densify it first")]
    Sparse,
    #[error("{0}")]
    Tensor(#[from] nnslim_ir::TensorError),
    #[error("shape {shape:?} holds {want} elements but the data has {got}")]
    Length {
        shape: Vec<usize>,
        want: usize,
        got: usize,
    },
}

fn le<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

impl Data {
    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::F16(_) => DType::F16,
            Data::BF16(_) => DType::BF16,
            Data::I8(_) => DType::I8,
            Data::I16(_) => DType::I16,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::U8(_) => DType::U8,
            Data::U16(_) => DType::U16,
            Data::U32(_) => DType::U32,
            Data::U64(_) => DType::U64,
            Data::Bool(_) => DType::Bool,
            Data::Str(_) => DType::String,
            Data::Packed(d, _) => *d,
        }
    }

    /// Number of elements (for packed types: as many as fit the bytes; callers keep the shape).
    pub fn len(&self) -> usize {
        for_numeric!(self, v => v.len(), other => match other {
            Data::Bool(v) => v.len(),
            Data::Str(v) => v.len(),
            Data::Packed(d, b) => (b.len() * 8).checked_div(d.bits()).unwrap_or(0),
            _ => 0,
        })
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes ONNX `raw_data` layout bytes of `dtype`.
    pub fn from_le_bytes(dtype: DType, raw: &Bytes) -> Data {
        match dtype {
            DType::F32 => Data::F32(le(raw, f32::from_le_bytes)),
            DType::F64 => Data::F64(le(raw, f64::from_le_bytes)),
            DType::F16 => Data::F16(le(raw, f16::from_le_bytes)),
            DType::BF16 => Data::BF16(le(raw, bf16::from_le_bytes)),
            DType::I8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
            DType::I16 => Data::I16(le(raw, i16::from_le_bytes)),
            DType::I32 => Data::I32(le(raw, i32::from_le_bytes)),
            DType::I64 => Data::I64(le(raw, i64::from_le_bytes)),
            DType::U8 => Data::U8(raw.to_vec()),
            DType::U16 => Data::U16(le(raw, u16::from_le_bytes)),
            DType::U32 => Data::U32(le(raw, u32::from_le_bytes)),
            DType::U64 => Data::U64(le(raw, u64::from_le_bytes)),
            DType::Bool => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
            other => Data::Packed(other, raw.clone()),
        }
    }

    /// Encodes to ONNX `raw_data` layout.
    pub fn to_le_bytes(&self) -> Bytes {
        fn cat<T, const N: usize>(v: &[T], f: impl Fn(&T) -> [u8; N]) -> Bytes {
            Bytes::from(v.iter().flat_map(f).collect::<Vec<u8>>())
        }
        match self {
            Data::F32(v) => cat(v, |x| x.to_le_bytes()),
            Data::F64(v) => cat(v, |x| x.to_le_bytes()),
            Data::F16(v) => cat(v, |x| x.to_le_bytes()),
            Data::BF16(v) => cat(v, |x| x.to_le_bytes()),
            Data::I8(v) => cat(v, |x| x.to_le_bytes()),
            Data::I16(v) => cat(v, |x| x.to_le_bytes()),
            Data::I32(v) => cat(v, |x| x.to_le_bytes()),
            Data::I64(v) => cat(v, |x| x.to_le_bytes()),
            Data::U8(v) => Bytes::from(v.clone()),
            Data::U16(v) => cat(v, |x| x.to_le_bytes()),
            Data::U32(v) => cat(v, |x| x.to_le_bytes()),
            Data::U64(v) => cat(v, |x| x.to_le_bytes()),
            Data::Bool(v) => Bytes::from(v.iter().map(|&b| b as u8).collect::<Vec<u8>>()),
            Data::Str(_) => Bytes::new(),
            Data::Packed(_, b) => b.clone(),
        }
    }
}

impl Array {
    /// An array from a shape and data; checks the element count.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Array, ArrayError> {
        let want = shape.iter().product::<usize>();
        let got = data.len();
        let packed = matches!(data, Data::Packed(..));
        if (!packed && want != got) || (packed && got < want) {
            return Err(ArrayError::Length { shape, want, got });
        }
        Ok(Array { shape, data })
    }

    /// An f32 array (panics only on a programming error: shape and length must agree).
    pub fn f32(shape: Vec<usize>, v: Vec<f32>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), v.len());
        Array {
            shape,
            data: Data::F32(v),
        }
    }

    /// An i64 array.
    pub fn i64(shape: Vec<usize>, v: Vec<i64>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), v.len());
        Array {
            shape,
            data: Data::I64(v),
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The f32 elements, if this is an f32 array.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Elements converted to i64 (integers and bool), for shape-like inputs.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match &self.data {
            Data::I64(v) => v.clone(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U64(v) => v.iter().map(|&x| x as i64).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            _ => return None,
        })
    }

    /// Elements converted to f32 (floats and integers), for computing in f32.
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        Some(match &self.data {
            Data::F32(v) => v.clone(),
            Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::F16(v) => {
                let mut out = vec![0f32; v.len()];
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(&v[..], &mut out);
                out
            }
            Data::BF16(v) => {
                let mut out = vec![0f32; v.len()];
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(&v[..], &mut out);
                out
            }
            Data::I8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I16(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U16(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as u8 as f32).collect(),
            Data::Str(_) | Data::Packed(..) => return None,
        })
    }

    /// Rows `range` of the first axis (the whole array for a rank-0 or packed one).
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Array {
        let row: usize = self.shape.iter().skip(1).product();
        let (lo, hi) = (range.start * row, range.end * row);
        let mut shape = self.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = range.len();
        }
        let data = crate::for_numeric!(&self.data, v => {
            let v: Vec<_> = v[lo..hi].to_vec();
            v.into()
        }, other => match other {
            Data::Bool(v) => Data::Bool(v[lo..hi].to_vec()),
            Data::Str(v) => Data::Str(v[lo..hi].to_vec()),
            Data::Packed(..) => return self.clone(),
            _ => unreachable!("for_numeric covers the numeric variants"),
        });
        Array { shape, data }
    }

    /// The array of an IR tensor (dense or strings).
    pub fn from_tensor(t: &Tensor) -> Result<Array, ArrayError> {
        t.check()?;
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let data = match &t.data {
            TensorData::Dense(raw) => Data::from_le_bytes(t.dtype, raw),
            TensorData::Strings(s) => Data::Str(s.as_ref().clone()),
            TensorData::Sparse(_) => return Err(ArrayError::Sparse),
        };
        Array::new(shape, data)
    }

    /// The IR tensor of this array.
    pub fn to_tensor(&self) -> Tensor {
        let dims = self.shape.iter().map(|&d| d as i64).collect();
        let data = match &self.data {
            Data::Str(s) => TensorData::Strings(Arc::new(s.clone())),
            d => TensorData::Dense(d.to_le_bytes()),
        };
        Tensor {
            dtype: self.dtype(),
            dims,
            data,
            doc_string: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_round_trip() {
        for dtype in [
            DType::F32,
            DType::I64,
            DType::U8,
            DType::F16,
            DType::Bool,
            DType::I4,
        ] {
            let n = 6u64;
            let bytes = dtype.storage_bytes(n).unwrap() as usize;
            let raw: Vec<u8> = (0..bytes as u8).map(|b| b % 2).collect();
            let t = Tensor::from_raw(dtype, vec![2, 3], Bytes::from(raw)).unwrap();
            let a = Array::from_tensor(&t).unwrap();
            assert_eq!(a.shape, vec![2, 3]);
            assert_eq!(a.dtype(), dtype);
            assert_eq!(a.to_tensor(), t, "{dtype}");
        }
    }

    #[test]
    fn length_is_checked() {
        assert!(Array::new(vec![2, 2], Data::F32(vec![1.0])).is_err());
        let a = Array::new(vec![3], Data::I32(vec![1, 2, 3])).unwrap();
        assert_eq!(a.to_i64_vec().unwrap(), vec![1, 2, 3]);
        assert_eq!(a.to_f32_vec().unwrap(), vec![1.0, 2.0, 3.0]);
    }
}
