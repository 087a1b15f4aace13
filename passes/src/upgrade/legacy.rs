//! Opaque ops of the default domain across opset versions: the operator version history of
//! ONNX (onnx 1.23, opsets 1–28), the version changes that alter a node's meaning or spelling,
//! and conversions for those nnslim knows how to rewrite.
//!
//! A version change not listed in [`BREAKING`] or [`converts`] only widened type constraints,
//! added optional inputs or attributes whose defaults keep the old behaviour, or changed the
//! documentation: an opaque node crossing it is written unchanged.

use super::{Cx, base_name, input, ints_const, rewrite_node};
use crate::PassError;
use crate::rewrite::{add_const, const_f32, node_error};
use nnslim_ir::op::{CoordinateTransform, KeepAspectRatio, NearestMode, Resize, ResizeMode};
use nnslim_ir::{AttrValue, Attribute, Graph, NodeId, Op, Tensor};

/// The versions of every default-domain operator up to opset 28 (from `onnx.defs`).
const VERSIONS: &[(&str, &[i64])] = &[
    ("Abs", &[1, 6, 13]),
    ("Acos", &[7, 22]),
    ("Acosh", &[9, 22]),
    ("Add", &[1, 6, 7, 13, 14]),
    ("AffineGrid", &[20]),
    ("And", &[1, 7]),
    ("ArgMax", &[1, 11, 12, 13]),
    ("ArgMin", &[1, 11, 12, 13]),
    ("Asin", &[7, 22]),
    ("Asinh", &[9, 22]),
    ("Atan", &[7, 22]),
    ("Atanh", &[9, 22]),
    ("Attention", &[23, 24, 25]),
    ("AveragePool", &[1, 7, 10, 11, 19, 22]),
    ("BatchNormalization", &[1, 6, 7, 9, 14, 15]),
    ("Bernoulli", &[15, 22]),
    ("BitCast", &[26]),
    ("BitShift", &[11, 28]),
    ("BitwiseAnd", &[18]),
    ("BitwiseNot", &[18]),
    ("BitwiseOr", &[18]),
    ("BitwiseXor", &[18]),
    ("BlackmanWindow", &[17]),
    ("Cast", &[1, 6, 9, 13, 19, 21, 23, 24, 25, 28]),
    ("CastLike", &[15, 19, 21, 23, 24, 25]),
    ("CausalConvWithState", &[27]),
    ("Ceil", &[1, 6, 13]),
    ("Celu", &[12, 28]),
    ("CenterCropPad", &[18]),
    ("Clip", &[1, 6, 11, 12, 13]),
    ("Col2Im", &[18]),
    ("Compress", &[9, 11, 28]),
    ("Concat", &[1, 4, 11, 13]),
    ("ConcatFromSequence", &[11]),
    ("Constant", &[1, 9, 11, 12, 13, 19, 21, 23, 24, 25]),
    ("ConstantOfShape", &[9, 20, 21, 23, 24, 25]),
    ("Conv", &[1, 11, 22]),
    ("ConvInteger", &[10]),
    ("ConvTranspose", &[1, 11, 22]),
    ("Cos", &[7, 22]),
    ("Cosh", &[9, 22]),
    ("CumProd", &[26]),
    ("CumSum", &[11, 14]),
    ("DFT", &[17, 20]),
    ("DeformConv", &[19, 22]),
    ("DepthToSpace", &[1, 11, 13, 28]),
    ("DequantizeLinear", &[10, 13, 19, 21, 23, 24, 25, 28]),
    ("Det", &[11, 22]),
    ("Div", &[1, 6, 7, 13, 14]),
    ("Dropout", &[1, 6, 7, 10, 12, 13, 22]),
    ("DynamicQuantizeLinear", &[11]),
    ("Einsum", &[12, 28]),
    ("Elu", &[1, 6, 22]),
    ("Equal", &[1, 7, 11, 13, 19]),
    ("Erf", &[9, 13]),
    ("Exp", &[1, 6, 13]),
    ("Expand", &[8, 13]),
    ("EyeLike", &[9, 22]),
    ("Flatten", &[1, 9, 11, 13, 21, 23, 24, 25]),
    ("Floor", &[1, 6, 13]),
    ("GRU", &[1, 3, 7, 14, 22]),
    ("Gather", &[1, 11, 13]),
    ("GatherElements", &[11, 13]),
    ("GatherND", &[11, 12, 13]),
    ("Gelu", &[20]),
    ("Gemm", &[1, 6, 7, 9, 11, 13]),
    ("GlobalAveragePool", &[1, 22]),
    ("GlobalLpPool", &[1, 2, 22]),
    ("GlobalMaxPool", &[1, 22]),
    ("Greater", &[1, 7, 9, 13]),
    ("GreaterOrEqual", &[12, 16]),
    ("GridSample", &[16, 20, 22]),
    ("GroupNormalization", &[18, 21]),
    ("HammingWindow", &[17]),
    ("HannWindow", &[17]),
    ("HardSigmoid", &[1, 6, 22]),
    ("HardSwish", &[14, 22]),
    ("Hardmax", &[1, 11, 13]),
    ("Identity", &[1, 13, 14, 16, 19, 21, 23, 24, 25]),
    ("If", &[1, 11, 13, 16, 19, 21, 23, 24, 25]),
    ("ImageDecoder", &[20]),
    ("InstanceNormalization", &[1, 6, 22]),
    ("IsInf", &[10, 20]),
    ("IsNaN", &[9, 13, 20]),
    ("LRN", &[1, 13]),
    ("LSTM", &[1, 7, 14, 22]),
    ("LayerNormalization", &[17]),
    ("LeakyRelu", &[1, 6, 16]),
    ("Less", &[1, 7, 9, 13]),
    ("LessOrEqual", &[12, 16]),
    ("LinearAttention", &[27]),
    ("Log", &[1, 6, 13]),
    ("LogSoftmax", &[1, 11, 13]),
    ("Loop", &[1, 11, 13, 16, 19, 21, 23, 24, 25]),
    ("LpNormalization", &[1, 22]),
    ("LpPool", &[1, 2, 11, 18, 22]),
    ("MatMul", &[1, 9, 13]),
    ("MatMulInteger", &[10]),
    ("Max", &[1, 6, 8, 12, 13]),
    ("MaxPool", &[1, 8, 10, 11, 12, 22]),
    ("MaxRoiPool", &[1, 22]),
    ("MaxUnpool", &[9, 11, 22]),
    ("Mean", &[1, 6, 8, 13]),
    ("MeanVarianceNormalization", &[9, 13]),
    ("MelWeightMatrix", &[17]),
    ("Min", &[1, 6, 8, 12, 13]),
    ("Mish", &[18, 22]),
    ("Mod", &[10, 13, 28]),
    ("Mul", &[1, 6, 7, 13, 14]),
    ("Multinomial", &[7, 22]),
    ("Neg", &[1, 6, 13]),
    ("NegativeLogLikelihoodLoss", &[12, 13, 22]),
    ("NonMaxSuppression", &[10, 11]),
    ("NonZero", &[9, 13]),
    ("Not", &[1]),
    ("OneHot", &[9, 11, 28]),
    ("Optional", &[15, 28]),
    ("OptionalGetElement", &[15, 18, 28]),
    ("OptionalHasElement", &[15, 18, 28]),
    ("Or", &[1, 7]),
    ("PRelu", &[1, 6, 7, 9, 16]),
    ("Pad", &[1, 2, 11, 13, 18, 19, 21, 23, 24, 25]),
    ("Pow", &[1, 7, 12, 13, 15]),
    ("QLinearConv", &[10]),
    ("QLinearMatMul", &[10, 21]),
    ("QuantizeLinear", &[10, 13, 19, 21, 23, 24, 25, 28]),
    ("RMSNormalization", &[23]),
    ("RNN", &[1, 7, 14, 22]),
    ("RandomNormal", &[1, 22]),
    ("RandomNormalLike", &[1, 22]),
    ("RandomUniform", &[1, 22]),
    ("RandomUniformLike", &[1, 22]),
    ("Range", &[11, 27]),
    ("Reciprocal", &[1, 6, 13]),
    ("ReduceL1", &[1, 11, 13, 18]),
    ("ReduceL2", &[1, 11, 13, 18]),
    ("ReduceLogSum", &[1, 11, 13, 18, 28]),
    ("ReduceLogSumExp", &[1, 11, 13, 18, 28]),
    ("ReduceMax", &[1, 11, 12, 13, 18, 20]),
    ("ReduceMean", &[1, 11, 13, 18]),
    ("ReduceMin", &[1, 11, 12, 13, 18, 20]),
    ("ReduceProd", &[1, 11, 13, 18]),
    ("ReduceSum", &[1, 11, 13]),
    ("ReduceSumSquare", &[1, 11, 13, 18]),
    ("RegexFullMatch", &[20]),
    ("Relu", &[1, 6, 13, 14]),
    ("Reshape", &[1, 5, 13, 14, 19, 21, 23, 24, 25]),
    ("Resize", &[10, 11, 13, 18, 19]),
    ("ReverseSequence", &[10, 28]),
    ("RoiAlign", &[10, 16, 22]),
    ("RotaryEmbedding", &[23]),
    ("Round", &[11, 22]),
    ("STFT", &[17]),
    ("Scan", &[8, 9, 11, 16, 19, 21, 23, 24, 25]),
    ("Scatter", &[9, 11]),
    ("ScatterElements", &[11, 13, 16, 18]),
    ("ScatterND", &[11, 13, 16, 18]),
    ("Selu", &[1, 6, 22]),
    ("SequenceAt", &[11]),
    ("SequenceConstruct", &[11]),
    ("SequenceEmpty", &[11]),
    ("SequenceErase", &[11]),
    ("SequenceInsert", &[11]),
    ("SequenceLength", &[11]),
    ("SequenceMap", &[17]),
    ("Shape", &[1, 13, 15, 19, 21, 23, 24, 25]),
    ("Shrink", &[9]),
    ("Sigmoid", &[1, 6, 13]),
    ("Sign", &[9, 13]),
    ("Sin", &[7, 22]),
    ("Sinh", &[9, 22]),
    ("Size", &[1, 13, 19, 21, 23, 24, 25]),
    ("Slice", &[1, 10, 11, 13]),
    ("Softmax", &[1, 11, 13]),
    ("SoftmaxCrossEntropyLoss", &[12, 13]),
    ("Softplus", &[1, 22]),
    ("Softsign", &[1, 22]),
    ("SpaceToDepth", &[1, 13, 28]),
    ("Split", &[1, 2, 11, 13, 18]),
    ("SplitToSequence", &[11, 24]),
    ("Sqrt", &[1, 6, 13]),
    ("Squeeze", &[1, 11, 13, 21, 23, 24, 25]),
    ("StringConcat", &[20]),
    ("StringNormalizer", &[10]),
    ("StringSplit", &[20]),
    ("Sub", &[1, 6, 7, 13, 14]),
    ("Sum", &[1, 6, 8, 13]),
    ("SwiGLU", &[28]),
    ("Swish", &[24]),
    ("Tan", &[7, 22]),
    ("Tanh", &[1, 6, 13]),
    ("TensorScatter", &[24]),
    ("TfIdfVectorizer", &[9]),
    ("ThresholdedRelu", &[10, 22]),
    ("Tile", &[1, 6, 13]),
    ("TopK", &[1, 10, 11, 24]),
    ("Transpose", &[1, 13, 21, 23, 24, 25]),
    ("Trilu", &[14]),
    ("Unique", &[11, 28]),
    ("Unsqueeze", &[1, 11, 13, 21, 23, 24, 25]),
    ("Upsample", &[1, 7, 9, 10]),
    ("Where", &[9, 16]),
    ("Xor", &[1, 7]),
];

/// Version changes that alter what a node means or how it is spelled and that nnslim does not
/// convert: (op, version, what changed).
const BREAKING: &[(&str, i64, &str)] = &[
    ("Add", 7, "the legacy broadcast/axis attributes went away"),
    ("And", 7, "the legacy broadcast/axis attributes went away"),
    ("BatchNormalization", 7, "is_test went away"),
    ("BatchNormalization", 9, "spatial went away"),
    (
        "BatchNormalization",
        14,
        "training mode became an attribute and the outputs changed",
    ),
    ("Cast", 6, "'to' changed from a string to a type code"),
    ("Clip", 11, "min/max became inputs"),
    ("Concat", 4, "axis became required (it defaulted to 1)"),
    (
        "ConvTranspose",
        11,
        "SAME_UPPER/SAME_LOWER padding placement changed",
    ),
    ("Div", 7, "the legacy broadcast/axis attributes went away"),
    ("Dropout", 7, "is_test went away"),
    ("Dropout", 10, "the mask became bool"),
    ("Dropout", 12, "ratio became an input"),
    ("Equal", 7, "the legacy broadcast/axis attributes went away"),
    ("Gemm", 7, "the legacy broadcast attribute went away"),
    ("GlobalLpPool", 2, "p changed from a float to an integer"),
    (
        "Greater",
        7,
        "the legacy broadcast/axis attributes went away",
    ),
    (
        "GroupNormalization",
        21,
        "scale and bias changed from per group to per channel",
    ),
    (
        "GRU",
        3,
        "linear_before_reset was added and Y_h became optional",
    ),
    ("GRU", 7, "output_sequence went away"),
    ("Hardmax", 13, "the coerce-to-2-D semantics went away"),
    ("Less", 7, "the legacy broadcast/axis attributes went away"),
    ("LogSoftmax", 13, "the coerce-to-2-D semantics went away"),
    (
        "Loop",
        11,
        "the binding of loop-carried values to the body was fixed",
    ),
    ("LpPool", 2, "p changed from a float to an integer"),
    ("LSTM", 7, "output_sequence went away"),
    ("Mul", 7, "the legacy broadcast/axis attributes went away"),
    ("Or", 7, "the legacy broadcast/axis attributes went away"),
    ("Pad", 2, "paddings was renamed pads"),
    ("Pad", 11, "pads and value became inputs"),
    ("Pow", 7, "the legacy broadcast/axis attributes went away"),
    ("PRelu", 7, "slope broadcasting changed"),
    ("Range", 27, "stash_type was added"),
    ("ReduceL1", 18, "axes became an input"),
    ("ReduceL2", 18, "axes became an input"),
    ("ReduceLogSum", 18, "axes became an input"),
    ("ReduceLogSumExp", 18, "axes became an input"),
    ("ReduceMax", 18, "axes became an input"),
    ("ReduceMean", 18, "axes became an input"),
    ("ReduceMin", 18, "axes became an input"),
    ("ReduceProd", 18, "axes became an input"),
    ("ReduceSum", 13, "axes became an input"),
    ("ReduceSumSquare", 18, "axes became an input"),
    ("Reshape", 5, "shape became an input"),
    ("RNN", 7, "output_sequence went away"),
    ("Scan", 9, "sequence_lens and the batch axis went away"),
    ("Selu", 6, "the default alpha and gamma changed"),
    ("Slice", 10, "starts/ends/axes became inputs"),
    ("Softmax", 13, "the coerce-to-2-D semantics went away"),
    ("Split", 2, "split moved from an input to an attribute"),
    ("Split", 13, "split became an input"),
    ("Split", 18, "an equal split needs num_outputs"),
    ("Squeeze", 13, "axes became an input"),
    ("Sub", 7, "the legacy broadcast/axis attributes went away"),
    ("Tile", 6, "tiles/axis were replaced by repeats"),
    ("Unsqueeze", 13, "axes became an input"),
    ("Xor", 7, "the legacy broadcast/axis attributes went away"),
];

/// Ops whose opset-6 version dropped the legacy `consumed_inputs` attribute.
const CONSUMED_INPUTS: &[&str] = &[
    "Abs",
    "Add",
    "BatchNormalization",
    "Ceil",
    "Clip",
    "Div",
    "Dropout",
    "Elu",
    "Exp",
    "Floor",
    "HardSigmoid",
    "InstanceNormalization",
    "LeakyRelu",
    "Log",
    "Max",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "PRelu",
    "Reciprocal",
    "Relu",
    "Selu",
    "Sigmoid",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
];

/// The versions of a default-domain operator, oldest first.
pub(super) fn versions(op_type: &str) -> Option<&'static [i64]> {
    VERSIONS
        .iter()
        .find(|(n, _)| *n == op_type)
        .map(|(_, v)| *v)
}

/// What changed at `version` of `op_type` in a way nnslim does not convert.
fn breaking(op_type: &str, version: i64) -> Option<&'static str> {
    if version == 6 && CONSUMED_INPUTS.contains(&op_type) {
        return Some("the legacy consumed_inputs attribute went away");
    }
    BREAKING
        .iter()
        .find(|(n, v, _)| *n == op_type && *v == version)
        .map(|(_, _, why)| *why)
}

/// Whether the change at `version` of `op_type` is one [`upgrade_opaque`] converts.
fn converts(op_type: &str, version: i64) -> bool {
    matches!(
        (op_type, version),
        ("TopK", 10)
            | ("Upsample", 7 | 9 | 10)
            | ("Resize", 11)
            | ("Scatter", 11)
            | ("DFT", 20)
            | ("RoiAlign", 16)
            | ("GridSample", 20)
    )
}

/// Upgrades an opaque default-domain node from `cx.from` to `cx.to`: unchanged when no version
/// of its op changed meaning in between, converted where nnslim knows the new spelling, an
/// error naming the node otherwise.
pub(super) fn upgrade_opaque(g: &mut Graph, id: NodeId, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let Op::Opaque(o) = &g.node(id).op else {
        return Ok(());
    };
    let op_type = o.op_type.clone();
    let Some(history) = versions(&op_type) else {
        return Err(node_error(
            g,
            id,
            format!(
                "is not an operator of the ONNX opsets nnslim knows: whether it means the same \
                 at opset {} cannot be checked",
                cx.to
            ),
        ));
    };
    let Some(&from_v) = history.iter().rev().find(|&&v| v <= cx.from) else {
        return Err(node_error(
            g,
            id,
            format!("does not exist at the model's opset {}", cx.from),
        ));
    };
    let crossed: Vec<i64> = history
        .iter()
        .copied()
        .filter(|&v| v > from_v && v <= cx.to)
        .collect();
    let mut convert = false;
    for &v in &crossed {
        if let Some(why) = breaking(&op_type, v) {
            return Err(node_error(
                g,
                id,
                format!(
                    "cannot be upgraded from opset {} to {}: at version {v} {why}",
                    cx.from, cx.to
                ),
            ));
        }
        convert |= converts(&op_type, v);
    }
    if !convert {
        return Ok(());
    }
    match op_type.as_str() {
        "TopK" => top_k(g, id, cx),
        "Upsample" => to_resize(g, id, from_v, cx),
        "Resize" => to_resize(g, id, from_v, cx),
        "Scatter" => {
            opaque_mut(g, id, |o| {
                o.op_type = "ScatterElements".into();
            });
            Ok(())
        }
        "DFT" => dft(g, id, cx),
        "RoiAlign" => {
            // Version 10 placed the sampling points with half-pixel offsets on the output only;
            // 16 added the attribute with a new default ("half_pixel").
            opaque_mut(g, id, |o| {
                if attr(&o.attrs, "coordinate_transformation_mode").is_none() {
                    o.attrs.push(Attribute::new(
                        "coordinate_transformation_mode",
                        AttrValue::String(b"output_half_pixel".to_vec()),
                    ));
                }
            });
            Ok(())
        }
        "GridSample" => {
            // Version 20 renamed the modes bilinear → linear and bicubic → cubic.
            opaque_mut(g, id, |o| {
                for a in &mut o.attrs {
                    if a.name == "mode"
                        && let AttrValue::String(s) = &mut a.value
                    {
                        match s.as_slice() {
                            b"bilinear" => *s = b"linear".to_vec(),
                            b"bicubic" => *s = b"cubic".to_vec(),
                            _ => {}
                        }
                    }
                }
            });
            Ok(())
        }
        _ => Ok(()),
    }
}

fn attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|a| a.name == name).map(|a| &a.value)
}

fn opaque_attrs(g: &Graph, id: NodeId) -> Vec<Attribute> {
    match &g.node(id).op {
        Op::Opaque(o) => o.attrs.clone(),
        _ => Vec::new(),
    }
}

fn opaque_mut(g: &mut Graph, id: NodeId, f: impl FnOnce(&mut nnslim_ir::Opaque)) {
    if let Op::Opaque(o) = &mut g.node_mut(id).op {
        f(o);
    }
}

/// A string attribute, or `default` when absent.
fn string_attr(g: &Graph, id: NodeId, name: &str, default: &str) -> Result<String, PassError> {
    match attr(&opaque_attrs(g, id), name) {
        None => Ok(default.to_string()),
        Some(AttrValue::String(s)) => Ok(String::from_utf8_lossy(s).into_owned()),
        Some(v) => Err(node_error(
            g,
            id,
            format!("attribute '{name}' is {}, expected STRING", v.kind()),
        )),
    }
}

/// TopK before opset 10: the `k` attribute becomes the int64 input `K` (shape `[1]`).
fn top_k(g: &mut Graph, id: NodeId, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let mut attrs = opaque_attrs(g, id);
    let Some(pos) = attrs.iter().position(|a| a.name == "k") else {
        return Err(node_error(g, id, "attribute 'k' is missing"));
    };
    let AttrValue::Int(k) = attrs.remove(pos).value else {
        return Err(node_error(g, id, "attribute 'k' must be an INT"));
    };
    let base = format!("{}.k", base_name(g, id));
    let kv = ints_const(g, cx.names, &base, &[k])?;
    g.set_input(id, 1, Some(kv))?;
    opaque_mut(g, id, |o| o.attrs = attrs);
    Ok(())
}

/// DFT before opset 20: the `axis` attribute (default 1) becomes the int64 scalar input 2.
fn dft(g: &mut Graph, id: NodeId, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let mut attrs = opaque_attrs(g, id);
    let axis = match attrs.iter().position(|a| a.name == "axis") {
        None => 1,
        Some(pos) => match attrs.remove(pos).value {
            AttrValue::Int(a) => a,
            _ => return Err(node_error(g, id, "attribute 'axis' must be an INT")),
        },
    };
    let t = Tensor::from_i64(Vec::new(), &[axis])
        .map_err(|e| node_error(g, id, format!("axis constant: {e}")))?;
    let base = format!("{}.axis", base_name(g, id));
    let av = add_const(g, cx.names, &base, t);
    g.set_input(id, 2, Some(av))?;
    opaque_mut(g, id, |o| o.attrs = attrs);
    Ok(())
}

/// `Upsample` (opsets 7–9) and `Resize` of opset 10 → the typed `Resize` (opset 11+) with
/// `asymmetric` coordinates: output index i reads input i / scale. Nearest rounding is what
/// ONNX Runtime implements for the old ops: floor when upsampling, ceil when downsampling (a
/// mix of both on different axes, or scales unknown for a `Resize`, is refused).
fn to_resize(g: &mut Graph, id: NodeId, from_v: i64, cx: &mut Cx<'_>) -> Result<(), PassError> {
    let op_type = g.node(id).op.op_type().to_string();
    if cx.to < 11 {
        return Err(node_error(
            g,
            id,
            format!("nnslim converts {op_type} only to the Resize of opset 11 or later"),
        ));
    }
    if op_type == "Upsample" && from_v < 7 {
        return Err(node_error(
            g,
            id,
            "the experimental Upsample of opset 1 is not converted",
        ));
    }
    let mode = match string_attr(g, id, "mode", "nearest")?.as_str() {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        m => return Err(node_error(g, id, format!("mode '{m}' is not converted"))),
    };
    let scales = if op_type == "Upsample" && from_v < 9 {
        let Some(AttrValue::Floats(s)) = attr(&opaque_attrs(g, id), "scales").cloned() else {
            return Err(node_error(g, id, "attribute 'scales' (FLOATS) is missing"));
        };
        let t = Tensor::from_f32(vec![s.len() as i64], &s)
            .map_err(|e| node_error(g, id, format!("scales constant: {e}")))?;
        let base = format!("{}.scales", base_name(g, id));
        add_const(g, cx.names, &base, t)
    } else {
        input(g, id, 1)?
    };
    let known = const_f32(g, scales);
    let up = known.as_ref().is_some_and(|s| s.iter().all(|&v| v >= 1.0));
    let down = known.as_ref().is_some_and(|s| s.iter().all(|&v| v <= 1.0));
    let nearest_mode = if up || (op_type == "Upsample" && known.is_none()) {
        NearestMode::Floor
    } else if down {
        NearestMode::Ceil
    } else if mode == ResizeMode::Nearest {
        return Err(node_error(
            g,
            id,
            "nearest rounding of the old op depends on whether the constant scales up- or \
             downsample; these scales are mixed or not constant",
        ));
    } else {
        NearestMode::Floor
    };
    let roi = if cx.to >= 13 {
        None
    } else {
        let t = Tensor::from_f32(vec![0], &[])
            .map_err(|e| node_error(g, id, format!("roi constant: {e}")))?;
        let base = format!("{}.roi", base_name(g, id));
        Some(add_const(g, cx.names, &base, t))
    };
    let op = Op::Resize(Resize {
        mode,
        coordinate_transformation_mode: CoordinateTransform::Asymmetric,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        nearest_mode,
        antialias: false,
        axes: None,
        keep_aspect_ratio_policy: KeepAspectRatio::Stretch,
    });
    rewrite_node(g, id, op, &[(1, roi), (2, Some(scales))])
}
