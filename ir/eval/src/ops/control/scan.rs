//! `Scan`: the body runs once per slice of the scan inputs along their scan axes (forward or
//! reverse); states carry over, output elements are stacked along their scan output axes.

use super::{nested, stack};
use crate::ops::shape::layout_permute as permute;
use crate::ops::shape::{norm_axis, value};
use crate::ops::{NodeCx, shape};
use crate::run::{KernelError, invalid};
use crate::{Array, Plan, Value};
use nnslim_ir::op::Scan;
use std::collections::HashMap;

/// Entry `j` of an optional per-input list (0 when the list is absent or short).
fn nth(list: &Option<Vec<i64>>, j: usize) -> i64 {
    list.as_ref().and_then(|l| l.get(j)).copied().unwrap_or(0)
}

/// Slice `index` of `x` along `axis`, with that axis removed.
fn element(x: &Array, axis: usize, index: usize) -> Result<Array, KernelError> {
    let mut e = shape::slice_axis(x, axis, index, 1)?;
    e.shape.remove(axis);
    Ok(e)
}

pub(crate) fn run_scan(
    cx: &NodeCx<'_>,
    op: &Scan,
    inputs: &[Option<&Value>],
) -> Result<Vec<Value>, KernelError> {
    let (n, m, k) = op.arity(inputs.len()).or_else(|e| invalid(e.to_string()))?;
    if cx.num_outputs() != n + k {
        return invalid(format!(
            "the node has {} outputs for {n} states and {k} scan outputs",
            cx.num_outputs()
        ));
    }
    let body = &op.body;
    let names: Vec<String> = body
        .inputs()
        .iter()
        .map(|v| body.value(*v).name.clone())
        .collect();
    let mut scanned = Vec::with_capacity(m);
    let mut len = None;
    for j in 0..m {
        let x = shape::tensor(inputs, n + j)?;
        let axis = nth(&op.scan_input_axes, j);
        let axis = norm_axis(axis, x.rank(), "scan_input_axes")?;
        let reverse = nth(&op.scan_input_directions, j) == 1;
        match len {
            Some(l) if l != x.shape[axis] => {
                return invalid(format!(
                    "scan inputs have lengths {l} and {} along their scan axes",
                    x.shape[axis]
                ));
            }
            _ => len = Some(x.shape[axis]),
        }
        scanned.push((x, axis, reverse));
    }
    let len = len.unwrap_or(0);
    let mut states: Vec<Value> = (0..n)
        .map(|j| value(inputs, j).cloned())
        .collect::<Result<_, _>>()?;
    let plan = Plan::new(body).map_err(|e| nested("body", e))?;
    let mut parts: Vec<Vec<Array>> = vec![Vec::with_capacity(len); k];
    for t in 0..len {
        let mut feed: HashMap<String, Value> = HashMap::with_capacity(n + m);
        for (name, v) in names.iter().zip(states.drain(..)) {
            feed.insert(name.clone(), v);
        }
        for (name, (x, axis, reverse)) in names[n..].iter().zip(&scanned) {
            let i = if *reverse { len - 1 - t } else { t };
            feed.insert(name.clone(), element(x, *axis, i)?.into());
        }
        let mut outs = plan
            .run(&feed, cx.outer)
            .map_err(|e| nested(&format!("body (iteration {t})"), e))?
            .into_iter();
        states.extend(outs.by_ref().take(n));
        for (p, v) in parts.iter_mut().zip(outs) {
            match v {
                Value::Tensor(a) => p.push(a),
                _ => return invalid("scan outputs must be tensors"),
            }
        }
    }
    let mut result = states;
    for (j, mut p) in parts.into_iter().enumerate() {
        if nth(&op.scan_output_directions, j) == 1 {
            p.reverse();
        }
        let ty = &body.value(body.outputs()[n + j]).ty;
        let stacked = stack(p, ty)?;
        let axis = nth(&op.scan_output_axes, j);
        let axis = norm_axis(axis, stacked.rank(), "scan_output_axes")?;
        // Move the new leading axis to `axis`.
        let mut perm: Vec<usize> = (1..stacked.rank()).collect();
        perm.insert(axis, 0);
        result.push(Value::Tensor(permute(&stacked, &perm)?));
    }
    Ok(result)
}
