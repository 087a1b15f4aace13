//! Printing tensor literals: values inline, or summarised as `splat(V)` / `range(MIN, MAX)`
//! (exact shortest float spellings), `bytes(...)` for types without a number syntax.

use super::elems::{Class, Elems, FloatKind, class, decode};
use super::print::write_type;
use super::quote;
use crate::{DType, Tensor, TensorData, tensor_type};
use half::{bf16, f16};
use std::fmt::Write as _;

/// Float tensors up to this many elements are written inline.
const INLINE_FLOATS: usize = 16;
/// Integer and bool tensors up to this many elements are written inline.
const INLINE_INTS: usize = 64;
/// String tensors up to this many elements are written inline.
const INLINE_STRINGS: usize = 16;
/// `bytes(...)` literals up to this many storage bytes are written inline.
const INLINE_BYTES: usize = 64;

/// `f32` spelled exactly and shortest: `1.0`, `1e-5`, `nan`, `inf`, `-inf`.
pub(crate) fn fmt_f32(v: f32) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        fmt_f32(v as f32)
    } else {
        format!("{v:?}")
    }
}

fn fmt_float(k: FloatKind, v: f64) -> String {
    match k {
        FloatKind::F64 => fmt_f64(v),
        _ => fmt_f32(v as f32),
    }
}

fn fmt_int(c: Class, v: i128) -> String {
    match c {
        Class::Int { bool: true, .. } => if v != 0 { "true" } else { "false" }.into(),
        _ => v.to_string(),
    }
}

/// Writes `TYPE = LITERAL` for a tensor (its own type: dtype and static dims).
pub(crate) fn write_tensor(out: &mut String, t: &Tensor) {
    write_type(out, &tensor_type(t));
    out.push_str(" = ");
    write_literal(out, t);
}

/// Writes the literal of a tensor's values.
pub(crate) fn write_literal(out: &mut String, t: &Tensor) {
    if let TensorData::Sparse(sp) = &t.data {
        out.push_str("sparse(values: ");
        write_tensor(out, &sp.values);
        out.push_str(", indices: ");
        write_tensor(out, &sp.indices);
        out.push(')');
        return;
    }
    let large_float = matches!(class(t.dtype), Class::Float(_)) && t.len() > INLINE_FLOATS as u64;
    let decoded = if large_float {
        t.check()
            .map(|_| Elems::Float(Vec::new()))
            .map_err(|e| e.to_string())
    } else {
        decode(t)
    };
    match decoded {
        Ok(Elems::Bytes(b)) => {
            out.push_str("bytes(");
            let ints = b.into_iter().map(i128::from).collect();
            write_elems(out, class(DType::U8), Elems::Int(ints), INLINE_BYTES);
            out.push(')');
        }
        Ok(_) if large_float => write_float_summary(out, t),
        Ok(e) => {
            let limit = match &e {
                Elems::Float(_) => INLINE_FLOATS,
                Elems::Str(_) => INLINE_STRINGS,
                _ => INLINE_INTS,
            };
            if t.dims.is_empty() {
                // A scalar: its one value, bare.
                let mut list = String::new();
                write_elems(&mut list, class(t.dtype), e, limit);
                let one = list.strip_prefix('[').and_then(|l| l.strip_suffix(']'));
                out.push_str(one.unwrap_or(&list));
            } else {
                write_elems(out, class(t.dtype), e, limit);
            }
        }
        Err(msg) => {
            let _ = write!(out, "!invalid({})", quote(msg.as_bytes()));
        }
    }
}

/// `splat(V)` or `range(MIN, MAX[, nan])` of a large (checked, dense) float tensor, computed
/// in one pass over the storage.
fn write_float_summary(out: &mut String, t: &Tensor) {
    let (Some(raw), Class::Float(k)) = (t.raw(), class(t.dtype)) else {
        return;
    };
    let mut s = FloatSummary::default();
    match k {
        FloatKind::F32 => raw
            .chunks_exact(4)
            .for_each(|c| s.add(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)),
        FloatKind::F64 => raw.chunks_exact(8).for_each(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            s.add(f64::from_le_bytes(b))
        }),
        FloatKind::F16 => raw
            .chunks_exact(2)
            .for_each(|c| s.add(f16::from_le_bytes([c[0], c[1]]).to_f64())),
        FloatKind::BF16 => raw
            .chunks_exact(2)
            .for_each(|c| s.add(bf16::from_le_bytes([c[0], c[1]]).to_f64())),
    }
    match (s.lo, s.hi) {
        (Some(lo), Some(hi)) if s.mixed => {
            let nan = if s.nan { ", nan" } else { "" };
            let _ = write!(
                out,
                "range({}, {}{nan})",
                fmt_float(k, lo),
                fmt_float(k, hi)
            );
        }
        // All elements the same (all NaN included).
        _ => {
            let _ = write!(out, "splat({})", fmt_float(k, s.first));
        }
    }
}

/// Running minimum, maximum (NaNs aside), NaN presence and whether all elements are the same.
#[derive(Default)]
struct FloatSummary {
    first: f64,
    count: u64,
    mixed: bool,
    nan: bool,
    lo: Option<f64>,
    hi: Option<f64>,
}

impl FloatSummary {
    fn add(&mut self, x: f64) {
        if self.count == 0 {
            self.first = x;
        } else if x.to_bits() != self.first.to_bits() && !(x.is_nan() && self.first.is_nan()) {
            self.mixed = true;
        }
        self.count += 1;
        if x.is_nan() {
            self.nan = true;
            return;
        }
        if self.lo.is_none_or(|lo| x.total_cmp(&lo).is_lt()) {
            self.lo = Some(x);
        }
        if self.hi.is_none_or(|hi| x.total_cmp(&hi).is_gt()) {
            self.hi = Some(x);
        }
    }
}

fn write_list(out: &mut String, items: impl Iterator<Item = String>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&s);
    }
    out.push(']');
}

fn write_elems(out: &mut String, c: Class, e: Elems, limit: usize) {
    match (c, e) {
        (Class::Float(k), Elems::Float(v)) => {
            write_list(out, v.iter().map(|&x| fmt_float(k, x)));
        }
        (c, Elems::Int(v)) => {
            if v.len() <= limit {
                return write_list(out, v.iter().map(|&x| fmt_int(c, x)));
            }
            let (lo, hi) = (v.iter().min(), v.iter().max());
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo == hi => {
                    let _ = write!(out, "splat({})", fmt_int(c, *lo));
                }
                (Some(lo), Some(hi)) => {
                    let _ = write!(out, "range({}, {})", fmt_int(c, *lo), fmt_int(c, *hi));
                }
                _ => out.push_str("[]"),
            }
        }
        (_, Elems::Str(v)) => {
            if v.len() <= limit {
                return write_list(out, v.iter().map(|s| quote(s)));
            }
            let (lo, hi) = (v.iter().min(), v.iter().max());
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo == hi => {
                    let _ = write!(out, "splat({})", quote(lo));
                }
                (Some(lo), Some(hi)) => {
                    let _ = write!(out, "range({}, {})", quote(lo), quote(hi));
                }
                _ => out.push_str("[]"),
            }
        }
        (_, e) => {
            let _ = write!(out, "!invalid({})", quote(format!("{e:?}").as_bytes()));
        }
    }
}
