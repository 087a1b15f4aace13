//! Tensor elements by kind of dtype: decoding storage into numbers, strings or raw bytes, and
//! encoding them back (sub-byte integers packed low bits first).

use crate::{DType, Tensor, TensorData};
use bytes::Bytes;
use half::{bf16, f16};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FloatKind {
    F16,
    BF16,
    F32,
    F64,
}

/// How a dtype's elements are written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Class {
    Float(FloatKind),
    /// Integers with their range; `bool` is `{0, 1}` written `false`/`true`.
    Int {
        lo: i128,
        hi: i128,
        bool: bool,
    },
    Str,
    /// Types written as their raw storage bytes (float8/4/6, complex, undefined).
    Bytes,
}

pub(crate) fn class(d: DType) -> Class {
    use DType::*;
    let int = |lo: i128, hi: i128| Class::Int {
        lo,
        hi,
        bool: false,
    };
    match d {
        F32 => Class::Float(FloatKind::F32),
        F64 => Class::Float(FloatKind::F64),
        F16 => Class::Float(FloatKind::F16),
        BF16 => Class::Float(FloatKind::BF16),
        Bool => Class::Int {
            lo: 0,
            hi: 1,
            bool: true,
        },
        I8 => int(i8::MIN.into(), i8::MAX.into()),
        U8 => int(0, u8::MAX.into()),
        I16 => int(i16::MIN.into(), i16::MAX.into()),
        U16 => int(0, u16::MAX.into()),
        I32 => int(i32::MIN.into(), i32::MAX.into()),
        U32 => int(0, u32::MAX.into()),
        I64 => int(i64::MIN.into(), i64::MAX.into()),
        U64 => int(0, u64::MAX.into()),
        I4 => int(-8, 7),
        U4 => int(0, 15),
        I2 => int(-2, 1),
        U2 => int(0, 3),
        String => Class::Str,
        _ => Class::Bytes,
    }
}

/// Decoded elements.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Elems {
    /// Exact values (every f16/bf16/f32 value is an f64).
    Float(Vec<f64>),
    Int(Vec<i128>),
    Str(Vec<Vec<u8>>),
    Bytes(Vec<u8>),
}

pub(crate) fn decode(t: &Tensor) -> Result<Elems, String> {
    t.check().map_err(|e| e.to_string())?;
    let n = usize::try_from(t.len()).map_err(|_| "too many elements".to_string())?;
    let raw = match &t.data {
        TensorData::Strings(s) => return Ok(Elems::Str(s.to_vec())),
        TensorData::Sparse(_) => return Err("sparse data in a dense tensor".into()),
        TensorData::Dense(raw) => raw,
    };
    let le = |c: &[u8]| {
        let mut b = [0u8; 16];
        b[..c.len()].copy_from_slice(c);
        u128::from_le_bytes(b)
    };
    Ok(match class(t.dtype) {
        Class::Str => return Err("string tensor with dense storage".into()),
        Class::Bytes => Elems::Bytes(raw.to_vec()),
        Class::Float(k) => Elems::Float(match k {
            FloatKind::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_bits(le(c) as u32) as f64)
                .collect(),
            FloatKind::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_bits(le(c) as u64))
                .collect(),
            FloatKind::F16 => raw
                .chunks_exact(2)
                .map(|c| f16::from_bits(le(c) as u16).to_f64())
                .collect(),
            FloatKind::BF16 => raw
                .chunks_exact(2)
                .map(|c| bf16::from_bits(le(c) as u16).to_f64())
                .collect(),
        }),
        Class::Int { lo, .. } => {
            let bits = t.dtype.bits();
            let signed = lo < 0;
            let sext = |v: u128| -> i128 {
                if signed && bits < 128 && (v >> (bits - 1)) & 1 == 1 {
                    v as i128 - (1i128 << bits)
                } else {
                    v as i128
                }
            };
            let v: Vec<i128> = if bits >= 8 {
                raw.chunks_exact(bits / 8).map(|c| sext(le(c))).collect()
            } else {
                let per = 8 / bits;
                let mask = (1u8 << bits) - 1;
                (0..n)
                    .map(|i| sext(((raw[i / per] >> ((i % per) * bits)) & mask) as u128))
                    .collect()
            };
            Elems::Int(v)
        }
    })
}

pub(crate) fn encode(dtype: DType, elems: Elems) -> Result<TensorData, String> {
    Ok(match elems {
        Elems::Str(s) => TensorData::Strings(Arc::new(s)),
        Elems::Bytes(b) => TensorData::Dense(Bytes::from(b)),
        Elems::Float(v) => {
            let raw: Vec<u8> = match class(dtype) {
                Class::Float(FloatKind::F32) => {
                    v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()
                }
                Class::Float(FloatKind::F64) => v.iter().flat_map(|&x| x.to_le_bytes()).collect(),
                Class::Float(FloatKind::F16) => v
                    .iter()
                    .flat_map(|&x| f16::from_f64(x).to_le_bytes())
                    .collect(),
                Class::Float(FloatKind::BF16) => v
                    .iter()
                    .flat_map(|&x| bf16::from_f64(x).to_le_bytes())
                    .collect(),
                _ => return Err(format!("{dtype} does not hold floats")),
            };
            TensorData::Dense(Bytes::from(raw))
        }
        Elems::Int(v) => {
            let bits = dtype.bits();
            if bits >= 8 {
                let w = bits / 8;
                let mut raw = Vec::with_capacity(v.len() * w);
                for x in v {
                    raw.extend_from_slice(&x.to_le_bytes()[..w]);
                }
                TensorData::Dense(Bytes::from(raw))
            } else if let Some(per) = 8usize.checked_div(bits) {
                let mask = (1u8 << bits) - 1;
                let mut raw = vec![0u8; v.len().div_ceil(per)];
                for (i, x) in v.into_iter().enumerate() {
                    raw[i / per] |= (x as u8 & mask) << ((i % per) * bits);
                }
                TensorData::Dense(Bytes::from(raw))
            } else {
                return Err(format!("{dtype} does not hold integers"));
            }
        }
    })
}

/// `v` rounded to the dtype's precision.
pub(crate) fn round_to(k: FloatKind, v: f64) -> f64 {
    match k {
        FloatKind::F64 => v,
        FloatKind::F32 => v as f32 as f64,
        FloatKind::F16 => f16::from_f64(v).to_f64(),
        FloatKind::BF16 => bf16::from_f64(v).to_f64(),
    }
}
