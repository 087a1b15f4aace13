//! Kernels for control flow and recurrence: `If`, `Loop` and `Scan` run their nested graphs with a
//! [`Plan`] (reading enclosing values through the node's `outer` map), and the recurrent
//! layers `RNN`, `GRU` and `LSTM`.

mod cell;
mod rnn;
mod scan;
#[cfg(test)]
mod tests;

use super::NodeCx;
use super::shape::elems::{Run, gather_runs, zero_of};
use super::shape::{array, ints, opt_tensor, tensor, value};
use crate::run::{EvalError, KernelError, invalid, unsupported};
use crate::{Array, Data, Plan, Value};
use nnslim_ir::op::{If, Loop};
use nnslim_ir::{Dim, Graph, Op};
use std::collections::HashMap;

pub(crate) fn eval(cx: &NodeCx<'_>, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    match cx.op() {
        Op::If(op) => run_if(cx, op, inputs),
        Op::Loop(op) => run_loop(cx, op, inputs),
        Op::Scan(op) => scan::run_scan(cx, op, inputs),
        Op::Recurrent(op) => rnn::eval(op, inputs, cx.num_outputs()),
        other => unsupported(format!("{} is not implemented", other.op_type())),
    }
}

/// A failure inside a nested graph, as this node's failure.
fn nested(what: &str, e: EvalError) -> KernelError {
    match e {
        EvalError::Unsupported { .. } => KernelError::Unsupported(format!("{what}: {e}")),
        _ => KernelError::Invalid(format!("{what}: {e}")),
    }
}

/// The single boolean of a condition tensor.
fn truth(a: &Array, what: &str) -> Result<bool, KernelError> {
    match (&a.data, a.len()) {
        (Data::Bool(v), 1) => Ok(v[0]),
        _ => invalid(format!(
            "{what} must be one bool, got {} of shape {:?}",
            a.dtype(),
            a.shape
        )),
    }
}

fn run_if(cx: &NodeCx<'_>, op: &If, inputs: &[Option<&Value>]) -> Result<Vec<Value>, KernelError> {
    let cond = truth(tensor(inputs, 0)?, "cond")?;
    let (name, branch) = if cond {
        ("then_branch", &op.then_branch)
    } else {
        ("else_branch", &op.else_branch)
    };
    let plan = Plan::new(branch).map_err(|e| nested(name, e))?;
    let outs = plan
        .run(&HashMap::new(), cx.outer)
        .map_err(|e| nested(name, e))?;
    if outs.len() != cx.num_outputs() {
        return invalid(format!(
            "{name} returns {} values for {} outputs",
            outs.len(),
            cx.num_outputs()
        ));
    }
    Ok(outs)
}

fn run_loop(
    cx: &NodeCx<'_>,
    op: &Loop,
    inputs: &[Option<&Value>],
) -> Result<Vec<Value>, KernelError> {
    let body: &Graph = &op.body;
    let n = Loop::carried(inputs.len());
    let names: Vec<String> = body
        .inputs()
        .iter()
        .map(|v| body.value(*v).name.clone())
        .collect();
    let outputs = body.outputs().len();
    if names.len() != n + 2 || outputs < n + 1 {
        return invalid(format!(
            "the body has {} inputs and {outputs} outputs for {n} loop-carried values",
            names.len()
        ));
    }
    let k = outputs - 1 - n;
    if cx.num_outputs() != n + k {
        return invalid(format!(
            "the node has {} outputs, the body makes {n} loop-carried and {k} scan outputs",
            cx.num_outputs()
        ));
    }
    let max = match opt_tensor(inputs, 0)? {
        Some(m) => match ints(m, "M")?.as_slice() {
            [m] => Some(*m),
            _ => return invalid("M must be one integer"),
        },
        None => None,
    };
    let given = opt_tensor(inputs, 1)?
        .map(|c| truth(c, "cond"))
        .transpose()?;
    if max.is_none() && given.is_none() {
        return unsupported("a Loop with neither M nor cond never ends");
    }
    let mut carried: Vec<Value> = (0..n)
        .map(|j| value(inputs, j + 2).cloned())
        .collect::<Result<_, _>>()?;
    let plan = Plan::new(body).map_err(|e| nested("body", e))?;
    let mut scans: Vec<Vec<Array>> = vec![Vec::new(); k];
    let mut cond = given.unwrap_or(true);
    let mut i = 0i64;
    while cond && max.is_none_or(|m| i < m) {
        let mut feed: HashMap<String, Value> = HashMap::with_capacity(n + 2);
        feed.insert(names[0].clone(), Array::i64(vec![], vec![i]).into());
        feed.insert(names[1].clone(), bool_scalar(cond));
        for (name, v) in names[2..].iter().zip(carried.drain(..)) {
            feed.insert(name.clone(), v);
        }
        let mut outs = plan
            .run(&feed, cx.outer)
            .map_err(|e| nested(&format!("body (iteration {i})"), e))?
            .into_iter();
        let next = outs.next();
        if given.is_some() {
            cond = match next.as_ref().and_then(Value::as_tensor) {
                Some(c) => truth(c, "the body's cond output")?,
                None => return invalid("the body's cond output must be a tensor"),
            };
        }
        carried.extend(outs.by_ref().take(n));
        for (s, v) in scans.iter_mut().zip(outs) {
            match v {
                Value::Tensor(a) => s.push(a),
                _ => return invalid("scan outputs must be tensors"),
            }
        }
        i += 1;
    }
    let mut result = carried;
    for (j, s) in scans.into_iter().enumerate() {
        let ty = &body.value(body.outputs()[1 + n + j]).ty;
        result.push(Value::Tensor(stack(s, ty)?));
    }
    Ok(result)
}

fn bool_scalar(b: bool) -> Value {
    Value::Tensor(Array {
        shape: vec![],
        data: Data::Bool(vec![b]),
    })
}

/// Stacks equal-shaped arrays along a new first axis; with none, an empty array shaped by the
/// body's declared type (`[0, dims...]` when static, else `[0]`).
fn stack(parts: Vec<Array>, ty: &nnslim_ir::Type) -> Result<Array, KernelError> {
    let Some(first) = parts.first() else {
        let Some(dtype) = ty.dtype() else {
            return unsupported("a scan output of zero iterations with an unknown element type");
        };
        let mut shape = vec![0];
        if let Some(dims) = ty.shape() {
            let known: Option<Vec<usize>> = dims
                .iter()
                .map(|d| match d {
                    Dim::Known(v) => usize::try_from(*v).ok(),
                    _ => None,
                })
                .collect();
            shape.extend(known.unwrap_or_default());
        }
        let zero = zero_of(dtype)?;
        return array(shape, gather_runs(&[&zero], 0, std::iter::empty())?);
    };
    if let Some(p) = parts
        .iter()
        .find(|p| p.shape != first.shape || p.dtype() != first.dtype())
    {
        return invalid(format!(
            "scan output changes from {} {:?} to {} {:?} between iterations",
            first.dtype(),
            first.shape,
            p.dtype(),
            p.shape
        ));
    }
    let each = first.len();
    let mut shape = vec![parts.len()];
    shape.extend(&first.shape);
    let datas: Vec<&Data> = parts.iter().map(|p| &p.data).collect();
    let runs = (0..parts.len()).map(|s| Run::span(s, 0, each));
    array(shape, gather_runs(&datas, parts.len() * each, runs)?)
}
