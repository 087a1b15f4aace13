//! Element traits shared by the elementwise and reduction kernels: [`Elem`] for every numeric
//! storage type (integer arithmetic wraps, f16/bf16 compute in f32), [`Real`] for the two
//! compute float types, and [`map_float`] to run an f32/f64 kernel on any float data.

use crate::Data;
use half::{bf16, f16};
use nnslim_ir::DType;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A numeric element type of [`Data`].
pub(crate) trait Elem: Copy + PartialOrd + Debug + Send + Sync + 'static {
    const FLOAT: bool;
    const ZERO: Self;
    const ONE: Self;
    /// The smallest value (−inf for floats).
    const LOWEST: Self;
    /// The largest value (+inf for floats).
    const HIGHEST: Self;
    /// The elements, if `d` holds this type.
    fn slice(d: &Data) -> Option<&[Self]>;
    /// Wraps elements into [`Data`].
    fn data(v: Vec<Self>) -> Data;
    fn to_f64(self) -> f64;
    /// Floats: nearest; integers: truncated toward zero, then wrapped (NaN is 0).
    fn from_f64(v: f64) -> Self;
    /// Floats: truncated toward zero (saturating).
    fn to_i128(self) -> i128;
    /// Integers: wrapped; floats: nearest.
    fn from_i128(v: i128) -> Self;
    fn wadd(self, o: Self) -> Self;
    fn wsub(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
    /// Integers truncate toward zero and give 0 for a zero divisor.
    fn wdiv(self, o: Self) -> Self;
    /// The remainder with the dividend's sign (C `fmod`); integers give 0 for a zero divisor.
    fn wrem(self, o: Self) -> Self;
    fn is_nan(self) -> bool;

    fn wneg(self) -> Self {
        Self::ZERO.wsub(self)
    }

    /// The element type, for messages.
    fn dtype() -> DType {
        Self::data(Vec::new()).dtype()
    }
}

macro_rules! int_elem {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl Elem for $t {
            const FLOAT: bool = false;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            fn slice(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn data(v: Vec<Self>) -> Data {
                Data::$v(v)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as i128 as $t
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            fn wadd(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn wsub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn wmul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn wdiv(self, o: Self) -> Self {
                if o == 0 { 0 } else { self.wrapping_div(o) }
            }
            fn wrem(self, o: Self) -> Self {
                if o == 0 { 0 } else { self.wrapping_rem(o) }
            }
            fn is_nan(self) -> bool {
                false
            }
        }
    )*};
}

int_elem!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64);

/// Float elements. Arithmetic runs in the type `$to` converts to (f32 for f16 and bf16, the
/// type itself otherwise) and `$from` rounds back; `$of` converts from f64.
macro_rules! float_elem {
    ($($t:ty => $v:ident, $zero:expr, $one:expr, $to:expr, $from:expr, $of:expr);* $(;)?) => {$(
        impl Elem for $t {
            const FLOAT: bool = true;
            const ZERO: Self = $zero;
            const ONE: Self = $one;
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const HIGHEST: Self = <$t>::INFINITY;
            fn slice(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn data(v: Vec<Self>) -> Data {
                Data::$v(v)
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn from_f64(v: f64) -> Self {
                $of(v)
            }
            fn to_i128(self) -> i128 {
                f64::from(self) as i128
            }
            fn from_i128(v: i128) -> Self {
                $of(v as f64)
            }
            fn wadd(self, o: Self) -> Self {
                $from($to(self) + $to(o))
            }
            fn wsub(self, o: Self) -> Self {
                $from($to(self) - $to(o))
            }
            fn wmul(self, o: Self) -> Self {
                $from($to(self) * $to(o))
            }
            fn wdiv(self, o: Self) -> Self {
                $from($to(self) / $to(o))
            }
            fn wrem(self, o: Self) -> Self {
                $from($to(self) % $to(o))
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    )*};
}

float_elem!(
    f32 => F32, 0.0, 1.0, f32::from, f32::from, |v| v as f32;
    f64 => F64, 0.0, 1.0, f64::from, f64::from, f64::from;
    f16 => F16, f16::ZERO, f16::ONE, f16::to_f32, f16::from_f32, f16::from_f64;
    bf16 => BF16, bf16::ZERO, bf16::ONE, bf16::to_f32, bf16::from_f32, bf16::from_f64;
);

/// The float types kernels compute in (f16 and bf16 are widened to f32).
pub(crate) trait Real:
    Elem
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// A constant (attribute values, literals) in this type.
    fn of(v: f64) -> Self;
    fn exp(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round_ties_even(self) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn erf(self) -> Self;
}

macro_rules! real {
    ($($t:ty),*) => {$(
        impl Real for $t {
            fn of(v: f64) -> Self {
                v as $t
            }
            fn erf(self) -> Self {
                super::erf::erf(self as f64) as $t
            }
            real!(@forward $t: exp exp_m1 ln ln_1p sqrt abs floor ceil round_ties_even tanh sin cos
                tan asin acos atan sinh cosh asinh acosh atanh);
        }
    )*};
    (@forward $t:ty: $($f:ident)*) => {$(
        fn $f(self) -> Self {
            <$t>::$f(self)
        }
    )*};
}

real!(f32, f64);

/// NaN-propagating maximum (NaN if either is NaN).
pub(crate) fn max_nan<T: Elem>(a: T, b: T) -> T {
    if a.is_nan() || a >= b { a } else { b }
}

/// NaN-propagating minimum.
pub(crate) fn min_nan<T: Elem>(a: T, b: T) -> T {
    if a.is_nan() || a <= b { a } else { b }
}

/// A kernel written once for both compute float types.
pub(crate) trait FloatFn {
    type Error;
    fn call<T: Real>(&self, x: &[T]) -> Result<Vec<T>, Self::Error>;
}

/// Runs `f` on float data: f32 and f64 natively, f16 and bf16 widened to f32 and rounded back.
/// `None` when the data is not float.
pub(crate) fn map_float<F: FloatFn>(d: &Data, f: &F) -> Option<Result<Data, F::Error>> {
    fn via_f32<H: Copy, F: FloatFn>(
        v: &[H],
        f: &F,
        to: impl Fn(H) -> f32,
        from: impl Fn(f32) -> H,
        wrap: impl Fn(Vec<H>) -> Data,
    ) -> Result<Data, F::Error> {
        let wide: Vec<f32> = v.iter().map(|&x| to(x)).collect();
        Ok(wrap(f.call(&wide)?.into_iter().map(from).collect()))
    }
    Some(match d {
        Data::F32(v) => f.call(v).map(Data::F32),
        Data::F64(v) => f.call(v).map(Data::F64),
        Data::F16(v) => via_f32(v, f, f16::to_f32, f16::from_f32, Data::F16),
        Data::BF16(v) => via_f32(v, f, bf16::to_f32, bf16::from_f32, Data::BF16),
        _ => return None,
    })
}

/// `x` mapped through `f` (a tight loop over a slice).
#[inline]
pub(crate) fn map<A: Copy, B>(x: &[A], f: impl Fn(A) -> B) -> Vec<B> {
    x.iter().map(|&v| f(v)).collect()
}
