//! `Unary`: activations and one-input math. Floats compute in f32/f64 (f16 and bf16 through
//! f32); `Relu`, `Neg`, `Abs` and `Sign` also take integers; `Not` takes bool; `IsNaN` and
//! `IsInf` give bool.

use super::num::{Elem, FloatFn, Real, map, map_float};
use crate::run::{KernelError, unsupported};
use crate::{Data, for_numeric};
use nnslim_ir::op::Unary;
use std::convert::Infallible;

/// `u` applied to every element of `x`.
pub(crate) fn unary(u: Unary, x: &Data) -> Result<Data, KernelError> {
    match (u, x) {
        (Unary::Not, Data::Bool(v)) => return Ok(Data::Bool(map(v, |b| !b))),
        (Unary::IsNaN, d) => {
            if let Some(r) = predicate(d, f64::is_nan) {
                return Ok(r);
            }
        }
        (
            Unary::IsInf {
                detect_negative,
                detect_positive,
            },
            d,
        ) => {
            let test = move |v: f64| {
                v.is_infinite()
                    && if v > 0.0 {
                        detect_positive
                    } else {
                        detect_negative
                    }
            };
            if let Some(r) = predicate(d, test) {
                return Ok(r);
            }
        }
        (_, d) if d.dtype().is_float() && u != Unary::Not => {
            if let Some(Ok(r)) = map_float(d, &Kernel(u)) {
                return Ok(r);
            }
        }
        (Unary::Relu | Unary::Neg | Unary::Abs | Unary::Sign, d) => {
            if let Some(r) = integer(u, d) {
                return Ok(r);
            }
        }
        _ => {}
    }
    unsupported(format!("{} of {} data", u.op_type(), x.dtype()))
}

/// A bool per element from its f64 value (integers are never NaN or infinite).
fn predicate(d: &Data, test: impl Fn(f64) -> bool) -> Option<Data> {
    for_numeric!(d, v => Some(Data::Bool(v.iter().map(|&x| test(x.to_f64())).collect())), _ => None)
}

/// The integer forms of `Relu`, `Neg`, `Abs` and `Sign` (wrapping, like numpy).
fn integer(u: Unary, d: &Data) -> Option<Data> {
    fn run<T: Elem>(u: Unary, x: &[T]) -> Vec<T> {
        let z = T::ZERO;
        match u {
            Unary::Relu => map(x, |v| if v < z { z } else { v }),
            Unary::Neg => map(x, |v| v.wneg()),
            Unary::Abs => map(x, |v| if v < z { v.wneg() } else { v }),
            _ => map(x, |v| match v.partial_cmp(&z) {
                Some(std::cmp::Ordering::Greater) => T::ONE,
                Some(std::cmp::Ordering::Less) => T::ONE.wneg(),
                _ => v,
            }),
        }
    }
    for_numeric!(d, v => Some(Elem::data(run(u, v))), _ => None)
}

/// The float kernel of a unary op.
struct Kernel(Unary);

impl FloatFn for Kernel {
    type Error = Infallible;

    fn call<T: Real>(&self, x: &[T]) -> Result<Vec<T>, Infallible> {
        Ok(real(self.0, x))
    }
}

/// `log(1 + exp(v))` without overflow.
fn softplus<T: Real>(v: T) -> T {
    if v > T::ZERO {
        v + (-v).exp().ln_1p()
    } else {
        v.exp().ln_1p()
    }
}

/// Clamps to [0, 1], keeping NaN.
fn unit<T: Real>(v: T) -> T {
    if v < T::ZERO {
        T::ZERO
    } else if v > T::ONE {
        T::ONE
    } else {
        v
    }
}

fn real<T: Real>(u: Unary, x: &[T]) -> Vec<T> {
    let (z, one, half) = (T::ZERO, T::ONE, T::of(0.5));
    let c = |a: f32| T::of(f64::from(a));
    match u {
        Unary::Relu => map(x, |v| if v < z { z } else { v }),
        Unary::LeakyRelu { alpha } => {
            let a = c(alpha);
            map(x, |v| if v < z { v * a } else { v })
        }
        Unary::Elu { alpha } => {
            let a = c(alpha);
            map(x, |v| if v < z { a * v.exp_m1() } else { v })
        }
        Unary::Selu { alpha, gamma } => {
            let (a, g) = (c(alpha), c(gamma));
            map(x, |v| if v > z { g * v } else { g * (a * v.exp() - a) })
        }
        Unary::Celu { alpha } => {
            let a = c(alpha);
            map(x, |v| if v > z { v } else { a * (v / a).exp_m1() })
        }
        Unary::ThresholdedRelu { alpha } => {
            let a = c(alpha);
            map(x, |v| if v > a { v } else { z })
        }
        Unary::Sigmoid => map(x, |v| one / (one + (-v).exp())),
        Unary::HardSigmoid { alpha, beta } => {
            let (a, b) = (c(alpha), c(beta));
            map(x, |v| unit(a * v + b))
        }
        Unary::HardSwish => {
            let sixth = T::of(1.0 / 6.0);
            map(x, |v| v * unit(v * sixth + half))
        }
        Unary::Tanh => map(x, T::tanh),
        Unary::Softplus => map(x, softplus),
        Unary::Softsign => map(x, |v| v / (one + v.abs())),
        Unary::Mish => map(x, |v| v * softplus(v).tanh()),
        Unary::Gelu {
            tanh_approximation: false,
        } => {
            let r = T::of(std::f64::consts::FRAC_1_SQRT_2);
            map(x, |v| half * v * (one + (v * r).erf()))
        }
        Unary::Gelu {
            tanh_approximation: true,
        } => {
            let (k, b) = (T::of((2.0 / std::f64::consts::PI).sqrt()), T::of(0.044715));
            map(x, |v| half * v * (one + (k * (v + b * v * v * v)).tanh()))
        }
        Unary::Erf => map(x, T::erf),
        Unary::Exp => map(x, T::exp),
        Unary::Log => map(x, T::ln),
        Unary::Sqrt => map(x, T::sqrt),
        Unary::Reciprocal => map(x, |v| one / v),
        Unary::Neg => map(x, |v| -v),
        Unary::Abs => map(x, T::abs),
        Unary::Floor => map(x, T::floor),
        Unary::Ceil => map(x, T::ceil),
        Unary::Round => map(x, T::round_ties_even),
        Unary::Sign => map(x, |v| {
            if v > z {
                one
            } else if v < z {
                -one
            } else {
                v
            }
        }),
        Unary::Sin => map(x, T::sin),
        Unary::Cos => map(x, T::cos),
        Unary::Tan => map(x, T::tan),
        Unary::Asin => map(x, T::asin),
        Unary::Acos => map(x, T::acos),
        Unary::Atan => map(x, T::atan),
        Unary::Sinh => map(x, T::sinh),
        Unary::Cosh => map(x, T::cosh),
        Unary::Asinh => map(x, T::asinh),
        Unary::Acosh => map(x, T::acosh),
        Unary::Atanh => map(x, T::atanh),
        // Never reached: `unary` handles these before (Not is not defined on floats).
        Unary::Not | Unary::IsNaN | Unary::IsInf { .. } => x.to_vec(),
    }
}
