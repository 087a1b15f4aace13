//! Name resolution while a graph is built from a named form (an ONNX file, the text IR): the
//! names defined so far, and the values of enclosing graphs a subgraph reads, which become
//! `Op::Outer` nodes and are reported as captured so the owning node can list them.

use crate::{Graph, Type, ValueId};
use std::collections::HashMap;

/// The values visible from enclosing graphs while a subgraph is built.
pub struct Scope<'a> {
    graph: &'a Graph,
    names: &'a HashMap<String, ValueId>,
    parent: Option<&'a Scope<'a>>,
}

impl Scope<'_> {
    /// The type of `name` in this scope or an enclosing one.
    pub fn lookup(&self, name: &str) -> Option<Type> {
        match self.names.get(name) {
            Some(v) => Some(self.graph.value(*v).ty.clone()),
            None => self.parent.and_then(|p| p.lookup(name)),
        }
    }
}

/// A graph being built with its names in scope.
pub struct ScopedGraph<'s> {
    pub graph: Graph,
    /// Names defined in this graph (and outer values already captured), to values.
    pub names: HashMap<String, ValueId>,
    /// Outer names this graph reads, in first-use order.
    pub captured: Vec<String>,
    outer: Option<&'s Scope<'s>>,
}

impl<'s> ScopedGraph<'s> {
    /// An empty graph; `outer` is the enclosing scope for a subgraph (`None` for a main graph).
    pub fn new(outer: Option<&'s Scope<'s>>) -> ScopedGraph<'s> {
        ScopedGraph {
            graph: Graph::new(),
            names: HashMap::new(),
            captured: Vec::new(),
            outer,
        }
    }

    /// The value `name` refers to: local, or captured from an enclosing graph (adding the
    /// `Op::Outer` node on first use).
    pub fn resolve(&mut self, name: &str) -> Option<ValueId> {
        if let Some(v) = self.names.get(name) {
            return Some(*v);
        }
        let ty = self.outer?.lookup(name)?;
        let v = self.graph.add_outer(name, ty);
        self.names.insert(name.to_string(), v);
        self.captured.push(name.to_string());
        Some(v)
    }

    /// The scope a subgraph of this graph sees.
    pub fn scope(&self) -> Scope<'_> {
        Scope {
            graph: &self.graph,
            names: &self.names,
            parent: self.outer,
        }
    }
}
