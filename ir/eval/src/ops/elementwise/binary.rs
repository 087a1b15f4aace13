//! `Binary` (arithmetic, `Pow`, `Mod`, `BitShift`, comparisons, logic, `PRelu`), `Variadic`
//! (`Max`/`Min`/`Mean`/`Sum` over any number of inputs) and `Where`, all with numpy
//! broadcasting. Integer arithmetic wraps; integer `Div` truncates toward zero.

use super::num::{Elem, max_nan, min_nan};
use super::zip::zip;
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, for_numeric};
use nnslim_ir::op::{Binary, ShiftDirection, Variadic};

/// The elements of `d` if it has the same type as `like`.
fn same<'a, T: Elem>(_like: &[T], d: &'a Data) -> Result<&'a [T], KernelError> {
    match T::slice(d) {
        Some(v) => Ok(v),
        None => invalid(format!(
            "operands have different element types ({} and {})",
            T::dtype(),
            d.dtype()
        )),
    }
}

fn array(shape: Vec<usize>, data: Data) -> Array {
    Array { shape, data }
}

/// `op` on `a` and `b`.
pub(crate) fn binary(op: Binary, a: &Array, b: &Array) -> Result<Array, KernelError> {
    let (sa, sb) = (&a.shape[..], &b.shape[..]);
    match (op, &a.data, &b.data) {
        (Binary::Pow, _, _) => pow(a, b),
        (Binary::And | Binary::Or | Binary::Xor, Data::Bool(x), Data::Bool(y)) => {
            let f = match op {
                Binary::And => |p: &bool, q: &bool| *p && *q,
                Binary::Or => |p: &bool, q: &bool| *p || *q,
                _ => |p: &bool, q: &bool| p != q,
            };
            let (s, v) = zip(x, sa, y, sb, f)?;
            Ok(array(s, Data::Bool(v)))
        }
        (Binary::Equal, Data::Bool(x), Data::Bool(y)) => {
            let (s, v) = zip(x, sa, y, sb, |p, q| p == q)?;
            Ok(array(s, Data::Bool(v)))
        }
        (Binary::Equal, Data::Str(x), Data::Str(y)) => {
            let (s, v) = zip(x, sa, y, sb, |p, q| p == q)?;
            Ok(array(s, Data::Bool(v)))
        }
        (Binary::BitShift { .. }, d, _) if !d.dtype().is_int() => {
            unsupported(format!("BitShift of {} data", d.dtype()))
        }
        (_, d, _) => for_numeric!(d, x => numeric(op, x, sa, same(x, &b.data)?, sb),
            _ => unsupported(format!("{} of {} data", op.op_type(), d.dtype()))),
    }
}

fn arith<T: Elem>(
    x: &[T],
    sx: &[usize],
    y: &[T],
    sy: &[usize],
    f: impl Fn(T, T) -> T,
) -> Result<Array, KernelError> {
    let (s, v) = zip(x, sx, y, sy, |&p, &q| f(p, q))?;
    Ok(array(s, T::data(v)))
}

fn compare<T: Elem>(
    x: &[T],
    sx: &[usize],
    y: &[T],
    sy: &[usize],
    f: impl Fn(&T, &T) -> bool,
) -> Result<Array, KernelError> {
    let (s, v) = zip(x, sx, y, sy, f)?;
    Ok(array(s, Data::Bool(v)))
}

/// Python's `%`: the remainder takes the divisor's sign.
fn py_mod<T: Elem>(a: T, b: T) -> T {
    let r = a.wrem(b);
    if r != T::ZERO && ((r < T::ZERO) != (b < T::ZERO)) {
        r.wadd(b)
    } else {
        r
    }
}

/// A shift in the type's width: left shifts wrap, right shifts are arithmetic for signed
/// types; shift amounts outside `0..width` (negative included) shift everything out.
fn shift<T: Elem>(a: T, by: T, dir: ShiftDirection) -> T {
    let (v, s) = (a.to_i128(), by.to_i128());
    let s = if (0..128).contains(&s) { s } else { 127 };
    T::from_i128(match dir {
        ShiftDirection::Left if s == 127 => 0,
        ShiftDirection::Left => v << s,
        ShiftDirection::Right => v >> s,
    })
}

fn numeric<T: Elem>(
    op: Binary,
    x: &[T],
    sx: &[usize],
    y: &[T],
    sy: &[usize],
) -> Result<Array, KernelError> {
    match op {
        Binary::Add => arith(x, sx, y, sy, T::wadd),
        Binary::Sub => arith(x, sx, y, sy, T::wsub),
        Binary::Mul => arith(x, sx, y, sy, T::wmul),
        Binary::Div => arith(x, sx, y, sy, T::wdiv),
        Binary::Mod { fmod: true } => arith(x, sx, y, sy, T::wrem),
        Binary::Mod { fmod: false } => arith(x, sx, y, sy, py_mod),
        Binary::BitShift { direction } => arith(x, sx, y, sy, |a, b| shift(a, b, direction)),
        Binary::PRelu => {
            let out = arith(x, sx, y, sy, |v, s| if v < T::ZERO { v.wmul(s) } else { v })?;
            if out.shape != sx {
                return invalid(format!(
                    "slope of shape {sy:?} does not broadcast to X's shape {sx:?}"
                ));
            }
            Ok(out)
        }
        Binary::Equal => compare(x, sx, y, sy, |p, q| p == q),
        Binary::Less => compare(x, sx, y, sy, |p, q| p < q),
        Binary::LessOrEqual => compare(x, sx, y, sy, |p, q| p <= q),
        Binary::Greater => compare(x, sx, y, sy, |p, q| p > q),
        Binary::GreaterOrEqual => compare(x, sx, y, sy, |p, q| p >= q),
        Binary::And | Binary::Or | Binary::Xor | Binary::Pow => {
            unsupported(format!("{} of {} data", op.op_type(), T::dtype()))
        }
    }
}

/// `base ^ e` in the base's type: floats (and integer bases with float exponents) through
/// f64; integer bases with integer exponents by wrapping repeated squaring (a negative
/// exponent truncates the fraction toward zero).
fn pow1<T: Elem>(base: T, e: f64, int_exp: bool) -> T {
    if T::FLOAT || !int_exp {
        return T::from_f64(base.to_f64().powf(e));
    }
    let e = e as i128;
    if e < 0 {
        return match base.to_i128() {
            1 => T::ONE,
            -1 if e % 2 == 0 => T::ONE,
            -1 => T::ONE.wneg(),
            _ => T::ZERO,
        };
    }
    let (mut acc, mut b, mut e) = (T::ONE, base, e);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wmul(b);
        }
        b = b.wmul(b);
        e >>= 1;
    }
    acc
}

/// `Pow`: the base and the exponent may have different numeric types; the output has the
/// base's.
fn pow(a: &Array, b: &Array) -> Result<Array, KernelError> {
    let Some(e) = for_numeric!(&b.data, v => Some(v.iter().map(|x| x.to_f64()).collect::<Vec<f64>>()), _ => None)
    else {
        return unsupported(format!("Pow with a {} exponent", b.dtype()));
    };
    let int_exp = b.dtype().is_int();
    for_numeric!(&a.data, x => {
        let (s, v) = zip(x, &a.shape, &e, &b.shape, |&p, &q| pow1(p, q, int_exp))?;
        Ok(array(s, Elem::data(v)))
    }, d => unsupported(format!("Pow of {} data", d.dtype())))
}

/// `Max`, `Min`, `Sum` or `Mean` of all inputs, broadcast together.
pub(crate) fn variadic(op: Variadic, xs: &[&Array]) -> Result<Array, KernelError> {
    let Some((first, rest)) = xs.split_first() else {
        return invalid(format!("{} needs at least one input", op.op_type()));
    };
    fn fold<T: Elem>(
        op: Variadic,
        x: &[T],
        sx: &[usize],
        rest: &[&Array],
    ) -> Result<Array, KernelError> {
        let mut acc = array(sx.to_vec(), T::data(x.to_vec()));
        for b in rest {
            let (a, y) = (T::slice(&acc.data).unwrap_or_default(), same(x, &b.data)?);
            acc = match op {
                Variadic::Max => arith(a, &acc.shape, y, &b.shape, max_nan)?,
                Variadic::Min => arith(a, &acc.shape, y, &b.shape, min_nan)?,
                Variadic::Sum | Variadic::Mean => arith(a, &acc.shape, y, &b.shape, T::wadd)?,
            };
        }
        if op == Variadic::Mean {
            let n = T::from_i128(rest.len() as i128 + 1);
            let v = T::slice(&acc.data)
                .unwrap_or_default()
                .iter()
                .map(|s| s.wdiv(n));
            acc.data = T::data(v.collect());
        }
        Ok(acc)
    }
    for_numeric!(&first.data, x => fold(op, x, &first.shape, rest),
        d => unsupported(format!("{} of {} data", op.op_type(), d.dtype())))
}

/// `Where(condition, x, y)`.
pub(crate) fn select(c: &Array, x: &Array, y: &Array) -> Result<Array, KernelError> {
    let Data::Bool(cv) = &c.data else {
        return invalid(format!("condition must be bool, not {}", c.dtype()));
    };
    fn pick<T: Clone>(
        c: (&[bool], &[usize]),
        x: (&[T], &[usize]),
        y: (&[T], &[usize]),
    ) -> Result<(Vec<usize>, Vec<T>), KernelError> {
        let (s, cx) = zip(c.0, c.1, x.0, x.1, |&k, v| (k, v))?;
        zip(
            &cx,
            &s,
            y.0,
            y.1,
            |&(k, v), w| if k { v.clone() } else { w.clone() },
        )
    }
    macro_rules! each {
        ($($v:ident),*) => {
            match (&x.data, &y.data) {
                $((Data::$v(a), Data::$v(b)) => {
                    let (s, v) = pick((cv, &c.shape), (a, &x.shape), (b, &y.shape))?;
                    Ok(array(s, Data::$v(v)))
                })*
                (a, b) if a.dtype() != b.dtype() => invalid(format!(
                    "X and Y have different element types ({} and {})", a.dtype(), b.dtype()
                )),
                (a, _) => unsupported(format!("Where of {} data", a.dtype())),
            }
        };
    }
    each!(
        F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str
    )
}
