//! Parsing tensor literals: `[..]` (nesting optional), `range`, `splat`, `random(seed=..)`,
//! `bytes(..)` and `sparse(values: .., indices: ..)`.

use super::ParseError;
use super::elems::{Class, Elems, FloatKind, class, encode, round_to};
use super::lexer::{Cursor, Tok};
use super::parse_attr::parse_type;
use crate::{DType, SparseData, Tensor, TensorData, Type, element_count};
use half::{bf16, f16};
use std::cmp::Ordering;
use std::sync::Arc;

/// The largest tensor the parser builds (storage bytes, or strings).
const MAX_PARSED: u64 = 1 << 31;

/// Parses `TYPE = LITERAL` into a tensor; the type must be a dense or sparse tensor type with
/// a static shape.
pub(crate) fn parse_tensor(cur: &mut Cursor) -> Result<Tensor, ParseError> {
    let at = cur.mark();
    let ty = parse_type(cur)?;
    cur.expect_punct('=')?;
    parse_literal_for(cur, &ty, at)
}

/// Parses the literal of a constant whose type was `ty` (read at `at`).
pub(crate) fn parse_literal_for(
    cur: &mut Cursor,
    ty: &Type,
    at: (usize, usize),
) -> Result<Tensor, ParseError> {
    let static_dims = |tt: &crate::TensorType| {
        tt.static_dims()
            .ok_or_else(|| cur.err_at(at, format!("a constant needs a static shape, found {ty}")))
    };
    match ty {
        Type::Tensor(tt) => {
            let dims = static_dims(tt)?;
            parse_dense(cur, tt.dtype, dims)
        }
        Type::SparseTensor(tt) => {
            let dims = static_dims(tt)?;
            let lit_at = cur.mark();
            cur.expect_ident("sparse")?;
            cur.expect_punct('(')?;
            cur.expect_ident("values")?;
            cur.expect_punct(':')?;
            let values = parse_tensor(cur)?;
            cur.expect_punct(',')?;
            cur.expect_ident("indices")?;
            cur.expect_punct(':')?;
            let indices = parse_tensor(cur)?;
            cur.expect_punct(')')?;
            if values.dtype != tt.dtype {
                return Err(cur.err_at(
                    lit_at,
                    format!(
                        "sparse values are {} but the type says {}",
                        values.dtype, tt.dtype
                    ),
                ));
            }
            let t = Tensor {
                dtype: tt.dtype,
                dims,
                data: TensorData::Sparse(Arc::new(SparseData { values, indices })),
                doc_string: String::new(),
            };
            t.check().map_err(|e| cur.err_at(lit_at, e.to_string()))?;
            Ok(t)
        }
        _ => Err(cur.err_at(at, format!("a constant needs a tensor type, found {ty}"))),
    }
}

fn parse_dense(cur: &mut Cursor, dtype: DType, dims: Vec<i64>) -> Result<Tensor, ParseError> {
    let at = cur.mark();
    let n = element_count(&dims).map_err(|e| cur.err_at(at, e.to_string()))?;
    let c = class(dtype);
    let size = match c {
        Class::Str => Some(n),
        _ => dtype.storage_bytes(n),
    };
    let size = size
        .filter(|&s| s <= MAX_PARSED)
        .ok_or_else(|| cur.err_at(at, format!("{dtype} tensor too large for the text IR")))?;
    let elems = if cur.is_ident("bytes") && matches!(cur.peek2(), Tok::Punct('(')) {
        cur.next();
        cur.next();
        let bytes = parse_elems(cur, class(DType::U8), size as usize)?;
        cur.expect_punct(')')?;
        match bytes {
            Elems::Int(v) => Elems::Bytes(v.into_iter().map(|b| b as u8).collect()),
            other => other,
        }
    } else if c == Class::Bytes {
        return Err(cur.expected(&format!(
            "bytes(...): {dtype} values are written as raw bytes"
        )));
    } else {
        parse_elems(cur, c, n as usize)?
    };
    let data = encode(dtype, elems).map_err(|m| cur.err_at(at, m))?;
    let t = Tensor {
        dtype,
        dims,
        data,
        doc_string: String::new(),
    };
    t.check().map_err(|e| cur.err_at(at, e.to_string()))?;
    Ok(t)
}

/// One scalar, already converted to the class's value domain.
enum Scalar {
    F(f64),
    I(i128),
    S(Vec<u8>),
}

fn parse_scalar(cur: &mut Cursor, c: Class) -> Result<Scalar, ParseError> {
    let at = cur.mark();
    let tok = cur.next();
    let bad = |what: &str| cur.err_at(at, format!("expected {what}, found {}", tok.describe()));
    match (c, &tok) {
        (Class::Str, Tok::Str(b)) => Ok(Scalar::S(b.clone())),
        (Class::Float(k), Tok::Num(s) | Tok::Ident(s)) => parse_float(k, s)
            .map(Scalar::F)
            .ok_or_else(|| bad("a float")),
        (Class::Int { lo, hi, bool }, Tok::Num(s) | Tok::Ident(s)) => {
            let v = match s.as_str() {
                "true" if bool => 1,
                "false" if bool => 0,
                s => s.parse::<i128>().map_err(|_| bad("an integer"))?,
            };
            if !(lo..=hi).contains(&v) {
                return Err(cur.err_at(at, format!("{v} is out of range [{lo}, {hi}]")));
            }
            Ok(Scalar::I(v))
        }
        (Class::Str, _) => Err(bad("a string")),
        (Class::Float(_), _) => Err(bad("a float")),
        _ => Err(bad("an integer")),
    }
}

/// A float as the dtype holds it (parsed at the dtype's precision, not through f64 for f32).
fn parse_float(k: FloatKind, s: &str) -> Option<f64> {
    let special = match s {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    if let Some(v) = special {
        return Some(v);
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        return None;
    }
    Some(match k {
        FloatKind::F64 => s.parse::<f64>().ok()?,
        FloatKind::F32 => s.parse::<f32>().ok()? as f64,
        FloatKind::F16 => f16::from_f32(s.parse::<f32>().ok()?).to_f64(),
        FloatKind::BF16 => bf16::from_f32(s.parse::<f32>().ok()?).to_f64(),
    })
}

fn parse_elems(cur: &mut Cursor, c: Class, n: usize) -> Result<Elems, ParseError> {
    let at = cur.mark();
    let func = matches!(cur.peek2(), Tok::Punct('('));
    if cur.is_punct('[') {
        let mut items = Vec::new();
        parse_list(cur, c, &mut items)?;
        if items.len() != n {
            return Err(cur.err_at(at, format!("expected {n} values, found {}", items.len())));
        }
        return Ok(collect(c, items));
    }
    let Tok::Ident(f) = cur.peek().clone() else {
        return single(cur, c, n, at);
    };
    if !func {
        return single(cur, c, n, at);
    }
    cur.next();
    cur.next();
    let elems = match f.as_str() {
        "splat" => {
            let v = parse_scalar(cur, c)?;
            collect(c, (0..n).map(|_| clone_scalar(&v)).collect())
        }
        "range" => {
            let lo = parse_scalar(cur, c)?;
            cur.expect_punct(',')?;
            let hi = parse_scalar(cur, c)?;
            let nan = if cur.eat_punct(',') {
                let nat = cur.mark();
                if !matches!(cur.next(), Tok::Ident(s) | Tok::Num(s) if s == "nan") {
                    return Err(cur.err_at(nat, "the third argument of range is 'nan'"));
                }
                true
            } else {
                false
            };
            range(c, lo, hi, nan, n).map_err(|m| cur.err_at(at, m))?
        }
        "random" => {
            cur.expect_ident("seed")?;
            cur.expect_punct('=')?;
            let seed = cur.int("a seed")?;
            let scale = if cur.eat_punct(',') {
                cur.expect_ident("scale")?;
                cur.expect_punct('=')?;
                let sat = cur.mark();
                match cur.next() {
                    Tok::Num(s) => s
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| cur.err_at(sat, "scale must be a finite number >= 0"))?,
                    t => {
                        return Err(
                            cur.err_at(sat, format!("expected a scale, found {}", t.describe()))
                        );
                    }
                }
            } else {
                match c {
                    Class::Float(_) => 1.0,
                    _ => 10.0,
                }
            };
            random(c, seed, scale, n).map_err(|m| cur.err_at(at, m))?
        }
        other => {
            return Err(cur.err_at(
                at,
                format!(
                    "unknown tensor literal '{other}(' (use [..], range, splat, random, bytes)"
                ),
            ));
        }
    };
    cur.expect_punct(')')?;
    Ok(elems)
}

/// A bare scalar: a tensor of exactly one element.
fn single(cur: &mut Cursor, c: Class, n: usize, at: (usize, usize)) -> Result<Elems, ParseError> {
    let v = parse_scalar(cur, c)?;
    if n != 1 {
        return Err(cur.err_at(
            at,
            format!("one value for {n} elements: write splat(V) or a list"),
        ));
    }
    Ok(collect(c, vec![v]))
}

fn parse_list(cur: &mut Cursor, c: Class, items: &mut Vec<Scalar>) -> Result<(), ParseError> {
    cur.enter()?;
    cur.expect_punct('[')?;
    while !cur.eat_punct(']') {
        if cur.is_punct('[') {
            parse_list(cur, c, items)?;
        } else {
            items.push(parse_scalar(cur, c)?);
        }
        if !cur.eat_punct(',') {
            cur.expect_punct(']')?;
            break;
        }
    }
    cur.leave();
    Ok(())
}

fn clone_scalar(s: &Scalar) -> Scalar {
    match s {
        Scalar::F(v) => Scalar::F(*v),
        Scalar::I(v) => Scalar::I(*v),
        Scalar::S(v) => Scalar::S(v.clone()),
    }
}

fn collect(c: Class, items: Vec<Scalar>) -> Elems {
    match c {
        Class::Float(_) => Elems::Float(
            items
                .into_iter()
                .map(|s| if let Scalar::F(v) = s { v } else { 0.0 })
                .collect(),
        ),
        Class::Str => Elems::Str(
            items
                .into_iter()
                .map(|s| if let Scalar::S(v) = s { v } else { Vec::new() })
                .collect(),
        ),
        _ => Elems::Int(
            items
                .into_iter()
                .map(|s| if let Scalar::I(v) = s { v } else { 0 })
                .collect(),
        ),
    }
}

/// `n` values from `lo` to `hi`: evenly spaced numbers (first `lo`, last `hi`, all within),
/// or `[lo, lo, .., hi]` for strings; with `nan`, one element in the middle is NaN.
fn range(c: Class, lo: Scalar, hi: Scalar, nan: bool, n: usize) -> Result<Elems, String> {
    let order = |o: Ordering| {
        if o == Ordering::Greater {
            Err("range(MIN, MAX) needs MIN <= MAX".to_string())
        } else {
            Ok(())
        }
    };
    let last = n.saturating_sub(1);
    match (c, lo, hi) {
        (Class::Float(k), Scalar::F(lo), Scalar::F(hi)) => {
            if lo.is_nan() || hi.is_nan() {
                return Err("range bounds must not be NaN (add ', nan' instead)".into());
            }
            order(lo.total_cmp(&hi))?;
            let mut v: Vec<f64> = (0..n)
                .map(|i| {
                    if i == 0 {
                        lo
                    } else if i == last {
                        hi
                    } else {
                        let x = lo + (hi - lo) * (i as f64 / last as f64);
                        round_to(k, if x.is_nan() { lo } else { x.clamp(lo, hi) })
                    }
                })
                .collect();
            if nan && n > 0 {
                v[n / 2] = f64::NAN;
            }
            Ok(Elems::Float(v))
        }
        (Class::Int { .. }, Scalar::I(lo), Scalar::I(hi)) => {
            order(lo.cmp(&hi))?;
            let span = hi - lo;
            let d = last.max(1) as i128;
            Ok(Elems::Int(
                (0..n).map(|i| lo + span * i as i128 / d).collect(),
            ))
        }
        (Class::Str, Scalar::S(lo), Scalar::S(hi)) => {
            order(lo.cmp(&hi))?;
            Ok(Elems::Str(
                (0..n)
                    .map(|i| {
                        if i == last && i > 0 {
                            hi.clone()
                        } else {
                            lo.clone()
                        }
                    })
                    .collect(),
            ))
        }
        _ => Err("range does not apply to this element type".into()),
    }
}

/// `n` seeded values: floats uniform in [-scale, scale), integers uniform in
/// [-scale, scale] ∩ the type's range, bools uniform.
fn random(c: Class, seed: i64, scale: f64, n: usize) -> Result<Elems, String> {
    let mut rng = crate::Rng::new(seed as u64);
    match c {
        Class::Float(k) => Ok(Elems::Float(
            (0..n)
                .map(|_| round_to(k, (rng.unit_f64() * 2.0 - 1.0) * scale))
                .collect(),
        )),
        Class::Int { lo, hi, .. } => {
            let s = scale.round() as i128;
            let (a, b) = (lo.max(-s), hi.min(s));
            let (a, b) = if a > b { (lo, lo) } else { (a, b) };
            let span = (b - a + 1) as u128;
            Ok(Elems::Int(
                (0..n)
                    .map(|_| a + (rng.next_u64() as u128 % span) as i128)
                    .collect(),
            ))
        }
        Class::Bytes => Ok(Elems::Bytes((0..n).map(|_| rng.next_u64() as u8).collect())),
        Class::Str => Err("random does not apply to strings".into()),
    }
}
