//! `--input-shape NAME=D1,D2,...`: parsing and applying input shape overrides.

use nnslim_ir::{Dim, Model, Type};
use std::str::FromStr;

/// One `--input-shape` override: an input name and its dims (numbers, symbols like `N`, or `?`).
#[derive(Clone, Debug, PartialEq)]
pub struct InputShape {
    pub name: String,
    pub dims: Vec<Dim>,
}

/// A bad `--input-shape` or one that does not fit the model.
#[derive(Debug, thiserror::Error)]
pub enum InputShapeError {
    #[error("--input-shape {0:?}: expected NAME=D1,D2,... (e.g. input=1,3,224,224)")]
    Syntax(String),
    #[error("--input-shape {spec:?}: dimension {dim:?} is neither a size ≥ 0, a symbol, nor `?`")]
    Dim { spec: String, dim: String },
    #[error("--input-shape: the model has no input {name:?} (inputs: {inputs})")]
    NoSuchInput { name: String, inputs: String },
    #[error("--input-shape {name}: the input is not a tensor (its type is {ty})")]
    NotTensor { name: String, ty: Type },
    #[error("--input-shape {name}: {message}")]
    Infer { name: String, message: String },
}

impl FromStr for InputShape {
    type Err = InputShapeError;

    /// The name is split from the dims at the first `=`; an empty dim list is a scalar.
    fn from_str(spec: &str) -> Result<InputShape, InputShapeError> {
        let (name, dims) = spec
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| InputShapeError::Syntax(spec.to_string()))?;
        let dims = if dims.trim().is_empty() {
            Vec::new()
        } else {
            dims.split(',')
                .map(|d| {
                    let d = d.trim();
                    if d == "?" {
                        Ok(Dim::Unknown)
                    } else if let Ok(v) = d.parse::<i64>() {
                        if v >= 0 { Ok(Dim::Known(v)) } else { Err(d) }
                    } else if d
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && d.chars().all(|c| c.is_alphanumeric() || c == '_')
                    {
                        Ok(Dim::Symbol(d.to_string()))
                    } else {
                        Err(d)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|d| InputShapeError::Dim {
                    spec: spec.to_string(),
                    dim: d.to_string(),
                })?
        };
        Ok(InputShape {
            name: name.to_string(),
            dims,
        })
    }
}

/// Gives the named inputs their new shapes (dtype kept) and re-infers the graph.
pub fn apply_input_shapes(model: &mut Model, shapes: &[InputShape]) -> Result<(), InputShapeError> {
    let g = &mut model.graph;
    for s in shapes {
        // Initializers listed as inputs (IR version 3) are weights, not inputs to reshape.
        let inputs: Vec<_> = g
            .inputs()
            .into_iter()
            .filter(|v| matches!(g.node(v.node).op, nnslim_ir::Op::Input))
            .collect();
        let v = inputs
            .iter()
            .copied()
            .find(|v| g.value(*v).name == s.name)
            .ok_or_else(|| InputShapeError::NoSuchInput {
                name: s.name.clone(),
                inputs: inputs
                    .iter()
                    .map(|v| g.value(*v).name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let ty = g.value(v).ty.clone();
        let dtype = ty
            .as_tensor()
            .map(|t| t.dtype)
            .ok_or(InputShapeError::NotTensor {
                name: s.name.clone(),
                ty,
            })?;
        g.override_input_type(v, Type::tensor(dtype, Some(s.dims.clone())))
            .map_err(|e| InputShapeError::Infer {
                name: s.name.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s: InputShape = "x=N,3, 224,?".parse().unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(
            s.dims,
            vec![
                Dim::Symbol("N".into()),
                Dim::Known(3),
                Dim::Known(224),
                Dim::Unknown
            ]
        );
        assert!(matches!(
            "a=b=1".parse::<InputShape>(),
            Err(InputShapeError::Dim { .. })
        ));
        assert!(matches!(
            "=1,2".parse::<InputShape>(),
            Err(InputShapeError::Syntax(_))
        ));
        assert!(matches!(
            "x=-1".parse::<InputShape>(),
            Err(InputShapeError::Dim { .. })
        ));
        assert_eq!("x=".parse::<InputShape>().unwrap().dims, vec![]);
    }
}
