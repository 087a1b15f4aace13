//! Parsing: defaults per op and opset, rejection of bad attributes, opaque fallbacks.

use super::*;
use crate::op::*;

#[test]
fn conv_defaults_and_explicit_attributes() {
    let Op::Conv(c) = parse("Conv", 11, vec![]) else {
        panic!()
    };
    assert_eq!(c.group, 1);
    assert_eq!(c.window, Window::default());
    assert_eq!(
        (
            c.window.stride(0),
            c.window.dilation(1),
            c.window.pad_end(0)
        ),
        (1, 1, 0)
    );
    let Op::Conv(c) = parse(
        "Conv",
        11,
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 1]),
            ints("pads", &[1, 2, 3, 4]),
            int("group", 2),
            string("auto_pad", "NOTSET"),
        ],
    ) else {
        panic!()
    };
    assert_eq!(c.group, 2);
    assert_eq!(c.window.kernel_shape.as_deref(), Some(&[3, 3][..]));
    assert_eq!(
        (
            c.window.pad_begin(1),
            c.window.pad_end(0),
            c.window.pad_end(1)
        ),
        (2, 3, 4)
    );
    // Spelled-out defaults parse to the same struct as omitted ones.
    let a = parse(
        "Conv",
        11,
        vec![ints("strides", &[1, 1]), ints("pads", &[0, 0, 0, 0])],
    );
    let b = parse("Conv", 11, vec![]);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn bad_conv_attributes_are_errors_naming_the_attribute() {
    let cases = [
        (vec![string("auto_pad", "FOO")], "auto_pad"),
        (vec![ints("strides", &[0, 1])], "strides"),
        (vec![ints("dilations", &[1, -1])], "dilations"),
        (vec![int("group", 0)], "group"),
        (vec![ints("pads", &[1, 1, 1])], "pads"),
        (
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1])],
            "pads",
        ),
        (
            vec![ints("kernel_shape", &[3, 3]), ints("strides", &[1, 1, 1])],
            "strides",
        ),
        (vec![ints("pads", &[-1, 0])], "pads"),
    ];
    for (attrs, name) in cases {
        match parse_err("Conv", 11, attrs) {
            OpError::AttrValue { name: n, msg } => assert_eq!(n, name, "{msg}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        parse_err("Conv", 11, vec![float("group", 1.0)]),
        OpError::AttrType {
            name: "group".into(),
            want: "INT",
            found: "FLOAT"
        }
    );
    assert_eq!(
        parse_err("MaxPool", 12, vec![]),
        OpError::MissingAttr("kernel_shape".into())
    );
    let e = parse_err("Conv", 11, vec![string("auto_pad", "FOO")]);
    assert!(
        e.to_string().contains("FOO") && e.to_string().contains("auto_pad"),
        "{e}"
    );
}

#[test]
fn unknown_versions_forms_and_domains_stay_opaque() {
    // Legacy broadcast attributes, BatchNormalization before 7, Upsample, other domains.
    assert!(parse("Add", 6, vec![int("broadcast", 1)]).is_opaque());
    assert!(parse("Add", 6, vec![]).is_opaque());
    assert!(parse("BatchNormalization", 6, vec![int("is_test", 1)]).is_opaque());
    assert!(parse("BatchNormalization", 7, vec![int("spatial", 0)]).is_opaque());
    assert!(parse("Upsample", 9, vec![]).is_opaque());
    assert!(parse("Resize", 10, vec![]).is_opaque());
    assert!(parse("Relu", 1, vec![ints("consumed_inputs", &[0])]).is_opaque());
    assert!(parse("Relu", MAX_KNOWN_OPSET + 1, vec![]).is_opaque());
    assert!(
        Op::from_onnx("com.microsoft", "Gelu", 1, vec![])
            .unwrap()
            .is_opaque()
    );
    // An attribute the op version does not have.
    assert!(parse("Add", 14, vec![int("foo", 1)]).is_opaque());
    assert!(parse("Reshape", 13, vec![int("allowzero", 1)]).is_opaque());
    assert!(parse("ReduceSum", 13, vec![ints("axes", &[1])]).is_opaque());
    assert!(
        parse(
            "MaxPool",
            9,
            vec![ints("kernel_shape", &[2]), int("ceil_mode", 1)]
        )
        .is_opaque()
    );
    // Duplicated attributes, doc strings and function references would be lost: opaque.
    assert!(parse("Gather", 13, vec![int("axis", 0), int("axis", 1)]).is_opaque());
    let mut documented = int("axis", 1);
    documented.doc_string = "why".into();
    assert!(parse("Gather", 13, vec![documented]).is_opaque());
    let mut reference = int("axis", 1);
    reference.ref_attr_name = Some("ax".into());
    assert!(parse("Gather", 13, vec![reference]).is_opaque());
    // A required attribute missing next to one this version does not know.
    assert!(
        parse(
            "Constant",
            9,
            vec![Attribute::new("value_float", AttrValue::Float(1.0))]
        )
        .is_opaque()
    );
    // ai.onnx is the default domain.
    let op = Op::from_onnx("ai.onnx", "Relu", 14, vec![]).unwrap();
    assert!(matches!(op, Op::Unary(Unary::Relu)));
    assert_eq!(op.to_onnx(14).unwrap().domain, "");
}

#[test]
fn typed_families_parse_with_defaults() {
    assert!(matches!(parse("Add", 7, vec![]), Op::Binary(Binary::Add)));
    assert!(matches!(
        parse("Sum", 6, vec![]),
        Op::Variadic(Variadic::Sum)
    ));
    assert!(matches!(parse("Where", 16, vec![]), Op::Where));
    assert!(matches!(
        parse("LeakyRelu", 16, vec![]),
        Op::Unary(Unary::LeakyRelu { alpha }) if alpha == 0.01
    ));
    assert!(matches!(
        parse("Gelu", 20, vec![string("approximate", "tanh")]),
        Op::Unary(Unary::Gelu {
            tanh_approximation: true
        })
    ));
    assert!(matches!(
        parse_err("Gelu", 20, vec![string("approximate", "erf")]),
        OpError::AttrValue { .. }
    ));
    let Op::Gemm(g) = parse("Gemm", 11, vec![int("transB", 1), float("alpha", 2.0)]) else {
        panic!()
    };
    assert_eq!(
        g,
        Gemm {
            alpha: 2.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true
        }
    );
    assert!(matches!(
        parse_err("Gemm", 11, vec![int("transA", 2)]),
        OpError::AttrValue { name, .. } if name == "transA"
    ));
    let Op::BatchNormalization(b) = parse("BatchNormalization", 15, vec![]) else {
        panic!()
    };
    assert_eq!((b.epsilon, b.momentum, b.training_mode), (1e-5, 0.9, false));
    assert!(matches!(
        parse("BatchNormalization", 7, vec![int("spatial", 1)]),
        Op::BatchNormalization(_)
    ));
    let Op::Lrn(l) = parse("LRN", 13, vec![int("size", 5)]) else {
        panic!()
    };
    assert_eq!((l.alpha, l.beta, l.bias, l.size), (1e-4, 0.75, 1.0, 5));
    assert_eq!(
        parse_err("LRN", 13, vec![]),
        OpError::MissingAttr("size".into())
    );
    let Op::Cast(c) = parse("Cast", 13, vec![int("to", 7)]) else {
        panic!()
    };
    assert_eq!(c, Cast::to(DType::I64));
    assert!(matches!(
        parse_err("Cast", 13, vec![int("to", 0)]),
        OpError::AttrValue { .. }
    ));
    assert!(matches!(
        parse_err("Cast", 13, vec![int("to", 99)]),
        OpError::AttrValue { .. }
    ));
    assert!(parse("Cast", 1, vec![string("to", "FLOAT")]).is_opaque());
}

#[test]
fn opset_dependent_semantics_are_recorded() {
    let Op::Softmax(s) = parse("Softmax", 11, vec![]) else {
        panic!()
    };
    assert_eq!((s.axis, s.coerce_2d), (1, true));
    let Op::Softmax(s) = parse("LogSoftmax", 13, vec![]) else {
        panic!()
    };
    assert_eq!(
        (s.kind, s.axis, s.coerce_2d),
        (SoftmaxKind::LogSoftmax, -1, false)
    );
    let Op::Clip(c) = parse("Clip", 6, vec![float("max", 6.0)]) else {
        panic!()
    };
    assert_eq!(
        c.attrs,
        Some(ClipAttrs {
            min: f32::MIN,
            max: 6.0
        })
    );
    let Op::Clip(c) = parse("Clip", 13, vec![]) else {
        panic!()
    };
    assert_eq!(c.attrs, None);
    let Op::Dropout(d) = parse("Dropout", 9, vec![float("ratio", 0.3)]) else {
        panic!()
    };
    assert_eq!((d.ratio, d.mask_like_data), (Some(0.3), true));
    let Op::Dropout(d) = parse("Dropout", 10, vec![]) else {
        panic!()
    };
    assert_eq!((d.ratio, d.mask_like_data), (Some(0.5), false));
    let Op::Dropout(d) = parse("Dropout", 13, vec![int("seed", 3)]) else {
        panic!()
    };
    assert_eq!((d.ratio, d.seed), (None, Some(3)));
    assert!(parse("Dropout", 13, vec![float("ratio", 0.5)]).is_opaque());
    let Op::Pool(p) = parse("AveragePool", 1, vec![ints("kernel_shape", &[2])]) else {
        panic!()
    };
    assert_eq!(
        p.kind,
        PoolKind::Average {
            count_include_pad: false
        }
    );
    assert!(parse("ConvTranspose", 10, vec![string("auto_pad", "SAME_UPPER")]).is_opaque());
    assert!(matches!(
        parse("ConvTranspose", 11, vec![string("auto_pad", "SAME_UPPER")]),
        Op::ConvTranspose(_)
    ));
}

#[test]
fn attribute_to_input_forms_are_recorded() {
    let Op::Squeeze(s) = parse("Squeeze", 11, vec![ints("axes", &[0])]) else {
        panic!()
    };
    assert_eq!(s.axes, Some(vec![0]));
    assert!(matches!(
        parse("Squeeze", 13, vec![]),
        Op::Squeeze(Squeeze { axes: None })
    ));
    assert!(parse("Squeeze", 13, vec![ints("axes", &[0])]).is_opaque());
    assert_eq!(
        parse_err("Unsqueeze", 11, vec![]),
        OpError::MissingAttr("axes".into())
    );
    let Op::Reduce(r) = parse(
        "ReduceMean",
        13,
        vec![ints("axes", &[1]), int("keepdims", 0)],
    ) else {
        panic!()
    };
    assert_eq!(
        (r.kind, r.keepdims, r.axes.clone()),
        (ReduceKind::Mean, false, Some(vec![1]))
    );
    let Op::Reduce(r) = parse("ReduceMean", 18, vec![int("noop_with_empty_axes", 1)]) else {
        panic!()
    };
    assert_eq!((r.axes, r.noop_with_empty_axes), (None, true));
    let Op::Split(s) = parse("Split", 11, vec![ints("split", &[1, 2]), int("axis", 1)]) else {
        panic!()
    };
    assert_eq!(
        (s.axis, s.split, s.num_outputs),
        (1, Some(vec![1, 2]), None)
    );
    let Op::Split(s) = parse("Split", 18, vec![int("num_outputs", 3)]) else {
        panic!()
    };
    assert_eq!(s.num_outputs, Some(3));
    assert!(matches!(
        parse_err("Split", 18, vec![int("num_outputs", 0)]),
        OpError::AttrValue { .. }
    ));
    let Op::Pad(p) = parse(
        "Pad",
        2,
        vec![ints("pads", &[0, 1, 0, 1]), float("value", 2.0)],
    ) else {
        panic!()
    };
    assert_eq!(
        p.attrs,
        Some(PadAttrs {
            pads: vec![0, 1, 0, 1],
            value: 2.0
        })
    );
    assert!(matches!(
        parse("Pad", 19, vec![string("mode", "wrap")]),
        Op::Pad(Pad {
            mode: PadMode::Wrap,
            attrs: None
        })
    ));
    assert!(matches!(
        parse_err("Pad", 18, vec![string("mode", "wrap")]),
        OpError::AttrValue { .. }
    ));
    let Op::Slice(s) = parse("Slice", 9, vec![ints("starts", &[1]), ints("ends", &[3])]) else {
        panic!()
    };
    assert_eq!(
        s.attrs,
        Some(SliceAttrs {
            starts: vec![1],
            ends: vec![3],
            axes: None
        })
    );
    assert!(matches!(
        parse_err("Slice", 9, vec![ints("starts", &[1]), ints("ends", &[3, 4])]),
        OpError::AttrValue { name, .. } if name == "ends"
    ));
    assert!(matches!(
        parse("Slice", 13, vec![]),
        Op::Slice(Slice { attrs: None })
    ));
    let Op::Shape(s) = parse("Shape", 15, vec![int("start", 1)]) else {
        panic!()
    };
    assert_eq!((s.start, s.end), (1, None));
    assert!(parse("Shape", 13, vec![int("start", 1)]).is_opaque());
}

#[test]
fn transpose_perm_must_be_a_permutation() {
    assert!(matches!(
        parse_err("Transpose", 13, vec![ints("perm", &[0, 0])]),
        OpError::AttrValue { .. }
    ));
    assert!(matches!(
        parse_err("Transpose", 13, vec![ints("perm", &[0, 2])]),
        OpError::AttrValue { .. }
    ));
    assert!(matches!(
        parse_err("Transpose", 13, vec![ints("perm", &[-1, 0])]),
        OpError::AttrValue { .. }
    ));
    let Op::Transpose(t) = parse("Transpose", 13, vec![ints("perm", &[1, 0, 2])]) else {
        panic!()
    };
    assert_eq!(t.perm, Some(vec![1, 0, 2]));
}

#[test]
fn quantize_linear_attributes_by_opset() {
    let Op::QuantizeLinear(q) = parse("QuantizeLinear", 10, vec![]) else {
        panic!()
    };
    assert_eq!(
        (q.axis, q.saturate, q.block_size, q.output_dtype),
        (1, true, 0, None)
    );
    assert!(parse("QuantizeLinear", 10, vec![int("axis", 0)]).is_opaque());
    let Op::QuantizeLinear(q) = parse(
        "QuantizeLinear",
        21,
        vec![int("output_dtype", 22), int("block_size", 4)],
    ) else {
        panic!()
    };
    assert_eq!((q.output_dtype, q.block_size), (Some(DType::I4), 4));
    assert!(matches!(
        parse_err("QuantizeLinear", 21, vec![int("block_size", -1)]),
        OpError::AttrValue { .. }
    ));
    let Op::DequantizeLinear(d) = parse("DequantizeLinear", 13, vec![int("axis", 0)]) else {
        panic!()
    };
    assert_eq!(d.axis, 0);
    assert!(parse("DequantizeLinear", 21, vec![int("output_dtype", 1)]).is_opaque());
}
