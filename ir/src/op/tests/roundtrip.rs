//! `to_onnx` round trips (parse → write → parse gives the same op), default omission, forms
//! that an opset cannot spell, and `Constant` value forms.

use super::*;
use crate::op::*;
use crate::{SparseData, TensorData};
use std::sync::Arc;

/// Parses, writes at the same opset and parses again: both parses agree.
fn round_trip(op_type: &str, opset: i64, attrs: Vec<Attribute>) -> OnnxOp {
    let op = parse(op_type, opset, attrs);
    assert!(!op.is_opaque(), "{op_type}@{opset} stayed opaque");
    let onnx = op
        .to_onnx(opset)
        .unwrap_or_else(|e| panic!("{op_type}@{opset}: {e}"));
    assert_eq!(onnx.op_type, op_type);
    assert_eq!(onnx.domain, "");
    let again = parse(&onnx.op_type, opset, onnx.attrs.clone());
    assert_eq!(format!("{op:?}"), format!("{again:?}"), "{op_type}@{opset}");
    onnx
}

fn names(op: &OnnxOp) -> Vec<&str> {
    op.attrs.iter().map(|a| a.name.as_str()).collect()
}

#[test]
fn every_family_round_trips() {
    let cases: Vec<(&str, i64, Vec<Attribute>)> = vec![
        (
            "Conv",
            11,
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("strides", &[2, 2]),
                ints("pads", &[1, 1, 1, 1]),
                ints("dilations", &[2, 1]),
                int("group", 4),
            ],
        ),
        ("Conv", 1, vec![string("auto_pad", "SAME_LOWER")]),
        (
            "ConvTranspose",
            11,
            vec![
                ints("strides", &[2]),
                ints("output_padding", &[1]),
                ints("output_shape", &[10]),
                int("group", 2),
            ],
        ),
        (
            "MaxPool",
            12,
            vec![
                ints("kernel_shape", &[2, 2]),
                int("ceil_mode", 1),
                int("storage_order", 1),
                ints("dilations", &[2, 2]),
            ],
        ),
        (
            "MaxPool",
            1,
            vec![ints("kernel_shape", &[3]), string("auto_pad", "VALID")],
        ),
        (
            "AveragePool",
            19,
            vec![
                ints("kernel_shape", &[2]),
                int("count_include_pad", 1),
                ints("dilations", &[2]),
            ],
        ),
        ("LpPool", 18, vec![ints("kernel_shape", &[2]), int("p", 3)]),
        ("GlobalLpPool", 2, vec![int("p", 1)]),
        ("GlobalAveragePool", 1, vec![]),
        (
            "Gemm",
            13,
            vec![
                float("alpha", 0.5),
                float("beta", 0.0),
                int("transA", 1),
                int("transB", 1),
            ],
        ),
        ("MatMul", 13, vec![]),
        (
            "BatchNormalization",
            15,
            vec![
                float("epsilon", 1e-3),
                float("momentum", 0.5),
                int("training_mode", 1),
            ],
        ),
        ("BatchNormalization", 7, vec![float("epsilon", 1e-3)]),
        (
            "LRN",
            13,
            vec![
                int("size", 3),
                float("alpha", 0.1),
                float("beta", 0.5),
                float("bias", 2.0),
            ],
        ),
        ("Softmax", 11, vec![int("axis", 2)]),
        ("Hardmax", 13, vec![int("axis", 0)]),
        ("Selu", 6, vec![float("alpha", 2.0), float("gamma", 3.0)]),
        ("HardSigmoid", 6, vec![float("beta", 0.25)]),
        ("IsInf", 10, vec![int("detect_negative", 0)]),
        ("Gelu", 20, vec![string("approximate", "tanh")]),
        ("Mod", 13, vec![int("fmod", 1)]),
        ("BitShift", 11, vec![string("direction", "RIGHT")]),
        ("PRelu", 16, vec![]),
        ("Mean", 13, vec![]),
        ("Clip", 6, vec![float("min", -1.0), float("max", 1.0)]),
        ("Clip", 13, vec![]),
        ("Flatten", 13, vec![int("axis", -2)]),
        ("Reshape", 14, vec![int("allowzero", 1)]),
        ("Transpose", 13, vec![ints("perm", &[2, 0, 1])]),
        ("Squeeze", 11, vec![ints("axes", &[0, -1])]),
        ("Unsqueeze", 1, vec![ints("axes", &[0])]),
        ("Concat", 13, vec![int("axis", -1)]),
        ("Split", 11, vec![int("axis", 1), ints("split", &[2, 3])]),
        ("Split", 18, vec![int("num_outputs", 2)]),
        (
            "Slice",
            1,
            vec![
                ints("starts", &[0, 1]),
                ints("ends", &[5, -1]),
                ints("axes", &[1, 2]),
            ],
        ),
        ("Gather", 13, vec![int("axis", 1)]),
        (
            "Pad",
            2,
            vec![string("mode", "reflect"), ints("pads", &[1, 0, 1, 0])],
        ),
        ("Pad", 19, vec![string("mode", "edge")]),
        (
            "Resize",
            19,
            vec![
                string("mode", "cubic"),
                string("coordinate_transformation_mode", "align_corners"),
                float("cubic_coeff_a", -0.5),
                int("exclude_outside", 1),
                ints("axes", &[2, 3]),
                string("keep_aspect_ratio_policy", "not_larger"),
                int("antialias", 1),
            ],
        ),
        (
            "Resize",
            11,
            vec![
                string("mode", "nearest"),
                string("nearest_mode", "floor"),
                string("coordinate_transformation_mode", "tf_half_pixel_for_nn"),
            ],
        ),
        (
            "ReduceSum",
            11,
            vec![ints("axes", &[1]), int("keepdims", 0)],
        ),
        ("ReduceL2", 18, vec![int("noop_with_empty_axes", 1)]),
        (
            "ArgMax",
            13,
            vec![
                int("axis", 1),
                int("keepdims", 0),
                int("select_last_index", 1),
            ],
        ),
        ("Shape", 15, vec![int("start", 1), int("end", -1)]),
        ("Cast", 19, vec![int("to", 17), int("saturate", 0)]),
        (
            "Cast",
            24,
            vec![int("to", 24), string("round_mode", "nearest")],
        ),
        (
            "ConstantOfShape",
            9,
            vec![tensor("value", Tensor::from_i64(vec![1], &[7]).unwrap())],
        ),
        ("Dropout", 7, vec![float("ratio", 0.25)]),
        ("Dropout", 13, vec![int("seed", 5)]),
        (
            "QuantizeLinear",
            23,
            vec![
                int("axis", 0),
                int("saturate", 0),
                int("block_size", 2),
                int("output_dtype", 3),
                int("precision", 1),
            ],
        ),
        (
            "DequantizeLinear",
            23,
            vec![
                int("axis", 0),
                int("block_size", 2),
                int("output_dtype", 10),
            ],
        ),
        ("Identity", 21, vec![]),
        ("Size", 13, vec![]),
        ("Where", 16, vec![]),
    ];
    for (op_type, opset, attrs) in cases {
        round_trip(op_type, opset, attrs);
    }
}

#[test]
fn defaults_are_omitted_and_required_attributes_kept() {
    let w = round_trip(
        "Conv",
        11,
        vec![
            int("group", 1),
            string("auto_pad", "NOTSET"),
            ints("strides", &[1, 1]),
        ],
    );
    assert!(w.attrs.is_empty(), "{:?}", names(&w));
    let w = round_trip("Softmax", 11, vec![int("axis", 1)]);
    assert!(w.attrs.is_empty());
    let w = round_trip("Softmax", 13, vec![int("axis", -1)]);
    assert!(w.attrs.is_empty());
    let w = round_trip("Concat", 13, vec![int("axis", 0)]);
    assert_eq!(names(&w), ["axis"]);
    let w = round_trip("LRN", 1, vec![int("size", 3)]);
    assert_eq!(names(&w), ["size"]);
    let w = round_trip("Cast", 13, vec![int("to", 1)]);
    assert_eq!(names(&w), ["to"]);
    let w = round_trip("MaxPool", 12, vec![ints("kernel_shape", &[2])]);
    assert_eq!(names(&w), ["kernel_shape"]);
    let w = round_trip(
        "ConstantOfShape",
        9,
        vec![tensor("value", Tensor::from_f32(vec![1], &[0.0]).unwrap())],
    );
    assert!(w.attrs.is_empty());
}

#[test]
fn forms_an_opset_cannot_spell_are_errors() {
    let cases: Vec<(&str, i64, Vec<Attribute>, i64)> = vec![
        ("Softmax", 11, vec![], 13),
        ("Softmax", 13, vec![], 12),
        ("Squeeze", 11, vec![ints("axes", &[0])], 13),
        ("Unsqueeze", 13, vec![], 11),
        ("ReduceSum", 11, vec![ints("axes", &[0])], 13),
        ("ReduceMean", 18, vec![int("noop_with_empty_axes", 1)], 17),
        ("Clip", 6, vec![], 11),
        ("Clip", 11, vec![], 6),
        (
            "Slice",
            9,
            vec![ints("starts", &[0]), ints("ends", &[1])],
            10,
        ),
        ("Pad", 11, vec![], 2),
        ("Split", 11, vec![ints("split", &[1])], 13),
        ("Dropout", 7, vec![], 12),
        ("Dropout", 7, vec![], 10),
        ("Reshape", 14, vec![int("allowzero", 1)], 13),
        (
            "MaxPool",
            10,
            vec![ints("kernel_shape", &[2]), int("ceil_mode", 1)],
            8,
        ),
        ("Cast", 19, vec![int("to", 1), int("saturate", 0)], 13),
        ("HardSwish", 14, vec![], 13),
        ("Relu", 14, vec![], MAX_KNOWN_OPSET + 1),
        (
            "ConvTranspose",
            11,
            vec![string("auto_pad", "SAME_UPPER")],
            10,
        ),
    ];
    for (op_type, opset, attrs, to) in cases {
        let op = parse(op_type, opset, attrs);
        assert!(!op.is_opaque(), "{op_type}@{opset}");
        match op.to_onnx(to) {
            Err(OpError::Opset { op, opset, .. }) => {
                assert_eq!((op.as_str(), opset), (op_type, to))
            }
            other => panic!("{op_type}@{opset} written at {to}: {other:?}"),
        }
    }
    // Forms that are valid in both opsets convert freely.
    let op = parse("Squeeze", 11, vec![]);
    assert!(op.to_onnx(13).unwrap().attrs.is_empty());
    let op = parse("ReduceMean", 13, vec![int("keepdims", 0)]);
    assert_eq!(names(&op.to_onnx(18).unwrap()), ["keepdims"]);
    assert!(matches!(Op::Input.to_onnx(13), Err(OpError::Invalid(_))));
}

#[test]
fn opaque_ops_are_written_unchanged() {
    let attrs = vec![int("broadcast", 1), int("axis", 1)];
    let op = Op::from_onnx("ai.onnx", "Add", 6, attrs).unwrap();
    let w = op.to_onnx(6).unwrap();
    assert_eq!((w.domain.as_str(), w.op_type.as_str()), ("ai.onnx", "Add"));
    assert_eq!(names(&w), ["broadcast", "axis"]);
}

#[test]
fn constant_value_forms_round_trip() {
    let forms = [
        (
            float("value_float", 1.5),
            ConstantForm::Float,
            DType::F32,
            vec![],
        ),
        (
            Attribute::new("value_floats", AttrValue::Floats(vec![1.0, 2.0])),
            ConstantForm::Floats,
            DType::F32,
            vec![2],
        ),
        (int("value_int", -3), ConstantForm::Int, DType::I64, vec![]),
        (
            ints("value_ints", &[1, 2, 3]),
            ConstantForm::Ints,
            DType::I64,
            vec![3],
        ),
        (
            string("value_string", "hi"),
            ConstantForm::String,
            DType::String,
            vec![],
        ),
        (
            Attribute::new(
                "value_strings",
                AttrValue::Strings(vec![b"a".to_vec(), b"b".to_vec()]),
            ),
            ConstantForm::Strings,
            DType::String,
            vec![2],
        ),
        (
            tensor("value", Tensor::from_f32(vec![2, 1], &[4.0, 5.0]).unwrap()),
            ConstantForm::Value,
            DType::F32,
            vec![2, 1],
        ),
    ];
    for (attr, form, dtype, dims) in forms {
        let name = attr.name.clone();
        let w = round_trip("Constant", 13, vec![attr]);
        assert_eq!(names(&w), [name.as_str()]);
        let op = parse("Constant", 13, w.attrs);
        let Op::Constant(c) = &op else { panic!() };
        assert_eq!(
            (c.form(), c.value().dtype, c.value().dims.clone()),
            (form, dtype, dims.clone())
        );
        assert_eq!(op.constant_value(), Some(c.value()));
        // Before opset 12 the value is written as a `value` tensor with the same content.
        let old = op.to_onnx(11).unwrap();
        assert_eq!(names(&old), ["value"]);
        let Op::Constant(o) = parse("Constant", 11, old.attrs) else {
            panic!()
        };
        assert_eq!(o.value(), c.value());
    }
    let Op::Constant(c) = parse("Constant", 13, vec![ints("value_ints", &[4, 5])]) else {
        panic!()
    };
    assert_eq!(c.value().to_i64_vec().unwrap(), vec![4, 5]);
    assert!(matches!(
        parse_err(
            "Constant",
            13,
            vec![int("value_int", 1), float("value_float", 1.0)]
        ),
        OpError::AttrValue { .. }
    ));
    assert_eq!(
        parse_err("Constant", 13, vec![]),
        OpError::MissingAttr("value".into())
    );
    assert!(matches!(
        parse_err("Constant", 13, vec![float("value", 1.0)]),
        OpError::AttrType { .. }
    ));
}

#[test]
fn sparse_constants_are_densified_and_written_back_sparse() {
    let values = Tensor::from_f32(vec![2], &[1.0, 2.0]).unwrap();
    let indices = Tensor::from_i64(vec![2, 2], &[0, 1, 1, 2]).unwrap();
    let sparse = Tensor {
        dtype: DType::F32,
        dims: vec![2, 3],
        data: TensorData::Sparse(Arc::new(SparseData { values, indices })),
        doc_string: String::new(),
    };
    let attr = Attribute::new("sparse_value", AttrValue::SparseTensor(sparse.clone()));
    let w = round_trip("Constant", 13, vec![attr]);
    assert_eq!(names(&w), ["sparse_value"]);
    let op = parse("Constant", 13, w.attrs);
    let dense = op.constant_value().unwrap();
    assert_eq!(
        dense.to_f32_vec().unwrap(),
        vec![0.0, 1.0, 0.0, 0.0, 0.0, 2.0]
    );
    let Op::Constant(c) = &op else { panic!() };
    assert_eq!(c.sparse_value(), Some(&sparse));
    assert_eq!(infer1(&op, &[]), f32s(&["2", "3"]));
    // Out-of-range coordinates cannot be densified: the node stays opaque.
    let bad_indices = Tensor::from_i64(vec![1, 2], &[5, 0]).unwrap();
    let bad = Tensor {
        data: TensorData::Sparse(Arc::new(SparseData {
            values: Tensor::from_f32(vec![1], &[1.0]).unwrap(),
            indices: bad_indices,
        })),
        ..sparse
    };
    assert!(
        parse(
            "Constant",
            13,
            vec![Attribute::new("sparse_value", AttrValue::SparseTensor(bad))]
        )
        .is_opaque()
    );
}
