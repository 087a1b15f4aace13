//! Unit tests of the shape kernels: tricky forms the ONNX node tests do not cover (other element
//! types, extreme or invalid parameters that must be errors, not panics).

use super::elems::{MAX_ELEMENTS, Offsets};
use super::random::Mt19937;
use super::{layout, resize, slicing};
use crate::run::KernelError;
use crate::{Array, Data, Value};
use bytes::Bytes;
use nnslim_ir::DType;
use nnslim_ir::op::{
    CoordinateTransform, Flatten, NearestMode, Pad, PadAttrs, PadMode, Reshape, Resize, ResizeMode,
    Slice, Split, Transpose,
};

fn t(v: Array) -> Value {
    Value::Tensor(v)
}

fn ints(shape: &[usize], v: &[i64]) -> Array {
    Array::i64(shape.to_vec(), v.to_vec())
}

fn strs(shape: &[usize], v: &[&str]) -> Array {
    Array::new(
        shape.to_vec(),
        Data::Str(v.iter().map(|s| s.as_bytes().to_vec()).collect()),
    )
    .unwrap()
}

fn is_invalid<T: std::fmt::Debug>(r: Result<T, KernelError>) -> bool {
    matches!(r, Err(KernelError::Invalid(_)))
}

#[test]
fn offsets_walk_row_major() {
    let tables = vec![vec![Some(0), Some(10)], vec![Some(1), None, Some(3)]];
    let got: Vec<Option<usize>> = Offsets::new(&tables).collect();
    assert_eq!(got, [Some(1), None, Some(3), Some(11), None, Some(13)]);
    assert_eq!(Offsets::new(&[]).count(), 1);
    assert_eq!(Offsets::new(&[vec![]]).count(), 0);
}

#[test]
fn transposes_strings_and_packed_nibbles() {
    let x = strs(&[2, 3], &["a", "b", "c", "d", "e", "f"]);
    let y = layout::transpose(&Transpose { perm: None }, &x).unwrap();
    assert_eq!(y, strs(&[3, 2], &["a", "d", "b", "e", "c", "f"]));
    // int4 elements 0..6 packed two per byte, low nibble first.
    let x = Array::new(
        vec![2, 3],
        Data::Packed(DType::I4, Bytes::from(vec![0x10, 0x32, 0x54])),
    )
    .unwrap();
    let y = layout::transpose(&Transpose { perm: None }, &x).unwrap();
    // [0,3,1,4,2,5]
    assert_eq!(
        y.data,
        Data::Packed(DType::I4, Bytes::from(vec![0x30, 0x41, 0x52]))
    );
    let bad = Transpose {
        perm: Some(vec![0, 0]),
    };
    assert!(is_invalid(layout::transpose(&bad, &x)));
}

#[test]
fn reshape_and_flatten_errors() {
    let x = Array::f32(vec![2, 3], vec![0.0; 6]);
    let r = Reshape { allowzero: false };
    assert_eq!(layout::reshape(&r, &x, &[0, -1]).unwrap().shape, [2, 3]);
    assert_eq!(layout::reshape(&r, &x, &[-1]).unwrap().shape, [6]);
    assert!(is_invalid(layout::reshape(&r, &x, &[-1, -1])));
    assert!(is_invalid(layout::reshape(&r, &x, &[4, -1])));
    assert!(is_invalid(layout::reshape(&r, &x, &[0, 0, 0])));
    assert!(is_invalid(layout::reshape(&r, &x, &[i64::MAX, 2])));
    let empty = Array::f32(vec![0, 3], vec![]);
    assert!(is_invalid(layout::reshape(&r, &empty, &[0, -1])));
    let z = Reshape { allowzero: true };
    assert_eq!(layout::reshape(&z, &empty, &[3, 0]).unwrap().shape, [3, 0]);
    assert!(is_invalid(layout::flatten(&Flatten { axis: 3 }, &x)));
    assert_eq!(
        layout::flatten(&Flatten { axis: -2 }, &x).unwrap().shape,
        [1, 6]
    );
}

#[test]
fn squeeze_unsqueeze_and_constant_of_shape() {
    let x = Array::f32(vec![1, 3, 1], vec![1.0, 2.0, 3.0]);
    assert_eq!(layout::squeeze(&x, None).unwrap().shape, [3]);
    assert_eq!(layout::squeeze(&x, Some(&[])).unwrap().shape, [3]);
    assert_eq!(layout::squeeze(&x, Some(&[-1])).unwrap().shape, [1, 3]);
    assert!(is_invalid(layout::squeeze(&x, Some(&[1]))));
    assert_eq!(
        layout::unsqueeze(&x, &[-1, 0]).unwrap().shape,
        [1, 1, 3, 1, 1]
    );
    assert!(is_invalid(layout::unsqueeze(&x, &[0, -5])));
    assert!(is_invalid(layout::unsqueeze(&x, &[1, 1])));
    let fill = strs(&[1], &["x"]);
    let c = layout::constant_of_shape(&fill, &[2]).unwrap();
    assert_eq!(c, strs(&[2], &["x", "x"]));
    assert!(is_invalid(layout::constant_of_shape(&fill, &[-1])));
    let huge = (MAX_ELEMENTS as i64) * 2;
    assert!(is_invalid(layout::constant_of_shape(&fill, &[huge, huge])));
}

#[test]
fn slices_clamp_and_step_backwards() {
    let x = ints(&[6], &[0, 1, 2, 3, 4, 5]);
    let run = |s: i64, e: i64, step: i64| {
        let ins = [
            t(x.clone()),
            t(ints(&[1], &[s])),
            t(ints(&[1], &[e])),
            t(ints(&[1], &[0])),
            t(ints(&[1], &[step])),
        ];
        let refs: Vec<Option<&Value>> = ins.iter().map(Some).collect();
        slicing::slice(&Slice { attrs: None }, &refs).map(|a| a.to_i64_vec().unwrap())
    };
    assert_eq!(run(i64::MAX, i64::MIN, -2).unwrap(), [5, 3, 1]);
    assert_eq!(run(-100, 100, 4).unwrap(), [0, 4]);
    assert_eq!(run(4, 1, 1).unwrap(), Vec::<i64>::new());
    assert_eq!(run(-1, -7, -1).unwrap(), [5, 4, 3, 2, 1, 0]);
    assert!(is_invalid(run(0, 1, 0)));
}

#[test]
fn gather_split_concat_errors() {
    let x = ints(&[2, 2], &[1, 2, 3, 4]);
    let idx = Array::new(vec![2], Data::I32(vec![-1, 0])).unwrap();
    let y = slicing::gather_axis(&x, 1, &idx).unwrap();
    assert_eq!(y.to_i64_vec().unwrap(), [2, 1, 4, 3]);
    assert!(is_invalid(slicing::gather_axis(&x, 0, &ints(&[1], &[2]))));
    assert!(is_invalid(slicing::gather_axis(&x, 2, &ints(&[1], &[0]))));
    let s = Split {
        axis: 0,
        split: None,
        num_outputs: Some(3),
    };
    let v = ints(&[7], &[0, 1, 2, 3, 4, 5, 6]);
    let outs = slicing::split(&s, &[Some(&t(v.clone()))], 3).unwrap();
    let lens: Vec<usize> = outs.iter().map(|o| o.as_tensor().unwrap().len()).collect();
    assert_eq!(lens, [3, 3, 1]);
    let plain = Split::default();
    assert!(is_invalid(slicing::split(&plain, &[Some(&t(v))], 3)));
    let f = Array::f32(vec![2], vec![0.0; 2]);
    assert!(is_invalid(slicing::concat(0, &[&x, &f])));
    assert!(is_invalid(slicing::concat(0, &[&ints(&[2], &[1, 2]), &x])));
}

fn pad(mode: PadMode, pads: &[i64], x: &Array) -> Result<Array, KernelError> {
    let op = Pad {
        mode,
        attrs: Some(PadAttrs {
            pads: pads.to_vec(),
            value: 9.0,
        }),
    };
    slicing::pad(&op, &[Some(&t(x.clone()))])
}

#[test]
fn pads_crop_reflect_and_wrap() {
    let x = ints(&[3], &[1, 2, 3]);
    let v = |r: Result<Array, KernelError>| r.unwrap().to_i64_vec().unwrap();
    assert_eq!(v(pad(PadMode::Constant, &[2, -1], &x)), [9, 9, 1, 2]);
    assert_eq!(
        v(pad(PadMode::Reflect, &[5, 0], &x)),
        [2, 1, 2, 3, 2, 1, 2, 3]
    );
    assert_eq!(
        v(pad(PadMode::Wrap, &[4, 2], &x)),
        [3, 1, 2, 3, 1, 2, 3, 1, 2]
    );
    assert_eq!(v(pad(PadMode::Edge, &[-2, 2], &x)), [3, 3, 3]);
    // Reflect of the cropped part [2, 3].
    assert_eq!(v(pad(PadMode::Reflect, &[-1, 2], &x)), [2, 3, 2, 3]);
    assert!(is_invalid(pad(PadMode::Constant, &[-2, -2], &x)));
    assert!(is_invalid(pad(PadMode::Edge, &[-3, 1], &x)));
    let s = strs(&[2], &["a", "b"]);
    let p = pad(PadMode::Constant, &[1, 0], &s);
    assert!(matches!(p, Err(KernelError::Unsupported(_))));
    let op = Pad {
        mode: PadMode::Constant,
        attrs: Some(PadAttrs {
            pads: vec![1, 0],
            value: 0.0,
        }),
    };
    let y = slicing::pad(&op, &[Some(&t(s))]).unwrap();
    assert_eq!(y, strs(&[3], &["", "a", "b"]));
}

#[test]
fn resize_nearest_moves_integers_exactly() {
    let x = ints(&[1, 2], &[i64::MAX, i64::MIN + 1]);
    let op = Resize {
        nearest_mode: NearestMode::Floor,
        coordinate_transformation_mode: CoordinateTransform::Asymmetric,
        ..Resize::default()
    };
    let sizes = ints(&[2], &[2, 4]);
    let ins = [t(x), t(sizes)];
    let refs = [Some(&ins[0]), None, None, Some(&ins[1])];
    let y = resize::resize(&op, &refs).unwrap();
    assert_eq!(y.shape, [2, 4]);
    let v = y.to_i64_vec().unwrap();
    assert_eq!(v[..4], [i64::MAX, i64::MAX, i64::MIN + 1, i64::MIN + 1]);
    // Linear on u8 rounds half to even and saturates.
    let op = Resize {
        mode: ResizeMode::Linear,
        coordinate_transformation_mode: CoordinateTransform::AlignCorners,
        ..Resize::default()
    };
    let x = Array::new(vec![2], Data::U8(vec![0, 255])).unwrap();
    let ins = [t(x), t(ints(&[1], &[3]))];
    let y = resize::resize(&op, &[Some(&ins[0]), None, None, Some(&ins[1])]).unwrap();
    assert_eq!(y.data, Data::U8(vec![0, 128, 255]));
    // Both or neither of scales and sizes: errors.
    assert!(is_invalid(resize::resize(&op, &[Some(&ins[0])])));
}

#[test]
fn numpy_mersenne_twister() {
    let mut mt = Mt19937::new(0);
    assert_eq!(mt.next_f64(), 0.548_813_503_927_324_8);
    assert_eq!(mt.next_f64(), 0.715_189_366_372_419_5);
    let mut mt = Mt19937::new(42);
    assert_eq!(mt.next_f64(), 0.374_540_118_847_362_5);
}
