//! Arithmetic of the recurrent cells, generic over f32 and f64: activation functions with
//! their alpha/beta, clipping, and `C (+)= A·Bᵀ` through faer.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nnslim_ir::op::{Activation, ActivationFn};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The element types recurrent layers compute in (f32 for f32/f16/bf16 data, f64 for f64).
pub(crate) trait Float:
    Copy
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp_(self) -> Self;
    fn tanh_(self) -> Self;
    fn ln_1p_(self) -> Self;
    /// `c = a·bᵀ` (or `c += a·bᵀ` with `add`); row-major `a: m×k`, `b: n×k`, `c: m×n`.
    fn gemm_bt(c: &mut [Self], a: &[Self], b: &[Self], m: usize, n: usize, k: usize, add: bool);
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            fn from_f64(v: f64) -> $t {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp_(self) -> $t {
                self.exp()
            }
            fn tanh_(self) -> $t {
                self.tanh()
            }
            fn ln_1p_(self) -> $t {
                self.ln_1p()
            }
            fn gemm_bt(c: &mut [$t], a: &[$t], b: &[$t], m: usize, n: usize, k: usize, add: bool) {
                let a = MatRef::from_row_major_slice(a, m, k);
                let b = MatRef::from_row_major_slice(b, n, k);
                let c = MatMut::from_row_major_slice_mut(c, m, n);
                let accum = if add { Accum::Add } else { Accum::Replace };
                matmul(c, accum, a, b.transpose(), 1.0, Par::Seq);
            }
        }
    };
}

float!(f32);
float!(f64);

/// An activation ready to apply: the function, its parameters and the clip bound.
#[derive(Clone, Copy)]
pub(crate) struct Act<T> {
    kind: Activation,
    alpha: T,
    beta: T,
    clip: Option<T>,
}

impl<T: Float> Act<T> {
    pub(crate) fn new(f: ActivationFn, clip: Option<f32>) -> Act<T> {
        Act {
            kind: f.kind,
            alpha: T::from_f64(f64::from(f.alpha)),
            beta: T::from_f64(f64::from(f.beta)),
            clip: clip.map(|c| T::from_f64(f64::from(c))),
        }
    }

    /// The function of `x`, after clipping `x` to `[-clip, clip]` when a clip is set.
    pub(crate) fn apply(&self, x: T) -> T {
        let x = match self.clip {
            Some(c) if x > c => c,
            Some(c) if x < -c => -c,
            _ => x,
        };
        self.raw(x)
    }

    /// The function without clipping.
    pub(crate) fn raw(&self, x: T) -> T {
        let zero = T::default();
        let one = T::from_f64(1.0);
        let (a, b) = (self.alpha, self.beta);
        match self.kind {
            Activation::Relu => {
                if x > zero {
                    x
                } else {
                    zero
                }
            }
            Activation::Tanh => x.tanh_(),
            Activation::Sigmoid => one / (one + (-x).exp_()),
            Activation::Affine => a * x + b,
            Activation::LeakyRelu => {
                if x >= zero {
                    x
                } else {
                    a * x
                }
            }
            Activation::ThresholdedRelu => {
                if x >= a {
                    x
                } else {
                    zero
                }
            }
            Activation::ScaledTanh => a * (b * x).tanh_(),
            Activation::HardSigmoid => {
                let y = a * x + b;
                if y < zero {
                    zero
                } else if y > one {
                    one
                } else {
                    y
                }
            }
            Activation::Elu => {
                if x >= zero {
                    x
                } else {
                    a * (x.exp_() - one)
                }
            }
            Activation::Softsign => {
                let ax = if x < zero { -x } else { x };
                x / (one + ax)
            }
            Activation::Softplus => x.exp_().ln_1p_(),
        }
    }
}
