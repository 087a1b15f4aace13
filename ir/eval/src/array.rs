//! Runtime arrays: a shape plus typed element storage, converted from and to IR tensors.

use bytes::Bytes;
use half::{bf16, f16};
use nnslim_ir::{DType, SparseData, Tensor, TensorData, element_count};
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
    /// A sparse tensor whose values or indices do not describe its dense shape.
    #[error("sparse tensor {dims:?}: {message}")]
    Sparse { dims: Vec<i64>, message: String },
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

    /// The array of an IR tensor: dense, strings, or COO sparse (densified: see
    /// [`densify`]).
    pub fn from_tensor(t: &Tensor) -> Result<Array, ArrayError> {
        t.check()?;
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let data = match &t.data {
            TensorData::Dense(raw) => Data::from_le_bytes(t.dtype, raw),
            TensorData::Strings(s) => Data::Str(s.as_ref().clone()),
            TensorData::Sparse(sp) => Data::from_le_bytes(t.dtype, &densify(t, sp)?),
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

/// Largest dense size a sparse tensor may expand to (its dims are not bounded by the file size).
pub const MAX_DENSIFIED_BYTES: u64 = 4 << 30;

/// The dense little-endian bytes of a COO sparse tensor `t` with storage `sp`, as ONNX defines
/// it: `values` is a 1-D tensor of the `NNZ` stored elements (of `t`'s element type), `indices`
/// an integer tensor of shape `[NNZ]` (linear row-major positions) or `[NNZ, rank]`
/// (coordinates); every other element is zero. Each index is bounds-checked; a position given
/// twice keeps the last value. Element types without a whole-byte layout (int4, strings) are
/// refused.
pub fn densify(t: &Tensor, sp: &SparseData) -> Result<Bytes, ArrayError> {
    let err = |message: String| ArrayError::Sparse {
        dims: t.dims.clone(),
        message,
    };
    let bits = t.dtype.bits();
    if bits == 0 || !bits.is_multiple_of(8) || t.dtype == DType::String {
        return Err(err(format!(
            "element type {} has no whole-byte dense layout",
            t.dtype
        )));
    }
    if sp.values.dtype != t.dtype {
        return Err(err(format!(
            "values are {} but the tensor is {}",
            sp.values.dtype, t.dtype
        )));
    }
    let Some(values) = sp.values.raw() else {
        return Err(err("values are not stored densely".into()));
    };
    if sp.values.dims.len() != 1 {
        return Err(err(format!(
            "values must be 1-D, found dims {:?}",
            sp.values.dims
        )));
    }
    let width = bits / 8;
    let nnz = values.len() / width;
    let n = element_count(&t.dims)?;
    let bytes = n
        .checked_mul(width as u64)
        .filter(|&b| b <= MAX_DENSIFIED_BYTES)
        .ok_or_else(|| {
            err(format!(
                "densified size exceeds {MAX_DENSIFIED_BYTES} bytes"
            ))
        })?;
    let idx = sp
        .indices
        .to_i64_vec()
        .map_err(|e| err(format!("indices: {e}")))?;
    let rank = t.dims.len();
    let coords = match sp.indices.dims.as_slice() {
        [k] if *k as usize == nnz => false,
        [k, r] if *k as usize == nnz && *r as usize == rank => true,
        d => {
            return Err(err(format!(
                "indices have dims {d:?}; expected [{nnz}] or [{nnz}, {rank}]"
            )));
        }
    };
    let mut dense = vec![0u8; bytes as usize];
    for j in 0..nnz {
        let at = if coords {
            let c = &idx[j * rank..(j + 1) * rank];
            let mut at = 0u64;
            for (axis, (&i, &d)) in c.iter().zip(&t.dims).enumerate() {
                if i < 0 || i >= d {
                    return Err(err(format!(
                        "index {j}: coordinate {i} out of bounds for axis {axis} of size {d}"
                    )));
                }
                // In bounds on every axis, so the position is below `n` (no overflow).
                at = at * d as u64 + i as u64;
            }
            at
        } else {
            let i = idx[j];
            if i < 0 || i as u64 >= n {
                return Err(err(format!(
                    "index {j}: position {i} out of bounds for {n} elements"
                )));
            }
            i as u64
        };
        let at = at as usize * width;
        dense[at..at + width].copy_from_slice(&values[j * width..(j + 1) * width]);
    }
    Ok(Bytes::from(dense))
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

    fn sparse(dtype: DType, dims: Vec<i64>, values: Tensor, indices: Tensor) -> Tensor {
        Tensor {
            dtype,
            dims,
            data: TensorData::Sparse(Arc::new(SparseData { values, indices })),
            doc_string: String::new(),
        }
    }

    #[test]
    fn sparse_tensors_are_densified() {
        let values = Tensor::from_f32(vec![3], &[1.5, -2.0, 3.0]).unwrap();
        // Linear indices [NNZ].
        let linear = Tensor::from_i64(vec![3], &[0, 5, 10]).unwrap();
        let a =
            Array::from_tensor(&sparse(DType::F32, vec![3, 4], values.clone(), linear)).unwrap();
        assert_eq!(a.shape, vec![3, 4]);
        let mut want = vec![0f32; 12];
        want[0] = 1.5;
        want[5] = -2.0;
        want[10] = 3.0;
        assert_eq!(a.as_f32().unwrap(), want.as_slice());
        // The same tensor as coordinates [NNZ, rank].
        let coords = Tensor::from_i64(vec![3, 2], &[0, 0, 1, 1, 2, 2]).unwrap();
        let b = Array::from_tensor(&sparse(DType::F32, vec![3, 4], values, coords)).unwrap();
        assert_eq!(a, b);
        // int8 values, as a quantized weight stores them.
        let v8 = Tensor::from_raw(DType::I8, vec![2], Bytes::from(vec![0xff, 7])).unwrap();
        let i8s = Tensor::from_i64(vec![2], &[1, 3]).unwrap();
        let c = Array::from_tensor(&sparse(DType::I8, vec![4], v8, i8s)).unwrap();
        assert_eq!(c.data, Data::I8(vec![0, -1, 0, 7]));
    }

    #[test]
    fn sparse_indices_are_checked() {
        let values = Tensor::from_f32(vec![2], &[1.0, 2.0]).unwrap();
        let bad = [
            (
                Tensor::from_i64(vec![2], &[0, 6]).unwrap(),
                "out of bounds for 6",
            ),
            (Tensor::from_i64(vec![2], &[-1, 0]).unwrap(), "position -1"),
            (
                Tensor::from_i64(vec![2, 2], &[0, 0, 2, 0]).unwrap(),
                "coordinate 2 out of bounds for axis 0",
            ),
            (
                Tensor::from_i64(vec![2, 3], &[0; 6]).unwrap(),
                "expected [2] or [2, 2]",
            ),
            (Tensor::from_f32(vec![2], &[0.0, 1.0]).unwrap(), "indices"),
        ];
        for (indices, want) in bad {
            let t = sparse(DType::F32, vec![2, 3], values.clone(), indices);
            match Array::from_tensor(&t) {
                Err(e @ ArrayError::Sparse { .. }) => {
                    assert!(e.to_string().contains(want), "{e} lacks {want:?}")
                }
                other => panic!("expected a sparse error with {want:?}, got {other:?}"),
            }
        }
        let ints = Tensor::from_i64(vec![2], &[1, 2]).unwrap();
        let t = sparse(DType::I64, vec![2, 3], values, ints.clone());
        assert!(matches!(
            Array::from_tensor(&t),
            Err(ArrayError::Sparse { .. })
        ));
        let huge = sparse(DType::I64, vec![1 << 40], ints.clone(), ints);
        assert!(matches!(
            Array::from_tensor(&huge),
            Err(ArrayError::Sparse { .. })
        ));
    }

    #[test]
    fn length_is_checked() {
        assert!(Array::new(vec![2, 2], Data::F32(vec![1.0])).is_err());
        let a = Array::new(vec![3], Data::I32(vec![1, 2, 3])).unwrap();
        assert_eq!(a.to_i64_vec().unwrap(), vec![1, 2, 3]);
        assert_eq!(a.to_f32_vec().unwrap(), vec![1.0, 2.0, 3.0]);
    }
}
