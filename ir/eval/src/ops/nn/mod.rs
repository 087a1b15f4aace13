//! Kernels for the nn op family: convolutions, pools, matrix products, normalisations and
//! (de)quantisation (see `ops/mod.rs` for which ops are routed here).
//!
//! Floating-point kernels are generic over [`Float`] (f32 and f64); f16 and bf16 inputs are
//! computed in f32 and rounded back. Shapes are checked before any indexing: bad inputs give
//! `invalid(..)` naming the shapes, op forms without a kernel give `unsupported(..)`.

mod conv;
mod depthwise;
mod geom;
mod integer;
mod matmul;
mod minifloat;
mod norm;
mod pool;
mod quant;
#[cfg(test)]
mod tests;
mod wide;

use super::NodeCx;
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use half::{bf16, f16};
use nnslim_ir::{DType, Op};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub};

pub(crate) fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    let one = |a: Array| vec![Value::Tensor(a)];
    Ok(match cx.op() {
        Op::Conv(c) => one(conv::conv(c, inputs)?),
        Op::ConvTranspose(c) => one(conv::conv_transpose(c, inputs)?),
        Op::Pool(p) => pool::pool(p, inputs, cx.num_outputs())?
            .into_iter()
            .map(Value::Tensor)
            .collect(),
        Op::GlobalPool(p) => one(pool::global_pool(p, inputs)?),
        Op::Gemm(g) => one(matmul::gemm(g, inputs)?),
        Op::MatMul => one(matmul::matmul(inputs)?),
        Op::BatchNormalization(b) => norm::batch_norm(b, inputs, cx.num_outputs())?
            .into_iter()
            .map(Value::Tensor)
            .collect(),
        Op::Lrn(l) => one(norm::lrn(l, inputs)?),
        Op::QuantizeLinear(q) => one(quant::quantize(q, inputs)?),
        Op::DequantizeLinear(d) => one(quant::dequantize(d, inputs)?),
        Op::DynamicQuantizeLinear => integer::dynamic_quantize(inputs)?
            .into_iter()
            .map(Value::Tensor)
            .collect(),
        Op::MatMulInteger => one(integer::matmul_integer(inputs)?),
        Op::ConvInteger(c) => one(integer::conv_integer(c, inputs)?),
        other => return unsupported(format!("{} is not an nn op", other.op_type())),
    })
}

/// Multiply-adds above which a GEMM-like kernel is split over the rayon threads. Below it,
/// waking the pool costs more than it saves: measured on 2 vCPUs, a 3M multiply-add
/// pointwise convolution took 2.4x longer split, a 30M one gained 1.3x.
pub(crate) const PAR_MACS: usize = 1 << 24;

/// Required tensor input `slot` (`name` is used in messages).
fn input<'a>(
    inputs: &[Option<&'a Value>],
    slot: usize,
    name: &str,
) -> Result<&'a Array, KernelError> {
    match opt_input(inputs, slot, name)? {
        Some(a) => Ok(a),
        None => invalid(format!("input {slot} ({name}) is required")),
    }
}

/// Optional tensor input `slot`: `None` when omitted.
fn opt_input<'a>(
    inputs: &[Option<&'a Value>],
    slot: usize,
    name: &str,
) -> Result<Option<&'a Array>, KernelError> {
    match inputs.get(slot).copied().flatten() {
        None => Ok(None),
        Some(Value::Tensor(a)) => Ok(Some(a)),
        Some(_) => invalid(format!("input {slot} ({name}) must be a tensor")),
    }
}

/// Product of dims with overflow checking.
fn numel(shape: &[usize]) -> Result<usize, KernelError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .map_or_else(|| invalid(format!("shape {shape:?} is too large")), Ok)
}

/// The floating types kernels compute in (f32, f64); also what faer multiplies.
pub(crate) trait Float:
    faer::traits::ComplexField
    + Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + MulAssign
    + DivAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    fn from_f64(v: f64) -> Self;
    fn from_usize(v: usize) -> Self;
    fn sqrt(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn abs(self) -> Self;
    /// The elements of a float array as `Self` (borrowed when the types agree); `None` for
    /// non-float arrays.
    fn view(a: &Array) -> Option<Cow<'_, [Self]>>;
    /// Results computed for an input of `dtype`, stored as `dtype` (f16/bf16 rounded back).
    fn into_data(v: Vec<Self>, dtype: DType) -> Data;
    /// This thread's reusable scratch buffers (a stack: a buffer is taken off while in use, so
    /// nested users get distinct buffers).
    fn scratch() -> &'static std::thread::LocalKey<RefCell<Vec<Vec<Self>>>>;
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_F64: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// Copies `src` into `dst` (same length). Short runs are copied by a loop instead of a call
/// to `memcpy`: in the kernels here a short `memcpy` followed by vector reads of its
/// destination measured several times slower. Adding zero keeps the compiler from turning the
/// loop back into a `memcpy` (it only changes the sign of zeros).
#[inline]
pub(crate) fn copy_run<F: Float>(dst: &mut [F], src: &[F]) {
    if dst.len() > 64 {
        dst.copy_from_slice(src);
    } else {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s + F::ZERO;
        }
    }
}

/// Runs `f` on a scratch buffer of `len` elements (contents unspecified) that is reused
/// across calls on the same thread.
pub(crate) fn with_scratch<T: Float, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let mut buf = T::scratch()
        .with(|c| c.borrow_mut().pop())
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, T::ZERO);
    }
    let r = f(&mut buf[..len]);
    T::scratch().with(|c| c.borrow_mut().push(buf));
    r
}

fn halves_to_f32<H: half::slice::HalfFloatSliceExt + ?Sized>(v: &H, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    v.convert_to_f32_slice(&mut out);
    out
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn from_usize(v: usize) -> Self {
        v as f32
    }
    #[inline]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline]
    fn powf(self, e: Self) -> Self {
        f32::powf(self, e)
    }
    #[inline]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn view(a: &Array) -> Option<Cow<'_, [f32]>> {
        Some(match &a.data {
            Data::F32(v) => Cow::Borrowed(&v[..]),
            Data::F64(v) => Cow::Owned(v.iter().map(|&x| x as f32).collect()),
            Data::F16(v) => Cow::Owned(halves_to_f32(&v[..], v.len())),
            Data::BF16(v) => Cow::Owned(halves_to_f32(&v[..], v.len())),
            _ => return None,
        })
    }
    fn into_data(v: Vec<f32>, dtype: DType) -> Data {
        use half::slice::HalfFloatSliceExt;
        match dtype {
            DType::F64 => Data::F64(v.into_iter().map(f64::from).collect()),
            DType::F16 => {
                let mut out = vec![f16::ZERO; v.len()];
                out.convert_from_f32_slice(&v);
                Data::F16(out)
            }
            DType::BF16 => {
                let mut out = vec![bf16::ZERO; v.len()];
                out.convert_from_f32_slice(&v);
                Data::BF16(out)
            }
            _ => Data::F32(v),
        }
    }
    fn scratch() -> &'static std::thread::LocalKey<RefCell<Vec<Vec<f32>>>> {
        &SCRATCH_F32
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn from_usize(v: usize) -> Self {
        v as f64
    }
    #[inline]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline]
    fn powf(self, e: Self) -> Self {
        f64::powf(self, e)
    }
    #[inline]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn view(a: &Array) -> Option<Cow<'_, [f64]>> {
        Some(match &a.data {
            Data::F64(v) => Cow::Borrowed(&v[..]),
            Data::F32(v) => Cow::Owned(v.iter().map(|&x| f64::from(x)).collect()),
            Data::F16(v) => Cow::Owned(v.iter().map(|x| x.to_f64()).collect()),
            Data::BF16(v) => Cow::Owned(v.iter().map(|x| x.to_f64()).collect()),
            _ => return None,
        })
    }
    fn into_data(v: Vec<f64>, dtype: DType) -> Data {
        match dtype {
            DType::F32 => Data::F32(v.into_iter().map(|x| x as f32).collect()),
            DType::F16 => Data::F16(v.into_iter().map(f16::from_f64).collect()),
            DType::BF16 => Data::BF16(v.into_iter().map(bf16::from_f64).collect()),
            _ => Data::F64(v),
        }
    }
    fn scratch() -> &'static std::thread::LocalKey<RefCell<Vec<Vec<f64>>>> {
        &SCRATCH_F64
    }
}

/// Which float type an op computes in for inputs of `dtype`: f64 for f64, f32 for the other
/// float types; `None` for non-float types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compute {
    F32,
    F64,
}

fn compute_type(dtype: DType) -> Option<Compute> {
    match dtype {
        DType::F64 => Some(Compute::F64),
        DType::F32 | DType::F16 | DType::BF16 => Some(Compute::F32),
        _ => None,
    }
}

/// The elements of `a` as `T`, or an error naming the input.
fn floats<'a, T: Float>(a: &'a Array, name: &str) -> Result<Cow<'a, [T]>, KernelError> {
    match T::view(a) {
        Some(v) => Ok(v),
        None => unsupported(format!(
            "{name} has element type {}; this kernel computes on float types",
            a.dtype()
        )),
    }
}
