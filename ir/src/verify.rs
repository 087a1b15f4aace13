//! The verifier: checks a graph's invariants and collects every problem, not just the first.

use crate::{Graph, Op, Type, node_label};
use std::collections::BTreeMap;
use std::fmt;

/// One problem found by the verifier.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    /// Where: the subgraph path (e.g. `main/If "cond"/then_branch`) and node label.
    pub location: String,
    pub op: String,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "node {} ({}): {}", self.location, self.op, self.message)
        }
    }
}

/// Every problem the verifier found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct VerifyErrors(pub Vec<VerifyError>);

impl fmt::Display for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = &self.0[..] {
            return write!(f, "{only}");
        }
        write!(f, "{} problems:", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Checks the graph and its subgraphs: acyclic, unique value names, well-formed outputs,
/// tensors that match their types, opaque ops with a type, and stored types that agree with
/// what the ops infer now.
pub fn verify(graph: &Graph) -> Result<(), VerifyErrors> {
    let mut errors = Vec::new();
    verify_into(graph, &format!("graph {:?}", graph.name), &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(VerifyErrors(errors))
    }
}

fn verify_into(graph: &Graph, path: &str, errors: &mut Vec<VerifyError>) {
    let mut found = Vec::new();
    let mut push = |location: String, op: &str, message: String| {
        found.push(VerifyError {
            location,
            op: op.to_string(),
            message,
        })
    };
    let mut subgraphs = Vec::new();
    if let Err(e) = graph.topo_order() {
        push(path.to_string(), "", e.to_string());
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids: Vec<_> = graph.node_ids().collect();
    ids.sort();
    for &id in &ids {
        for o in graph.node(id).outputs() {
            if !o.name.is_empty() {
                *names.entry(&o.name).or_default() += 1;
            }
        }
    }
    for (name, n) in &names {
        if *n > 1 {
            push(
                path.to_string(),
                "",
                format!("value name {name:?} is produced {n} times"),
            );
        }
    }
    let mut seen_outputs: BTreeMap<&str, usize> = BTreeMap::new();
    for o in graph.outputs() {
        let name = &graph.value(*o).name;
        if name.is_empty() {
            push(
                path.to_string(),
                "",
                "a graph output has an empty name".into(),
            );
        }
        *seen_outputs.entry(name).or_default() += 1;
    }
    for (name, n) in seen_outputs {
        if n > 1 && !name.is_empty() {
            push(
                path.to_string(),
                "",
                format!("graph output {name:?} is listed {n} times"),
            );
        }
    }
    for id in ids {
        let node = graph.node(id);
        let label = format!("{path}/{}", node_label(node));
        let op = node.op.op_type().to_string();
        match &node.op {
            Op::Initializer(t) => {
                if let Err(e) = t.check() {
                    push(label.clone(), &op, format!("tensor {}", e));
                }
            }
            Op::Opaque(o) if o.op_type.is_empty() => {
                push(label.clone(), "", "node has an empty op type".into());
            }
            _ => {}
        }
        if !node.op.is_source() && !node.op.is_opaque() {
            match graph.infer_node(id) {
                Err(e) => push(label.clone(), &op, e.to_string()),
                Ok(types) => {
                    for (info, now) in node.outputs().iter().zip(&types) {
                        if !compatible(now, &info.ty) {
                            push(
                                label.clone(),
                                &op,
                                format!(
                                    "output {:?} has type {} but the op infers {}",
                                    info.name, info.ty, now
                                ),
                            );
                        }
                    }
                }
            }
        }
        for (i, sub) in node.op.subgraphs().into_iter().enumerate() {
            subgraphs.push((sub, format!("{label}/subgraph{i}")));
        }
    }
    errors.append(&mut found);
    for (sub, path) in subgraphs {
        verify_into(sub, &path, errors);
    }
}

/// Two types agree when neither contradicts the other (unknown parts agree with anything).
fn compatible(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Unknown, _) | (_, Type::Unknown) => true,
        (Type::Tensor(x), Type::Tensor(y)) => {
            let dt = x.dtype == y.dtype
                || x.dtype == crate::DType::Undefined
                || y.dtype == crate::DType::Undefined;
            let sh = match (&x.shape, &y.shape) {
                (Some(p), Some(q)) => {
                    p.len() == q.len()
                        && p.iter().zip(q).all(|(d, e)| match (d.known(), e.known()) {
                            (Some(u), Some(v)) => u == v,
                            _ => true,
                        })
                }
                _ => true,
            };
            dt && sh
        }
        (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y),
    }
}
