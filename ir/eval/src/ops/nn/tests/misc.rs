//! Matrix-product, normalisation and quantisation tests.

use super::super::minifloat::{MiniFloat, pack, sign_extend, unpack};
use super::*;
use bytes::Bytes;
use nnslim_ir::op::{BatchNorm, DequantizeLinear, Lrn, QuantizeLinear};

fn naive_mm(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    y
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|i| v[(i % rows) * cols + i / rows])
        .collect()
}

#[test]
fn gemm_transposes_and_broadcasts_c() {
    let (m, k, n) = (5, 7, 70);
    let a = rand(m * k, 1);
    let b = rand(k * n, 2);
    let base = naive_mm(&a, &b, m, k, n);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let av = if ta { transpose(&a, m, k) } else { a.clone() };
        let bv = if tb { transpose(&b, k, n) } else { b.clone() };
        let ash = if ta { [k, m] } else { [m, k] };
        let bsh = if tb { [n, k] } else { [k, n] };
        for c_shape in [vec![], vec![n], vec![m, 1], vec![m, n]] {
            let cn: usize = c_shape.iter().product();
            let c = rand(cn, 3);
            let op = gemm_op(0.5, 2.0, ta, tb);
            let ins = vec![
                Some(arr(&ash, av.clone())),
                Some(arr(&bsh, bv.clone())),
                Some(arr(&c_shape, c.clone())),
            ];
            let y = run(op, ins, 1).unwrap();
            let want: Vec<f32> = (0..m * n)
                .map(|i| {
                    let ci = match c_shape.len() {
                        0 => 0,
                        1 => i % n,
                        _ if c_shape[1] == 1 => i / n,
                        _ => i,
                    };
                    0.5 * base[i] + 2.0 * c[ci]
                })
                .collect();
            assert_close(f32s(&y[0]), &want);
        }
    }
    let ai = Array::new(vec![2, 2], Data::I64(vec![1, 2, 3, 4])).unwrap();
    let y = run(
        gemm_op(1.0, 1.0, false, true),
        vec![Some(ai.clone()), Some(ai), None],
        1,
    )
    .unwrap();
    assert_eq!(y[0].data, Data::I64(vec![5, 11, 11, 25]));
}

#[test]
fn matmul_broadcasts_batches_and_1d() {
    let a = rand(2 * 3 * 4, 4);
    let b = rand(3 * 4 * 5, 5);
    // [2, 1, 3, 4] x [3, 4, 5] -> [2, 3, 3, 5]
    let y = run(
        Op::MatMul,
        vec![
            Some(arr(&[2, 1, 3, 4], a.clone())),
            Some(arr(&[3, 4, 5], b.clone())),
        ],
        1,
    )
    .unwrap();
    assert_eq!(y[0].shape, vec![2, 3, 3, 5]);
    let got = f32s(&y[0]);
    for i in 0..2 {
        for j in 0..3 {
            let want = naive_mm(&a[i * 12..(i + 1) * 12], &b[j * 20..(j + 1) * 20], 3, 4, 5);
            assert_close(&got[(i * 3 + j) * 15..(i * 3 + j + 1) * 15], &want);
        }
    }
    // [2, 3, 4] x [4, 5]: the batch folds into rows.
    let y = run(
        Op::MatMul,
        vec![
            Some(arr(&[2, 3, 4], a.clone())),
            Some(arr(&[4, 5], b[..20].to_vec())),
        ],
        1,
    )
    .unwrap();
    assert_close(f32s(&y[0]), &naive_mm(&a, &b[..20], 6, 4, 5));
    // 1-D operands: [4] x [3, 4, 5] -> [3, 5]; [2, 3, 4] x [4] -> [2, 3]; [4] x [4] -> [].
    let y = run(
        Op::MatMul,
        vec![
            Some(arr(&[4], a[..4].to_vec())),
            Some(arr(&[3, 4, 5], b.clone())),
        ],
        1,
    )
    .unwrap();
    assert_eq!(y[0].shape, vec![3, 5]);
    assert_close(&f32s(&y[0])[5..10], &naive_mm(&a[..4], &b[20..40], 1, 4, 5));
    let y = run(
        Op::MatMul,
        vec![
            Some(arr(&[2, 3, 4], a.clone())),
            Some(arr(&[4], b[..4].to_vec())),
        ],
        1,
    )
    .unwrap();
    assert_eq!(y[0].shape, vec![2, 3]);
    assert_close(f32s(&y[0]), &naive_mm(&a, &b[..4], 6, 4, 1));
    let y = run(
        Op::MatMul,
        vec![
            Some(arr(&[4], a[..4].to_vec())),
            Some(arr(&[4], b[..4].to_vec())),
        ],
        1,
    )
    .unwrap();
    assert_eq!(y[0].shape, Vec::<usize>::new());
    let ai = Array::new(vec![1, 3], Data::U32(vec![1, 2, 3])).unwrap();
    let bi = Array::new(vec![3], Data::U32(vec![4, 5, 6])).unwrap();
    assert_eq!(
        run(Op::MatMul, vec![Some(ai), Some(bi)], 1).unwrap()[0].data,
        Data::U32(vec![32])
    );
}

#[test]
fn large_products_split_over_threads_identically() {
    for (m, k, n) in [(128, 256, 600), (600, 256, 128)] {
        let a = rand(m * k, 6);
        let b = rand(k * n, 7);
        let y = run(
            Op::MatMul,
            vec![Some(arr(&[m, k], a.clone())), Some(arr(&[k, n], b.clone()))],
            1,
        )
        .unwrap();
        assert_close(f32s(&y[0]), &naive_mm(&a, &b, m, k, n));
    }
}

#[test]
fn batch_norm_inference_and_training() {
    let x = arr(&[2, 3, 2], rand(12, 8));
    let scale = vec![1.0, 0.5, 2.0];
    let bias = vec![0.0, 1.0, -1.0];
    let mean = vec![0.1, -0.2, 0.3];
    let var = vec![1.0, 0.25, 4.0];
    let params = |v: &Vec<f32>| Some(arr(&[3], v.clone()));
    let op = |t| {
        Op::BatchNormalization(BatchNorm {
            epsilon: 1e-5,
            momentum: 0.9,
            training_mode: t,
        })
    };
    let y = run(
        op(false),
        vec![
            Some(x.clone()),
            params(&scale),
            params(&bias),
            params(&mean),
            params(&var),
        ],
        1,
    )
    .unwrap();
    let xv = f32s(&x);
    let want: Vec<f32> = (0..12)
        .map(|i| {
            let c = (i / 2) % 3;
            (xv[i] - mean[c]) / (var[c] + 1e-5).sqrt() * scale[c] + bias[c]
        })
        .collect();
    assert_close(f32s(&y[0]), &want);
    let y = run(
        op(true),
        vec![
            Some(x.clone()),
            params(&scale),
            params(&bias),
            params(&mean),
            params(&var),
        ],
        3,
    )
    .unwrap();
    let c0: Vec<f32> = [0, 1, 6, 7].iter().map(|&i| xv[i]).collect();
    let bm = c0.iter().sum::<f32>() / 4.0;
    let bv = c0.iter().map(|v| (v - bm) * (v - bm)).sum::<f32>() / 4.0;
    assert_close(&f32s(&y[1])[..1], &[0.1 * 0.9 + bm * 0.1]);
    assert_close(&f32s(&y[2])[..1], &[0.9 + bv * 0.1]);
    assert_close(&f32s(&y[0])[..1], &[(xv[0] - bm) / (bv + 1e-5).sqrt()]);
}

#[test]
fn lrn_sums_neighbouring_channels() {
    let x = arr(&[1, 4, 1, 1], vec![1.0, 2.0, 3.0, 4.0]);
    let op = Op::Lrn(Lrn {
        alpha: 0.5,
        beta: 0.75,
        bias: 1.0,
        size: 2,
    });
    let y = run(op, vec![Some(x)], 1).unwrap();
    // size 2: channels c and c + 1.
    let sq = [1.0f32 + 4.0, 4.0 + 9.0, 9.0 + 16.0, 16.0];
    let want: Vec<f32> = (0..4)
        .map(|c| (c + 1) as f32 / (1.0 + 0.25 * sq[c]).powf(0.75))
        .collect();
    assert_close(f32s(&y[0]), &want);
}

fn qop(axis: i64, block_size: i64, output_dtype: Option<DType>, saturate: bool) -> Op {
    Op::QuantizeLinear(QuantizeLinear {
        axis,
        saturate,
        block_size,
        output_dtype,
        precision: None,
    })
}

#[test]
fn quantize_rounds_half_to_even_and_saturates() {
    let x = arr(&[8], vec![0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, 3.49]);
    let y = run(
        qop(1, 0, None, true),
        vec![Some(x.clone()), Some(arr(&[], vec![1.0]))],
        1,
    )
    .unwrap();
    assert_eq!(y[0].data, Data::U8(vec![0, 2, 2, 0, 0, 255, 0, 3]));
    let zp = Array::new(vec![], Data::I8(vec![1])).unwrap();
    let y = run(
        qop(1, 0, None, true),
        vec![Some(x.clone()), Some(arr(&[], vec![1.0])), Some(zp)],
        1,
    )
    .unwrap();
    assert_eq!(y[0].data, Data::I8(vec![1, 3, 3, 1, -1, 127, -128, 4]));
    // int4: clamped to [-8, 7] and packed two per byte, low nibble first.
    let y = run(
        qop(1, 0, Some(DType::I4), true),
        vec![Some(x), Some(arr(&[], vec![2.0]))],
        1,
    )
    .unwrap();
    let codes = [0i32, 1, 1, 0, -1, 7, -8, 2];
    let want: Vec<u8> = codes
        .chunks(2)
        .map(|c| (c[0] as u8 & 15) | ((c[1] as u8 & 15) << 4))
        .collect();
    assert_eq!(y[0].data, Data::Packed(DType::I4, Bytes::from(want)));
}

#[test]
fn per_axis_and_blocked_scales() {
    // x [2, 3], per-axis on axis 1.
    let q = Array::new(vec![2, 3], Data::I8(vec![10, 20, 30, -10, -20, -30])).unwrap();
    let zp = Array::new(vec![3], Data::I8(vec![0, 10, -10])).unwrap();
    let op = Op::DequantizeLinear(DequantizeLinear {
        axis: 1,
        block_size: 0,
        output_dtype: None,
    });
    let y = run(
        op,
        vec![
            Some(q.clone()),
            Some(arr(&[3], vec![1.0, 0.5, 2.0])),
            Some(zp),
        ],
        1,
    )
    .unwrap();
    assert_close(f32s(&y[0]), &[10.0, 5.0, 80.0, -10.0, -15.0, -40.0]);
    // Blocked along axis 1 with block 2: scales [2, 2].
    let op = Op::DequantizeLinear(DequantizeLinear {
        axis: 1,
        block_size: 2,
        output_dtype: None,
    });
    let y = run(
        op,
        vec![Some(q), Some(arr(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]))],
        1,
    )
    .unwrap();
    assert_close(f32s(&y[0]), &[10.0, 20.0, 60.0, -30.0, -60.0, -120.0]);
    let x = arr(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = run(
        qop(1, 2, Some(DType::U8), true),
        vec![
            Some(x.clone()),
            Some(arr(&[2, 2], vec![1.0, 2.0, 4.0, 0.5])),
        ],
        1,
    )
    .unwrap();
    assert_eq!(y[0].data, Data::U8(vec![1, 2, 2, 1, 1, 12]));
    assert!(
        run(
            qop(1, 2, None, true),
            vec![Some(x), Some(arr(&[2, 3], vec![1.0; 6]))],
            1
        )
        .is_err()
    );
}

#[test]
fn float8_codes_round_trip() {
    for d in [
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::F4E2M1,
    ] {
        let f = MiniFloat::of(d).unwrap();
        let codes = if d == DType::F4E2M1 { 16 } else { 256 };
        for code in 0..codes as u16 {
            let v = f.decode(code as u8);
            if v.is_nan() || (d == DType::F8E5M2FNUZ || d == DType::F8E4M3FNUZ) && code == 0x80 {
                continue;
            }
            assert_eq!(
                f.encode(v as f64, false),
                code as u8,
                "{d} code {code:#x} = {v}"
            );
        }
    }
    let e4 = MiniFloat::of(DType::F8E4M3FN).unwrap();
    assert_eq!(e4.decode(e4.encode(1000.0, true)), 448.0);
    assert!(e4.decode(e4.encode(1000.0, false)).is_nan());
    assert_eq!(e4.decode(e4.encode(449.0, false)), 448.0);
    let e5 = MiniFloat::of(DType::F8E5M2).unwrap();
    assert_eq!(e5.decode(e5.encode(1e6, false)), f32::INFINITY);
    assert_eq!(e5.decode(e5.encode(f64::INFINITY, true)), 57344.0);
    // Ties to even: 1.0625 lies halfway between 1.0 and 1.125 in E4M3.
    assert_eq!(e4.decode(e4.encode(1.0625, true)), 1.0);
    assert_eq!(e4.decode(e4.encode(1.1875, true)), 1.25);
    let f4 = MiniFloat::of(DType::F4E2M1).unwrap();
    assert_eq!(f4.decode(f4.encode(5.0, true)), 4.0);
    assert_eq!(f4.decode(f4.encode(100.0, false)), 6.0);
}

#[test]
fn sub_byte_packing() {
    let codes = [1u8, 15, 7, 8, 3];
    let packed = pack(4, &codes);
    assert_eq!(packed, vec![0xf1, 0x87, 0x03]);
    assert_eq!(unpack(4, &packed, 5).unwrap(), codes);
    assert_eq!(sign_extend(15, 4), -1);
    assert_eq!(sign_extend(8, 4), -8);
    assert_eq!(sign_extend(3, 2), -1);
    assert_eq!(pack(2, &[1, 2, 3, 0, 1]), vec![0b0011_1001, 0b01]);
    assert!(unpack(4, &packed, 7).is_none());
}

#[test]
fn fast_per_tensor_quantize_matches_the_reference_arithmetic() {
    // Ties at every half step, values far outside the range, zeros of both signs and NaN,
    // long enough for the vector loop and its tail.
    let mut xs: Vec<f32> = (-700..700).map(|i| i as f32 * 0.25).collect();
    xs.extend([
        f32::NAN,
        -0.0,
        1e30,
        -1e30,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.5e-3,
    ]);
    let x = arr(&[xs.len()], xs.clone());
    for (scale, zp) in [(0.5f32, 0i64), (0.5, 7), (0.037, -3), (2.0, 128)] {
        let reference = |lo: f32, hi: f32| -> Vec<i32> {
            xs.iter()
                .map(|&v| {
                    let q = ((v / scale).round_ties_even() + zp as f32).clamp(lo, hi);
                    if q.is_nan() { 0 } else { q as i32 }
                })
                .collect()
        };
        if (0..=255).contains(&zp) {
            let z = Array::new(vec![], Data::U8(vec![zp as u8])).unwrap();
            let y = run(
                qop(1, 0, None, true),
                vec![Some(x.clone()), Some(arr(&[], vec![scale])), Some(z)],
                1,
            )
            .unwrap();
            let Data::U8(got) = &y[0].data else {
                panic!("u8 expected")
            };
            let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(got, reference(0.0, 255.0), "u8 scale {scale} zp {zp}");
        }
        if (-128..=127).contains(&zp) {
            let z = Array::new(vec![], Data::I8(vec![zp as i8])).unwrap();
            let y = run(
                qop(1, 0, None, true),
                vec![Some(x.clone()), Some(arr(&[], vec![scale])), Some(z)],
                1,
            )
            .unwrap();
            let Data::I8(got) = &y[0].data else {
                panic!("i8 expected")
            };
            let got: Vec<i32> = got.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(got, reference(-128.0, 127.0), "i8 scale {scale} zp {zp}");
        }
    }
}
