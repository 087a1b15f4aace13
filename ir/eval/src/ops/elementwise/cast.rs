//! `Cast` between every element type the interpreter stores, except complex and float6.
//! Floats to integers truncate toward zero and wrap (as numpy does), integers wrap, NaN to
//! an integer is 0, anything nonzero (NaN included) is true. Strings parse as numbers and
//! numbers print in their shortest round-trip form (`NaN`, `INF`, `-INF`). The packed types
//! go through [`Format`].

use super::num::{Elem, map};
use super::packed::{Format, Num};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, for_numeric};
use half::{bf16, f16};
use nnslim_ir::DType;
use nnslim_ir::op::Cast;

/// `x` cast as `c` says.
pub(crate) fn cast(c: &Cast, x: &Array) -> Result<Array, KernelError> {
    if x.dtype() == c.to {
        return Ok(x.clone());
    }
    let data = match &x.data {
        Data::Bool(v) => to_type(&map(v, u8::from), c)?,
        Data::Str(v) => {
            let nums: Vec<Num> = v.iter().map(|s| parse(s)).collect::<Result<_, _>>()?;
            from_nums(&nums, c, !c.to.is_int())?
        }
        Data::Packed(dt, raw) => {
            let (n, f) = (x.len(), Format::of(*dt));
            let Some(f) = f else {
                return unsupported(format!("Cast from {dt}"));
            };
            let Some(codes) = f.unpack(raw, n) else {
                return invalid(format!("{dt} data holds fewer than {n} elements"));
            };
            from_nums(&map(&codes, |k| f.decode(k)), c, !f.is_int())?
        }
        d => for_numeric!(d, v => to_type(v, c)?, _ => return unsupported("Cast of this data")),
    };
    Ok(Array {
        shape: x.shape.clone(),
        data,
    })
}

/// Numbers of type `S` to the target type.
fn to_type<S: Elem>(v: &[S], c: &Cast) -> Result<Data, KernelError> {
    fn num<S: Elem, T: Elem>(v: &[S]) -> Data {
        T::data(if S::FLOAT {
            map(v, |x| T::from_f64(x.to_f64()))
        } else {
            map(v, |x| T::from_i128(x.to_i128()))
        })
    }
    let exact = |x: S| {
        if S::FLOAT {
            Num::Float(x.to_f64())
        } else {
            Num::Int(x.to_i128())
        }
    };
    Ok(match c.to {
        DType::F32 => num::<S, f32>(v),
        DType::F64 => num::<S, f64>(v),
        DType::F16 => num::<S, f16>(v),
        DType::BF16 => num::<S, bf16>(v),
        DType::I8 => num::<S, i8>(v),
        DType::I16 => num::<S, i16>(v),
        DType::I32 => num::<S, i32>(v),
        DType::I64 => num::<S, i64>(v),
        DType::U8 => num::<S, u8>(v),
        DType::U16 => num::<S, u16>(v),
        DType::U32 => num::<S, u32>(v),
        DType::U64 => num::<S, u64>(v),
        DType::Bool => Data::Bool(map(v, |x| x != S::ZERO)),
        DType::String => Data::Str(map(v, |x| match exact(x) {
            Num::Int(i) => i.to_string().into_bytes(),
            Num::Float(_) => float_text(x).into_bytes(),
        })),
        to => packed(to, v.iter().map(|&x| exact(x)), c)?,
    })
}

/// The shortest text that reads back as `x`, in the spellings ONNX uses for the specials.
fn float_text<S: Elem>(x: S) -> String {
    let f = x.to_f64();
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "INF" } else { "-INF" }.into()
    } else {
        format!("{x:?}")
    }
}

fn packed(to: DType, v: impl Iterator<Item = Num>, c: &Cast) -> Result<Data, KernelError> {
    let Some(f) = Format::of(to) else {
        return unsupported(format!("Cast to {to}"));
    };
    let codes: Vec<u8> = v.map(|x| f.encode(x, c.saturate, c.round_mode)).collect();
    Ok(Data::Packed(to, f.pack(&codes)))
}

/// A string as a number (integers exactly).
fn parse(s: &[u8]) -> Result<Num, KernelError> {
    let text = std::str::from_utf8(s).unwrap_or("").trim();
    if let Ok(i) = text.parse::<i128>() {
        return Ok(Num::Int(i));
    }
    match text.parse::<f64>() {
        Ok(f) => Ok(Num::Float(f)),
        Err(_) => invalid(format!("cannot cast the string {text:?} to a number")),
    }
}

/// Exact values cast, through f64 (`float`) or through i64 (floats truncated).
fn from_nums(nums: &[Num], c: &Cast, float: bool) -> Result<Data, KernelError> {
    if float {
        to_type(
            &map(nums, |n| match n {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            }),
            c,
        )
    } else {
        // Integers wider than i64 wrap, as any integer cast does.
        to_type(
            &map(nums, |n| match n {
                Num::Int(i) => i as i64,
                Num::Float(f) => f as i128 as i64,
            }),
            c,
        )
    }
}
