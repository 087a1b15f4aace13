//! Unit tests of the reductions: axes forms, keepdims, noop_with_empty_axes, empty sets,
//! integer and bool data, ArgMax ties, and both Softmax semantics.

use super::arg::arg_reduce;
use super::reduce;
use super::softmax::softmax;
use crate::{Array, Data};
use nnslim_ir::op::{ArgReduce, Reduce, ReduceKind, Softmax, SoftmaxKind};

fn r(kind: ReduceKind, keepdims: bool, axes: Option<Vec<i64>>, noop: bool) -> Reduce {
    Reduce {
        kind,
        keepdims,
        axes,
        noop_with_empty_axes: noop,
    }
}

fn x234() -> Array {
    Array::f32(vec![2, 3, 4], (0..24).map(|v| v as f32).collect())
}

#[test]
fn axes_keepdims_and_noop() {
    let x = x234();
    let sum = |op: &Reduce, axes: Option<&Array>| reduce(op, &x, axes).unwrap();
    // Attribute axes, negative, keepdims.
    let got = sum(&r(ReduceKind::Sum, true, Some(vec![-1]), false), None);
    assert_eq!(got.shape, vec![2, 3, 1]);
    assert_eq!(got.data, Data::F32(vec![6., 22., 38., 54., 70., 86.]));
    // Axes input, without keepdims.
    let axes = Array::i64(vec![2], vec![0, 2]);
    let got = sum(&r(ReduceKind::Sum, false, None, false), Some(&axes));
    assert_eq!(got.shape, vec![3]);
    assert_eq!(got.data, Data::F32(vec![60., 92., 124.]));
    // No axes: everything, unless noop_with_empty_axes.
    let got = sum(&r(ReduceKind::Sum, false, None, false), None);
    assert_eq!((got.shape, got.data), (vec![], Data::F32(vec![276.])));
    let empty = Array::i64(vec![0], vec![]);
    let got = sum(&r(ReduceKind::Sum, true, None, false), Some(&empty));
    assert_eq!(
        (got.shape, got.data),
        (vec![1, 1, 1], Data::F32(vec![276.]))
    );
    let got = sum(&r(ReduceKind::Sum, false, None, true), Some(&empty));
    assert_eq!(got, x);
    // Reducing each element alone still applies the elementwise part.
    let got = sum(&r(ReduceKind::SumSquare, true, None, true), None);
    assert_eq!(
        got.data,
        Data::F32((0..24).map(|v| (v * v) as f32).collect())
    );
    // Out-of-range and repeated axes are errors, not panics.
    assert!(reduce(&r(ReduceKind::Sum, true, Some(vec![3]), false), &x, None).is_err());
    assert!(
        reduce(
            &r(ReduceKind::Sum, true, Some(vec![1, -2]), false),
            &x,
            None
        )
        .is_err()
    );
}

#[test]
fn empty_sets_give_identities() {
    let x = Array::f32(vec![2, 0, 4], vec![]);
    let one = |kind| {
        let got = reduce(&r(kind, true, Some(vec![1]), false), &x, None).unwrap();
        assert_eq!(got.shape, vec![2, 1, 4]);
        let Data::F32(v) = got.data else { panic!() };
        v[0]
    };
    assert_eq!(one(ReduceKind::Sum), 0.0);
    assert_eq!(one(ReduceKind::Prod), 1.0);
    assert_eq!(one(ReduceKind::L2), 0.0);
    assert_eq!(one(ReduceKind::Max), f32::NEG_INFINITY);
    assert_eq!(one(ReduceKind::Min), f32::INFINITY);
    assert_eq!(one(ReduceKind::LogSum), f32::NEG_INFINITY);
    assert_eq!(one(ReduceKind::LogSumExp), f32::NEG_INFINITY);
    assert!(one(ReduceKind::Mean).is_nan());
    let i = Array::new(vec![0], Data::I32(vec![])).unwrap();
    let got = reduce(&r(ReduceKind::Max, false, None, false), &i, None).unwrap();
    assert_eq!(got.data, Data::I32(vec![i32::MIN]));
    let b = Array::new(vec![0], Data::Bool(vec![])).unwrap();
    let got = reduce(&r(ReduceKind::Min, false, None, false), &b, None).unwrap();
    assert_eq!(got.data, Data::Bool(vec![true]));
}

#[test]
fn integers_bools_and_stability() {
    let i = Array::new(vec![4], Data::I8(vec![100, 100, -7, 0])).unwrap();
    let all = |kind| reduce(&r(kind, false, None, false), &i, None).unwrap().data;
    assert_eq!(all(ReduceKind::Sum), Data::I8(vec![-63])); // 193 wraps
    assert_eq!(all(ReduceKind::Mean), Data::I8(vec![48])); // 193 / 4, truncated
    assert_eq!(all(ReduceKind::Max), Data::I8(vec![100]));
    let b = Array::new(vec![2, 2], Data::Bool(vec![false, true, false, false])).unwrap();
    let got = reduce(&r(ReduceKind::Max, false, Some(vec![1]), false), &b, None).unwrap();
    assert_eq!(got.data, Data::Bool(vec![true, false]));
    let big = Array::f32(vec![3], vec![1000.0, 1000.0, f32::NEG_INFINITY]);
    let got = reduce(&r(ReduceKind::LogSumExp, false, None, false), &big, None).unwrap();
    let Data::F32(v) = got.data else { panic!() };
    assert!(
        (v[0] - (1000.0 + std::f32::consts::LN_2)).abs() < 1e-4,
        "{}",
        v[0]
    );
    let nan = Array::f32(vec![3], vec![1.0, f32::NAN, 3.0]);
    let got = reduce(&r(ReduceKind::Max, false, None, false), &nan, None).unwrap();
    assert!(matches!(got.data, Data::F32(v) if v[0].is_nan()));
}

#[test]
fn argmax_ties_and_keepdims() {
    let x = Array::f32(vec![2, 3], vec![1.0, 5.0, 5.0, 7.0, 2.0, 7.0]);
    let arg = |max, axis, keepdims, last| ArgReduce {
        max,
        axis,
        keepdims,
        select_last_index: last,
    };
    let got = arg_reduce(&arg(true, 1, true, false), &x).unwrap();
    assert_eq!(got, Array::i64(vec![2, 1], vec![1, 0]));
    let got = arg_reduce(&arg(true, -1, false, true), &x).unwrap();
    assert_eq!(got, Array::i64(vec![2], vec![2, 2]));
    let got = arg_reduce(&arg(false, 0, false, false), &x).unwrap();
    assert_eq!(got, Array::i64(vec![3], vec![0, 1, 0]));
    assert!(arg_reduce(&arg(true, 2, true, false), &x).is_err());
    let empty = Array::f32(vec![2, 0], vec![]);
    assert!(arg_reduce(&arg(true, 1, true, false), &empty).is_err());
}

#[test]
fn softmax_axis_and_coerce_2d() {
    let x = Array::f32(vec![2, 2], vec![0.0, 0.0, 1000.0, 1000.0]);
    let sm = |kind, axis, coerce_2d| {
        let s = Softmax {
            kind,
            axis,
            coerce_2d,
        };
        let Data::F32(v) = softmax(&s, &x).unwrap().data else {
            panic!()
        };
        v
    };
    // Opset 13: over axis 0 alone (columns).
    let v = sm(SoftmaxKind::Softmax, 0, false);
    assert_eq!(v, vec![0.0, 0.0, 1.0, 1.0]);
    // Before 13, axis 0 means all elements as one row: no overflow despite 1000.
    let v = sm(SoftmaxKind::Softmax, 0, true);
    assert_eq!(v, vec![0.0, 0.0, 0.5, 0.5]);
    let v = sm(SoftmaxKind::LogSoftmax, 1, true);
    assert!(v.iter().all(|&l| (l + std::f32::consts::LN_2).abs() < 1e-6));
    let v = sm(SoftmaxKind::Hardmax, -1, false);
    assert_eq!(v, vec![1.0, 0.0, 1.0, 0.0]);
    let v = sm(SoftmaxKind::Hardmax, 0, true);
    assert_eq!(v, vec![0.0, 0.0, 1.0, 0.0]);
    let i = Array::i64(vec![2], vec![1, 2]);
    let s = Softmax {
        kind: SoftmaxKind::Softmax,
        axis: 0,
        coerce_2d: false,
    };
    assert!(softmax(&s, &i).is_err());
}
