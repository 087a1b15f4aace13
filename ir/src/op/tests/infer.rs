//! Shape and dtype inference: static, symbolic and unknown dims, constant inputs, and errors for
//! definite contradictions only.

use super::*;
use crate::op::*;

fn x(dims: &[&str]) -> Option<Fact> {
    Fact::of(f32s(dims))
}

fn err_text(r: Result<Vec<Type>, OpError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(t) => panic!("expected an error, inferred {t:?}"),
    }
}

#[test]
fn conv_keeps_the_symbolic_batch() {
    let conv = parse(
        "Conv",
        11,
        vec![ints("pads", &[1, 1, 1, 1]), ints("strides", &[2, 2])],
    );
    let out = infer1(
        &conv,
        &[
            x(&["N", "3", "32", "31"]),
            x(&["16", "3", "3", "3"]),
            x(&["16"]),
        ],
    );
    assert_eq!(out, f32s(&["N", "16", "16", "16"]));
    let same = parse(
        "Conv",
        11,
        vec![string("auto_pad", "SAME_UPPER"), ints("strides", &[2, 2])],
    );
    assert_eq!(
        infer1(
            &same,
            &[x(&["1", "3", "33", "H"]), x(&["8", "3", "5", "5"])]
        ),
        f32s(&["1", "8", "17", "?"])
    );
    let same1 = parse("Conv", 11, vec![string("auto_pad", "SAME_LOWER")]);
    assert_eq!(
        infer1(
            &same1,
            &[x(&["1", "3", "H", "W"]), x(&["8", "3", "3", "3"])]
        ),
        f32s(&["1", "8", "H", "W"])
    );
    let valid = parse(
        "Conv",
        11,
        vec![
            string("auto_pad", "VALID"),
            ints("dilations", &[2]),
            ints("pads", &[5, 5]),
        ],
    );
    assert_eq!(
        infer1(&valid, &[x(&["2", "4", "10"]), x(&["6", "4", "3"])]),
        f32s(&["2", "6", "6"])
    );
    let pointwise = parse("Conv", 11, vec![]);
    assert_eq!(
        infer1(
            &pointwise,
            &[x(&["N", "4", "H", "W"]), x(&["6", "4", "1", "1"])]
        ),
        f32s(&["N", "6", "H", "W"])
    );
    // Unknown X rank: the rank comes from W.
    assert_eq!(
        infer1(
            &pointwise,
            &[
                Fact::of(Type::tensor(DType::F32, None)),
                x(&["6", "4", "1", "1"])
            ]
        ),
        f32s(&["?", "6", "?", "?"])
    );
}

#[test]
fn conv_contradictions_are_errors() {
    let conv = parse("Conv", 11, vec![]);
    let e = err_text(infer_n(
        &conv,
        &[x(&["1", "3", "8", "8"]), x(&["4", "2", "3", "3"])],
        1,
    ));
    assert!(e.contains("3 channels") && e.contains("2"), "{e}");
    let grouped = parse("Conv", 11, vec![int("group", 2)]);
    let e = err_text(infer_n(
        &grouped,
        &[x(&["1", "4", "8", "8"]), x(&["3", "2", "3", "3"])],
        1,
    ));
    assert!(e.contains("group") && e.contains('3'), "{e}");
    assert_eq!(
        infer1(
            &grouped,
            &[x(&["1", "4", "8", "8"]), x(&["6", "2", "3", "3"])]
        ),
        f32s(&["1", "6", "6", "6"])
    );
    let e = err_text(infer_n(
        &conv,
        &[x(&["1", "3", "2", "2"]), x(&["4", "3", "3", "3"])],
        1,
    ));
    assert!(e.contains("smaller than the kernel"), "{e}");
    let strided = parse("Conv", 11, vec![ints("strides", &[2, 2])]);
    assert!(matches!(
        infer_n(&strided, &[x(&["1", "3", "8"]), x(&["4", "3", "3"])], 1),
        Err(OpError::AttrValue { name, .. }) if name == "strides"
    ));
    assert!(matches!(
        infer_n(&conv, &[x(&["1", "3", "8", "8"])], 1),
        Err(OpError::Input { slot: 1, .. })
    ));
    // Structs built by passes are checked too: no division by a zero stride or group.
    let mut broken = Conv {
        window: Window::default(),
        group: 0,
    };
    let facts = [x(&["1", "3", "8", "8"]), x(&["4", "3", "3", "3"])];
    assert!(matches!(
        infer_n(&Op::Conv(broken.clone()), &facts, 1),
        Err(OpError::AttrValue { .. })
    ));
    broken.group = 1;
    broken.window.strides = vec![0, 0];
    assert!(matches!(
        infer_n(&Op::Conv(broken), &facts, 1),
        Err(OpError::AttrValue { .. })
    ));
}

#[test]
fn conv_transpose_output_sizes() {
    let ct = parse("ConvTranspose", 11, vec![ints("strides", &[2, 2])]);
    assert_eq!(
        infer1(&ct, &[x(&["N", "3", "5", "5"]), x(&["3", "2", "3", "3"])]),
        f32s(&["N", "2", "11", "11"])
    );
    let ct = parse(
        "ConvTranspose",
        11,
        vec![
            ints("strides", &[2]),
            ints("output_padding", &[1]),
            ints("pads", &[1, 1]),
            int("group", 2),
        ],
    );
    assert_eq!(
        infer1(&ct, &[x(&["1", "4", "5"]), x(&["4", "3", "3"])]),
        f32s(&["1", "6", "10"])
    );
    let ct = parse("ConvTranspose", 11, vec![ints("output_shape", &[9, 9])]);
    assert_eq!(
        infer1(&ct, &[x(&["1", "3", "5", "5"]), x(&["3", "2", "3", "3"])]),
        f32s(&["1", "2", "9", "9"])
    );
    let same = parse(
        "ConvTranspose",
        11,
        vec![string("auto_pad", "SAME_UPPER"), ints("strides", &[3])],
    );
    assert_eq!(
        infer1(&same, &[x(&["1", "3", "4"]), x(&["3", "2", "2"])]),
        f32s(&["1", "2", "12"])
    );
}

#[test]
fn pools_floor_ceil_and_global() {
    let mp = parse(
        "MaxPool",
        12,
        vec![
            ints("kernel_shape", &[2]),
            ints("strides", &[2]),
            int("ceil_mode", 1),
        ],
    );
    let out = infer_n(&mp, &[x(&["N", "1", "5"])], 2).unwrap();
    assert_eq!(
        out,
        vec![f32s(&["N", "1", "3"]), ty(DType::I64, &["N", "1", "3"])]
    );
    // A last window starting in the end padding: runtimes and spec versions disagree.
    let drop = parse(
        "MaxPool",
        12,
        vec![
            ints("kernel_shape", &[2]),
            ints("strides", &[3]),
            ints("pads", &[1, 1]),
            int("ceil_mode", 1),
        ],
    );
    assert_eq!(
        infer1(&drop, &[x(&["1", "1", "4"])]),
        f32s(&["1", "1", "?"])
    );
    let avg = parse(
        "AveragePool",
        11,
        vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
    );
    assert_eq!(
        infer1(&avg, &[x(&["1", "2", "7", "6"])]),
        f32s(&["1", "2", "7", "6"])
    );
    let e = err_text(infer_n(&avg, &[x(&["1", "2", "7"])], 1));
    assert!(e.contains("rank 3"), "{e}");
    let gap = parse("GlobalAveragePool", 1, vec![]);
    assert_eq!(
        infer1(&gap, &[x(&["N", "8", "7", "7"])]),
        f32s(&["N", "8", "1", "1"])
    );
}

#[test]
fn reshape_with_zero_and_minus_one() {
    let r = parse("Reshape", 13, vec![]);
    assert_eq!(
        infer1(&r, &[x(&["N", "3", "4"]), Fact::ints(&[0, -1])]),
        f32s(&["N", "12"])
    );
    assert_eq!(
        infer1(&r, &[x(&["2", "3", "4"]), Fact::ints(&[4, -1])]),
        f32s(&["4", "6"])
    );
    assert_eq!(
        infer1(&r, &[x(&["N", "3", "4"]), Fact::ints(&[-1, 12])]),
        f32s(&["N", "12"])
    );
    assert_eq!(
        infer1(&r, &[x(&["N", "3", "4"]), Fact::ints(&[-1, 5])]),
        f32s(&["?", "5"])
    );
    assert_eq!(
        infer1(&r, &[x(&["N", "C"]), Fact::ints(&[2, -1])]),
        f32s(&["2", "?"])
    );
    let e = err_text(infer_n(&r, &[x(&["2", "3"]), Fact::ints(&[5])], 1));
    assert!(e.contains("6 elements") && e.contains("5 elements"), "{e}");
    assert!(matches!(
        infer_n(&r, &[x(&["2", "3"]), Fact::ints(&[-1, -1])], 1),
        Err(OpError::Input { slot: 1, .. })
    ));
    assert!(infer_n(&r, &[x(&["2", "3"]), Fact::ints(&[4, -1])], 1).is_err());
    // Shape known only by its length.
    assert_eq!(
        infer1(&r, &[x(&["2", "3"]), Fact::of(ty(DType::I64, &["3"]))]),
        f32s(&["?", "?", "?"])
    );
    let zero = parse("Reshape", 14, vec![int("allowzero", 1)]);
    assert_eq!(
        infer1(&zero, &[x(&["0", "3"]), Fact::ints(&[3, 0])]),
        f32s(&["3", "0"])
    );
}

#[test]
fn broadcasting_with_symbols() {
    let add = parse("Add", 14, vec![]);
    assert_eq!(
        infer1(&add, &[x(&["N", "3", "1"]), x(&["4"])]),
        f32s(&["N", "3", "4"])
    );
    assert_eq!(
        infer1(&add, &[x(&["N", "1"]), x(&["M", "5"])]),
        f32s(&["?", "5"])
    );
    assert_eq!(infer1(&add, &[x(&["N"]), x(&["1"])]), f32s(&["N"]));
    let e = err_text(infer_n(&add, &[x(&["2", "3"]), x(&["4"])], 1));
    assert!(e.contains("3 vs 4"), "{e}");
    let less = parse("Less", 13, vec![]);
    assert_eq!(
        infer1(&less, &[x(&["2", "1"]), x(&["3"])]),
        ty(DType::Bool, &["2", "3"])
    );
    let wh = parse("Where", 16, vec![]);
    assert_eq!(
        infer1(
            &wh,
            &[
                Fact::of(ty(DType::Bool, &["N", "1"])),
                Fact::of(ty(DType::I64, &["4"])),
                Fact::of(ty(DType::I64, &[]))
            ]
        ),
        ty(DType::I64, &["N", "4"])
    );
    let sum = parse("Sum", 13, vec![]);
    assert_eq!(
        infer1(&sum, &[x(&["3", "1"]), x(&["1", "4"]), x(&["4"])]),
        f32s(&["3", "4"])
    );
    let prelu = parse("PRelu", 16, vec![]);
    assert_eq!(
        infer1(&prelu, &[x(&["N", "3", "5"]), x(&["3", "1"])]),
        f32s(&["N", "3", "5"])
    );
    assert!(infer_n(&prelu, &[x(&["3"]), x(&["2", "3"])], 1).is_err());
    // Unknown inputs: unknown outputs, no errors.
    assert_eq!(
        infer1(&add, &[Fact::of(Type::Unknown), x(&["3"])]),
        Type::tensor(DType::F32, None)
    );
    assert_eq!(
        infer1(&parse("Relu", 14, vec![]), &[Fact::of(Type::Unknown)]),
        Type::Unknown
    );
}

#[test]
fn matmul_and_gemm() {
    let mm = Op::MatMul;
    assert_eq!(
        infer1(&mm, &[x(&["N", "3", "4"]), x(&["4", "5"])]),
        f32s(&["N", "3", "5"])
    );
    assert_eq!(
        infer1(&mm, &[x(&["4"]), x(&["2", "4", "5"])]),
        f32s(&["2", "5"])
    );
    assert_eq!(infer1(&mm, &[x(&["3", "4"]), x(&["4"])]), f32s(&["3"]));
    assert_eq!(infer1(&mm, &[x(&["4"]), x(&["4"])]), f32s(&[]));
    assert_eq!(
        infer1(&mm, &[x(&["2", "1", "3", "4"]), x(&["5", "4", "6"])]),
        f32s(&["2", "5", "3", "6"])
    );
    let e = err_text(infer_n(&mm, &[x(&["3", "4"]), x(&["5", "6"])], 1));
    assert!(e.contains("K = 4") && e.contains("K = 5"), "{e}");
    let gemm = parse("Gemm", 13, vec![int("transA", 1), int("transB", 1)]);
    assert_eq!(
        infer1(&gemm, &[x(&["4", "M"]), x(&["N", "4"]), x(&["N"])]),
        f32s(&["M", "N"])
    );
    let gemm = parse("Gemm", 13, vec![]);
    assert_eq!(
        infer1(&gemm, &[x(&["2", "3"]), x(&["3", "5"]), None]),
        f32s(&["2", "5"])
    );
    assert!(infer_n(&gemm, &[x(&["2", "3"]), x(&["4", "5"])], 1).is_err());
    assert!(infer_n(&gemm, &[x(&["2", "3"]), x(&["3", "5"]), x(&["3"])], 1).is_err());
}

#[test]
fn slice_with_negative_steps_and_clamping() {
    assert_eq!(slice_len(10, -1, i64::MIN, -1), 10);
    assert_eq!(slice_len(10, 5, 1, -2), 2);
    assert_eq!(slice_len(10, 1, 1000, 3), 3);
    assert_eq!(slice_len(10, -100, 100, 1), 10);
    assert_eq!(slice_len(10, 100, -100, -1), 10);
    assert_eq!(slice_len(0, -1, i64::MIN, -1), 0);
    assert_eq!(slice_len(5, 3, 1, 1), 0);
    let s = parse("Slice", 13, vec![]);
    let out = infer1(
        &s,
        &[
            x(&["N", "10", "8"]),
            Fact::ints(&[-1, 2]),
            Fact::ints(&[i64::MIN, 7]),
            Fact::ints(&[1, 2]),
            Fact::ints(&[-1, 2]),
        ],
    );
    assert_eq!(out, f32s(&["N", "10", "3"]));
    let out = infer1(
        &s,
        &[
            x(&["N", "10"]),
            Fact::ints(&[0]),
            Fact::ints(&[i64::MAX]),
            None,
            None,
        ],
    );
    assert_eq!(out, f32s(&["N", "10"]));
    // Non-constant starts: only the sliced axes change.
    let out = infer1(
        &s,
        &[
            x(&["N", "10"]),
            Fact::of(ty(DType::I64, &["1"])),
            Fact::ints(&[3]),
            Fact::ints(&[1]),
            None,
        ],
    );
    assert_eq!(out, f32s(&["N", "?"]));
    assert!(matches!(
        infer_n(
            &s,
            &[
                x(&["4"]),
                Fact::ints(&[0]),
                Fact::ints(&[3]),
                None,
                Fact::ints(&[0])
            ],
            1
        ),
        Err(OpError::Input { slot: 4, .. })
    ));
    assert!(matches!(
        infer_n(
            &s,
            &[
                x(&["4"]),
                Fact::ints(&[0]),
                Fact::ints(&[3]),
                Fact::ints(&[1]),
                None
            ],
            1
        ),
        Err(OpError::Input { slot: 3, .. })
    ));
    assert!(matches!(
        infer_n(
            &s,
            &[
                x(&["4"]),
                Fact::ints(&[0, 0]),
                Fact::ints(&[1, 1]),
                None,
                None
            ],
            1
        ),
        Err(OpError::Input { slot: 1, .. })
    ));
    let v1 = parse(
        "Slice",
        1,
        vec![
            ints("starts", &[1]),
            ints("ends", &[-1]),
            ints("axes", &[0]),
        ],
    );
    assert_eq!(infer1(&v1, &[x(&["5", "2"])]), f32s(&["3", "2"]));
}

#[test]
fn split_concat_gather() {
    let split = parse("Split", 13, vec![int("axis", 1)]);
    assert_eq!(
        infer_n(&split, &[x(&["N", "6"])], 3).unwrap(),
        vec![f32s(&["N", "2"]); 3]
    );
    assert_eq!(
        infer_n(&split, &[x(&["N", "6"]), Fact::ints(&[1, 5])], 2).unwrap(),
        vec![f32s(&["N", "1"]), f32s(&["N", "5"])]
    );
    assert!(infer_n(&split, &[x(&["N", "7"])], 3).is_err());
    assert!(infer_n(&split, &[x(&["N", "6"]), Fact::ints(&[1, 4])], 2).is_err());
    let uneven = parse("Split", 18, vec![int("num_outputs", 3)]);
    assert_eq!(
        infer_n(&uneven, &[x(&["7"])], 3).unwrap(),
        vec![f32s(&["3"]), f32s(&["3"]), f32s(&["1"])]
    );
    let attr = parse("Split", 11, vec![ints("split", &[2, 1])]);
    assert_eq!(
        infer_n(&attr, &[x(&["3", "N"])], 2).unwrap(),
        vec![f32s(&["2", "N"]), f32s(&["1", "N"])]
    );

    let concat = parse("Concat", 13, vec![int("axis", -1)]);
    assert_eq!(
        infer1(&concat, &[x(&["N", "2"]), x(&["?", "3"]), x(&["N", "0"])]),
        f32s(&["N", "5"])
    );
    assert_eq!(
        infer1(&concat, &[x(&["2", "K"]), x(&["2", "0"])]),
        f32s(&["2", "K"])
    );
    assert!(matches!(
        infer_n(&concat, &[x(&["2", "2"]), x(&["2"])], 1),
        Err(OpError::Input { slot: 1, .. })
    ));
    assert!(matches!(
        infer_n(&concat, &[x(&["2", "2"]), x(&["3", "2"])], 1),
        Err(OpError::Input { slot: 1, .. })
    ));
    let far = parse("Concat", 13, vec![int("axis", 2)]);
    assert!(matches!(
        infer_n(&far, &[x(&["2", "2"])], 1),
        Err(OpError::AttrValue { .. })
    ));

    let gather = parse("Gather", 13, vec![int("axis", 1)]);
    assert_eq!(
        infer1(
            &gather,
            &[x(&["N", "5", "4"]), Fact::of(ty(DType::I64, &["2", "3"]))]
        ),
        f32s(&["N", "2", "3", "4"])
    );
    assert_eq!(
        infer1(&gather, &[x(&["N", "5"]), Fact::of(ty(DType::I64, &[]))]),
        f32s(&["N"])
    );
}

#[test]
fn squeeze_unsqueeze_transpose_flatten() {
    let sq = parse("Squeeze", 11, vec![ints("axes", &[-1])]);
    assert_eq!(infer1(&sq, &[x(&["N", "3", "1"])]), f32s(&["N", "3"]));
    assert!(matches!(
        infer_n(&sq, &[x(&["N", "3"])], 1),
        Err(OpError::AttrValue { .. })
    ));
    let sq = parse("Squeeze", 13, vec![]);
    assert_eq!(infer1(&sq, &[x(&["1", "3", "1"])]), f32s(&["3"]));
    assert_eq!(
        infer1(&sq, &[x(&["N", "3", "1"])]),
        Type::tensor(DType::F32, None)
    );
    assert_eq!(
        infer1(&sq, &[x(&["N", "1", "1"]), Fact::ints(&[1])]),
        f32s(&["N", "1"])
    );
    assert!(matches!(
        infer_n(&sq, &[x(&["N", "2"]), Fact::ints(&[1])], 1),
        Err(OpError::Input { slot: 1, .. })
    ));
    let unsq = parse("Unsqueeze", 13, vec![]);
    assert_eq!(
        infer1(&unsq, &[x(&["N", "3"]), Fact::ints(&[0, -1])]),
        f32s(&["1", "N", "3", "1"])
    );
    assert_eq!(
        infer1(&unsq, &[x(&["N"]), Fact::of(ty(DType::I64, &["2"]))]),
        f32s(&["?", "?", "?"])
    );
    assert!(infer_n(&unsq, &[x(&["N"]), Fact::ints(&[0, 0])], 1).is_err());
    let unsq = parse("Unsqueeze", 11, vec![ints("axes", &[1])]);
    assert_eq!(infer1(&unsq, &[x(&["N", "3"])]), f32s(&["N", "1", "3"]));
    let tr = parse("Transpose", 13, vec![]);
    assert_eq!(infer1(&tr, &[x(&["N", "3", "4"])]), f32s(&["4", "3", "N"]));
    let tr = parse("Transpose", 13, vec![ints("perm", &[0, 2, 1])]);
    assert_eq!(infer1(&tr, &[x(&["N", "3", "4"])]), f32s(&["N", "4", "3"]));
    assert!(infer_n(&tr, &[x(&["N", "3"])], 1).is_err());
    let fl = parse("Flatten", 13, vec![]);
    assert_eq!(infer1(&fl, &[x(&["N", "3", "4"])]), f32s(&["N", "12"]));
    let fl0 = parse("Flatten", 13, vec![int("axis", 0)]);
    assert_eq!(infer1(&fl0, &[x(&["2", "3"])]), f32s(&["1", "6"]));
    let fl = parse("Flatten", 13, vec![int("axis", -1)]);
    assert_eq!(infer1(&fl, &[x(&["N", "3", "4"])]), f32s(&["?", "4"]));
    let fl = parse("Flatten", 13, vec![int("axis", 4)]);
    assert!(matches!(
        infer_n(&fl, &[x(&["N", "3", "4"])], 1),
        Err(OpError::AttrValue { .. })
    ));
}

#[test]
fn pad_resize_reduce() {
    let pad = parse("Pad", 13, vec![]);
    assert_eq!(
        infer1(
            &pad,
            &[x(&["N", "3", "4"]), Fact::ints(&[0, 1, 2, 0, 1, -1])]
        ),
        f32s(&["N", "5", "5"])
    );
    assert!(matches!(
        infer_n(&pad, &[x(&["N", "3"]), Fact::ints(&[0, 1])], 1),
        Err(OpError::Input { slot: 1, .. })
    ));
    assert_eq!(
        infer1(&pad, &[x(&["N", "3"]), Fact::of(ty(DType::I64, &["4"]))]),
        f32s(&["?", "?"])
    );
    let pad18 = parse("Pad", 18, vec![]);
    assert_eq!(
        infer1(
            &pad18,
            &[x(&["N", "3"]), Fact::ints(&[2, 2]), None, Fact::ints(&[-1])]
        ),
        f32s(&["N", "7"])
    );
    let pad2 = parse("Pad", 2, vec![ints("pads", &[1, 1, 1, 1])]);
    assert_eq!(infer1(&pad2, &[x(&["2", "2"])]), f32s(&["4", "4"]));

    let rs = parse("Resize", 13, vec![]);
    assert_eq!(
        infer1(
            &rs,
            &[
                x(&["N", "3", "5", "5"]),
                None,
                Fact::floats(&[1.0, 1.0, 2.0, 0.6])
            ]
        ),
        f32s(&["N", "3", "10", "3"])
    );
    assert_eq!(
        infer1(
            &rs,
            &[
                x(&["N", "3", "5", "5"]),
                None,
                None,
                Fact::ints(&[1, 3, 7, 8])
            ]
        ),
        f32s(&["1", "3", "7", "8"])
    );
    assert_eq!(
        infer1(
            &rs,
            &[
                x(&["N", "3", "5", "5"]),
                None,
                Fact::of(ty(DType::F32, &["4"]))
            ]
        ),
        f32s(&["?", "?", "?", "?"])
    );
    let rs18 = parse("Resize", 18, vec![ints("axes", &[2, 3])]);
    assert_eq!(
        infer1(
            &rs18,
            &[x(&["N", "3", "5", "5"]), None, Fact::floats(&[2.0, 2.0])]
        ),
        f32s(&["N", "3", "10", "10"])
    );
    assert!(matches!(
        infer_n(
            &rs18,
            &[x(&["N", "3", "5", "5"]), None, Fact::floats(&[2.0])],
            1
        ),
        Err(OpError::Input { slot: 2, .. })
    ));

    let rm = parse("ReduceMean", 13, vec![ints("axes", &[-1])]);
    assert_eq!(infer1(&rm, &[x(&["N", "3", "4"])]), f32s(&["N", "3", "1"]));
    let rs = parse("ReduceSum", 13, vec![int("keepdims", 0)]);
    assert_eq!(
        infer1(&rs, &[x(&["N", "3", "4"]), Fact::ints(&[1])]),
        f32s(&["N", "4"])
    );
    assert_eq!(infer1(&rs, &[x(&["N", "3", "4"])]), f32s(&[]));
    let noop = parse("ReduceMax", 18, vec![int("noop_with_empty_axes", 1)]);
    assert_eq!(infer1(&noop, &[x(&["N", "3"])]), f32s(&["N", "3"]));
    assert_eq!(
        infer1(&noop, &[x(&["N", "3"]), Fact::ints(&[])]),
        f32s(&["N", "3"])
    );
    let all = parse("ReduceL2", 18, vec![]);
    assert_eq!(infer1(&all, &[x(&["N", "3"])]), f32s(&["1", "1"]));
    assert_eq!(
        infer1(&all, &[x(&["N", "3"]), Fact::of(ty(DType::I64, &["1"]))]),
        f32s(&["?", "?"])
    );
    assert!(matches!(
        infer_n(&rm, &[x(&[])], 1),
        Err(OpError::AttrValue { .. })
    ));
    let am = parse("ArgMax", 13, vec![int("axis", 1), int("keepdims", 0)]);
    assert_eq!(infer1(&am, &[x(&["N", "10"])]), ty(DType::I64, &["N"]));
}

#[test]
fn shapes_casts_constants_and_quantization() {
    let shape = parse("Shape", 15, vec![int("start", 1), int("end", -1)]);
    assert_eq!(
        infer1(&shape, &[x(&["N", "3", "4", "5"])]),
        ty(DType::I64, &["2"])
    );
    assert_eq!(
        infer1(&shape, &[Fact::of(Type::Unknown)]),
        ty(DType::I64, &["?"])
    );
    assert_eq!(infer1(&Op::Size, &[x(&["N"])]), ty(DType::I64, &[]));
    let cast = parse("Cast", 13, vec![int("to", 10)]);
    assert_eq!(
        infer1(&cast, &[x(&["N", "3"])]),
        ty(DType::F16, &["N", "3"])
    );
    assert_eq!(
        infer1(&cast, &[Fact::of(Type::Unknown)]),
        Type::tensor(DType::F16, None)
    );
    let cos = parse(
        "ConstantOfShape",
        9,
        vec![tensor("value", Tensor::from_i64(vec![1], &[1]).unwrap())],
    );
    assert_eq!(
        infer1(&cos, &[Fact::ints(&[2, 3])]),
        ty(DType::I64, &["2", "3"])
    );
    assert_eq!(
        infer1(&cos, &[Fact::of(ty(DType::I64, &["2"]))]),
        ty(DType::I64, &["?", "?"])
    );
    assert!(infer_n(&cos, &[Fact::ints(&[-2])], 1).is_err());
    assert!(matches!(
        parse_err(
            "ConstantOfShape",
            9,
            vec![tensor(
                "value",
                Tensor::from_f32(vec![2], &[1.0, 2.0]).unwrap()
            )]
        ),
        OpError::AttrValue { .. }
    ));
    let q = parse("QuantizeLinear", 13, vec![]);
    assert_eq!(
        infer1(&q, &[x(&["N", "3"]), x(&[])]),
        ty(DType::U8, &["N", "3"])
    );
    assert_eq!(
        infer1(&q, &[x(&["N", "3"]), x(&[]), Fact::of(ty(DType::I8, &[]))]),
        ty(DType::I8, &["N", "3"])
    );
    let q21 = parse("QuantizeLinear", 21, vec![int("output_dtype", 22)]);
    assert_eq!(infer1(&q21, &[x(&["4"]), x(&[])]), ty(DType::I4, &["4"]));
    assert!(infer_n(&q21, &[x(&["4"]), x(&[]), Fact::of(ty(DType::U8, &[]))], 1).is_err());
    let dq = parse("DequantizeLinear", 19, vec![]);
    assert_eq!(
        infer1(
            &dq,
            &[
                Fact::of(ty(DType::I8, &["N"])),
                Fact::of(ty(DType::F16, &[]))
            ]
        ),
        ty(DType::F16, &["N"])
    );
    let drop9 = parse("Dropout", 9, vec![]);
    assert_eq!(
        infer_n(&drop9, &[x(&["N"])], 2).unwrap(),
        vec![f32s(&["N"]), f32s(&["N"])]
    );
    let drop13 = parse("Dropout", 13, vec![]);
    assert_eq!(
        infer_n(&drop13, &[x(&["N"])], 2).unwrap(),
        vec![f32s(&["N"]), ty(DType::Bool, &["N"])]
    );
    let seq = Type::Sequence(Box::new(f32s(&["3"])));
    assert_eq!(infer1(&Op::Identity, &[Fact::of(seq.clone())]), seq);
}

#[test]
fn normalisation_and_softmax() {
    let bn = parse("BatchNormalization", 15, vec![]);
    let c = || x(&["3"]);
    assert_eq!(
        infer_n(&bn, &[x(&["N", "3", "8"]), c(), c(), c(), c()], 3).unwrap(),
        vec![f32s(&["N", "3", "8"]), f32s(&["3"]), f32s(&["3"])]
    );
    let e = err_text(infer_n(
        &bn,
        &[x(&["N", "3", "8"]), x(&["4"]), c(), c(), c()],
        1,
    ));
    assert!(
        e.contains("scale has 4 values") && e.contains("3 channels"),
        "{e}"
    );
    let sm = parse("Softmax", 13, vec![int("axis", 2)]);
    assert!(matches!(
        infer_n(&sm, &[x(&["N", "3"])], 1),
        Err(OpError::AttrValue { .. })
    ));
    assert_eq!(infer1(&sm, &[x(&["N", "3", "4"])]), f32s(&["N", "3", "4"]));
    let lrn = parse("LRN", 13, vec![int("size", 3)]);
    assert_eq!(
        infer1(&lrn, &[x(&["N", "3", "4", "4"])]),
        f32s(&["N", "3", "4", "4"])
    );
    let isnan = parse("IsNaN", 13, vec![]);
    assert_eq!(infer1(&isnan, &[x(&["N"])]), ty(DType::Bool, &["N"]));
}
