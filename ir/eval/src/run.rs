//! Evaluating a graph: a `Plan` (order, constants converted once, last uses) run on inputs.

use crate::{Array, ArrayError};
use nnslim_ir::{Graph, NodeId, Op, ValueId, node_label};
use std::collections::{HashMap, HashSet};

/// A runtime value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Tensor(Array),
    Sequence(Vec<Value>),
    /// An optional that holds a value or nothing.
    Optional(Option<Box<Value>>),
}

impl Value {
    /// The tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&Array> {
        match self {
            Value::Tensor(a) => Some(a),
            _ => None,
        }
    }

    /// The tensor, if this is one.
    pub fn into_tensor(self) -> Option<Array> {
        match self {
            Value::Tensor(a) => Some(a),
            _ => None,
        }
    }
}

impl From<Array> for Value {
    fn from(a: Array) -> Value {
        Value::Tensor(a)
    }
}

/// Why a graph could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// An op (or op form) the interpreter does not implement.
    #[error("cannot evaluate op {op} (node {node}){}", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    Unsupported {
        op: String,
        node: String,
        reason: String,
    },
    /// A node failed on its inputs (shapes or values it cannot accept).
    #[error("node {node} ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    #[error("no value given for graph input {0:?}")]
    MissingInput(String),
    #[error("graph input {name:?}: {message}")]
    BadInput { name: String, message: String },
    #[error("{0}")]
    Graph(String),
    #[error("constant {name:?}: {source}")]
    Constant { name: String, source: ArrayError },
}

/// Failure of one kernel, turned into an [`EvalError`] with the node's name by the runner.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    Unsupported(String),
    Invalid(String),
}

/// Shorthand for kernels: an invalid-input error.
pub fn invalid<T>(msg: impl Into<String>) -> Result<T, KernelError> {
    Err(KernelError::Invalid(msg.into()))
}

/// Shorthand for kernels: an unsupported-form error.
pub fn unsupported<T>(msg: impl Into<String>) -> Result<T, KernelError> {
    Err(KernelError::Unsupported(msg.into()))
}

/// Everything needed to run a graph repeatedly: topological order, constants converted to
/// arrays once, and the last use of every value so memory is freed early.
pub struct Plan<'g> {
    graph: &'g Graph,
    order: Vec<NodeId>,
    consts: HashMap<ValueId, Value>,
    /// How many times each value is read (node inputs; graph outputs count as one more).
    reads: HashMap<ValueId, usize>,
    /// Nodes computed once by `Plan::new` because they read only constants (e.g. the
    /// `DequantizeLinear` of a quantized weight); their outputs are in `consts`.
    precomputed: HashSet<NodeId>,
}

/// Evaluates, once, every node that reads only constants (not initializers a caller may
/// override as inputs), so repeated runs do not redo it. Nodes whose kernel fails are left to
/// run time, where the error is reported in context.
fn precompute(
    g: &Graph,
    order: &[NodeId],
    consts: &mut HashMap<ValueId, Value>,
) -> HashSet<NodeId> {
    let mut done = HashSet::new();
    let outer = HashMap::new();
    for &id in order {
        let node = g.node(id);
        let op = &node.op;
        let eligible = !op.is_source()
            && !op.is_opaque()
            && op.subgraphs().is_empty()
            && node.captures().is_empty()
            && !matches!(op, Op::Dropout(_))
            && (!node.inputs().is_empty() || matches!(op, Op::Constant(_)))
            && node
                .inputs()
                .iter()
                .flatten()
                .all(|v| consts.contains_key(v) && !g.is_input(v.node));
        if !eligible {
            continue;
        }
        let outs = {
            let args: Vec<Option<&Value>> = node
                .inputs()
                .iter()
                .map(|v| v.as_ref().and_then(|v| consts.get(v)))
                .collect();
            let cx = crate::ops::NodeCx {
                graph: g,
                node: id,
                outer: &outer,
            };
            crate::ops::eval(&cx, &args)
        };
        if let Ok(outs) = outs {
            for (slot, value) in outs.into_iter().enumerate() {
                consts.insert(
                    ValueId {
                        node: id,
                        slot: slot as u32,
                    },
                    value,
                );
            }
            done.insert(id);
        }
    }
    done
}

impl<'g> Plan<'g> {
    /// Prepares `graph` for evaluation.
    pub fn new(graph: &'g Graph) -> Result<Plan<'g>, EvalError> {
        let order = graph
            .topo_order()
            .map_err(|e| EvalError::Graph(e.to_string()))?;
        let mut consts = HashMap::new();
        let mut reads: HashMap<ValueId, usize> = HashMap::new();
        for &id in &order {
            let node = graph.node(id);
            if let Op::Initializer(t) = &node.op {
                let v = ValueId { node: id, slot: 0 };
                let name = graph.value(v).name.clone();
                let a =
                    Array::from_tensor(t).map_err(|source| EvalError::Constant { name, source })?;
                consts.insert(v, Value::Tensor(a));
            }
            for v in node.inputs().iter().flatten() {
                *reads.entry(*v).or_default() += 1;
            }
            for v in node.captures() {
                *reads.entry(*v).or_default() += 1;
            }
        }
        for v in graph.outputs() {
            *reads.entry(*v).or_default() += 1;
        }
        let precomputed = precompute(graph, &order, &mut consts);
        Ok(Plan {
            graph,
            order,
            consts,
            reads,
            precomputed,
        })
    }

    /// The graph this plan runs.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Runs the graph: `inputs` by graph-input name (initializers listed as inputs may be
    /// overridden); `outer` gives the values of enclosing graphs a subgraph reads.
    /// Returns the graph outputs in order.
    pub fn run(
        &self,
        inputs: &HashMap<String, Value>,
        outer: &HashMap<String, &Value>,
    ) -> Result<Vec<Value>, EvalError> {
        self.run_hooked(inputs, outer, &mut |_, _| {})
    }

    /// [`Plan::run`] with a hook that sees every value a node computes (graph inputs too), in
    /// topological order, before anything reads it, and may change it: calibration observes
    /// activations this way, and quantization simulates rounding a tensor. Constants are not
    /// passed to the hook.
    pub fn run_hooked(
        &self,
        inputs: &HashMap<String, Value>,
        outer: &HashMap<String, &Value>,
        hook: &mut dyn FnMut(ValueId, &mut Value),
    ) -> Result<Vec<Value>, EvalError> {
        self.run_seeded(inputs, outer, &HashMap::new(), hook)
    }

    /// [`Plan::run_hooked`] with some values given instead of computed: a node runs only when
    /// a graph output needs it without passing through a seeded value, so everything upstream
    /// of the seeds alone is skipped (e.g. when only the tail of a graph differs from a run
    /// whose intermediate values are known). Seeded values are not passed to the hook.
    pub fn run_seeded(
        &self,
        inputs: &HashMap<String, Value>,
        outer: &HashMap<String, &Value>,
        seeds: &HashMap<ValueId, Value>,
        hook: &mut dyn FnMut(ValueId, &mut Value),
    ) -> Result<Vec<Value>, EvalError> {
        let g = self.graph;
        let mut env: HashMap<ValueId, Value> = seeds.clone();
        let needed = (!seeds.is_empty()).then(|| self.needed(seeds));
        let mut left = self.reads.clone();
        let take =
            |env: &mut HashMap<ValueId, Value>, left: &mut HashMap<ValueId, usize>, v: ValueId| {
                if let Some(n) = left.get_mut(&v) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        env.remove(&v);
                    }
                }
            };
        for &id in &self.order {
            if needed.as_ref().is_some_and(|n| !n.contains(&id)) {
                continue;
            }
            let node = g.node(id);
            let out0 = ValueId { node: id, slot: 0 };
            match &node.op {
                Op::Input => {
                    let name = &g.value(out0).name;
                    let v = inputs
                        .get(name)
                        .ok_or_else(|| EvalError::MissingInput(name.clone()))?;
                    let mut v = v.clone();
                    hook(out0, &mut v);
                    env.insert(out0, v);
                    continue;
                }
                Op::Initializer(_) => {
                    let name = &g.value(out0).name;
                    if g.is_input(id)
                        && let Some(v) = inputs.get(name)
                    {
                        env.insert(out0, v.clone());
                    }
                    continue;
                }
                Op::Outer => {
                    let name = &g.value(out0).name;
                    let v = outer.get(name).ok_or_else(|| {
                        EvalError::Graph(format!(
                            "subgraph reads outer value {name:?}, which is not available"
                        ))
                    })?;
                    env.insert(out0, (*v).clone());
                    continue;
                }
                _ if self.precomputed.contains(&id) => continue,
                _ => {}
            }
            let get = |v: &ValueId| env.get(v).or_else(|| self.consts.get(v));
            let args: Vec<Option<&Value>> = node
                .inputs()
                .iter()
                .map(|v| v.as_ref().and_then(get))
                .collect();
            if let Some(slot) = node
                .inputs()
                .iter()
                .zip(&args)
                .position(|(v, a)| v.is_some() && a.is_none())
            {
                return Err(EvalError::Graph(format!(
                    "node {}: input {slot} has no value",
                    node_label(node)
                )));
            }
            let captured: HashMap<String, &Value> = node
                .captures()
                .iter()
                .filter_map(|v| get(v).map(|val| (g.value(*v).name.clone(), val)))
                .chain(outer.iter().map(|(k, v)| (k.clone(), *v)))
                .collect();
            let cx = crate::ops::NodeCx {
                graph: g,
                node: id,
                outer: &captured,
            };
            let outs = crate::ops::eval(&cx, &args).map_err(|e| {
                let label = node_label(node);
                let op = node.op.op_type().to_string();
                match e {
                    KernelError::Unsupported(reason) => EvalError::Unsupported {
                        op,
                        node: label,
                        reason,
                    },
                    KernelError::Invalid(message) => EvalError::Node {
                        node: label,
                        op,
                        message,
                    },
                }
            })?;
            drop(captured);
            for v in node.inputs().iter().flatten().chain(node.captures()) {
                take(&mut env, &mut left, *v);
            }
            for (slot, mut value) in outs.into_iter().enumerate() {
                let v = ValueId {
                    node: id,
                    slot: slot as u32,
                };
                hook(v, &mut value);
                if self.reads.contains_key(&v) {
                    env.insert(v, value);
                }
            }
        }
        g.outputs()
            .iter()
            .map(|v| {
                env.get(v)
                    .or_else(|| self.consts.get(v))
                    .cloned()
                    .ok_or_else(|| {
                        EvalError::Graph(format!(
                            "graph output {:?} was not computed",
                            g.value(*v).name
                        ))
                    })
            })
            .collect()
    }
}

impl Plan<'_> {
    /// The nodes a run needs when `seeds` are given: walking back from the graph outputs,
    /// stopping at seeded values.
    fn needed(&self, seeds: &HashMap<ValueId, Value>) -> HashSet<NodeId> {
        let g = self.graph;
        let mut want: HashSet<ValueId> = g
            .outputs()
            .iter()
            .filter(|v| !seeds.contains_key(v))
            .copied()
            .collect();
        let mut needed = HashSet::new();
        for &id in self.order.iter().rev() {
            let node = g.node(id);
            let outputs = node.outputs().len();
            if !(0..outputs).any(|slot| {
                want.contains(&ValueId {
                    node: id,
                    slot: slot as u32,
                })
            }) {
                continue;
            }
            needed.insert(id);
            for v in node.inputs().iter().flatten().chain(node.captures()) {
                if !seeds.contains_key(v) {
                    want.insert(*v);
                }
            }
        }
        needed
    }
}

/// Evaluates `graph` once on `inputs` (by graph-input name); returns the outputs in order.
pub fn run(graph: &Graph, inputs: &HashMap<String, Value>) -> Result<Vec<Value>, EvalError> {
    Plan::new(graph)?.run(inputs, &HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Array;
    use nnslim_ir::text::parse_model;

    #[test]
    fn seeded_runs_skip_what_only_the_seeds_need() {
        // y = Neg(Relu(x)) + x: seeding r skips the Relu but not x, which the Add still reads.
        let m = parse_model(
            r#"model ir_version=8 opsets=[""=13]
graph "g" {
  input %x: f32[3]
  %r = Relu(%x)
  %n = Neg(%r)
  %y = Add(%n, %x)
  output %y
}
"#,
        )
        .unwrap();
        let g = &m.graph;
        let plan = Plan::new(g).unwrap();
        let x = Value::Tensor(Array::f32(vec![3], vec![-1.0, 2.0, 3.0]));
        let inputs = HashMap::from([("x".to_string(), x)]);
        let r = g.find_value("r").unwrap();
        let seeds = HashMap::from([(r, Value::Tensor(Array::f32(vec![3], vec![10.0; 3])))]);
        let mut seen = Vec::new();
        let out = plan
            .run_seeded(&inputs, &HashMap::new(), &seeds, &mut |v, _| {
                seen.push(g.value(v).name.clone())
            })
            .unwrap();
        let y = out[0].as_tensor().unwrap().as_f32().unwrap().to_vec();
        assert_eq!(y, [-11.0, -8.0, -7.0]);
        assert_eq!(seen, ["x", "n", "y"], "the Relu is not run");
        // Without seeds, the plain run.
        let out = plan.run(&inputs, &HashMap::new()).unwrap();
        let y = out[0].as_tensor().unwrap().as_f32().unwrap().to_vec();
        assert_eq!(y, [-1.0, 0.0, 0.0]);
    }
}
