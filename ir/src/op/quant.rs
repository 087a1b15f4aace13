//! Integer ops of dynamic quantization: `DynamicQuantizeLinear` (opset 11+), `MatMulInteger`
//! and `ConvInteger` (opset 10+). None of them has attributes of its own except `ConvInteger`,
//! which has `Conv`'s; they are typed here for their input/output types.

use super::conv::Conv;
use super::facts::{input_err, optional, out, required};
use super::linalg::infer_matmul;
use super::{InferInput, OpError};
use crate::{DType, Dim, Type};

/// `DynamicQuantizeLinear(x)`: outputs `y` (uint8, x's shape), `y_scale` (f32 scalar) and
/// `y_zero_point` (uint8 scalar). X must be float32.
pub(crate) fn infer_dynamic_quantize(
    inputs: &[Option<InferInput<'_>>],
) -> Result<Vec<Type>, OpError> {
    let x = required(inputs, 0)?;
    if let Some(d) = x.dtype()
        && d != DType::F32
    {
        return Err(input_err(0, format!("x must be float32, got {d}")));
    }
    Ok(vec![
        out(Some(DType::U8), x.shape().cloned()),
        Type::tensor(DType::F32, Some(Vec::new())),
        Type::tensor(DType::U8, Some(Vec::new())),
    ])
}

/// Checks that input `slot` (an operand or its zero point) is int8 or uint8 when known, and
/// that a zero point has its operand's type. Returns the element type.
fn int8_operand(
    inputs: &[Option<InferInput<'_>>],
    slot: usize,
    zero_point: usize,
) -> Result<Option<DType>, OpError> {
    let d = optional(inputs, slot).and_then(|i| i.dtype());
    if let Some(d) = d
        && !matches!(d, DType::I8 | DType::U8)
    {
        return Err(input_err(slot, format!("must be int8 or uint8, got {d}")));
    }
    let z = optional(inputs, zero_point).and_then(|i| i.dtype());
    match (d, z) {
        (Some(d), Some(z)) if d != z => Err(input_err(
            zero_point,
            format!("zero point is {z} but its operand is {d}"),
        )),
        _ => Ok(d),
    }
}

/// A zero point's rank: a scalar, a 1-D vector, or (N-D) the operand's rank.
fn check_zero_point_rank(
    inputs: &[Option<InferInput<'_>>],
    slot: usize,
    operand: usize,
) -> Result<(), OpError> {
    let (Some(z), Some(x)) = (
        optional(inputs, slot).and_then(|i| i.rank()),
        optional(inputs, operand).and_then(|i| i.rank()),
    ) else {
        return Ok(());
    };
    if z <= 1 || z == x {
        Ok(())
    } else {
        Err(input_err(
            slot,
            format!("zero point of rank {z} for an operand of rank {x}"),
        ))
    }
}

/// `MatMulInteger(A, B, a_zero_point?, b_zero_point?)`: numpy `matmul` of `(A - a_zp)` and
/// `(B - b_zp)` accumulated in int32. A and B are int8 or uint8; the output is int32.
pub(crate) fn infer_matmul_integer(
    inputs: &[Option<InferInput<'_>>],
) -> Result<Vec<Type>, OpError> {
    int8_operand(inputs, 0, 2)?;
    int8_operand(inputs, 1, 3)?;
    check_zero_point_rank(inputs, 2, 0)?;
    check_zero_point_rank(inputs, 3, 1)?;
    let shape = infer_matmul(&inputs[..inputs.len().min(2)])?
        .into_iter()
        .next()
        .and_then(|t| t.as_tensor().and_then(|t| t.shape.clone()));
    Ok(vec![Type::tensor(DType::I32, shape)])
}

/// `ConvInteger(x, w, x_zero_point?, w_zero_point?)`: `Conv` of `(x - x_zp)` and `(w - w_zp)`
/// accumulated in int32, no bias. `x_zero_point` is a scalar; `w_zero_point` a scalar or one
/// value per output channel.
pub(crate) fn infer_conv_integer(
    conv: &Conv,
    inputs: &[Option<InferInput<'_>>],
) -> Result<Vec<Type>, OpError> {
    int8_operand(inputs, 0, 2)?;
    int8_operand(inputs, 1, 3)?;
    if let Some(shape) = optional(inputs, 2).and_then(|i| i.shape())
        && shape.iter().any(|d| matches!(d, Dim::Known(n) if *n != 1))
    {
        return Err(input_err(2, "x_zero_point must be a scalar"));
    }
    if let Some(r) = optional(inputs, 3).and_then(|i| i.rank())
        && r > 1
    {
        return Err(input_err(
            3,
            format!("w_zero_point must be 0-D or 1-D, got rank {r}"),
        ));
    }
    let shape = conv
        .infer(&inputs[..inputs.len().min(2)])?
        .into_iter()
        .next()
        .and_then(|t| t.as_tensor().and_then(|t| t.shape.clone()));
    Ok(vec![Type::tensor(DType::I32, shape)])
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Fact, infer_n as infer, ints, parse, ty};
    use crate::op::Op;
    use crate::{DType, Type};

    fn u8s(dims: &[&str]) -> Option<Fact> {
        Fact::of(ty(DType::U8, dims))
    }

    fn i8s(dims: &[&str]) -> Option<Fact> {
        Fact::of(ty(DType::I8, dims))
    }

    #[test]
    fn parse_and_write_back() {
        assert!(matches!(
            parse("DynamicQuantizeLinear", 11, vec![]),
            Op::DynamicQuantizeLinear
        ));
        // Opset 10 has no DynamicQuantizeLinear: it stays opaque.
        assert!(parse("DynamicQuantizeLinear", 10, vec![]).is_opaque());
        assert!(matches!(
            parse("MatMulInteger", 10, vec![]),
            Op::MatMulInteger
        ));
        let conv = parse(
            "ConvInteger",
            10,
            vec![ints("pads", &[1, 1, 1, 1]), ints("strides", &[2, 2])],
        );
        let Op::ConvInteger(c) = &conv else {
            panic!("{conv:?}")
        };
        assert_eq!(c.window.strides, [2, 2]);
        let w = conv.to_onnx(13).unwrap();
        assert_eq!(w.op_type, "ConvInteger");
        let names: Vec<&str> = w.attrs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["strides", "pads"]);
        assert!(Op::DynamicQuantizeLinear.to_onnx(10).is_err());
        assert!(Op::MatMulInteger.to_onnx(13).unwrap().attrs.is_empty());
    }

    #[test]
    fn infers_integer_types() {
        let t = infer(
            &Op::DynamicQuantizeLinear,
            &[Fact::of(ty(DType::F32, &["N", "64"]))],
            3,
        )
        .unwrap();
        assert_eq!(t[0], ty(DType::U8, &["N", "64"]));
        assert_eq!(t[1], Type::tensor(DType::F32, Some(vec![])));
        assert_eq!(t[2], Type::tensor(DType::U8, Some(vec![])));
        assert!(
            infer(
                &Op::DynamicQuantizeLinear,
                &[Fact::of(ty(DType::F16, &["2"]))],
                3
            )
            .is_err()
        );

        let mm = infer(
            &Op::MatMulInteger,
            &[
                u8s(&["N", "64"]),
                i8s(&["64", "10"]),
                u8s(&[]),
                i8s(&["10"]),
            ],
            1,
        )
        .unwrap();
        assert_eq!(mm[0], ty(DType::I32, &["N", "10"]));
        // A zero point of another type than its operand, or an f32 operand, is an error.
        assert!(
            infer(
                &Op::MatMulInteger,
                &[u8s(&["2", "3"]), i8s(&["3", "4"]), i8s(&[])],
                1
            )
            .is_err()
        );
        assert!(
            infer(
                &Op::MatMulInteger,
                &[Fact::of(ty(DType::F32, &["2", "3"])), i8s(&["3", "4"])],
                1
            )
            .is_err()
        );
        assert!(infer(&Op::MatMulInteger, &[u8s(&["2", "3"]), u8s(&["4", "4"])], 1).is_err());

        let conv = parse("ConvInteger", 10, vec![ints("pads", &[1, 1, 1, 1])]);
        let c = infer(
            &conv,
            &[
                u8s(&["N", "1", "28", "28"]),
                i8s(&["8", "1", "3", "3"]),
                u8s(&[]),
                i8s(&["8"]),
            ],
            1,
        )
        .unwrap();
        assert_eq!(c[0], ty(DType::I32, &["N", "8", "28", "28"]));
        assert!(
            infer(
                &conv,
                &[
                    u8s(&["1", "1", "5", "5"]),
                    u8s(&["2", "1", "3", "3"]),
                    u8s(&["2"])
                ],
                1
            )
            .is_err()
        );
    }
}
