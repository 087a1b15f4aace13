//! A model: the main graph plus model-level facts (opsets, IR version, producer, metadata) and
//! the parts of a file nnslim carries without interpreting (functions, training info).

use crate::Graph;

/// An operator-set import: a domain at a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsetId {
    pub domain: String,
    pub version: i64,
}

/// A part of the source file carried through untouched, in the source format's encoding.
/// The ONNX importer and writer agree on `field` (the `ModelProto` field number); nothing
/// else reads these bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    pub field: u32,
    pub bytes: Vec<u8>,
}

/// A whole model.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub graph: Graph,
    pub ir_version: i64,
    pub opsets: Vec<OpsetId>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub doc_string: String,
    pub metadata_props: Vec<(String, String)>,
    /// Functions, training info and other parts kept as encoded bytes, in file order.
    pub foreign: Vec<Foreign>,
}

impl Model {
    /// The version of `domain` the model imports (`""` and `"ai.onnx"` are the same domain).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let canon = |d: &str| if d == "ai.onnx" { "" } else { d }.to_string();
        let want = canon(domain);
        self.opsets
            .iter()
            .find(|o| canon(&o.domain) == want)
            .map(|o| o.version)
    }
}
