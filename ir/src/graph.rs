//! The graph: nodes and values over a private petgraph `StableDiGraph`, mutated only through
//! this API so that edges, uses and inferred types never go stale.

use crate::{Attribute, InferInput, Op, OpError, Tensor, Type};
use petgraph::Direction;
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Identifies a node within one graph. Indices of removed nodes are reused: never keep a
/// `NodeId` across a change that removes nodes; value names are the stable identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(NodeIndex<u32>);

/// A value: output `slot` of `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId {
    pub node: NodeId,
    pub slot: u32,
}

/// Name and type of a value, and what the source file said about it.
#[derive(Clone, Debug, Default)]
pub struct ValueInfo {
    /// The value's name: its stable identity. Empty for an unused optional output.
    pub name: String,
    /// The best known type: inferred, refined by what the file declared.
    pub ty: Type,
    /// The type exactly as the file declared it (graph input/output or `value_info`), if it did.
    pub declared: Option<Type>,
    /// Whether the file listed this value in `value_info` (the writer lists it again).
    pub in_value_info: bool,
    pub doc_string: String,
    pub metadata_props: Vec<(String, String)>,
}

impl ValueInfo {
    /// A value with a name and a type and nothing declared.
    pub fn new(name: impl Into<String>, ty: Type) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            ty,
            ..ValueInfo::default()
        }
    }
}

/// An operation in the graph.
#[derive(Clone, Debug)]
pub struct Node {
    /// The node's name as given (often empty or duplicated in real files; not an identity).
    pub name: String,
    pub op: Op,
    inputs: Vec<Option<ValueId>>,
    outputs: Vec<ValueInfo>,
    /// Outer-scope values that the node's subgraphs read (their `Op::Outer` nodes, in order).
    captures: Vec<ValueId>,
    pub doc_string: String,
    /// Function overload id (ONNX `NodeProto.overload`).
    pub overload: String,
    pub metadata_props: Vec<(String, String)>,
    /// Insertion order: the tie-break that keeps topological order stable.
    seq: u64,
}

impl Node {
    /// Input values by slot; `None` is an omitted optional input.
    pub fn inputs(&self) -> &[Option<ValueId>] {
        &self.inputs
    }
    /// Output values by slot.
    pub fn outputs(&self) -> &[ValueInfo] {
        &self.outputs
    }
    /// Outer-scope values the node's subgraphs capture.
    pub fn captures(&self) -> &[ValueId] {
        &self.captures
    }
}

/// What a new node is made of.
#[derive(Clone, Debug)]
pub struct NewNode {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<Option<ValueId>>,
    /// One name per output; empty names for unused optional outputs.
    pub outputs: Vec<String>,
    pub captures: Vec<ValueId>,
    pub doc_string: String,
}

impl NewNode {
    /// A node with the given op, inputs and output names.
    pub fn new(op: Op, inputs: Vec<Option<ValueId>>, outputs: Vec<String>) -> NewNode {
        NewNode {
            name: String::new(),
            op,
            inputs,
            outputs,
            captures: Vec::new(),
            doc_string: String::new(),
        }
    }

    /// Sets the node name.
    pub fn named(mut self, name: impl Into<String>) -> NewNode {
        self.name = name.into();
        self
    }
}

/// Errors of graph mutation.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("node {node} ({op}): {source}")]
    Op {
        node: String,
        op: String,
        #[source]
        source: OpError,
    },
    #[error("node {node} ({op}): input {slot} refers to a value that does not exist")]
    DanglingInput {
        node: String,
        op: String,
        slot: usize,
    },
    #[error("value {0:?} still has uses")]
    StillUsed(String),
    #[error("the graph has a cycle through node {0:?}")]
    Cycle(String),
}

#[derive(Clone, Copy, Debug)]
enum Edge {
    /// Producer output `from` feeds consumer input `to`.
    Data { from: u32, to: u32 },
    /// Producer output `from` is read by one of the consumer's subgraphs.
    Capture { from: u32 },
}

impl Edge {
    fn producer_slot(self) -> u32 {
        match self {
            Edge::Data { from, .. } | Edge::Capture { from } => from,
        }
    }
}

/// A dataflow graph: one ONNX graph (the main graph or a subgraph).
#[derive(Clone, Debug, Default)]
pub struct Graph {
    g: StableDiGraph<Node, Edge, u32>,
    /// Graph inputs in order: `Op::Input` nodes, or `Op::Initializer` nodes that the file also
    /// listed as inputs (IR version 3 style: overridable defaults).
    inputs: Vec<NodeId>,
    /// Initializers in file order.
    initializers: Vec<NodeId>,
    /// Graph outputs in order, with the type the file declared for each.
    outputs: Vec<ValueId>,
    pub name: String,
    pub doc_string: String,
    pub metadata_props: Vec<(String, String)>,
    /// ONNX `quantization_annotation`: tensor name → (key, tensor name) pairs.
    pub quantization_annotation: Vec<(String, Vec<(String, String)>)>,
    next_seq: u64,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    fn push(&mut self, node: Node) -> NodeId {
        NodeId(self.g.add_node(node))
    }

    fn source(&mut self, name: String, op: Op, ty: Type) -> ValueId {
        let seq = self.bump();
        let id = self.push(Node {
            name: String::new(),
            op,
            inputs: Vec::new(),
            outputs: vec![ValueInfo::new(name, ty)],
            captures: Vec::new(),
            doc_string: String::new(),
            overload: String::new(),
            metadata_props: Vec::new(),
            seq,
        });
        ValueId { node: id, slot: 0 }
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Appends a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: Type) -> ValueId {
        let v = self.source(name.into(), Op::Input, ty);
        self.inputs.push(v.node);
        v
    }

    /// Appends an initializer (a named constant tensor).
    pub fn add_initializer(&mut self, name: impl Into<String>, tensor: Tensor) -> ValueId {
        let ty = initializer_type(&tensor);
        let v = self.source(name.into(), Op::Initializer(tensor), ty);
        self.initializers.push(v.node);
        v
    }

    /// Lists an initializer as a graph input too (an overridable default, IR version 3 style).
    pub fn list_initializer_as_input(&mut self, v: ValueId) {
        if !self.inputs.contains(&v.node) {
            self.inputs.push(v.node);
        }
    }

    /// Adds a placeholder for an outer-scope value that this subgraph reads.
    pub fn add_outer(&mut self, name: impl Into<String>, ty: Type) -> ValueId {
        self.source(name.into(), Op::Outer, ty)
    }

    /// Adds a node; output types are inferred from the op and its inputs at once.
    pub fn add_node(&mut self, new: NewNode) -> Result<NodeId, GraphError> {
        for (slot, v) in new.inputs.iter().enumerate() {
            if let Some(v) = v
                && !self.value_exists(*v)
            {
                return Err(GraphError::DanglingInput {
                    node: new.name.clone(),
                    op: new.op.op_type().to_string(),
                    slot,
                });
            }
        }
        let types = self
            .infer_types(&new.op, &new.inputs, new.outputs.len())
            .map_err(|source| GraphError::Op {
                node: new.name.clone(),
                op: new.op.op_type().to_string(),
                source,
            })?;
        let seq = self.bump();
        let outputs = new
            .outputs
            .into_iter()
            .zip(types)
            .map(|(name, ty)| ValueInfo::new(name, ty))
            .collect();
        let id = self.push(Node {
            name: new.name,
            op: new.op,
            inputs: new.inputs.clone(),
            outputs,
            captures: new.captures.clone(),
            doc_string: new.doc_string,
            overload: String::new(),
            metadata_props: Vec::new(),
            seq,
        });
        for (to, v) in new.inputs.iter().enumerate() {
            if let Some(v) = v {
                self.g.add_edge(
                    v.node.0,
                    id.0,
                    Edge::Data {
                        from: v.slot,
                        to: to as u32,
                    },
                );
            }
        }
        for v in &new.captures {
            self.g
                .add_edge(v.node.0, id.0, Edge::Capture { from: v.slot });
        }
        Ok(id)
    }

    fn value_exists(&self, v: ValueId) -> bool {
        self.g
            .node_weight(v.node.0)
            .is_some_and(|n| (v.slot as usize) < n.outputs.len())
    }

    fn infer_types(
        &self,
        op: &Op,
        inputs: &[Option<ValueId>],
        num_outputs: usize,
    ) -> Result<Vec<Type>, OpError> {
        let facts: Vec<Option<InferInput<'_>>> = inputs
            .iter()
            .map(|v| {
                v.map(|v| InferInput {
                    ty: &self.value(v).ty,
                    value: self.constant(v),
                })
            })
            .collect();
        let mut types = op.infer(&facts, num_outputs)?;
        types.resize(num_outputs, Type::Unknown);
        Ok(types)
    }

    /// What the node's op infers for its outputs from the current inputs (changes nothing).
    pub fn infer_node(&self, id: NodeId) -> Result<Vec<Type>, GraphError> {
        let node = &self.g[id.0];
        self.infer_types(&node.op, &node.inputs, node.outputs.len())
            .map_err(|source| GraphError::Op {
                node: node_label(node),
                op: node.op.op_type().to_string(),
                source,
            })
    }

    /// Re-infers the output types of a node (after its op or inputs changed), keeping what the
    /// file declared where inference knows less.
    pub fn reinfer(&mut self, id: NodeId) -> Result<(), GraphError> {
        let types = self.infer_node(id)?;
        for (info, ty) in self.g[id.0].outputs.iter_mut().zip(types) {
            info.ty = match &info.declared {
                Some(d) => refine(ty, d),
                None => ty,
            };
        }
        Ok(())
    }

    /// Re-infers every node in topological order (after input types changed).
    pub fn reinfer_all(&mut self) -> Result<(), GraphError> {
        for id in self.topo_order()? {
            if !self.g[id.0].op.is_source() {
                self.reinfer(id)?;
            }
        }
        Ok(())
    }

    /// Gives graph input `v` a new type (e.g. a fixed batch size) and re-infers the graph.
    /// What the file declared for the other values described the old input types, so those
    /// declarations are dropped: they are written back as inferred.
    pub fn override_input_type(&mut self, v: ValueId, ty: Type) -> Result<(), GraphError> {
        let ids: Vec<NodeIndex<u32>> = self.g.node_indices().collect();
        for n in ids {
            let keep = self.inputs.contains(&NodeId(n)) || self.g[n].op.is_source();
            for info in &mut self.g[n].outputs {
                if !keep {
                    info.declared = None;
                }
            }
        }
        let info = self.value_mut(v);
        info.ty = ty.clone();
        info.declared = Some(ty);
        self.reinfer_all()
    }

    /// The node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id.0]
    }

    /// The node, mutably. After changing its op call [`Graph::reinfer`].
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.g[id.0]
    }

    /// Name, type and declarations of a value.
    pub fn value(&self, v: ValueId) -> &ValueInfo {
        &self.g[v.node.0].outputs[v.slot as usize]
    }

    /// Mutable access to a value's name, types and doc string.
    pub fn value_mut(&mut self, v: ValueId) -> &mut ValueInfo {
        &mut self.g[v.node.0].outputs[v.slot as usize]
    }

    /// Records the type the file declared for a value and refines the known type with it.
    pub fn declare(&mut self, v: ValueId, declared: Type) {
        let info = self.value_mut(v);
        info.ty = refine(std::mem::take(&mut info.ty), &declared);
        info.declared = Some(declared);
    }

    /// The constant tensor behind a value: an initializer or a `Constant` node with a dense
    /// value. Initializers that an IR-version-3 file also lists as graph inputs count as
    /// constants too: formally they are overridable defaults, but every exporter of that era
    /// listed frozen weights that way, and runtimes and tools treat them as weights.
    pub fn constant(&self, v: ValueId) -> Option<&Tensor> {
        match &self.g[v.node.0].op {
            Op::Initializer(t) => Some(t),
            op => op.constant_value(),
        }
    }

    /// Graph inputs (values) in order.
    pub fn inputs(&self) -> Vec<ValueId> {
        self.inputs
            .iter()
            .map(|&n| ValueId { node: n, slot: 0 })
            .collect()
    }

    /// Initializers (values) in file order.
    pub fn initializers(&self) -> Vec<ValueId> {
        self.initializers
            .iter()
            .map(|&n| ValueId { node: n, slot: 0 })
            .collect()
    }

    /// Whether a node is listed among the graph inputs.
    pub fn is_input(&self, id: NodeId) -> bool {
        self.inputs.contains(&id)
    }

    /// Graph outputs in order.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// Appends a graph output.
    pub fn add_output(&mut self, v: ValueId) {
        self.outputs.push(v);
    }

    /// Replaces the graph outputs.
    pub fn set_outputs(&mut self, outputs: Vec<ValueId>) {
        self.outputs = outputs;
    }

    /// Number of nodes, sources (inputs, initializers, outer values) included.
    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    /// All node ids in unspecified order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.g.node_indices().map(NodeId)
    }

    /// Looks a value up by name (linear; names are unique in a valid graph).
    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.g.node_indices().find_map(|n| {
            self.g[n]
                .outputs
                .iter()
                .position(|o| o.name == name)
                .map(|slot| ValueId {
                    node: NodeId(n),
                    slot: slot as u32,
                })
        })
    }

    /// Consumers of a value: (node, input slot). Captures are not listed.
    pub fn uses(&self, v: ValueId) -> Vec<(NodeId, usize)> {
        let mut uses: Vec<_> = self
            .g
            .edges_directed(v.node.0, Direction::Outgoing)
            .filter_map(|e| match *e.weight() {
                Edge::Data { from, to } if from == v.slot => {
                    Some((NodeId(e.target()), to as usize))
                }
                _ => None,
            })
            .collect();
        uses.sort_by_key(|&(n, s)| (self.g[n.0].seq, s));
        uses
    }

    /// Whether anything reads the value: a node input, a subgraph capture or a graph output.
    pub fn is_used(&self, v: ValueId) -> bool {
        self.outputs.contains(&v)
            || self
                .g
                .edges_directed(v.node.0, Direction::Outgoing)
                .any(|e| e.weight().producer_slot() == v.slot)
    }

    /// Points input `slot` of `node` at `value` (or omits it with `None`) and re-infers the node.
    pub fn set_input(
        &mut self,
        node: NodeId,
        slot: usize,
        value: Option<ValueId>,
    ) -> Result<(), GraphError> {
        let old: Vec<EdgeIndex<u32>> = self
            .g
            .edges_directed(node.0, Direction::Incoming)
            .filter(|e| matches!(*e.weight(), Edge::Data { to, .. } if to as usize == slot))
            .map(|e| e.id())
            .collect();
        for e in old {
            self.g.remove_edge(e);
        }
        let inputs = &mut self.g[node.0].inputs;
        if inputs.len() <= slot {
            inputs.resize(slot + 1, None);
        }
        inputs[slot] = value;
        if let Some(v) = value {
            self.g.add_edge(
                v.node.0,
                node.0,
                Edge::Data {
                    from: v.slot,
                    to: slot as u32,
                },
            );
        }
        self.reinfer(node)
    }

    /// Makes every reader of `old` (node inputs and graph outputs) read `new` instead.
    /// Graph outputs are identified by value name: a pass that replaces an output value keeps
    /// the interface by giving `new` the old name.
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) -> Result<(), GraphError> {
        for (node, slot) in self.uses(old) {
            self.set_input(node, slot, Some(new))?;
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
        Ok(())
    }

    /// Removes a node whose outputs nothing reads.
    pub fn remove_node(&mut self, id: NodeId) -> Result<Node, GraphError> {
        let n = self.g[id.0].outputs.len();
        for slot in 0..n {
            let v = ValueId {
                node: id,
                slot: slot as u32,
            };
            if self.is_used(v) {
                return Err(GraphError::StillUsed(self.value(v).name.clone()));
            }
        }
        self.inputs.retain(|&x| x != id);
        self.initializers.retain(|&x| x != id);
        Ok(self.g.remove_node(id.0).expect("node id is live"))
    }

    /// All nodes in a topological order; ties are broken by insertion order, so a graph read
    /// from a (topologically sorted) file comes back in file order.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, GraphError> {
        let mut indeg: std::collections::HashMap<NodeIndex<u32>, usize> = self
            .g
            .node_indices()
            .map(|n| (n, self.g.edges_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: BinaryHeap<Reverse<(u64, NodeIndex<u32>)>> = indeg
            .iter()
            .filter(|&(_, &d)| d == 0)
            .map(|(&n, _)| Reverse((self.g[n].seq, n)))
            .collect();
        let mut order = Vec::with_capacity(indeg.len());
        while let Some(Reverse((_, n))) = ready.pop() {
            order.push(NodeId(n));
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                let t = e.target();
                if let Some(d) = indeg.get_mut(&t) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(Reverse((self.g[t].seq, t)));
                    }
                }
            }
        }
        if order.len() != indeg.len() {
            let stuck = self
                .g
                .node_indices()
                .filter(|n| !order.contains(&NodeId(*n)))
                .min_by_key(|n| self.g[*n].seq)
                .map(|n| node_label(&self.g[n]))
                .unwrap_or_default();
            return Err(GraphError::Cycle(stuck));
        }
        Ok(order)
    }

    /// Nodes that compute (not inputs, initializers or outer values), in topological order.
    pub fn compute_nodes(&self) -> Result<Vec<NodeId>, GraphError> {
        Ok(self
            .topo_order()?
            .into_iter()
            .filter(|&n| !self.node(n).op.is_source())
            .collect())
    }

    /// Sets the attributes-level metadata of a node (used by importers).
    pub fn set_node_extras(
        &mut self,
        id: NodeId,
        doc_string: String,
        overload: String,
        metadata_props: Vec<(String, String)>,
    ) {
        let n = &mut self.g[id.0];
        n.doc_string = doc_string;
        n.overload = overload;
        n.metadata_props = metadata_props;
    }

    /// Attributes of opaque ops and their nested graphs, for walkers.
    pub fn opaque_attrs(&self, id: NodeId) -> &[Attribute] {
        match &self.g[id.0].op {
            Op::Opaque(o) => &o.attrs,
            _ => &[],
        }
    }
}

/// A human label for a node: its name, or its first output's name.
pub fn node_label(n: &Node) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        n.outputs
            .first()
            .map(|o| format!("<{}>", o.name))
            .unwrap_or_default()
    }
}

/// The type of a constant tensor's value.
pub fn tensor_type(t: &Tensor) -> Type {
    let tt = crate::TensorType::fixed(t.dtype, &t.dims);
    match t.data {
        crate::TensorData::Sparse(_) => Type::SparseTensor(tt),
        _ => Type::Tensor(tt),
    }
}

/// The type of an initializer's value: a dense tensor even when it is stored sparse (ONNX
/// nodes read a `sparse_initializer` as the dense tensor it encodes; runtimes densify it at load).
pub(crate) fn initializer_type(t: &Tensor) -> Type {
    Type::Tensor(crate::TensorType::fixed(t.dtype, &t.dims))
}

/// Combines an inferred type with a declared one: declared facts fill in what inference left
/// unknown; where both know, inference wins.
pub fn refine(inferred: Type, declared: &Type) -> Type {
    use crate::{Dim, TensorType};
    match (inferred, declared) {
        (Type::Unknown, d) => d.clone(),
        (Type::Tensor(i), Type::Tensor(d)) => {
            let dtype = if i.dtype == crate::DType::Undefined {
                d.dtype
            } else {
                i.dtype
            };
            let shape = match (i.shape, &d.shape) {
                (None, ds) => ds.clone(),
                (Some(is), Some(ds)) if is.len() == ds.len() => Some(
                    is.into_iter()
                        .zip(ds)
                        .map(|(a, b)| match a {
                            Dim::Unknown => b.clone(),
                            a => a,
                        })
                        .collect(),
                ),
                (Some(is), _) => Some(is),
            };
            Type::Tensor(TensorType { dtype, shape })
        }
        (i, _) => i,
    }
}
