//! Unit tests of the elementwise kernels: integer semantics, rounding, casts, broadcasting
//! errors, and one run through the interpreter's dispatch.

use super::binary::{binary, select, variadic};
use super::cast::cast;
use super::packed::{Format, Num};
use super::unary::unary;
use crate::run::KernelError;
use crate::{Array, Data, Value};
use half::f16;
use nnslim_ir::op::{Binary, Cast, CastRounding, ClipAttrs, ShiftDirection, Unary, Variadic};
use nnslim_ir::{DType, Graph, NewNode, Op, Type};
use std::collections::HashMap;

fn arr(shape: &[usize], data: Data) -> Array {
    Array::new(shape.to_vec(), data).unwrap()
}

fn bin(op: Binary, a: Data, b: Data) -> Data {
    let (na, nb) = (a.len(), b.len());
    binary(op, &arr(&[na], a), &arr(&[nb], b)).unwrap().data
}

#[test]
fn integer_mod_and_div_signs() {
    let a = Data::I32(vec![-4, 7, 5, 4, -7, 8, 3, i32::MIN]);
    let b = Data::I32(vec![2, -3, 8, -2, 3, 5, 0, -1]);
    // Python / numpy: the remainder takes the divisor's sign.
    let py = bin(Binary::Mod { fmod: false }, a.clone(), b.clone());
    assert_eq!(py, Data::I32(vec![0, -2, 5, 0, 2, 3, 0, 0]));
    // C fmod: the dividend's sign.
    let c = bin(Binary::Mod { fmod: true }, a.clone(), b.clone());
    assert_eq!(c, Data::I32(vec![0, 1, 5, 0, -1, 3, 0, 0]));
    // Division truncates toward zero; a zero divisor gives 0, MIN / -1 wraps.
    let q = bin(Binary::Div, a, b);
    assert_eq!(q, Data::I32(vec![-2, -2, 0, -2, -2, 1, 0, i32::MIN]));
    let f = bin(
        Binary::Mod { fmod: true },
        Data::F32(vec![-4.5, 7.5]),
        Data::F32(vec![2.0, -2.0]),
    );
    assert_eq!(f, Data::F32(vec![-0.5, 1.5]));
}

#[test]
fn round_is_half_to_even() {
    let x = Data::F32(vec![0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6]);
    let got = unary(Unary::Round, &x).unwrap();
    assert_eq!(got, Data::F32(vec![0.0, 2.0, 2.0, -0.0, -2.0, 2.0, -3.0]));
    let h = Data::F16(vec![f16::from_f32(2.5), f16::from_f32(3.5)]);
    assert_eq!(
        unary(Unary::Round, &h).unwrap(),
        Data::F16(vec![f16::from_f32(2.0), f16::from_f32(4.0)])
    );
}

#[test]
fn unary_integers_and_predicates() {
    let x = Data::I8(vec![-128, -3, 0, 5]);
    assert_eq!(
        unary(Unary::Abs, &x).unwrap(),
        Data::I8(vec![-128, 3, 0, 5])
    );
    assert_eq!(
        unary(Unary::Neg, &x).unwrap(),
        Data::I8(vec![-128, 3, 0, -5])
    );
    assert_eq!(
        unary(Unary::Sign, &x).unwrap(),
        Data::I8(vec![-1, -1, 0, 1])
    );
    assert_eq!(unary(Unary::Relu, &x).unwrap(), Data::I8(vec![0, 0, 0, 5]));
    let f = Data::F32(vec![f32::NEG_INFINITY, f32::NAN, 1.0, f32::INFINITY]);
    let inf = Unary::IsInf {
        detect_negative: false,
        detect_positive: true,
    };
    assert_eq!(
        unary(inf, &f).unwrap(),
        Data::Bool(vec![false, false, false, true])
    );
    assert_eq!(
        unary(Unary::IsNaN, &f).unwrap(),
        Data::Bool(vec![false, true, false, false])
    );
    assert!(matches!(
        unary(Unary::Exp, &x),
        Err(KernelError::Unsupported(_))
    ));
    assert!(unary(Unary::Not, &f).is_err());
}

#[test]
fn activations_stay_finite() {
    let x = Data::F32(vec![-1000.0, -1.0, 0.0, 1.0, 1000.0]);
    let Data::F32(s) = unary(Unary::Softplus, &x).unwrap() else {
        panic!()
    };
    assert_eq!(s[0], 0.0);
    assert_eq!(s[4], 1000.0);
    assert!((s[2] - std::f32::consts::LN_2).abs() < 1e-7);
    let Data::F32(g) = unary(
        Unary::Gelu {
            tanh_approximation: false,
        },
        &x,
    )
    .unwrap() else {
        panic!()
    };
    assert!((g[3] - 0.841_344_7).abs() < 1e-6, "{}", g[3]);
    assert_eq!(g[0], -0.0);
}

#[test]
fn shifts_and_pow_with_mixed_types() {
    let left = Binary::BitShift {
        direction: ShiftDirection::Left,
    };
    let right = Binary::BitShift {
        direction: ShiftDirection::Right,
    };
    let (a, b) = (Data::I8(vec![64, -8, -8, 4]), Data::I8(vec![1, 1, -1, 8]));
    assert_eq!(
        bin(left, a.clone(), b.clone()),
        Data::I8(vec![-128, -16, 0, 0])
    );
    assert_eq!(bin(right, a, b), Data::I8(vec![32, -4, -1, 0]));
    assert_eq!(
        bin(right, Data::U8(vec![255]), Data::U8(vec![9])),
        Data::U8(vec![0])
    );
    let p = bin(
        Binary::Pow,
        Data::I32(vec![2, 3, -2, 2]),
        Data::F32(vec![3.0, 0.5, 2.0, -1.0]),
    );
    assert_eq!(p, Data::I32(vec![8, 1, 4, 0]));
    let p = bin(
        Binary::Pow,
        Data::I64(vec![3, -1, 2, 3]),
        Data::I64(vec![39, -3, -2, 41]),
    );
    let wrapped = (3i128.pow(41) as u128 % (1u128 << 64)) as u64 as i64;
    assert_eq!(p, Data::I64(vec![4052555153018976267, -1, 0, wrapped]));
    let p = bin(Binary::Pow, Data::F32(vec![2.0]), Data::I64(vec![-2]));
    assert_eq!(p, Data::F32(vec![0.25]));
}

#[test]
fn broadcasting_errors_are_values() {
    let a = arr(&[2, 3], Data::F32(vec![0.0; 6]));
    let b = arr(&[4], Data::F32(vec![0.0; 4]));
    assert!(matches!(
        binary(Binary::Add, &a, &b),
        Err(KernelError::Invalid(m)) if m.contains("shapes")
    ));
    let i = arr(&[3], Data::I32(vec![0; 3]));
    assert!(binary(Binary::Add, &i, &arr(&[3], Data::I64(vec![0; 3]))).is_err());
    // PRelu's slope must broadcast to X, not X to the slope.
    let slope = arr(&[2, 1], Data::F32(vec![0.1, 0.2]));
    let x = arr(&[3], Data::F32(vec![-1.0, 0.0, 1.0]));
    assert!(binary(Binary::PRelu, &x, &slope).is_err());
    let got = binary(Binary::PRelu, &slope, &arr(&[1], Data::F32(vec![2.0]))).unwrap();
    assert_eq!(got.data, Data::F32(vec![0.1, 0.2]));
}

#[test]
fn variadic_where_and_clip() {
    let a = arr(&[2, 1], Data::F32(vec![1.0, f32::NAN]));
    let b = arr(&[3], Data::F32(vec![0.0, 2.0, 4.0]));
    let max = variadic(Variadic::Max, &[&a, &b]).unwrap();
    assert_eq!(max.shape, vec![2, 3]);
    let Data::F32(m) = &max.data else { panic!() };
    assert_eq!(&m[..3], &[1.0, 2.0, 4.0]);
    assert!(m[3..].iter().all(|v| v.is_nan()));
    let mean = variadic(Variadic::Mean, &[&b, &b, &b]).unwrap();
    assert_eq!(mean.data, Data::F32(vec![0.0, 2.0, 4.0]));

    let c = arr(&[2, 1], Data::Bool(vec![true, false]));
    let s = |v: &[&str]| Data::Str(v.iter().map(|s| s.as_bytes().to_vec()).collect());
    let x = arr(&[2], s(&["a", "b"]));
    let y = arr(&[], s(&["z"]));
    let w = select(&c, &x, &y).unwrap();
    assert_eq!((w.shape, w.data), (vec![2, 2], s(&["a", "b", "z", "z"])));

    let x = arr(&[4], Data::F32(vec![-5.0, 0.5, 5.0, f32::NAN]));
    let attrs = Some(ClipAttrs {
        min: -1.0,
        max: 1.0,
    });
    let Data::F32(v) = super::clip(&x, attrs, None, None).unwrap().data else {
        panic!()
    };
    assert_eq!(&v[..3], &[-1.0, 0.5, 1.0]);
    assert!(v[3].is_nan());
    // A minimum above the maximum gives the maximum; integer bounds come from inputs.
    let i = arr(&[3], Data::I8(vec![-100, 0, 100]));
    let (lo, hi) = (arr(&[], Data::I8(vec![5])), arr(&[], Data::I8(vec![2])));
    let got = super::clip(&i, None, Some(&lo), Some(&hi)).unwrap();
    assert_eq!(got.data, Data::I8(vec![2, 2, 2]));
    let got = super::clip(&i, None, None, Some(&hi)).unwrap();
    assert_eq!(got.data, Data::I8(vec![-100, 0, 2]));
}

fn cast_to(to: DType, saturate: bool, x: Data) -> Data {
    let c = Cast {
        to,
        saturate,
        round_mode: CastRounding::Up,
    };
    let n = x.len();
    cast(&c, &arr(&[n], x)).unwrap().data
}

#[test]
fn cast_saturation_and_nan() {
    let x = Data::F32(vec![1e6, f32::INFINITY, f32::NAN, -1e6, 0.47892547, -1e-7]);
    let codes = |d: Data| d.to_le_bytes().to_vec();
    let sat = codes(cast_to(DType::F8E4M3FN, true, x.clone()));
    assert_eq!(sat, vec![0x7e, 0x7e, 0x7f, 0xfe, 0x2f, 0x80]);
    let wrap = codes(cast_to(DType::F8E4M3FN, false, x.clone()));
    assert_eq!(wrap, vec![0x7f, 0x7f, 0x7f, 0xff, 0x2f, 0x80]);
    let e5 = codes(cast_to(DType::F8E5M2, false, x.clone()));
    assert_eq!(e5, vec![0x7c, 0x7c, 0x7e, 0xfc, 0x38, 0x80]);
    let uz = codes(cast_to(DType::F8E4M3FNUZ, true, x.clone()));
    assert_eq!(uz, vec![0x7f, 0x7f, 0x80, 0xff, 0x37, 0x00]);
    // Floats to integers truncate and wrap; NaN is 0 and true.
    let f = Data::F32(vec![-9.7, 300.5, f32::NAN, -1.5]);
    assert_eq!(
        cast_to(DType::I8, true, f.clone()),
        Data::I8(vec![-9, 44, 0, -1])
    );
    assert_eq!(
        cast_to(DType::U8, true, f.clone()),
        Data::U8(vec![247, 44, 0, 255])
    );
    assert_eq!(
        cast_to(DType::Bool, true, f.clone()),
        Data::Bool(vec![true, true, true, true])
    );
    let i4 = cast_to(DType::I4, true, f);
    assert_eq!(i4.to_le_bytes().to_vec(), vec![0xc7, 0xf0]);
    let h = cast_to(DType::F16, true, Data::F64(vec![1e6, 1.0 / 3.0]));
    assert_eq!(h, Data::F16(vec![f16::INFINITY, f16::from_f64(1.0 / 3.0)]));
}

#[test]
fn cast_strings() {
    let s = |v: &[&str]| Data::Str(v.iter().map(|s| s.as_bytes().to_vec()).collect());
    let got = cast_to(
        DType::F32,
        true,
        s(&["1e-5", "-INF", "NaN", " 3 ", "+2.5E1"]),
    );
    let Data::F32(v) = got else { panic!() };
    assert_eq!(
        (v[0], v[1], v[3], v[4]),
        (1e-5, f32::NEG_INFINITY, 3.0, 25.0)
    );
    assert!(v[2].is_nan());
    assert_eq!(
        cast_to(DType::I64, true, s(&["9007199254740993", "-7.9"])),
        Data::I64(vec![9007199254740993, -7])
    );
    let back = cast_to(
        DType::String,
        true,
        Data::F32(vec![0.1, -f32::INFINITY, 1e20]),
    );
    assert_eq!(back, s(&["0.1", "-INF", "1e20"]));
    let c = Cast::to(DType::F32);
    assert!(cast(&c, &arr(&[1], s(&["abc"]))).is_err());
}

#[test]
fn small_floats_round_trip() {
    for dtype in [
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::F4E2M1,
        DType::F8E8M0,
    ] {
        let f = Format::of(dtype).unwrap();
        let codes = if dtype == DType::F4E2M1 { 16 } else { 256 };
        for code in 0..codes as u8 {
            let Num::Float(v) = f.decode(code) else {
                panic!()
            };
            let back = f.encode(Num::Float(v), false, CastRounding::Nearest);
            if !v.is_nan() {
                assert_eq!(back, code, "{dtype} code {code:#x} = {v}");
            } else {
                assert!(matches!(f.decode(back), Num::Float(b) if b.is_nan()));
            }
        }
    }
    let u2 = Format::of(DType::U2).unwrap();
    let packed = u2.pack(&[1, 2, 3, 0, 1]);
    assert_eq!(packed.to_vec(), vec![0b0011_1001, 0b01]);
    assert_eq!(u2.unpack(&packed, 5).unwrap(), vec![1, 2, 3, 0, 1]);
    assert!(u2.unpack(&packed, 9).is_none());
}

/// Kernels run through the interpreter's dispatch: Add, then Clip with an omitted bound.
#[test]
fn through_the_interpreter() {
    let mut g = Graph::new();
    let ty = Type::tensor(DType::F32, None);
    let (x, y) = (g.add_input("x", ty.clone()), g.add_input("y", ty));
    let node = |g: &mut Graph, op: Op, inputs: Vec<Option<_>>, out: &str| {
        let id = g.add_node(NewNode::new(op, inputs, vec![out.into()]));
        nnslim_ir::ValueId {
            node: id.unwrap(),
            slot: 0,
        }
    };
    let sum = node(&mut g, Op::Binary(Binary::Add), vec![Some(x), Some(y)], "s");
    let clip = nnslim_ir::op::Clip { attrs: None };
    let hi = g.add_initializer("hi", Array::f32(vec![], vec![2.5]).to_tensor());
    let c = node(&mut g, Op::Clip(clip), vec![Some(sum), None, Some(hi)], "c");
    g.add_output(c);
    let inputs = HashMap::from([
        (
            "x".to_string(),
            Value::from(Array::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])),
        ),
        (
            "y".to_string(),
            Value::from(Array::f32(vec![2], vec![0.0, 1.0])),
        ),
    ]);
    let out = crate::run(&g, &inputs).unwrap();
    assert_eq!(
        out,
        vec![Value::from(Array::f32(
            vec![2, 2],
            vec![1.0, 2.5, 2.5, 2.5]
        ))]
    );
}
