//! Integer kernels of dynamic quantization: `DynamicQuantizeLinear`, `MatMulInteger` and
//! `ConvInteger`.
//!
//! The integer products subtract the zero points and multiply in f64 with the float kernels:
//! every operand is in [-255, 255], so every partial sum is an integer far below 2^53 and the
//! f64 result is exact whatever the summation order. The result is then wrapped to int32, as
//! an int32 accumulator would.

use super::{conv, input, matmul, opt_input};
use crate::ops::broadcast::{broadcast_index, broadcast_shapes};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use nnslim_ir::op::Conv;

/// `DynamicQuantizeLinear(x)` → `[y, y_scale, y_zero_point]`, as ONNX defines it: the range
/// `[min(0, min x), max(0, max x)]` maps onto [0, 255]; `y_scale = range / 255` (f32; a zero
/// range counts as 1, as in ONNX's reference); `y_zero_point = round(clamp(-min / y_scale, 0,
/// 255))`; `y = clamp(round(x / y_scale) + y_zero_point, 0, 255)`, rounding half to even.
pub(super) fn dynamic_quantize(inputs: &[Option<&Value>]) -> Result<Vec<Array>, KernelError> {
    let x = input(inputs, 0, "x")?;
    let Data::F32(xv) = &x.data else {
        return unsupported(format!(
            "DynamicQuantizeLinear on {} (float32 only)",
            x.dtype()
        ));
    };
    let (mut lo, mut hi) = (0f32, 0f32);
    for &v in xv {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let range = if hi == lo { 1.0 } else { hi - lo };
    let scale = range / 255.0;
    let zp = (0.0 - lo / scale).clamp(0.0, 255.0).round_ties_even();
    let y: Vec<u8> = xv
        .iter()
        .map(|&v| ((v / scale).round_ties_even() + zp).clamp(0.0, 255.0) as u8)
        .collect();
    let arr = |shape, data| Array::new(shape, data).expect("shape matches the data");
    Ok(vec![
        arr(x.shape.clone(), Data::U8(y)),
        arr(Vec::new(), Data::F32(vec![scale])),
        arr(Vec::new(), Data::U8(vec![zp as u8])),
    ])
}

/// The elements of an int8 or uint8 array as i32; `None` for other types.
fn ints(a: &Array) -> Option<Vec<i32>> {
    match &a.data {
        Data::I8(v) => Some(v.iter().map(|&x| i32::from(x)).collect()),
        Data::U8(v) => Some(v.iter().map(|&x| i32::from(x)).collect()),
        _ => None,
    }
}

/// `x - zero_point` as f64, with `zp_shape` the zero point's shape as it broadcasts against
/// `x` (numpy style; it must not grow `x`). `name` is used in messages.
fn centered(x: &Array, zp: Option<(&Array, Vec<usize>)>, name: &str) -> Result<Array, KernelError> {
    let Some(xv) = ints(x) else {
        return unsupported(format!("{name} of type {} (int8 or uint8 only)", x.dtype()));
    };
    let mut out: Vec<f64> = xv.iter().map(|&v| f64::from(v)).collect();
    if let Some((z, shape)) = zp {
        if z.dtype() != x.dtype() {
            return invalid(format!(
                "{name} is {} but its zero point is {}",
                x.dtype(),
                z.dtype()
            ));
        }
        let zv = ints(z).unwrap_or_default();
        if broadcast_shapes(&[&shape, &x.shape]).as_deref() != Some(&x.shape[..]) {
            return invalid(format!(
                "zero point {:?} does not fit {name} {:?}",
                z.shape, x.shape
            ));
        }
        for (o, i) in out.iter_mut().zip(broadcast_index(&shape, &x.shape)) {
            *o -= f64::from(zv[i]);
        }
    }
    Ok(Array::new(x.shape.clone(), Data::F64(out)).expect("same shape"))
}

/// An int32 array from the exact f64 results of an integer product (wrapping like an int32
/// accumulator).
fn to_i32(a: Array) -> Result<Array, KernelError> {
    let Data::F64(v) = a.data else {
        return unsupported("integer product did not compute in f64");
    };
    let y = v.iter().map(|&x| x as i64 as i32).collect();
    Ok(Array::new(a.shape, Data::I32(y)).expect("same shape"))
}

/// A zero point with one element, whatever its rank, is a scalar.
fn is_scalar(z: &Array) -> bool {
    z.shape.iter().all(|&d| d == 1)
}

/// `MatMulInteger(A, B, a_zero_point?, b_zero_point?)`: `matmul(A - a_zp, B - b_zp)` in int32.
/// `a_zero_point` is a scalar, one value per row of A (`[M]`), or N-D broadcasting to A
/// (`[..., M, 1]`); `b_zero_point` a scalar, one value per column of B (`[N]`), or N-D
/// (`[..., 1, N]`).
pub(super) fn matmul_integer(inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let a = input(inputs, 0, "A")?;
    let b = input(inputs, 1, "B")?;
    let za = opt_input(inputs, 2, "a_zero_point")?;
    let zb = opt_input(inputs, 3, "b_zero_point")?;
    let za = za.map(|z| {
        let shape = if is_scalar(z) {
            Vec::new()
        } else if z.rank() == 1 && a.rank() >= 2 {
            // One value per row: [M] → [M, 1].
            vec![z.shape[0], 1]
        } else {
            z.shape.clone()
        };
        (z, shape)
    });
    let zb = zb.map(|z| {
        let shape = if is_scalar(z) {
            Vec::new()
        } else {
            z.shape.clone()
        };
        (z, shape)
    });
    let a = centered(a, za, "A")?;
    let b = centered(b, zb, "B")?;
    let y = matmul::matmul(&[Some(&Value::Tensor(a)), Some(&Value::Tensor(b))])?;
    to_i32(y)
}

/// `ConvInteger(x, w, x_zero_point?, w_zero_point?)`: `Conv(x - x_zp, w - w_zp)` in int32 with
/// `Conv`'s attributes and no bias. `x_zero_point` is a scalar; `w_zero_point` a scalar or one
/// value per output channel (`[M]`).
pub(super) fn conv_integer(op: &Conv, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "x")?;
    let w = input(inputs, 1, "w")?;
    let zx = opt_input(inputs, 2, "x_zero_point")?;
    let zw = opt_input(inputs, 3, "w_zero_point")?;
    let zx = match zx {
        Some(z) if !is_scalar(z) => {
            return invalid(format!("x_zero_point {:?} is not a scalar", z.shape));
        }
        z => z.map(|z| (z, Vec::new())),
    };
    let zw = match zw {
        Some(z) if is_scalar(z) => Some((z, Vec::new())),
        Some(z) if z.rank() == 1 && w.rank() >= 1 => {
            // One value per output channel: [M] → [M, 1, 1, ...].
            let mut shape = vec![1; w.rank()];
            shape[0] = z.shape[0];
            Some((z, shape))
        }
        Some(z) => {
            return invalid(format!(
                "w_zero_point {:?} is neither a scalar nor one value per output channel",
                z.shape
            ));
        }
        None => None,
    };
    let x = centered(x, zx, "x")?;
    let w = centered(w, zw, "w")?;
    let y = conv::conv(op, &[Some(&Value::Tensor(x)), Some(&Value::Tensor(w))])?;
    to_i32(y)
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use crate::{Array, Data, Value};
    use nnslim_ir::Op;

    fn u8a(shape: &[usize], v: &[u8]) -> Array {
        Array::new(shape.to_vec(), Data::U8(v.to_vec())).unwrap()
    }

    fn i8a(shape: &[usize], v: &[i8]) -> Array {
        Array::new(shape.to_vec(), Data::I8(v.to_vec())).unwrap()
    }

    #[test]
    fn dynamic_quantize_matches_onnx() {
        let x = Array::f32(vec![3], vec![0.5, -0.25, 1.0]);
        let out = run(Op::DynamicQuantizeLinear, vec![Some(x)], 3).unwrap();
        // scale = 1.25 / 255, zp = round(0.25 / scale) = round(51.0) = 51.
        assert_eq!(out[0].data, Data::U8(vec![153, 0, 255]));
        assert_eq!(out[1].data, Data::F32(vec![1.25 / 255.0]));
        assert_eq!(out[2].data, Data::U8(vec![51]));
        // All zeros: a zero range counts as 1.
        let z = run(
            Op::DynamicQuantizeLinear,
            vec![Some(Array::f32(vec![2], vec![0.0, 0.0]))],
            3,
        )
        .unwrap();
        assert_eq!(z[0].data, Data::U8(vec![0, 0]));
        assert_eq!(z[1].data, Data::F32(vec![1.0 / 255.0]));
        // Not float32: unsupported, no panic.
        // (Inference rejects it in a graph; the kernel itself also refuses it.)
        let bad = Value::Tensor(Array::new(vec![1], Data::F64(vec![1.0])).unwrap());
        assert!(super::dynamic_quantize(&[Some(&bad)]).is_err());
    }

    #[test]
    fn matmul_integer_subtracts_zero_points() {
        // A [2,3] uint8 with per-row zero points, B [3,2] int8 with per-column zero points.
        let a = u8a(&[2, 3], &[10, 20, 30, 255, 0, 1]);
        let b = i8a(&[3, 2], &[1, -2, 3, 4, -128, 127]);
        let za = u8a(&[2], &[10, 1]);
        let zb = i8a(&[2], &[1, 0]);
        let y = run(
            Op::MatMulInteger,
            vec![Some(a.clone()), Some(b.clone()), Some(za), Some(zb)],
            1,
        )
        .unwrap();
        // Rows of A - za: [0, 10, 20], [254, -1, 0]; B - zb: [[0,-2],[2,4],[-129,127]].
        let want = vec![10 * 2 + 20 * -129, 10 * 4 + 20 * 127, -2, 254 * -2 - 4];
        assert_eq!(y[0].data, Data::I32(want));
        assert_eq!(y[0].shape, vec![2, 2]);
        // Without zero points; a zero point of the wrong type is invalid.
        let plain = run(Op::MatMulInteger, vec![Some(a.clone()), Some(b.clone())], 1).unwrap();
        assert_eq!(plain[0].data, Data::I32(vec![-3770, 3870, 127, -383]));
        let (a, b, wrong) = (
            Value::Tensor(a),
            Value::Tensor(b),
            Value::Tensor(i8a(&[], &[0])),
        );
        assert!(super::matmul_integer(&[Some(&a), Some(&b), Some(&wrong)]).is_err());
        let zb = Value::Tensor(i8a(&[3], &[0, 0, 0]));
        assert!(super::matmul_integer(&[Some(&a), Some(&b), None, Some(&zb)]).is_err());
    }

    #[test]
    fn conv_integer_per_channel_weights() {
        let conv = Op::from_onnx("", "ConvInteger", 10, vec![]).unwrap();
        let x = u8a(&[1, 1, 2, 2], &[1, 2, 3, 4]);
        let w = i8a(&[2, 1, 1, 1], &[3, -1]);
        let y = run(
            conv,
            vec![
                Some(x),
                Some(w),
                Some(u8a(&[], &[1])),
                Some(i8a(&[2], &[1, 0])),
            ],
            1,
        )
        .unwrap();
        assert_eq!(y[0].shape, vec![1, 2, 2, 2]);
        assert_eq!(y[0].data, Data::I32(vec![0, 2, 4, 6, 0, -1, -2, -3]));
    }
}
