//! Recurrent layers `RNN`, `GRU` and `LSTM` (typed from opset 7, where `output_sequence` went
//! away; `layout` from opset 14): cell kind, direction, activations with their alpha/beta, clip.

use super::attrs::{AttrReader, AttrWriter, bad_value};
use super::facts::{input_err, out, required};
use super::{InferInput, OpError, opset_error};
use crate::{Dim, Type};

/// Which recurrent cell, with its cell-specific attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// `RNN`: `Ht = f(Xt*Wi + Ht-1*Ri + Wbi + Rbi)`.
    Rnn,
    /// `GRU`, gates z, r, h.
    Gru {
        /// Apply the reset gate after the recurrent linear transform (opset 3+ attribute).
        linear_before_reset: bool,
    },
    /// `LSTM`, gates i, o, f, c; optional peepholes.
    Lstm {
        /// Couple the input and forget gates (`f = 1 - i`).
        input_forget: bool,
    },
}

impl Cell {
    /// The ONNX op type.
    pub fn op_type(self) -> &'static str {
        match self {
            Cell::Rnn => "RNN",
            Cell::Gru { .. } => "GRU",
            Cell::Lstm { .. } => "LSTM",
        }
    }

    /// Gates per direction (rows of `W` and `R` are `gates * hidden_size`).
    pub fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm { .. } => 4,
        }
    }

    /// Activation functions per direction (`f`; `f, g`; `f, g, h`).
    pub fn activations_per_direction(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 2,
            Cell::Lstm { .. } => 3,
        }
    }

    /// The default activations of one direction.
    pub fn default_activations(self) -> &'static [Activation] {
        use Activation::{Sigmoid, Tanh};
        match self {
            Cell::Rnn => &[Tanh],
            Cell::Gru { .. } => &[Sigmoid, Tanh],
            Cell::Lstm { .. } => &[Sigmoid, Tanh, Tanh],
        }
    }

    /// Outputs: `Y, Y_h` (and `Y_c` for LSTM).
    pub fn num_outputs(self) -> usize {
        match self {
            Cell::Lstm { .. } => 3,
            _ => 2,
        }
    }
}

/// Which way the sequence is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
            Direction::Bidirectional => "bidirectional",
        }
    }

    /// `num_directions`: 2 for bidirectional, else 1.
    pub fn count(self) -> usize {
        match self {
            Direction::Bidirectional => 2,
            _ => 1,
        }
    }
}

/// An activation function of a recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Tanh,
    Sigmoid,
    /// `alpha*x + beta`.
    Affine,
    LeakyRelu,
    ThresholdedRelu,
    /// `alpha*tanh(beta*x)`.
    ScaledTanh,
    HardSigmoid,
    Elu,
    Softsign,
    Softplus,
}

const ACTIVATIONS: [Activation; 11] = [
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Affine,
    Activation::LeakyRelu,
    Activation::ThresholdedRelu,
    Activation::ScaledTanh,
    Activation::HardSigmoid,
    Activation::Elu,
    Activation::Softsign,
    Activation::Softplus,
];

impl Activation {
    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            Activation::Relu => "Relu",
            Activation::Tanh => "Tanh",
            Activation::Sigmoid => "Sigmoid",
            Activation::Affine => "Affine",
            Activation::LeakyRelu => "LeakyRelu",
            Activation::ThresholdedRelu => "ThresholdedRelu",
            Activation::ScaledTanh => "ScaledTanh",
            Activation::HardSigmoid => "HardSigmoid",
            Activation::Elu => "Elu",
            Activation::Softsign => "Softsign",
            Activation::Softplus => "Softplus",
        }
    }

    /// Parses a name case-insensitively (as ONNX Runtime does).
    pub fn parse(s: &str) -> Option<Activation> {
        ACTIVATIONS
            .into_iter()
            .find(|a| a.onnx_name().eq_ignore_ascii_case(s))
    }

    /// Defaults for `(alpha, beta)` when the lists run out, `None` where the function does not
    /// take the parameter. These are ONNX Runtime's values (0 where it has no default).
    pub fn parameters(self) -> (Option<f32>, Option<f32>) {
        match self {
            Activation::Affine | Activation::ScaledTanh => (Some(0.0), Some(0.0)),
            Activation::LeakyRelu => (Some(0.01), None),
            Activation::ThresholdedRelu => (Some(0.0), None),
            Activation::HardSigmoid => (Some(0.2), Some(0.5)),
            Activation::Elu => (Some(1.0), None),
            _ => (None, None),
        }
    }
}

/// An activation with its parameters resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationFn {
    pub kind: Activation,
    pub alpha: f32,
    pub beta: f32,
}

/// `RNN`, `GRU` or `LSTM`. Inputs: `X, W, R, B, sequence_lens, initial_h` (and `initial_c, P`
/// for LSTM). Outputs: `Y, Y_h` (and `Y_c`).
#[derive(Clone, Debug, PartialEq)]
pub struct Recurrent {
    pub cell: Cell,
    /// The `hidden_size` attribute; the weights' shapes say it too.
    pub hidden_size: Option<i64>,
    pub direction: Direction,
    /// The `activations` list as written (per direction, in the cell's order); `None` (or an
    /// empty list) means the cell's defaults.
    pub activations: Option<Vec<Activation>>,
    /// Parameters consumed in order by the activations that take them.
    pub activation_alpha: Option<Vec<f32>>,
    pub activation_beta: Option<Vec<f32>>,
    /// Clip the activations' inputs to `[-clip, clip]`.
    pub clip: Option<f32>,
    /// `layout = 1` (opset 14+): X, Y, Y_h and Y_c are batch-major.
    pub batch_major: bool,
}

impl Recurrent {
    /// A forward cell with default attributes.
    pub fn new(cell: Cell) -> Recurrent {
        Recurrent {
            cell,
            hidden_size: None,
            direction: Direction::Forward,
            activations: None,
            activation_alpha: None,
            activation_beta: None,
            clip: None,
            batch_major: false,
        }
    }

    /// Parses `op_type` (`RNN`, `GRU` or `LSTM`); `Ok(None)` for an activations list whose
    /// length does not match the direction (a form nnslim keeps opaque).
    pub(crate) fn parse(
        op_type: &str,
        opset: i64,
        r: &mut AttrReader<'_>,
    ) -> Result<Option<Recurrent>, OpError> {
        let cell = match op_type {
            "RNN" => Cell::Rnn,
            "GRU" => Cell::Gru {
                linear_before_reset: r.flag_or("linear_before_reset", false)?,
            },
            _ => Cell::Lstm {
                input_forget: r.flag_or("input_forget", false)?,
            },
        };
        let direction = r.enum_or(
            "direction",
            Direction::Forward,
            |s| {
                [
                    Direction::Forward,
                    Direction::Reverse,
                    Direction::Bidirectional,
                ]
                .into_iter()
                .find(|d| d.onnx_name() == s)
            },
            "forward, reverse or bidirectional",
        )?;
        let hidden_size = r.int("hidden_size")?;
        if let Some(h) = hidden_size
            && h <= 0
        {
            return Err(bad_value(
                "hidden_size",
                format!("must be positive, got {h}"),
            ));
        }
        let clip = r.float("clip")?;
        if let Some(c) = clip
            && c.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return Err(bad_value("clip", format!("must be positive, got {c}")));
        }
        let activations = r
            .strings("activations")?
            .map(|names| {
                names
                    .iter()
                    .map(|s| {
                        Activation::parse(s).ok_or_else(|| {
                            bad_value("activations", format!("unknown activation {s:?}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let batch_major = opset >= 14 && r.flag_or("layout", false)?;
        let op = Recurrent {
            cell,
            hidden_size,
            direction,
            activations,
            activation_alpha: r.floats("activation_alpha")?,
            activation_beta: r.floats("activation_beta")?,
            clip,
            batch_major,
        };
        if let Some(a) = &op.activations {
            let want = cell.activations_per_direction() * direction.count();
            if !a.is_empty() && a.len() != want {
                return Ok(None);
            }
        }
        Ok(Some(op))
    }

    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) -> Result<(), OpError> {
        if self.batch_major && opset < 14 {
            return Err(opset_error(
                self.cell.op_type(),
                opset,
                "layout needs opset 14",
            ));
        }
        if let Some(a) = &self.activation_alpha {
            w.floats("activation_alpha", a);
        }
        if let Some(b) = &self.activation_beta {
            w.floats("activation_beta", b);
        }
        if let Some(a) = &self.activations {
            let names: Vec<&str> = a.iter().map(|a| a.onnx_name()).collect();
            w.strings("activations", &names);
        }
        if let Some(c) = self.clip {
            w.float("clip", c);
        }
        w.string_unless("direction", self.direction.onnx_name(), "forward");
        if let Some(h) = self.hidden_size {
            w.int("hidden_size", h);
        }
        match self.cell {
            Cell::Lstm { input_forget } => w.flag_unless("input_forget", input_forget, false),
            Cell::Gru {
                linear_before_reset,
            } => w.flag_unless("linear_before_reset", linear_before_reset, false),
            Cell::Rnn => {}
        }
        w.flag_unless("layout", self.batch_major, false);
        Ok(())
    }

    /// The activations of each direction with their alpha/beta resolved: the listed functions
    /// (or the cell's defaults) take values from `activation_alpha`/`activation_beta` in order,
    /// each function only the parameters it uses, defaults once the lists run out.
    pub fn activation_fns(&self) -> Vec<Vec<ActivationFn>> {
        let per = self.cell.activations_per_direction();
        let ndir = self.direction.count();
        let kinds: Vec<Activation> = match &self.activations {
            Some(a) if !a.is_empty() => a.clone(),
            _ => (0..ndir)
                .flat_map(|_| self.cell.default_activations().iter().copied())
                .collect(),
        };
        let mut alphas = self.activation_alpha.iter().flatten().copied();
        let mut betas = self.activation_beta.iter().flatten().copied();
        let fns: Vec<ActivationFn> = kinds
            .into_iter()
            .map(|kind| {
                let (a, b) = kind.parameters();
                ActivationFn {
                    kind,
                    alpha: a.map_or(0.0, |d| alphas.next().unwrap_or(d)),
                    beta: b.map_or(0.0, |d| betas.next().unwrap_or(d)),
                }
            })
            .collect();
        fns.chunks(per.max(1)).map(<[_]>::to_vec).collect()
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 1)?;
        let r = required(inputs, 2)?;
        let ndir = self.direction.count();
        if let Some(s) = x.shape()
            && s.len() != 3
        {
            return Err(input_err(0, format!("X must have rank 3, got {}", s.len())));
        }
        for (slot, i) in [(1, w), (2, r)] {
            if let Some(s) = i.shape() {
                if s.len() != 3 {
                    return Err(input_err(
                        slot,
                        format!("must have rank 3, got {}", s.len()),
                    ));
                }
                if let Some(d) = s[0].known().filter(|&d| d != ndir as i64) {
                    return Err(input_err(
                        slot,
                        format!(
                            "has {d} directions, but direction is {}",
                            self.direction.onnx_name()
                        ),
                    ));
                }
            }
        }
        let gates = self.cell.gates() as i64;
        let hidden = match self.hidden_size {
            Some(h) => Dim::Known(h),
            None => match (r.shape(), w.shape()) {
                (Some(s), _) if s[2] != Dim::Unknown => s[2].clone(),
                (_, Some(s)) => s[1]
                    .known()
                    .filter(|v| v % gates == 0)
                    .map_or(Dim::Unknown, |v| Dim::Known(v / gates)),
                _ => Dim::Unknown,
            },
        };
        let (seq, batch) = match x.shape() {
            Some(s) if self.batch_major => (s[1].clone(), s[0].clone()),
            Some(s) => (s[0].clone(), s[1].clone()),
            None => (Dim::Unknown, Dim::Unknown),
        };
        let nd = Dim::Known(ndir as i64);
        let dtype = x.dtype();
        let (y, state) = if self.batch_major {
            (
                vec![batch.clone(), seq, nd.clone(), hidden.clone()],
                vec![batch, nd, hidden],
            )
        } else {
            (
                vec![seq, nd.clone(), batch.clone(), hidden.clone()],
                vec![nd, batch, hidden],
            )
        };
        let mut types = vec![out(dtype, Some(y)), out(dtype, Some(state.clone()))];
        if matches!(self.cell, Cell::Lstm { .. }) {
            types.push(out(dtype, Some(state)));
        }
        Ok(types)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;
    use crate::{AttrValue, Attribute, DType};

    fn strings(name: &str, v: &[&str]) -> Attribute {
        let v = v.iter().map(|s| s.as_bytes().to_vec()).collect();
        Attribute::new(name, AttrValue::Strings(v))
    }

    #[test]
    fn activations_take_parameters_in_order() {
        let attrs = vec![
            strings("activations", &["LeakyRelu", "tanh", "HardSigmoid"]),
            Attribute::new("activation_alpha", AttrValue::Floats(vec![0.5, 0.3])),
            Attribute::new("activation_beta", AttrValue::Floats(vec![])),
        ];
        let Op::Recurrent(op) = Op::from_onnx("", "LSTM", 14, attrs).unwrap() else {
            panic!("LSTM is typed");
        };
        let fns = op.activation_fns();
        assert_eq!(fns.len(), 1);
        assert_eq!(
            (fns[0][0].kind, fns[0][0].alpha),
            (Activation::LeakyRelu, 0.5)
        );
        assert_eq!(fns[0][1].kind, Activation::Tanh);
        assert_eq!((fns[0][2].alpha, fns[0][2].beta), (0.3, 0.5));
        let written = Op::Recurrent(op.clone()).to_onnx(14).unwrap();
        let again = Op::from_onnx("", "LSTM", 14, written.attrs).unwrap();
        assert_eq!(format!("{:?}", Op::Recurrent(op)), format!("{again:?}"));
    }

    #[test]
    fn forms_opsets_and_errors() {
        // A list that does not fit the direction stays opaque; bad names are errors.
        let two = vec![
            strings("activations", &["Sigmoid", "Tanh"]),
            Attribute::new("direction", AttrValue::String(b"bidirectional".to_vec())),
        ];
        assert!(Op::from_onnx("", "GRU", 14, two).unwrap().is_opaque());
        assert!(Op::from_onnx("", "RNN", 14, vec![strings("activations", &["Foo"])]).is_err());
        assert!(Op::from_onnx("", "LSTM", 6, vec![]).unwrap().is_opaque());
        let layout = vec![Attribute::new("layout", AttrValue::Int(1))];
        assert!(
            Op::from_onnx("", "GRU", 7, layout.clone())
                .unwrap()
                .is_opaque()
        );
        let Op::Recurrent(gru) = Op::from_onnx("", "GRU", 14, layout).unwrap() else {
            panic!("GRU is typed");
        };
        assert!(gru.batch_major);
        assert!(Op::Recurrent(gru.clone()).to_onnx(13).is_err());
        // Batch-major shapes: X [batch, seq, input].
        let x = Type::tensor(
            DType::F32,
            Some(vec![Dim::Known(2), Dim::Known(7), Dim::Known(3)]),
        );
        let w = Type::tensor(
            DType::F32,
            Some(vec![Dim::Known(1), Dim::Known(15), Dim::Known(3)]),
        );
        let fact = |ty| Some(InferInput { ty, value: None });
        let r = Type::tensor(
            DType::F32,
            Some(vec![Dim::Known(1), Dim::Known(15), Dim::Known(5)]),
        );
        let t = gru.infer(&[fact(&x), fact(&w), fact(&r)]).unwrap();
        let known =
            |d: &[i64]| Type::tensor(DType::F32, Some(d.iter().map(|&v| Dim::Known(v)).collect()));
        assert_eq!(t[0], known(&[2, 7, 1, 5]));
        assert_eq!(t[1], known(&[2, 1, 5]));
    }
}
