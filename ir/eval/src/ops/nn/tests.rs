//! Unit tests of the nn kernels against straightforward reference loops.

use crate::{Array, Data, EvalError, Value};
use nnslim_ir::op::{AutoPad, Conv, ConvTranspose, Gemm, Pool, PoolKind, Window};
use nnslim_ir::{DType, Graph, NewNode, Op, Type};
use std::collections::HashMap;

mod conv;
mod misc;

/// Runs one node of `op` on `inputs` (`None` = omitted) through the interpreter.
pub(super) fn run(
    op: Op,
    inputs: Vec<Option<Array>>,
    outputs: usize,
) -> Result<Vec<Array>, EvalError> {
    let mut g = Graph::new();
    let mut feed = HashMap::new();
    let mut ids = Vec::new();
    for (i, a) in inputs.into_iter().enumerate() {
        ids.push(a.map(|a| {
            let name = format!("in{i}");
            let v = g.add_input(&name, Type::tensor(a.dtype(), None));
            feed.insert(name, Value::Tensor(a));
            v
        }));
    }
    let names = (0..outputs).map(|i| format!("out{i}")).collect();
    let node = g
        .add_node(NewNode::new(op, ids, names))
        .expect("node is accepted");
    for slot in 0..outputs {
        g.add_output(nnslim_ir::ValueId {
            node,
            slot: slot as u32,
        });
    }
    let outs = crate::run(&g, &feed)?;
    Ok(outs
        .into_iter()
        .map(|v| v.into_tensor().expect("tensor output"))
        .collect())
}

/// Deterministic pseudo-random values in [-1, 1).
pub(super) fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub(super) fn f32s(a: &Array) -> &[f32] {
    a.as_f32().expect("f32 array")
}

pub(super) fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 + 1e-4 * w.abs(),
            "element {i}: got {g}, want {w}"
        );
    }
}

pub(super) fn window(
    kernel: Option<Vec<i64>>,
    strides: &[i64],
    dilations: &[i64],
    pads: &[i64],
    auto_pad: AutoPad,
) -> Window {
    Window {
        kernel_shape: kernel,
        strides: strides.to_vec(),
        dilations: dilations.to_vec(),
        pads: pads.to_vec(),
        auto_pad,
    }
}

pub(super) fn conv_op(w: Window, group: i64) -> Op {
    Op::Conv(Conv { window: w, group })
}

pub(super) fn conv_t_op(
    w: Window,
    group: i64,
    output_padding: &[i64],
    output_shape: Option<Vec<i64>>,
) -> Op {
    Op::ConvTranspose(ConvTranspose {
        window: w,
        group,
        output_padding: output_padding.to_vec(),
        output_shape,
    })
}

pub(super) fn pool_op(kind: PoolKind, w: Window, ceil_mode: bool) -> Op {
    Op::Pool(Pool {
        kind,
        window: w,
        ceil_mode,
    })
}

pub(super) fn gemm_op(alpha: f32, beta: f32, trans_a: bool, trans_b: bool) -> Op {
    Op::Gemm(Gemm {
        alpha,
        beta,
        trans_a,
        trans_b,
    })
}

pub(super) fn arr(shape: &[usize], v: Vec<f32>) -> Array {
    Array::f32(shape.to_vec(), v)
}

#[test]
fn data_types_round_trip_through_f32() {
    let x = Array::new(
        vec![1, 1, 2, 2],
        Data::F16(
            [1.0f32, 2.0, 3.0, 4.0]
                .iter()
                .map(|&v| half::f16::from_f32(v))
                .collect(),
        ),
    )
    .unwrap();
    let op = Op::GlobalPool(nnslim_ir::op::GlobalPool::Average);
    let y = run(op, vec![Some(x)], 1).unwrap();
    assert_eq!(y[0].dtype(), DType::F16);
    assert_eq!(y[0].shape, vec![1, 1, 1, 1]);
    assert_eq!(y[0].to_f32_vec().unwrap(), vec![2.5]);
}
