//! Elementwise ops: unary activations and math (`Unary`), broadcasting binary ops (`Binary`),
//! variadic `Max/Min/Mean/Sum` (`Variadic`), `Where` and `Clip`.

use super::attrs::{AttrReader, AttrWriter};
use super::facts::{broadcast, broadcast_inputs, input_err, out, required};
use super::{InferInput, OpError, opset_error};
use crate::{DType, Type};

/// A one-input elementwise op (output shape = input shape), with its attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Celu {
        alpha: f32,
    },
    ThresholdedRelu {
        alpha: f32,
    },
    Sigmoid,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Tanh,
    Softplus,
    Softsign,
    Mish,
    /// `Gelu` (opset 20); `tanh_approximation` is `approximate = "tanh"`.
    Gelu {
        tanh_approximation: bool,
    },
    Erf,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Neg,
    Abs,
    Floor,
    Ceil,
    Round,
    Sign,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Not,
    /// Output is bool.
    IsNaN,
    /// Output is bool.
    IsInf {
        detect_negative: bool,
        detect_positive: bool,
    },
}

/// Unary ops without attributes, by ONNX name.
const PLAIN_UNARY: [(&str, Unary); 31] = [
    ("Relu", Unary::Relu),
    ("Sigmoid", Unary::Sigmoid),
    ("HardSwish", Unary::HardSwish),
    ("Tanh", Unary::Tanh),
    ("Softplus", Unary::Softplus),
    ("Softsign", Unary::Softsign),
    ("Mish", Unary::Mish),
    ("Erf", Unary::Erf),
    ("Exp", Unary::Exp),
    ("Log", Unary::Log),
    ("Sqrt", Unary::Sqrt),
    ("Reciprocal", Unary::Reciprocal),
    ("Neg", Unary::Neg),
    ("Abs", Unary::Abs),
    ("Floor", Unary::Floor),
    ("Ceil", Unary::Ceil),
    ("Round", Unary::Round),
    ("Sign", Unary::Sign),
    ("Sin", Unary::Sin),
    ("Cos", Unary::Cos),
    ("Tan", Unary::Tan),
    ("Asin", Unary::Asin),
    ("Acos", Unary::Acos),
    ("Atan", Unary::Atan),
    ("Sinh", Unary::Sinh),
    ("Cosh", Unary::Cosh),
    ("Asinh", Unary::Asinh),
    ("Acosh", Unary::Acosh),
    ("Atanh", Unary::Atanh),
    ("Not", Unary::Not),
    ("IsNaN", Unary::IsNaN),
];

/// Default `Selu` constants (opset 6+).
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_GAMMA: f32 = 1.050_701;

impl Unary {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        match self {
            Unary::LeakyRelu { .. } => "LeakyRelu",
            Unary::Elu { .. } => "Elu",
            Unary::Selu { .. } => "Selu",
            Unary::Celu { .. } => "Celu",
            Unary::ThresholdedRelu { .. } => "ThresholdedRelu",
            Unary::HardSigmoid { .. } => "HardSigmoid",
            Unary::Gelu { .. } => "Gelu",
            Unary::IsInf { .. } => "IsInf",
            plain => PLAIN_UNARY
                .iter()
                .find(|(_, u)| u == plain)
                .map_or("", |(name, _)| name),
        }
    }

    /// Whether `op_type` names a unary op.
    pub(crate) fn is_unary(op_type: &str) -> bool {
        PLAIN_UNARY.iter().any(|(n, _)| *n == op_type)
            || matches!(
                op_type,
                "LeakyRelu"
                    | "Elu"
                    | "Selu"
                    | "Celu"
                    | "ThresholdedRelu"
                    | "HardSigmoid"
                    | "Gelu"
                    | "IsInf"
            )
    }

    pub(crate) fn parse(op_type: &str, r: &mut AttrReader<'_>) -> Result<Unary, OpError> {
        Ok(match op_type {
            "LeakyRelu" => Unary::LeakyRelu {
                alpha: r.float_or("alpha", 0.01)?,
            },
            "Elu" => Unary::Elu {
                alpha: r.float_or("alpha", 1.0)?,
            },
            "Selu" => Unary::Selu {
                alpha: r.float_or("alpha", SELU_ALPHA)?,
                gamma: r.float_or("gamma", SELU_GAMMA)?,
            },
            "Celu" => Unary::Celu {
                alpha: r.float_or("alpha", 1.0)?,
            },
            "ThresholdedRelu" => Unary::ThresholdedRelu {
                alpha: r.float_or("alpha", 1.0)?,
            },
            "HardSigmoid" => Unary::HardSigmoid {
                alpha: r.float_or("alpha", 0.2)?,
                beta: r.float_or("beta", 0.5)?,
            },
            "Gelu" => Unary::Gelu {
                tanh_approximation: r.enum_or(
                    "approximate",
                    false,
                    |s| match s {
                        "none" => Some(false),
                        "tanh" => Some(true),
                        _ => None,
                    },
                    "none or tanh",
                )?,
            },
            "IsInf" => Unary::IsInf {
                detect_negative: r.flag_or("detect_negative", true)?,
                detect_positive: r.flag_or("detect_positive", true)?,
            },
            other => PLAIN_UNARY
                .iter()
                .find(|(n, _)| *n == other)
                .map(|(_, u)| *u)
                .ok_or_else(|| OpError::Invalid(format!("{other} is not a unary op")))?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        match *self {
            Unary::LeakyRelu { alpha } => w.float_unless("alpha", alpha, 0.01),
            Unary::Elu { alpha } | Unary::Celu { alpha } | Unary::ThresholdedRelu { alpha } => {
                w.float_unless("alpha", alpha, 1.0)
            }
            Unary::Selu { alpha, gamma } => {
                w.float_unless("alpha", alpha, SELU_ALPHA);
                w.float_unless("gamma", gamma, SELU_GAMMA);
            }
            Unary::HardSigmoid { alpha, beta } => {
                w.float_unless("alpha", alpha, 0.2);
                w.float_unless("beta", beta, 0.5);
            }
            Unary::Gelu {
                tanh_approximation: true,
            } => w.string("approximate", "tanh"),
            Unary::IsInf {
                detect_negative,
                detect_positive,
            } => {
                w.flag_unless("detect_negative", detect_negative, true);
                w.flag_unless("detect_positive", detect_positive, true);
            }
            _ => {}
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let dtype = match self {
            Unary::IsNaN | Unary::IsInf { .. } => Some(DType::Bool),
            _ => x.dtype(),
        };
        Ok(vec![out(dtype, x.shape().cloned())])
    }
}

/// Direction of `BitShift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftDirection {
    Left,
    Right,
}

/// A two-input elementwise op with numpy broadcasting (`PRelu`: slope broadcasts to X).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// `fmod = 1`: C `fmod` (sign of the dividend); otherwise the sign of the divisor.
    Mod {
        fmod: bool,
    },
    BitShift {
        direction: ShiftDirection,
    },
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
    Xor,
    PRelu,
}

const PLAIN_BINARY: [(&str, Binary); 14] = [
    ("Add", Binary::Add),
    ("Sub", Binary::Sub),
    ("Mul", Binary::Mul),
    ("Div", Binary::Div),
    ("Pow", Binary::Pow),
    ("Equal", Binary::Equal),
    ("Less", Binary::Less),
    ("LessOrEqual", Binary::LessOrEqual),
    ("Greater", Binary::Greater),
    ("GreaterOrEqual", Binary::GreaterOrEqual),
    ("And", Binary::And),
    ("Or", Binary::Or),
    ("Xor", Binary::Xor),
    ("PRelu", Binary::PRelu),
];

impl Binary {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        match self {
            Binary::Mod { .. } => "Mod",
            Binary::BitShift { .. } => "BitShift",
            plain => PLAIN_BINARY
                .iter()
                .find(|(_, b)| b == plain)
                .map_or("", |(name, _)| name),
        }
    }

    pub(crate) fn is_binary(op_type: &str) -> bool {
        matches!(op_type, "Mod" | "BitShift") || PLAIN_BINARY.iter().any(|(n, _)| *n == op_type)
    }

    /// Whether the output is bool (comparisons and logic).
    pub fn is_predicate(&self) -> bool {
        matches!(
            self,
            Binary::Equal
                | Binary::Less
                | Binary::LessOrEqual
                | Binary::Greater
                | Binary::GreaterOrEqual
                | Binary::And
                | Binary::Or
                | Binary::Xor
        )
    }

    pub(crate) fn parse(op_type: &str, r: &mut AttrReader<'_>) -> Result<Binary, OpError> {
        Ok(match op_type {
            "Mod" => Binary::Mod {
                fmod: r.flag_or("fmod", false)?,
            },
            "BitShift" => Binary::BitShift {
                direction: r
                    .string("direction")?
                    .ok_or_else(|| OpError::MissingAttr("direction".into()))
                    .and_then(|s| match s.as_str() {
                        "LEFT" => Ok(ShiftDirection::Left),
                        "RIGHT" => Ok(ShiftDirection::Right),
                        _ => Err(super::attrs::bad_value(
                            "direction",
                            format!("unknown value {s:?} (expected LEFT or RIGHT)"),
                        )),
                    })?,
            },
            other => PLAIN_BINARY
                .iter()
                .find(|(n, _)| *n == other)
                .map(|(_, b)| *b)
                .ok_or_else(|| OpError::Invalid(format!("{other} is not a binary op")))?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        match self {
            Binary::Mod { fmod } => w.flag_unless("fmod", *fmod, false),
            Binary::BitShift { direction } => w.string(
                "direction",
                match direction {
                    ShiftDirection::Left => "LEFT",
                    ShiftDirection::Right => "RIGHT",
                },
            ),
            _ => {}
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        if *self == Binary::PRelu {
            if let (Some(x), Some(slope)) = (a.shape(), b.shape()) {
                let both = broadcast(&[x, slope]).map_err(|e| input_err(1, e.to_string()))?;
                if both.len() != x.len()
                    || both
                        .iter()
                        .zip(x)
                        .any(|(o, i)| o.known().is_some() && i.known().is_some() && o != i)
                {
                    return Err(input_err(1, "slope does not broadcast to X's shape"));
                }
            }
            return Ok(vec![out(a.dtype().or(b.dtype()), a.shape().cloned())]);
        }
        let shape = broadcast_inputs(&[a, b])?;
        let dtype = if self.is_predicate() {
            Some(DType::Bool)
        } else {
            a.dtype().or(b.dtype())
        };
        Ok(vec![out(dtype, shape)])
    }
}

/// `Max`, `Min`, `Mean`, `Sum` over any number of broadcasting inputs (typed from opset 6;
/// before 8 all inputs have the same shape, a special case of broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variadic {
    Max,
    Min,
    Mean,
    Sum,
}

impl Variadic {
    /// The ONNX op type.
    pub fn op_type(&self) -> &'static str {
        match self {
            Variadic::Max => "Max",
            Variadic::Min => "Min",
            Variadic::Mean => "Mean",
            Variadic::Sum => "Sum",
        }
    }

    pub(crate) fn from_op_type(op_type: &str) -> Option<Variadic> {
        [Variadic::Max, Variadic::Min, Variadic::Mean, Variadic::Sum]
            .into_iter()
            .find(|v| v.op_type() == op_type)
    }
}

/// Output type of ops that broadcast all their inputs; `dtype_from` lists the input slots whose
/// element type the output has.
pub(crate) fn infer_broadcast(
    inputs: &[Option<InferInput<'_>>],
    dtype_from: &[usize],
) -> Result<Vec<Type>, OpError> {
    if inputs.is_empty() {
        return Err(input_err(0, "at least one input is required"));
    }
    let present: Vec<InferInput<'_>> = (0..inputs.len())
        .map(|slot| required(inputs, slot))
        .collect::<Result<_, _>>()?;
    let shape = broadcast_inputs(&present)?;
    let dtype = dtype_from
        .iter()
        .find_map(|&s| present.get(s).and_then(|i| i.dtype()));
    Ok(vec![out(dtype, shape)])
}

/// `Clip`. Opsets 6–10 take the bounds as attributes (defaults: the f32 range); from 11 they
/// are optional inputs and `attrs` is `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clip {
    pub attrs: Option<ClipAttrs>,
}

/// The attribute bounds of `Clip` before opset 11.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipAttrs {
    pub min: f32,
    pub max: f32,
}

impl Clip {
    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Clip, OpError> {
        if opset >= 11 {
            return Ok(Clip { attrs: None });
        }
        Ok(Clip {
            attrs: Some(ClipAttrs {
                min: r.float_or("min", f32::MIN)?,
                max: r.float_or("max", f32::MAX)?,
            }),
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        match (self.attrs, opset >= 11) {
            (Some(a), false) => {
                w.float_unless("min", a.min, f32::MIN);
                w.float_unless("max", a.max, f32::MAX);
                Ok(())
            }
            (None, true) => Ok(()),
            (Some(_), true) => Err(opset_error(
                "Clip",
                opset,
                "min/max are inputs from opset 11; this node has them as attributes",
            )),
            (None, false) => Err(opset_error(
                "Clip",
                opset,
                "min/max are attributes before opset 11; this node has them as inputs",
            )),
        }
    }
}
