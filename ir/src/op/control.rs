//! Control flow whose bodies are nested IR graphs: `If` (typed from opset 1), `Loop` (typed
//! from opset 11, where the spec fixed how loop-carried values bind to the body) and `Scan`
//! (typed from opset 9; the opset-8 form with `sequence_lens` and a batch axis stays opaque).

use super::attrs::{AttrReader, AttrWriter, bad_value, check_all};
use super::facts::{input_err, norm_axis, optional};
use super::{InferInput, OpError};
use crate::{DType, Dim, Graph, TensorType, Type};

/// `If(cond)`: runs `then_branch` or `else_branch`; the node's outputs are the branch's outputs.
#[derive(Clone, Debug)]
pub struct If {
    pub then_branch: Box<Graph>,
    pub else_branch: Box<Graph>,
    /// The file listed `else_branch` before `then_branch`; they are written back that way.
    pub else_first: bool,
}

/// `Loop(M, cond, v_initial...)`: runs `body(iteration, cond, v...) -> (cond, v..., scan...)`
/// while the iteration is below `M` (when given) and `cond` holds (when given). The outputs
/// are the final loop-carried values, then each scan output stacked along a new first axis.
#[derive(Clone, Debug)]
pub struct Loop {
    pub body: Box<Graph>,
}

/// `Scan(initial states..., scan inputs...)`: runs `body(states..., elements...) -> (states...,
/// output elements...)` once per slice of the scan inputs along their scan axes; the outputs
/// are the final states, then each output element stacked along its scan output axis.
#[derive(Clone, Debug)]
pub struct Scan {
    pub body: Box<Graph>,
    /// How many of the inputs (the last ones) are scanned.
    pub num_scan_inputs: i64,
    /// Per scan input: the scanned axis (default 0).
    pub scan_input_axes: Option<Vec<i64>>,
    /// Per scan input: 0 forward, 1 reverse (default forward).
    pub scan_input_directions: Option<Vec<i64>>,
    /// Per scan output: the axis the elements are stacked along (default 0).
    pub scan_output_axes: Option<Vec<i64>>,
    /// Per scan output: 0 appends, 1 prepends (default 0).
    pub scan_output_directions: Option<Vec<i64>>,
}

fn required_graph(r: &mut AttrReader<'_>, name: &str) -> Result<Box<Graph>, OpError> {
    r.graph(name)?
        .map(Box::new)
        .ok_or_else(|| OpError::MissingAttr(name.into()))
}

/// The types of a graph's outputs.
fn output_types(g: &Graph) -> Vec<&Type> {
    g.outputs().iter().map(|v| &g.value(*v).ty).collect()
}

/// What two possible types of one value have in common: the element type when they agree,
/// and each dim where both agree (ranks must agree too). Anything else is unknown.
pub(crate) fn union_type(a: &Type, b: &Type) -> Type {
    match (a, b) {
        (Type::Tensor(x), Type::Tensor(y)) if x.dtype == y.dtype => {
            let shape = match (&x.shape, &y.shape) {
                (Some(s), Some(t)) if s.len() == t.len() => Some(
                    s.iter()
                        .zip(t)
                        .map(|(d, e)| if d == e { d.clone() } else { Dim::Unknown })
                        .collect(),
                ),
                _ => None,
            };
            Type::Tensor(TensorType {
                dtype: x.dtype,
                shape,
            })
        }
        (Type::Sequence(x), Type::Sequence(y)) => Type::Sequence(Box::new(union_type(x, y))),
        (Type::Optional(x), Type::Optional(y)) => Type::Optional(Box::new(union_type(x, y))),
        _ if a == b => a.clone(),
        _ => Type::Unknown,
    }
}

impl If {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<If, OpError> {
        let else_first = r.position("else_branch") < r.position("then_branch");
        Ok(If {
            then_branch: required_graph(r, "then_branch")?,
            else_branch: required_graph(r, "else_branch")?,
            else_first,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        if self.else_first {
            w.graph("else_branch", &self.else_branch);
        }
        w.graph("then_branch", &self.then_branch);
        if !self.else_first {
            w.graph("else_branch", &self.else_branch);
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let cond = super::facts::required(inputs, 0)?;
        if let Some(d) = cond.dtype().filter(|d| *d != DType::Bool) {
            return Err(input_err(0, format!("cond must be bool, got {d}")));
        }
        let (then, other) = (
            output_types(&self.then_branch),
            output_types(&self.else_branch),
        );
        if then.len() != other.len() {
            return Err(OpError::Invalid(format!(
                "then_branch has {} outputs but else_branch has {}",
                then.len(),
                other.len()
            )));
        }
        Ok(then
            .iter()
            .zip(&other)
            .map(|(a, b)| union_type(a, b))
            .collect())
    }
}

impl Loop {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Loop, OpError> {
        Ok(Loop {
            body: required_graph(r, "body")?,
        })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.graph("body", &self.body);
    }

    /// Number of loop-carried values for a node with `inputs` inputs.
    pub fn carried(inputs: usize) -> usize {
        inputs.saturating_sub(2)
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let n = Loop::carried(inputs.len());
        let body_in = self.body.inputs().len();
        let body_out = output_types(&self.body);
        if body_in != n + 2 {
            return Err(OpError::Invalid(format!(
                "the body takes {body_in} inputs, but {n} loop-carried values need {}",
                n + 2
            )));
        }
        if body_out.len() < n + 1 {
            return Err(OpError::Invalid(format!(
                "the body returns {} outputs, but {n} loop-carried values need at least {}",
                body_out.len(),
                n + 1
            )));
        }
        for (slot, want) in [(0, DType::I64), (1, DType::Bool)] {
            if let Some(d) = optional(inputs, slot)
                .and_then(|i| i.dtype())
                .filter(|d| *d != want)
            {
                return Err(input_err(slot, format!("must be {want}, got {d}")));
            }
        }
        let mut types = Vec::with_capacity(body_out.len() - 1);
        for (j, out) in body_out[1..=n].iter().enumerate() {
            types.push(carried_type(optional(inputs, j + 2).map(|i| i.ty), out));
        }
        for out in &body_out[n + 1..] {
            types.push(stacked(out, 0, &Dim::Unknown)?);
        }
        Ok(types)
    }
}

/// The type of the loop-carried value `j` after a loop: what the initial value and the body's
/// output have in common (the initial type's element type when the body's is unknown).
fn carried_type(initial: Option<&Type>, out: &Type) -> Type {
    match (initial, out) {
        (Some(Type::Tensor(t)), Type::Unknown) => Type::tensor(t.dtype, None),
        (Some(init), out) => union_type(init, out),
        (None, _) => Type::Unknown,
    }
}

/// A scan output's type: the element type with `len` inserted at `axis` (unknown rank unless
/// the element's rank is known).
fn stacked(out: &Type, axis: i64, len: &Dim) -> Result<Type, OpError> {
    Ok(match out {
        Type::Tensor(t) => Type::tensor(
            t.dtype,
            match &t.shape {
                Some(s) => {
                    let Some(a) = norm_axis(axis, s.len() + 1) else {
                        return Err(bad_value(
                            "scan_output_axes",
                            format!("axis {axis} is out of range for rank {}", s.len() + 1),
                        ));
                    };
                    let mut dims = s.clone();
                    dims.insert(a, len.clone());
                    Some(dims)
                }
                None => None,
            },
        ),
        _ => Type::Unknown,
    })
}

impl Scan {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<Scan, OpError> {
        let body = required_graph(r, "body")?;
        let num_scan_inputs = r
            .int("num_scan_inputs")?
            .ok_or_else(|| OpError::MissingAttr("num_scan_inputs".into()))?;
        if num_scan_inputs < 1 {
            return Err(bad_value(
                "num_scan_inputs",
                format!("must be at least 1, got {num_scan_inputs}"),
            ));
        }
        let op = Scan {
            body,
            num_scan_inputs,
            scan_input_axes: r.ints("scan_input_axes")?,
            scan_input_directions: r.ints("scan_input_directions")?,
            scan_output_axes: r.ints("scan_output_axes")?,
            scan_output_directions: r.ints("scan_output_directions")?,
        };
        for (name, list) in [
            ("scan_input_directions", &op.scan_input_directions),
            ("scan_output_directions", &op.scan_output_directions),
        ] {
            if let Some(v) = list {
                check_all(name, v, |d| d == 0 || d == 1, "0 or 1")?;
            }
        }
        for (name, list) in [
            ("scan_input_axes", &op.scan_input_axes),
            ("scan_input_directions", &op.scan_input_directions),
        ] {
            if let Some(v) = list
                && v.len() as i64 != num_scan_inputs
            {
                return Err(bad_value(
                    name,
                    format!("has {} values for {num_scan_inputs} scan inputs", v.len()),
                ));
            }
        }
        Ok(op)
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        w.graph("body", &self.body);
        w.int("num_scan_inputs", self.num_scan_inputs);
        w.ints_opt("scan_input_axes", self.scan_input_axes.as_deref());
        w.ints_opt(
            "scan_input_directions",
            self.scan_input_directions.as_deref(),
        );
        w.ints_opt("scan_output_axes", self.scan_output_axes.as_deref());
        w.ints_opt(
            "scan_output_directions",
            self.scan_output_directions.as_deref(),
        );
    }

    /// `(states, scan inputs, scan outputs)` for a node with `inputs` inputs, checked against
    /// the body.
    pub fn arity(&self, inputs: usize) -> Result<(usize, usize, usize), OpError> {
        let m = usize::try_from(self.num_scan_inputs).unwrap_or(usize::MAX);
        let Some(n) = inputs.checked_sub(m) else {
            return Err(OpError::Invalid(format!(
                "{inputs} inputs cannot hold {m} scan inputs"
            )));
        };
        let (body_in, body_out) = (self.body.inputs().len(), self.body.outputs().len());
        if body_in != n + m || body_out < n {
            return Err(OpError::Invalid(format!(
                "the body has {body_in} inputs and {body_out} outputs for {n} states and {m} \
                 scan inputs"
            )));
        }
        let k = body_out - n;
        for (name, list) in [
            ("scan_output_axes", &self.scan_output_axes),
            ("scan_output_directions", &self.scan_output_directions),
        ] {
            if let Some(v) = list
                && v.len() != k
            {
                return Err(bad_value(
                    name,
                    format!("has {} values for {k} scan outputs", v.len()),
                ));
            }
        }
        Ok((n, m, k))
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let (n, m, _) = self.arity(inputs.len())?;
        let body_out = output_types(&self.body);
        // The sequence length, from the first scan input whose scanned dim is known.
        let mut len = Dim::Unknown;
        for j in 0..m {
            let axis = self.scan_input_axes.as_ref().map_or(0, |a| a[j]);
            if let Some(s) = optional(inputs, n + j).and_then(|i| i.shape()) {
                let Some(a) = norm_axis(axis, s.len()) else {
                    return Err(bad_value(
                        "scan_input_axes",
                        format!("axis {axis} is out of range for rank {}", s.len()),
                    ));
                };
                if len == Dim::Unknown {
                    len = s[a].clone();
                }
            }
        }
        let mut types = Vec::with_capacity(body_out.len());
        for (j, out) in body_out[..n].iter().enumerate() {
            types.push(carried_type(optional(inputs, j).map(|i| i.ty), out));
        }
        for (k, out) in body_out[n..].iter().enumerate() {
            let axis = self.scan_output_axes.as_ref().map_or(0, |a| a[k]);
            types.push(stacked(out, axis, &len)?);
        }
        Ok(types)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;
    use crate::{AttrValue, Attribute, Graph, NewNode};

    fn body() -> Graph {
        // (i, cond, y) -> (cond, y + y, y)
        let mut g = Graph::new();
        g.add_input("i", Type::tensor(DType::I64, Some(vec![])));
        let c = g.add_input("c", Type::tensor(DType::Bool, Some(vec![])));
        let y = g.add_input("y", Type::tensor(DType::F32, Some(vec![Dim::Known(2)])));
        let add = Op::from_onnx("", "Add", 13, vec![]).unwrap();
        let id = g
            .add_node(NewNode::new(add, vec![Some(y), Some(y)], vec!["y2".into()]))
            .unwrap();
        let y2 = crate::ValueId { node: id, slot: 0 };
        g.set_outputs(vec![c, y2, y]);
        g
    }

    fn graph_attr(name: &str, g: Graph) -> Attribute {
        Attribute::new(name, AttrValue::Graph(Box::new(g)))
    }

    #[test]
    fn loop_types_carried_and_scan_outputs() {
        let op = Op::from_onnx("", "Loop", 13, vec![graph_attr("body", body())]).unwrap();
        assert_eq!(op.subgraphs().len(), 1);
        let i64s = Type::tensor(DType::I64, Some(vec![]));
        let b = Type::tensor(DType::Bool, Some(vec![]));
        let y = Type::tensor(DType::F32, Some(vec![Dim::Symbol("N".into())]));
        let fact = |ty| Some(InferInput { ty, value: None });
        let types = op.infer(&[fact(&i64s), fact(&b), fact(&y)], 2).unwrap();
        assert_eq!(types[0], Type::tensor(DType::F32, Some(vec![Dim::Unknown])));
        assert_eq!(
            types[1],
            Type::tensor(DType::F32, Some(vec![Dim::Unknown, Dim::Known(2)]))
        );
        // Wrong arity is a definite contradiction.
        assert!(op.infer(&[fact(&i64s), fact(&b)], 1).is_err());
        // Opset 1 to 10 stay opaque; the written form parses back the same.
        assert!(
            Op::from_onnx("", "Loop", 10, vec![graph_attr("body", body())])
                .unwrap()
                .is_opaque()
        );
        let w = op.to_onnx(13).unwrap();
        assert_eq!(w.attrs[0].name, "body");
        assert!(matches!(
            Op::from_onnx("", "Loop", 13, w.attrs),
            Ok(Op::Loop(_))
        ));
    }

    #[test]
    fn scan_types_and_attribute_checks() {
        // body(s, x) -> (s, y): state 1, one scan input, one scan output.
        let mut b = Graph::new();
        let st = b.add_input("s", Type::tensor(DType::F32, Some(vec![Dim::Known(2)])));
        let x = b.add_input("x", Type::tensor(DType::F32, Some(vec![Dim::Known(3)])));
        b.set_outputs(vec![st, x]);
        let attrs = |extra: Vec<Attribute>| {
            let mut v = vec![
                graph_attr("body", b.clone()),
                Attribute::new("num_scan_inputs", AttrValue::Int(1)),
            ];
            v.extend(extra);
            v
        };
        let axes = Attribute::new("scan_output_axes", AttrValue::Ints(vec![-1]));
        let op = Op::from_onnx("", "Scan", 16, attrs(vec![axes])).unwrap();
        let s = Type::tensor(DType::F32, Some(vec![Dim::Known(2)]));
        let xs = Type::tensor(DType::F32, Some(vec![Dim::Known(5), Dim::Known(3)]));
        let fact = |ty| Some(InferInput { ty, value: None });
        let t = op.infer(&[fact(&s), fact(&xs)], 2).unwrap();
        assert_eq!(t[0], s);
        assert_eq!(
            t[1],
            Type::tensor(DType::F32, Some(vec![Dim::Known(3), Dim::Known(5)]))
        );
        let bad = Attribute::new("scan_input_directions", AttrValue::Ints(vec![2]));
        assert!(Op::from_onnx("", "Scan", 16, attrs(vec![bad])).is_err());
        let two = Attribute::new("scan_output_axes", AttrValue::Ints(vec![0, 1]));
        let op = Op::from_onnx("", "Scan", 16, attrs(vec![two])).unwrap();
        assert!(op.infer(&[fact(&s), fact(&xs)], 2).is_err());
        // Opset 8 (sequence_lens, batch axis) stays opaque.
        assert!(
            Op::from_onnx("", "Scan", 8, attrs(vec![]))
                .unwrap()
                .is_opaque()
        );
        let w = Op::from_onnx("", "Scan", 9, attrs(vec![]))
            .unwrap()
            .to_onnx(9)
            .unwrap();
        assert!(matches!(
            Op::from_onnx("", "Scan", 9, w.attrs),
            Ok(Op::Scan(_))
        ));
    }

    #[test]
    fn if_merges_branch_types() {
        let mut then = Graph::new();
        let a = then.add_input("a", Type::tensor(DType::F32, Some(vec![Dim::Known(2)])));
        then.set_outputs(vec![a]);
        let mut other = Graph::new();
        let b = other.add_input("b", Type::tensor(DType::F32, Some(vec![Dim::Known(3)])));
        other.set_outputs(vec![b]);
        let op = Op::from_onnx(
            "",
            "If",
            11,
            vec![
                graph_attr("then_branch", then),
                graph_attr("else_branch", other),
            ],
        )
        .unwrap();
        let b = Type::tensor(DType::Bool, Some(vec![]));
        let out = op.infer(
            &[Some(InferInput {
                ty: &b,
                value: None,
            })],
            1,
        );
        assert_eq!(
            out.unwrap(),
            vec![Type::tensor(DType::F32, Some(vec![Dim::Unknown]))]
        );
        let f = Type::tensor(DType::F32, Some(vec![]));
        assert!(
            op.infer(
                &[Some(InferInput {
                    ty: &f,
                    value: None
                })],
                1
            )
            .is_err()
        );
        assert_eq!(op.subgraphs().len(), 2);
        // Branches are written back in the order the file gave them.
        let names = |op: &Op| -> Vec<String> {
            let w = op.to_onnx(11).unwrap();
            w.attrs.into_iter().map(|a| a.name).collect()
        };
        assert_eq!(names(&op), ["then_branch", "else_branch"]);
        let Op::If(i) = &op else {
            panic!("If is typed")
        };
        let swapped = Op::from_onnx(
            "",
            "If",
            11,
            vec![
                graph_attr("else_branch", (*i.else_branch).clone()),
                graph_attr("then_branch", (*i.then_branch).clone()),
            ],
        )
        .unwrap();
        assert_eq!(names(&swapped), ["else_branch", "then_branch"]);
        let missing = Op::from_onnx("", "If", 11, vec![]);
        assert!(matches!(missing, Err(OpError::MissingAttr(_))));
    }
}
