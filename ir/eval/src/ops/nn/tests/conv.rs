//! Convolution and pooling tests against naive loops.

use super::*;

/// Geometry of a naive 2-D reference: strides, dilations, pads `[top, left, bottom, right]`.
#[derive(Clone, Copy)]
struct G2 {
    s: [usize; 2],
    d: [usize; 2],
    p: [usize; 4],
}

/// Naive grouped 2-D convolution with explicit pads.
fn naive_conv(x: &Array, w: &Array, b: Option<&[f32]>, g: G2, group: usize) -> Array {
    let (xs, ws) = (&x.shape, &w.shape);
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (m, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let mg = m / group;
    let oh = (h + g.p[0] + g.p[2] - (kh - 1) * g.d[0] - 1) / g.s[0] + 1;
    let ow = (wd + g.p[1] + g.p[3] - (kw - 1) * g.d[1] - 1) / g.s[1] + 1;
    let (xv, wv) = (f32s(x), f32s(w));
    let mut y = vec![0f32; n * m * oh * ow];
    for ni in 0..n {
        for mi in 0..m {
            let gi = mi / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[mi]);
                    for ci in 0..cg {
                        let cin = gi * cg + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * g.s[0] + ky * g.d[0]) as isize - g.p[0] as isize;
                                let ix = (ox * g.s[1] + kx * g.d[1]) as isize - g.p[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xi = ((ni * c + cin) * h + iy as usize) * wd + ix as usize;
                                let wi = ((mi * cg + ci) * kh + ky) * kw + kx;
                                acc += xv[xi] * wv[wi];
                            }
                        }
                    }
                    y[((ni * m + mi) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    arr(&[n, m, oh, ow], y)
}

/// Naive grouped 2-D transposed convolution; `out` is the output size, `pb` the begin pads
/// (may be negative).
fn naive_conv_t(
    x: &Array,
    w: &Array,
    g: G2,
    pb: [isize; 2],
    out: [usize; 2],
    group: usize,
) -> Array {
    let (xs, ws) = (&x.shape, &w.shape);
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (mg, kh, kw) = (ws[1], ws[2], ws[3]);
    let cg = c / group;
    let m = mg * group;
    let (xv, wv) = (f32s(x), f32s(w));
    let mut y = vec![0f32; n * m * out[0] * out[1]];
    for ni in 0..n {
        for ci in 0..c {
            let gi = ci / cg;
            for iy in 0..h {
                for ix in 0..wd {
                    let xval = xv[((ni * c + ci) * h + iy) * wd + ix];
                    for mi in 0..mg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let oy = (iy * g.s[0] + ky * g.d[0]) as isize - pb[0];
                                let ox = (ix * g.s[1] + kx * g.d[1]) as isize - pb[1];
                                if oy < 0
                                    || ox < 0
                                    || oy >= out[0] as isize
                                    || ox >= out[1] as isize
                                {
                                    continue;
                                }
                                let mo = gi * mg + mi;
                                let yi =
                                    ((ni * m + mo) * out[0] + oy as usize) * out[1] + ox as usize;
                                y[yi] += xval * wv[((ci * mg + mi) * kh + ky) * kw + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    arr(&[n, m, out[0], out[1]], y)
}

fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

#[test]
fn conv_matches_naive_with_stride_dilation_pads() {
    let x = arr(&[2, 3, 9, 8], rand(2 * 3 * 72, 1));
    let w = arr(&[4, 3, 3, 2], rand(4 * 3 * 6, 2));
    let b = rand(4, 3);
    for (s, d, p) in [
        ([1, 1], [1, 1], [0, 0, 0, 0]),
        ([2, 3], [1, 1], [1, 0, 2, 1]),
        ([2, 1], [2, 3], [3, 1, 0, 2]),
    ] {
        let g = G2 { s, d, p };
        let op = conv_op(
            window(None, &i64s(&s), &i64s(&d), &i64s(&p), AutoPad::NotSet),
            1,
        );
        let y = run(
            op,
            vec![Some(x.clone()), Some(w.clone()), Some(arr(&[4], b.clone()))],
            1,
        )
        .unwrap();
        let want = naive_conv(&x, &w, Some(&b), g, 1);
        assert_eq!(y[0].shape, want.shape);
        assert_close(f32s(&y[0]), f32s(&want));
    }
}

#[test]
fn conv_same_lower_and_upper_put_the_odd_pad_cell_apart() {
    // Input 5, kernel 4, stride 1: total padding 3; SAME_LOWER pads 2 before, SAME_UPPER 1.
    let x = arr(&[1, 2, 5, 5], rand(50, 4));
    let w = arr(&[3, 2, 4, 4], rand(96, 5));
    for (auto, p) in [
        (AutoPad::SameLower, [2, 2, 1, 1]),
        (AutoPad::SameUpper, [1, 1, 2, 2]),
    ] {
        let op = conv_op(window(None, &[], &[], &[], auto), 1);
        let y = run(op, vec![Some(x.clone()), Some(w.clone())], 1).unwrap();
        let want = naive_conv(
            &x,
            &w,
            None,
            G2 {
                s: [1, 1],
                d: [1, 1],
                p,
            },
            1,
        );
        assert_eq!(y[0].shape, vec![1, 3, 5, 5]);
        assert_close(f32s(&y[0]), f32s(&want));
    }
    // Stride 2 on 7: 4 outputs, total padding (4-1)*2+3-7 = 2, split evenly.
    let x = arr(&[1, 1, 7, 7], rand(49, 6));
    let w = arr(&[1, 1, 3, 3], rand(9, 7));
    let op = conv_op(window(None, &[2, 2], &[], &[], AutoPad::SameLower), 1);
    let y = run(op, vec![Some(x.clone()), Some(w.clone())], 1).unwrap();
    let want = naive_conv(
        &x,
        &w,
        None,
        G2 {
            s: [2, 2],
            d: [1, 1],
            p: [1, 1, 1, 1],
        },
        1,
    );
    assert_close(f32s(&y[0]), f32s(&want));
}

#[test]
fn conv_in_column_chunks_matches_naive() {
    // 64 channels x 3 x 3 = 576 column rows. Stride 1 takes the full-width path in blocks of
    // 10 output rows; stride 2 the im2col path in chunks of 455 columns, which start in the
    // middle of output rows. Both are large enough to be split over the rayon threads.
    let x = arr(&[1, 64, 40, 41], rand(64 * 40 * 41, 21));
    let w = arr(&[48, 64, 3, 3], rand(48 * 576, 22));
    let b = rand(48, 23);
    for (s, d, p) in [
        ([1, 1], [2, 1], [2, 1, 2, 1]),
        ([1, 2], [1, 1], [1, 1, 0, 1]),
    ] {
        let op = conv_op(
            window(None, &i64s(&s), &i64s(&d), &i64s(&p), AutoPad::NotSet),
            1,
        );
        let ins = vec![
            Some(x.clone()),
            Some(w.clone()),
            Some(arr(&[48], b.clone())),
        ];
        let y = run(op, ins, 1).unwrap();
        let want = naive_conv(&x, &w, Some(&b), G2 { s, d, p }, 1);
        assert_eq!(y[0].shape, want.shape);
        assert_close(f32s(&y[0]), f32s(&want));
    }
}

#[test]
fn grouped_and_depthwise_conv() {
    let x = arr(&[2, 6, 6, 5], rand(360, 8));
    for (group, m) in [(2, 4), (3, 6), (6, 6), (6, 12)] {
        let w = arr(&[m, 6 / group, 3, 3], rand(m * (6 / group) * 9, 9));
        let b = rand(m, 10);
        let op = conv_op(
            window(
                Some(vec![3, 3]),
                &[1, 2],
                &[],
                &[1, 1, 1, 0],
                AutoPad::NotSet,
            ),
            group as i64,
        );
        let y = run(
            op,
            vec![Some(x.clone()), Some(w.clone()), Some(arr(&[m], b.clone()))],
            1,
        )
        .unwrap();
        let want = naive_conv(
            &x,
            &w,
            Some(&b),
            G2 {
                s: [1, 2],
                d: [1, 1],
                p: [1, 1, 1, 0],
            },
            group,
        );
        assert_close(f32s(&y[0]), f32s(&want));
    }
}

#[test]
fn conv_1d_and_3d_agree_with_2d() {
    // 1-D is 2-D with height 1; 3-D with depth 1 and kernel depth 1 likewise.
    let x2 = arr(&[1, 2, 1, 10], rand(20, 11));
    let w2 = arr(&[3, 2, 1, 3], rand(18, 12));
    let want = naive_conv(
        &x2,
        &w2,
        None,
        G2 {
            s: [1, 2],
            d: [1, 2],
            p: [0, 1, 0, 2],
        },
        1,
    );
    let x1 = arr(&[1, 2, 10], f32s(&x2).to_vec());
    let w1 = arr(&[3, 2, 3], f32s(&w2).to_vec());
    let op = conv_op(window(None, &[2], &[2], &[1, 2], AutoPad::NotSet), 1);
    let y = run(op, vec![Some(x1), Some(w1)], 1).unwrap();
    assert_eq!(y[0].shape, vec![1, 3, want.shape[3]]);
    assert_close(f32s(&y[0]), f32s(&want));
    let x3 = arr(&[1, 2, 1, 1, 10], f32s(&x2).to_vec());
    let w3 = arr(&[3, 2, 1, 1, 3], f32s(&w2).to_vec());
    let op = conv_op(
        window(
            None,
            &[1, 1, 2],
            &[1, 1, 2],
            &[0, 0, 1, 0, 0, 2],
            AutoPad::NotSet,
        ),
        1,
    );
    let y = run(op, vec![Some(x3), Some(w3)], 1).unwrap();
    assert_close(f32s(&y[0]), f32s(&want));
}

#[test]
fn conv_transpose_matches_naive() {
    let x = arr(&[2, 4, 3, 4], rand(96, 13));
    for group in [1usize, 2] {
        let w = arr(&[4, 3, 3, 2], rand(72, 14));
        let (s, d) = ([2usize, 3usize], [1usize, 2usize]);
        let pads = [1usize, 0, 0, 2];
        let op = conv_t_op(
            window(None, &i64s(&s), &i64s(&d), &i64s(&pads), AutoPad::NotSet),
            group as i64,
            &[1, 0],
            None,
        );
        let y = run(op, vec![Some(x.clone()), Some(w.clone())], 1).unwrap();
        // out = s * (in - 1) + output_padding + (k - 1) * d + 1 - pads
        let out = [2 * 2 + 1 + 3 - 1, 3 * 3 + 2 + 1 - 2];
        let want = naive_conv_t(&x, &w, G2 { s, d, p: [0; 4] }, [1, 0], out, group);
        assert_eq!(y[0].shape, want.shape);
        assert_close(f32s(&y[0]), f32s(&want));
    }
}

#[test]
fn conv_transpose_output_shape_and_same() {
    let x = arr(&[1, 1, 3, 3], rand(9, 15));
    let w = arr(&[1, 2, 3, 3], rand(18, 16));
    // Full size 3 * 2 + 3 = 9; output_shape 10 x 8 gives total padding -1 and 1:
    // begin = total - total / 2 (floor) = 0 and 1.
    let op = conv_t_op(
        window(None, &[3, 3], &[], &[], AutoPad::NotSet),
        1,
        &[],
        Some(vec![10, 8]),
    );
    let y = run(op, vec![Some(x.clone()), Some(w.clone())], 1).unwrap();
    let want = naive_conv_t(
        &x,
        &w,
        G2 {
            s: [3, 3],
            d: [1, 1],
            p: [0; 4],
        },
        [0, 1],
        [10, 8],
        1,
    );
    assert_eq!(y[0].shape, vec![1, 2, 10, 8]);
    assert_close(f32s(&y[0]), f32s(&want));
    // SAME_UPPER, stride 2: output 6; total = 2 * 2 + 3 - 6 = 1, begin = 0.
    let op = conv_t_op(
        window(None, &[2, 2], &[], &[], AutoPad::SameUpper),
        1,
        &[],
        None,
    );
    let y = run(op, vec![Some(x.clone()), Some(w.clone())], 1).unwrap();
    let want = naive_conv_t(
        &x,
        &w,
        G2 {
            s: [2, 2],
            d: [1, 1],
            p: [0; 4],
        },
        [0, 0],
        [6, 6],
        1,
    );
    assert_close(f32s(&y[0]), f32s(&want));
    let op = conv_t_op(
        window(None, &[2, 2], &[], &[], AutoPad::SameLower),
        1,
        &[],
        None,
    );
    let y = run(op, vec![Some(x.clone()), Some(w)], 1).unwrap();
    assert_eq!(y[0].shape, vec![1, 2, 6, 6]);
}

#[test]
fn pools_ceil_mode_and_padding_counts() {
    // 1 x 1 x 4 x 4 with values 1..16; kernel 3, stride 2, ceil_mode: 2 x 2 outputs, the last
    // windows cut off at the edge.
    let x = arr(&[1, 1, 4, 4], (1..=16).map(|v| v as f32).collect());
    let w = window(Some(vec![3, 3]), &[2, 2], &[], &[], AutoPad::NotSet);
    let max = pool_op(
        PoolKind::Max {
            column_major_indices: false,
        },
        w.clone(),
        true,
    );
    let y = run(max, vec![Some(x.clone())], 2).unwrap();
    assert_eq!(y[0].shape, vec![1, 1, 2, 2]);
    assert_eq!(f32s(&y[0]), &[11.0, 12.0, 15.0, 16.0]);
    assert_eq!(y[1].data, Data::I64(vec![10, 11, 14, 15]));
    let avg = pool_op(
        PoolKind::Average {
            count_include_pad: false,
        },
        w.clone(),
        true,
    );
    let y = run(avg, vec![Some(x.clone())], 1).unwrap();
    assert_close(f32s(&y[0]), &[6.0, 7.5, 12.0, 13.5]);
    // Without ceil_mode only one window fits.
    let avg = pool_op(
        PoolKind::Average {
            count_include_pad: false,
        },
        w,
        false,
    );
    assert_eq!(
        run(avg, vec![Some(x.clone())], 1).unwrap()[0].shape,
        vec![1, 1, 1, 1]
    );
    // Pads of 1 with count_include_pad: corner window sums 1+2+5+6 over 9 cells.
    let w = window(
        Some(vec![3, 3]),
        &[2, 2],
        &[],
        &[1, 1, 1, 1],
        AutoPad::NotSet,
    );
    let avg = pool_op(
        PoolKind::Average {
            count_include_pad: true,
        },
        w.clone(),
        false,
    );
    let y = run(avg, vec![Some(x.clone())], 1).unwrap();
    assert_close(&f32s(&y[0])[..1], &[14.0 / 9.0]);
    let avg = pool_op(
        PoolKind::Average {
            count_include_pad: false,
        },
        w,
        false,
    );
    let y = run(avg, vec![Some(x.clone())], 1).unwrap();
    assert_close(&f32s(&y[0])[..1], &[14.0 / 4.0]);
    // Column-major indices: the maximum 16 at row 3, column 3 of a 4 x 4 plane is 15 either
    // way; 12 (row 2, column 3) is 11 row-major and 14 column-major.
    let w = window(Some(vec![2, 2]), &[2, 2], &[], &[], AutoPad::NotSet);
    let max = pool_op(
        PoolKind::Max {
            column_major_indices: true,
        },
        w,
        false,
    );
    let y = run(max, vec![Some(x)], 2).unwrap();
    assert_eq!(y[1].data, Data::I64(vec![5, 13, 7, 15]));
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = arr(&[1, 3, 5, 5], rand(75, 1));
    let w = arr(&[2, 2, 3, 3], rand(36, 2));
    let op = conv_op(window(None, &[], &[], &[], AutoPad::NotSet), 1);
    let e = run(op.clone(), vec![Some(x.clone()), Some(w)], 1).unwrap_err();
    assert!(matches!(e, EvalError::Node { .. }), "{e}");
    let big = arr(&[2, 3, 9, 9], rand(486, 3));
    assert!(run(op.clone(), vec![Some(x.clone()), Some(big)], 1).is_err());
    let w = arr(&[2, 3, 3, 3], rand(54, 2));
    let b = arr(&[3], vec![0.0; 3]);
    assert!(run(op, vec![Some(x.clone()), Some(w), Some(b)], 1).is_err());
    let op = gemm_op(1.0, 1.0, false, false);
    let a = arr(&[2, 3], rand(6, 1));
    assert!(run(op, vec![Some(a.clone()), Some(a.clone())], 1).is_err());
    assert!(run(Op::MatMul, vec![Some(a.clone()), Some(a)], 1).is_err());
}

#[test]
fn f64_and_integer_element_types() {
    let xv = rand(2 * 3 * 5 * 5, 31);
    let wv = rand(4 * 3 * 9, 32);
    let x64 = Array::new(
        vec![2, 3, 5, 5],
        Data::F64(xv.iter().map(|&v| v as f64).collect()),
    )
    .unwrap();
    let w64 = Array::new(
        vec![4, 3, 3, 3],
        Data::F64(wv.iter().map(|&v| v as f64).collect()),
    )
    .unwrap();
    let op = conv_op(
        window(None, &[2, 1], &[], &[1, 1, 1, 1], AutoPad::NotSet),
        1,
    );
    let y = run(op, vec![Some(x64), Some(w64)], 1).unwrap();
    assert_eq!(y[0].dtype(), DType::F64);
    let want = naive_conv(
        &arr(&[2, 3, 5, 5], xv),
        &arr(&[4, 3, 3, 3], wv),
        None,
        G2 {
            s: [2, 1],
            d: [1, 1],
            p: [1, 1, 1, 1],
        },
        1,
    );
    assert_close(&y[0].to_f32_vec().unwrap(), f32s(&want));
    // MaxPool on u8 and i8 (padding never wins, even over the type's minimum).
    let w = window(
        Some(vec![2, 2]),
        &[1, 1],
        &[],
        &[1, 1, 0, 0],
        AutoPad::NotSet,
    );
    let max = pool_op(
        PoolKind::Max {
            column_major_indices: false,
        },
        w,
        false,
    );
    let x = Array::new(vec![1, 1, 2, 2], Data::U8(vec![0, 7, 200, 3])).unwrap();
    let y = run(max.clone(), vec![Some(x)], 1).unwrap();
    assert_eq!(y[0].data, Data::U8(vec![0, 7, 200, 200]));
    let x = Array::new(vec![1, 1, 2, 2], Data::I8(vec![-128, -5, -7, -128])).unwrap();
    let y = run(max, vec![Some(x)], 1).unwrap();
    assert_eq!(y[0].data, Data::I8(vec![-128, -5, -7, -5]));
}

#[test]
fn lp_pools_match_naive() {
    let x = arr(&[1, 2, 4, 5], rand(40, 33));
    let xv = f32s(&x).to_vec();
    let w = window(
        Some(vec![2, 3]),
        &[2, 2],
        &[],
        &[0, 1, 1, 1],
        AutoPad::NotSet,
    );
    let y = run(
        pool_op(PoolKind::Lp { p: 3 }, w, false),
        vec![Some(x.clone())],
        1,
    )
    .unwrap();
    // Output 2 x 3 per plane; windows start at row 2 * oh and column 2 * ow - 1.
    assert_eq!(y[0].shape, vec![1, 2, 2, 3]);
    let mut want = Vec::new();
    for c in 0..2 {
        for oh in 0..2 {
            for ow in 0..3 {
                let mut acc = 0f32;
                for kh in 0..2 {
                    for kw in 0..3 {
                        let (ih, iw) = (oh * 2 + kh, (ow * 2 + kw) as isize - 1);
                        if ih < 4 && (0..5).contains(&iw) {
                            acc += xv[(c * 4 + ih) * 5 + iw as usize].abs().powi(3);
                        }
                    }
                }
                want.push(acc.powf(1.0 / 3.0));
            }
        }
    }
    assert_close(f32s(&y[0]), &want);
    let op = Op::GlobalPool(nnslim_ir::op::GlobalPool::Lp { p: 2 });
    let y = run(op, vec![Some(x)], 1).unwrap();
    let norm0 = xv[..20].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert_close(&f32s(&y[0])[..1], &[norm0]);
}

#[test]
fn max_pool_2x2_stride_2_matches_naive() {
    // Odd sizes leave the last row and column out; the fast path must not read them. The
    // same windows through a padded layout (general path) agree too.
    for (h, w) in [(6, 8), (7, 9), (11, 11), (2, 2)] {
        let x = arr(&[2, 3, h, w], rand(2 * 3 * h * w, (h * w) as u64));
        let xv = f32s(&x).to_vec();
        let max = |pads: &[i64]| {
            pool_op(
                PoolKind::Max {
                    column_major_indices: false,
                },
                window(Some(vec![2, 2]), &[2, 2], &[], pads, AutoPad::NotSet),
                false,
            )
        };
        let y = run(max(&[]), vec![Some(x.clone())], 1).unwrap();
        let (oh, ow) = (h / 2, w / 2);
        assert_eq!(y[0].shape, vec![2, 3, oh, ow]);
        let mut want = Vec::new();
        for p in 0..6 {
            for i in 0..oh {
                for j in 0..ow {
                    let at = |r: usize, c: usize| xv[p * h * w + r * w + c];
                    let m = [at(2 * i, 2 * j), at(2 * i, 2 * j + 1), at(2 * i + 1, 2 * j)]
                        .into_iter()
                        .fold(at(2 * i + 1, 2 * j + 1), f32::max);
                    want.push(m);
                }
            }
        }
        assert_eq!(f32s(&y[0]), &want[..], "{h}x{w}");
        if h % 2 == 1 && w % 2 == 1 {
            // End padding of 1 adds a window per axis; the first oh x ow agree.
            let z = run(max(&[0, 0, 1, 1]), vec![Some(x)], 1).unwrap();
            let (zh, zw) = (oh + 1, ow + 1);
            let got: Vec<f32> = (0..6)
                .flat_map(|p| (0..oh).flat_map(move |i| (0..ow).map(move |j| (p, i, j))))
                .map(|(p, i, j)| f32s(&z[0])[(p * zh + i) * zw + j])
                .collect();
            assert_eq!(got, want, "padded {h}x{w}");
        }
    }
}
