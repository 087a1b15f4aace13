//! Seeded random attribute lists and input facts for every typed op: parsing and inference
//! never panic, and whatever parses writes back at its opset and parses to the same op.

use super::*;
use crate::op::first_typed_opset;

/// Test-only choices on top of the shared generator.
trait Pick {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
    fn small_int(&mut self) -> i64;
    fn ints(&mut self) -> Vec<i64>;
}

impl Pick for crate::Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn small_int(&mut self) -> i64 {
        *self.pick(&[-3, -2, -1, 0, 1, 1, 2, 2, 3, 4, 7, i64::MIN, i64::MAX])
    }

    fn ints(&mut self) -> Vec<i64> {
        (0..self.below(6)).map(|_| self.small_int()).collect()
    }
}

const OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "LpPool",
    "GlobalAveragePool",
    "GlobalLpPool",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "LRN",
    "Softmax",
    "LogSoftmax",
    "Relu",
    "LeakyRelu",
    "Selu",
    "Gelu",
    "IsInf",
    "Add",
    "Less",
    "Mod",
    "BitShift",
    "PRelu",
    "Max",
    "Where",
    "Clip",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "Pad",
    "Resize",
    "ReduceSum",
    "ReduceMean",
    "ArgMax",
    "Shape",
    "Size",
    "Cast",
    "Constant",
    "ConstantOfShape",
    "Identity",
    "Dropout",
    "QuantizeLinear",
    "DequantizeLinear",
];

const NAMES: &[&str] = &[
    "axis",
    "axes",
    "keepdims",
    "kernel_shape",
    "strides",
    "pads",
    "dilations",
    "group",
    "auto_pad",
    "alpha",
    "beta",
    "gamma",
    "transA",
    "transB",
    "epsilon",
    "training_mode",
    "spatial",
    "size",
    "perm",
    "split",
    "num_outputs",
    "starts",
    "ends",
    "mode",
    "value",
    "allowzero",
    "to",
    "saturate",
    "round_mode",
    "ratio",
    "seed",
    "block_size",
    "output_dtype",
    "start",
    "end",
    "p",
    "ceil_mode",
    "storage_order",
    "count_include_pad",
    "output_padding",
    "output_shape",
    "noop_with_empty_axes",
    "select_last_index",
    "fmod",
    "direction",
    "approximate",
    "min",
    "max",
    "coordinate_transformation_mode",
    "nearest_mode",
    "antialias",
    "value_float",
    "value_ints",
    "value_string",
];

const STRINGS: &[&str] = &[
    "NOTSET",
    "SAME_UPPER",
    "VALID",
    "constant",
    "reflect",
    "wrap",
    "nearest",
    "cubic",
    "half_pixel",
    "floor",
    "tanh",
    "none",
    "LEFT",
    "up",
    "FOO",
    "",
];

fn attribute(rng: &mut crate::Rng) -> Attribute {
    let name = *rng.pick(NAMES);
    let value = match rng.below(7) {
        0 | 1 => AttrValue::Int(rng.small_int()),
        2 | 3 => AttrValue::Ints(rng.ints()),
        4 => AttrValue::Float(*rng.pick(&[0.0, -1.0, 0.5, f32::NAN, f32::MAX])),
        5 => AttrValue::String(rng.pick(STRINGS).as_bytes().to_vec()),
        _ => AttrValue::Tensor(Tensor::from_i64(vec![1], &[rng.small_int()]).unwrap()),
    };
    Attribute::new(name, value)
}

fn fact(rng: &mut crate::Rng) -> Option<Fact> {
    let dims = [
        "0",
        "1",
        "1",
        "2",
        "3",
        "4",
        "N",
        "?",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    match rng.below(9) {
        0 => None,
        8 => {
            let v = *rng.pick(&[0.5, 2.0, 1.0, -1.0, f32::NAN, f32::MAX, 1e30]);
            let n = rng.below(5);
            Fact::floats(&vec![v; n])
        }
        1 => Fact::of(Type::Unknown),
        2 => Fact::of(Type::tensor(DType::F32, None)),
        3 | 4 => {
            let values = rng.ints();
            Fact::ints(&values)
        }
        _ => {
            let rank = rng.below(5);
            let shape: Vec<&str> = (0..rank).map(|_| *rng.pick(&dims)).collect();
            Fact::of(ty(*rng.pick(&[DType::F32, DType::I64, DType::U8]), &shape))
        }
    }
}

#[test]
fn random_attributes_and_inputs_never_panic() {
    let mut rng = crate::Rng::new(0x5EED);
    let mut typed = 0;
    for _ in 0..30_000 {
        let op_type = *rng.pick(OPS);
        let from = first_typed_opset(op_type).unwrap();
        let opset = from + rng.below((crate::op::MAX_KNOWN_OPSET - from + 1) as usize) as i64;
        let attrs: Vec<Attribute> = (0..rng.below(4)).map(|_| attribute(&mut rng)).collect();
        let Ok(op) = Op::from_onnx("", op_type, opset, attrs) else {
            continue;
        };
        if !op.is_opaque() {
            typed += 1;
            let written = op
                .to_onnx(opset)
                .unwrap_or_else(|e| panic!("{op:?} at {opset}: {e}"));
            let again = parse(&written.op_type, opset, written.attrs);
            assert_eq!(format!("{op:?}"), format!("{again:?}"));
        }
        for _ in 0..4 {
            let facts: Vec<Option<Fact>> = (0..rng.below(6)).map(|_| fact(&mut rng)).collect();
            let n = rng.below(4);
            if let Ok(types) = infer_n(&op, &facts, n) {
                assert_eq!(types.len(), n);
            }
        }
    }
    assert!(typed > 3_000, "only {typed} typed ops");
}
