//! `QuantizeLinear` and `DequantizeLinear`: per-tensor, per-axis and blocked scales; integer
//! outputs (8/16/32-bit, and packed 4- and 2-bit) rounded half to even and clamped, float8 and
//! float4 outputs with or without saturation.

use super::input;
use super::minifloat::{MiniFloat, pack, sign_extend, unpack};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value, round_even_small};
use bytes::Bytes;
use half::{bf16, f16};
use nnslim_ir::DType;
use nnslim_ir::op::{DequantizeLinear, QuantizeLinear};

/// How the elements of a scale or zero point map to the elements of the data.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// One value for everything.
    Tensor,
    /// One value per index of the axis (`inner` = elements after the axis).
    Axis { len: usize, inner: usize },
    /// One value per `block` consecutive indices of the axis; `blocks` values along it.
    Blocked {
        len: usize,
        inner: usize,
        block: usize,
        blocks: usize,
    },
}

impl Layout {
    fn new(
        x: &[usize],
        p: &[usize],
        axis: i64,
        block: i64,
        name: &str,
    ) -> Result<Layout, KernelError> {
        let numel: usize = p.iter().product();
        if block == 0 && numel == 1 && p.len() <= 1 {
            return Ok(Layout::Tensor);
        }
        let rank = x.len() as i64;
        let ax = if axis < 0 { axis + rank } else { axis };
        if ax < 0 || ax >= rank {
            return invalid(format!("axis {axis} is out of range for input {x:?}"));
        }
        let ax = ax as usize;
        let len = x[ax];
        let inner = x[ax + 1..].iter().product();
        if block == 0 {
            if p != [len] {
                return invalid(format!(
                    "{name} {p:?} is neither a scalar nor 1-D of input {x:?}'s axis {axis}"
                ));
            }
            return Ok(Layout::Axis { len, inner });
        }
        let block = usize::try_from(block).unwrap_or(0).max(1);
        let blocks = len.div_ceil(block);
        let fits = p.len() == x.len()
            && p.iter()
                .zip(x)
                .enumerate()
                .all(|(i, (&a, &b))| if i == ax { a == blocks } else { a == b });
        if !fits {
            return invalid(format!(
                "{name} {p:?} does not block input {x:?} by {block} along axis {axis}"
            ));
        }
        Ok(Layout::Blocked {
            len,
            inner,
            block,
            blocks,
        })
    }

    /// The parameter index of data element `i`.
    #[inline]
    fn index(&self, i: usize) -> usize {
        match *self {
            Layout::Tensor => 0,
            Layout::Axis { len, inner } => (i / inner) % len,
            Layout::Blocked {
                len,
                inner,
                block,
                blocks,
            } => {
                let (outer, rest) = (i / (len * inner), i % (len * inner));
                let (a, j) = (rest / inner, rest % inner);
                (outer * blocks + a / block) * inner + j
            }
        }
    }
}

/// Numeric values of an array as f64 (floats, integers, packed sub-byte ints and small
/// floats); `None` for other types.
fn values(a: &Array) -> Option<Vec<f64>> {
    let n = a.len();
    Some(match &a.data {
        Data::Packed(d @ (DType::I4 | DType::U4 | DType::I2 | DType::U2), raw) => {
            let bits = d.bits();
            let codes = unpack(bits, raw, n)?;
            let signed = matches!(d, DType::I4 | DType::I2);
            codes
                .into_iter()
                .map(|c| {
                    if signed {
                        sign_extend(c, bits) as f64
                    } else {
                        c as f64
                    }
                })
                .collect()
        }
        Data::Packed(d, raw) => {
            let f = MiniFloat::of(*d)?;
            if d.bits() == 4 {
                unpack(4, raw, n)?
                    .into_iter()
                    .map(|c| f.decode(c) as f64)
                    .collect()
            } else {
                raw.iter().take(n).map(|&c| f.decode(c) as f64).collect()
            }
        }
        Data::F64(v) => v.clone(),
        Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        _ => a.to_f32_vec()?.into_iter().map(f64::from).collect(),
    })
}

fn values_of(a: &Array, name: &str) -> Result<Vec<f64>, KernelError> {
    match values(a) {
        Some(v) if v.len() == a.len() => Ok(v),
        _ => unsupported(format!("{name} of type {}", a.dtype())),
    }
}

/// Rounds an f32-computed quotient to the type numpy would hold it in.
fn round_to(v: f32, dtype: DType) -> f64 {
    match dtype {
        DType::F16 => f16::from_f32(v).to_f64(),
        DType::BF16 => bf16::from_f32(v).to_f64(),
        _ => v as f64,
    }
}

/// `QuantizeLinear`: `y = saturate(round(x / scale) + zero_point)`.
pub(super) fn quantize(
    op: &QuantizeLinear,
    inputs: &[Option<&Value>],
) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "x")?;
    let scale = input(inputs, 1, "y_scale")?;
    let zp = super::opt_input(inputs, 2, "y_zero_point")?;
    let out = match (op.output_dtype, zp.map(Array::dtype)) {
        (Some(d), Some(z)) if d != z => {
            return invalid(format!("zero point is {z} but output_dtype is {d}"));
        }
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => DType::U8,
    };
    let layout = Layout::new(&x.shape, &scale.shape, op.axis, op.block_size, "y_scale")?;
    let zp_layout = match zp {
        Some(z) => Layout::new(&x.shape, &z.shape, op.axis, op.block_size, "y_zero_point")?,
        None => Layout::Tensor,
    };
    if let Some(a) = quantize_f32_per_tensor(op, x, scale, zp, out, layout, zp_layout) {
        return Ok(a);
    }
    let xv = values_of(x, "x")?;
    let sv = values_of(scale, "y_scale")?;
    let zv = zp.map(|z| values_of(z, "y_zero_point")).transpose()?;
    // The type numpy divides in: `precision`, else the promotion of x and the scale.
    let quotient = op.precision.unwrap_or(match (x.dtype(), scale.dtype()) {
        (a, b) if a == b => a,
        (DType::F64, _) | (_, DType::F64) | (DType::I32, _) => DType::F64,
        _ => DType::F32,
    });
    let q: Vec<f64> = xv
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = sv[layout.index(i)];
            match quotient {
                DType::F64 => v / s,
                d => round_to(v as f32 / s as f32, d),
            }
        })
        .collect();
    let zero = |i: usize| zv.as_ref().map_or(0.0, |z| z[zp_layout.index(i)]);
    let ints = |lo: f64, hi: f64| -> Vec<f64> {
        q.iter()
            .enumerate()
            .map(|(i, &v)| (v.round_ties_even() + zero(i)).clamp(lo, hi))
            .collect()
    };
    let data = match out {
        DType::U8 => Data::U8(ints(0.0, 255.0).into_iter().map(|v| v as u8).collect()),
        DType::I8 => Data::I8(ints(-128.0, 127.0).into_iter().map(|v| v as i8).collect()),
        DType::U16 => Data::U16(ints(0.0, 65535.0).into_iter().map(|v| v as u16).collect()),
        DType::I16 => Data::I16(
            ints(-32768.0, 32767.0)
                .into_iter()
                .map(|v| v as i16)
                .collect(),
        ),
        DType::I32 => Data::I32(
            ints(i32::MIN as f64, i32::MAX as f64)
                .into_iter()
                .map(|v| v as i32)
                .collect(),
        ),
        DType::U4 | DType::I4 | DType::U2 | DType::I2 => {
            let bits = out.bits();
            let (lo, hi) = if matches!(out, DType::I4 | DType::I2) {
                (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1)
            } else {
                (0, (1i32 << bits) - 1)
            };
            let codes: Vec<u8> = ints(lo as f64, hi as f64)
                .into_iter()
                .map(|v| v as i32 as u8)
                .collect();
            Data::Packed(out, Bytes::from(pack(bits, &codes)))
        }
        d => match MiniFloat::of(d) {
            Some(f) => {
                // The float4 reference adds the zero point; float8 zero points must be 0.
                let add_zero = d == DType::F4E2M1;
                let codes: Vec<u8> = q
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let v = if add_zero { v + zero(i) } else { v };
                        f.encode(v, op.saturate)
                    })
                    .collect();
                let raw = if d.bits() == 4 {
                    pack(4, &codes)
                } else {
                    codes
                };
                Data::Packed(d, Bytes::from(raw))
            }
            None => return unsupported(format!("QuantizeLinear to {d}")),
        },
    };
    Ok(Array::new(x.shape.clone(), data).expect("shape"))
}

/// The common case of static int8 (f32 data, one f32 scale, an 8-bit zero point) without the
/// general path's f64 copies: the same arithmetic (f32 division, ties to even, clamp).
fn quantize_f32_per_tensor(
    op: &QuantizeLinear,
    x: &Array,
    scale: &Array,
    zp: Option<&Array>,
    out: DType,
    layout: Layout,
    zp_layout: Layout,
) -> Option<Array> {
    if !matches!((layout, zp_layout), (Layout::Tensor, Layout::Tensor))
        || !matches!(op.precision, None | Some(DType::F32))
    {
        return None;
    }
    let (Data::F32(xv), Data::F32(sv)) = (&x.data, &scale.data) else {
        return None;
    };
    let s = *sv.first()?;
    let z = match zp.map(|z| &z.data) {
        None => 0.0,
        Some(Data::U8(v)) => f32::from(*v.first()?),
        Some(Data::I8(v)) => f32::from(*v.first()?),
        Some(_) => return None,
    };
    // Clamping the quotient to a little beyond the output range first keeps it where
    // `round_even_small` is exact; the final clamp is the operator's saturation.
    let data = match out {
        DType::U8 => Data::U8(quantize_bytes(xv, s, z, 0.0, 255.0, |r| r as u8)),
        DType::I8 => Data::I8(quantize_bytes(xv, s, z, -128.0, 127.0, |r| r as i8)),
        _ => return None,
    };
    Array::new(x.shape.clone(), data).ok()
}

/// `saturate(round(x / s) + z)` into [lo, hi] for every element, NaN to 0 (as `NaN as u8`).
/// Written as a plain loop over copies of the parameters, branch-free, so that it vectorizes.
fn quantize_bytes<T: Copy + Default>(
    xv: &[f32],
    s: f32,
    z: f32,
    lo: f32,
    hi: f32,
    cast: impl Fn(i32) -> T,
) -> Vec<T> {
    let mut out = vec![T::default(); xv.len()];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        /// The same loop compiled for AVX2 (twice the lanes of the x86-64 baseline).
        #[target_feature(enable = "avx2")]
        fn wide<T: Copy>(out: &mut [T], xv: &[f32], p: [f32; 4], cast: impl Fn(i32) -> T) {
            quantize_into(out, xv, p, cast);
        }
        // SAFETY: the CPU was just checked to have AVX2.
        unsafe { wide(&mut out, xv, [s, z, lo, hi], cast) };
        return out;
    }
    quantize_into(&mut out, xv, [s, z, lo, hi], cast);
    out
}

#[inline(always)]
fn quantize_into<T: Copy>(
    out: &mut [T],
    xv: &[f32],
    [s, z, lo, hi]: [f32; 4],
    cast: impl Fn(i32) -> T,
) {
    let (tlo, thi) = (lo - z - 1.0, hi - z + 1.0);
    for (o, &v) in out.iter_mut().zip(xv) {
        let t = (v / s).max(tlo).min(thi);
        let r = (round_even_small(t) + z).max(lo).min(hi);
        // SAFETY: `max`/`min` drop a NaN operand, so `r` is finite and within [lo, hi], a
        // subrange of i32; the unchecked conversion is what lets this loop vectorize.
        let r: i32 = unsafe { r.to_int_unchecked() };
        *o = cast(if v.is_nan() { 0 } else { r });
    }
}

/// `DequantizeLinear`: `y = (x - zero_point) * scale`.
pub(super) fn dequantize(
    op: &DequantizeLinear,
    inputs: &[Option<&Value>],
) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "x")?;
    let scale = input(inputs, 1, "x_scale")?;
    let zp = super::opt_input(inputs, 2, "x_zero_point")?;
    let layout = Layout::new(&x.shape, &scale.shape, op.axis, op.block_size, "x_scale")?;
    let zp_layout = match zp {
        Some(z) => Layout::new(&x.shape, &z.shape, op.axis, op.block_size, "x_zero_point")?,
        None => Layout::Tensor,
    };
    if let Some(a) = dequantize_int_to_f32(op, x, scale, zp, layout, zp_layout) {
        return Ok(a);
    }
    let xv = values_of(x, "x")?;
    let sv = values_of(scale, "x_scale")?;
    // Float8 zero points must be zero (and the float4 one is ignored, as in the reference).
    let zv = match zp {
        Some(z) if MiniFloat::of(z.dtype()).is_none() => Some(values_of(z, "x_zero_point")?),
        _ => None,
    };
    let out = op.output_dtype.unwrap_or(scale.dtype());
    let y = xv.iter().enumerate().map(|(i, &v)| {
        let d = v - zv.as_ref().map_or(0.0, |z| z[zp_layout.index(i)]);
        (d, sv[layout.index(i)])
    });
    let data = match out {
        DType::F64 => Data::F64(y.map(|(d, s)| d * s).collect()),
        DType::F32 => Data::F32(y.map(|(d, s)| d as f32 * s as f32).collect()),
        DType::F16 => Data::F16(y.map(|(d, s)| f16::from_f32(d as f32 * s as f32)).collect()),
        DType::BF16 => Data::BF16(
            y.map(|(d, s)| bf16::from_f32(d as f32 * s as f32))
                .collect(),
        ),
        d => return unsupported(format!("DequantizeLinear to {d}")),
    };
    Ok(Array::new(x.shape.clone(), data).expect("shape"))
}

/// The common case of dequantizing 8/32-bit integers to f32 per tensor or per axis, without
/// the general path's f64 copies: `(x - zp) as f32 * scale`, exact in the subtraction as there.
fn dequantize_int_to_f32(
    op: &DequantizeLinear,
    x: &Array,
    scale: &Array,
    zp: Option<&Array>,
    layout: Layout,
    zp_layout: Layout,
) -> Option<Array> {
    if !matches!(op.output_dtype, None | Some(DType::F32))
        || matches!(layout, Layout::Blocked { .. })
    {
        return None;
    }
    let Data::F32(sv) = &scale.data else {
        return None;
    };
    let ints = |d: &Data| -> Option<Vec<i64>> {
        Some(match d {
            Data::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Data::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            _ => return None,
        })
    };
    let zv = match zp {
        Some(z) => Some(ints(&z.data)?),
        None => None,
    };
    if let Some(y) = dequantize_bytes(&x.data, sv, zv.as_deref(), layout, zp_layout) {
        return Array::new(x.shape.clone(), Data::F32(y)).ok();
    }
    let y: Vec<f32> = match &x.data {
        Data::U8(v) => deq(
            v.iter().map(|&x| i64::from(x)),
            sv,
            zv.as_deref(),
            layout,
            zp_layout,
        ),
        Data::I8(v) => deq(
            v.iter().map(|&x| i64::from(x)),
            sv,
            zv.as_deref(),
            layout,
            zp_layout,
        ),
        Data::I32(v) => deq(
            v.iter().map(|&x| i64::from(x)),
            sv,
            zv.as_deref(),
            layout,
            zp_layout,
        ),
        _ => return None,
    };
    Array::new(x.shape.clone(), Data::F32(y)).ok()
}

fn deq(
    x: impl Iterator<Item = i64>,
    sv: &[f32],
    zv: Option<&[i64]>,
    layout: Layout,
    zp_layout: Layout,
) -> Vec<f32> {
    x.enumerate()
        .map(|(i, v)| {
            let z = zv.map_or(0, |z| z[zp_layout.index(i)]);
            (v - z) as f32 * sv[layout.index(i)]
        })
        .collect()
}

/// 8-bit data per tensor or per axis: `(x - z) * s` for each run of elements sharing a scale,
/// in f32 (exact for 8-bit differences), as plain loops that vectorize.
fn dequantize_bytes(
    x: &Data,
    sv: &[f32],
    zv: Option<&[i64]>,
    layout: Layout,
    zp_layout: Layout,
) -> Option<Vec<f32>> {
    let (len, inner) = match (layout, zp_layout) {
        (Layout::Tensor, Layout::Tensor) => (1, x.len()),
        (Layout::Axis { len, inner }, Layout::Tensor | Layout::Axis { .. }) => (len, inner),
        _ => return None,
    };
    if inner == 0 || len == 0 {
        return Some(Vec::new());
    }
    let params = |i: usize| -> Option<(f32, f32)> {
        let c = i % len;
        let z = match (zv, zp_layout) {
            (None, _) => 0,
            (Some(z), Layout::Tensor) => *z.first()?,
            (Some(z), _) => *z.get(c)?,
        };
        // An 8-bit zero point; anything else leaves the general path to report it.
        let z = i16::try_from(z).ok()?;
        Some((f32::from(z), *sv.get(c)?))
    };
    match x {
        Data::U8(v) => dequantize_runs(v, inner, params, f32::from),
        Data::I8(v) => dequantize_runs(v, inner, params, f32::from),
        _ => None,
    }
}

/// `(x - z) * s` over runs of `inner` elements, run `i` using `params(i)`.
fn dequantize_runs<T: Copy>(
    v: &[T],
    inner: usize,
    params: impl Fn(usize) -> Option<(f32, f32)>,
    to_f32: impl Fn(T) -> f32,
) -> Option<Vec<f32>> {
    let mut y = vec![0f32; v.len()];
    for (i, (run, out)) in v.chunks(inner).zip(y.chunks_mut(inner)).enumerate() {
        let (z, s) = params(i)?;
        for (o, &b) in out.iter_mut().zip(run) {
            *o = (to_f32(b) - z) * s;
        }
    }
    Some(y)
}
