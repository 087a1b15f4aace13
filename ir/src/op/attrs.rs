//! Attribute reading and writing for typed ops: take attributes by name with typed getters and
//! defaults (wrong kinds are errors, leftovers are detectable), and build ONNX attribute lists.

use super::OpError;
use crate::{AttrValue, Attribute, DType, Graph, Tensor};

/// Reads a node's attributes once each. Every getter marks the attribute it reads as taken;
/// whatever is left afterwards is an attribute the typed op does not know.
pub(crate) struct AttrReader<'a> {
    attrs: &'a [Attribute],
    taken: Vec<bool>,
}

fn kind_error(name: &str, want: &'static str, found: &AttrValue) -> OpError {
    OpError::AttrType {
        name: name.to_string(),
        want,
        found: found.kind(),
    }
}

/// An `AttrValue` error for attribute `name`.
pub(crate) fn bad_value(name: &str, msg: impl Into<String>) -> OpError {
    OpError::AttrValue {
        name: name.to_string(),
        msg: msg.into(),
    }
}

impl<'a> AttrReader<'a> {
    /// A reader over `attrs`, nothing taken yet.
    pub fn new(attrs: &'a [Attribute]) -> AttrReader<'a> {
        AttrReader {
            attrs,
            taken: vec![false; attrs.len()],
        }
    }

    /// Takes the first not-yet-taken attribute called `name`. A second attribute of the same
    /// name stays behind as a leftover.
    fn take(&mut self, name: &str) -> Option<&'a AttrValue> {
        let i = self
            .attrs
            .iter()
            .zip(&self.taken)
            .position(|(a, &t)| !t && a.name == name)?;
        self.taken[i] = true;
        Some(&self.attrs[i].value)
    }

    /// Whether an attribute called `name` is present (and not taken yet).
    pub fn has(&self, name: &str) -> bool {
        self.attrs
            .iter()
            .zip(&self.taken)
            .any(|(a, &t)| !t && a.name == name)
    }

    /// Where the first not-yet-taken attribute called `name` is in the list.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.attrs
            .iter()
            .zip(&self.taken)
            .position(|(a, &t)| !t && a.name == name)
    }

    /// Names of the attributes nobody took.
    pub fn leftovers(&self) -> Vec<&'a str> {
        self.attrs
            .iter()
            .zip(&self.taken)
            .filter(|&(_, &t)| !t)
            .map(|(a, _)| a.name.as_str())
            .collect()
    }

    pub fn int(&mut self, name: &str) -> Result<Option<i64>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Int(v)) => Ok(Some(*v)),
            Some(other) => Err(kind_error(name, "INT", other)),
        }
    }

    pub fn int_or(&mut self, name: &str, default: i64) -> Result<i64, OpError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A 0/1 flag; any other integer is an error.
    pub fn flag_or(&mut self, name: &str, default: bool) -> Result<bool, OpError> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(bad_value(name, format!("expected 0 or 1, got {v}"))),
        }
    }

    pub fn ints(&mut self, name: &str) -> Result<Option<Vec<i64>>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(other) => Err(kind_error(name, "INTS", other)),
        }
    }

    /// An INTS attribute, or an empty list when absent.
    pub fn ints_or_empty(&mut self, name: &str) -> Result<Vec<i64>, OpError> {
        Ok(self.ints(name)?.unwrap_or_default())
    }

    pub fn float(&mut self, name: &str) -> Result<Option<f32>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Float(v)) => Ok(Some(*v)),
            Some(other) => Err(kind_error(name, "FLOAT", other)),
        }
    }

    pub fn float_or(&mut self, name: &str, default: f32) -> Result<f32, OpError> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    pub fn floats(&mut self, name: &str) -> Result<Option<Vec<f32>>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v.clone())),
            Some(other) => Err(kind_error(name, "FLOATS", other)),
        }
    }

    /// A STRING attribute as UTF-8 text.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::String(b)) => String::from_utf8(b.clone())
                .map(Some)
                .map_err(|_| bad_value(name, "not valid UTF-8")),
            Some(other) => Err(kind_error(name, "STRING", other)),
        }
    }

    /// A STRING attribute whose value is one of a fixed set, parsed by `parse`.
    pub fn enum_or<T>(
        &mut self,
        name: &str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        allowed: &str,
    ) -> Result<T, OpError> {
        match self.string(name)? {
            None => Ok(default),
            Some(s) => parse(&s).ok_or_else(|| {
                bad_value(name, format!("unknown value {s:?} (expected {allowed})"))
            }),
        }
    }

    /// Raw byte strings.
    pub fn raw_string(&mut self, name: &str) -> Result<Option<Vec<u8>>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::String(b)) => Ok(Some(b.clone())),
            Some(other) => Err(kind_error(name, "STRING", other)),
        }
    }

    pub fn raw_strings(&mut self, name: &str) -> Result<Option<Vec<Vec<u8>>>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Strings(b)) => Ok(Some(b.clone())),
            Some(other) => Err(kind_error(name, "STRINGS", other)),
        }
    }

    pub fn tensor(&mut self, name: &str) -> Result<Option<Tensor>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t.clone())),
            Some(other) => Err(kind_error(name, "TENSOR", other)),
        }
    }

    pub fn sparse_tensor(&mut self, name: &str) -> Result<Option<Tensor>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::SparseTensor(t)) => Ok(Some(t.clone())),
            Some(other) => Err(kind_error(name, "SPARSE_TENSOR", other)),
        }
    }

    /// A GRAPH attribute (a nested IR graph, cloned).
    pub fn graph(&mut self, name: &str) -> Result<Option<Graph>, OpError> {
        match self.take(name) {
            None => Ok(None),
            Some(AttrValue::Graph(g)) => Ok(Some((**g).clone())),
            Some(other) => Err(kind_error(name, "GRAPH", other)),
        }
    }

    /// A STRINGS attribute as UTF-8 texts.
    pub fn strings(&mut self, name: &str) -> Result<Option<Vec<String>>, OpError> {
        match self.raw_strings(name)? {
            None => Ok(None),
            Some(v) => v
                .into_iter()
                .map(|b| String::from_utf8(b).map_err(|_| bad_value(name, "not valid UTF-8")))
                .collect::<Result<_, _>>()
                .map(Some),
        }
    }

    /// An INT attribute holding an ONNX data-type code; 0 (`UNDEFINED`) reads as `None`.
    pub fn dtype(&mut self, name: &str) -> Result<Option<DType>, OpError> {
        match self.int(name)? {
            None | Some(0) => Ok(None),
            Some(code) => i32::try_from(code)
                .ok()
                .and_then(DType::from_onnx)
                .map(Some)
                .ok_or_else(|| bad_value(name, format!("{code} is not an ONNX data type"))),
        }
    }
}

/// Checks that every value of a list attribute satisfies `ok`.
pub(crate) fn check_all(
    name: &str,
    values: &[i64],
    ok: impl Fn(i64) -> bool,
    what: &str,
) -> Result<(), OpError> {
    match values.iter().find(|&&v| !ok(v)) {
        Some(v) => Err(bad_value(
            name,
            format!("values must be {what}, got {v} in {values:?}"),
        )),
        None => Ok(()),
    }
}

/// Builds the attribute list of an op as ONNX spells it.
#[derive(Default)]
pub(crate) struct AttrWriter {
    attrs: Vec<Attribute>,
}

impl AttrWriter {
    pub fn new() -> AttrWriter {
        AttrWriter::default()
    }

    pub fn finish(self) -> Vec<Attribute> {
        self.attrs
    }

    fn push(&mut self, name: &str, value: AttrValue) {
        self.attrs.push(Attribute::new(name, value));
    }

    pub fn int(&mut self, name: &str, v: i64) {
        self.push(name, AttrValue::Int(v));
    }

    /// Writes `v` unless it equals the default.
    pub fn int_unless(&mut self, name: &str, v: i64, default: i64) {
        if v != default {
            self.int(name, v);
        }
    }

    pub fn flag_unless(&mut self, name: &str, v: bool, default: bool) {
        if v != default {
            self.int(name, i64::from(v));
        }
    }

    pub fn ints(&mut self, name: &str, v: &[i64]) {
        self.push(name, AttrValue::Ints(v.to_vec()));
    }

    /// Writes the list when it is present.
    pub fn ints_opt(&mut self, name: &str, v: Option<&[i64]>) {
        if let Some(v) = v {
            self.ints(name, v);
        }
    }

    pub fn float(&mut self, name: &str, v: f32) {
        self.push(name, AttrValue::Float(v));
    }

    /// Writes `v` unless it is bit-identical to the default.
    pub fn float_unless(&mut self, name: &str, v: f32, default: f32) {
        if v.to_bits() != default.to_bits() {
            self.float(name, v);
        }
    }

    pub fn floats(&mut self, name: &str, v: &[f32]) {
        self.push(name, AttrValue::Floats(v.to_vec()));
    }

    pub fn string(&mut self, name: &str, v: &str) {
        self.push(name, AttrValue::String(v.as_bytes().to_vec()));
    }

    pub fn string_unless(&mut self, name: &str, v: &str, default: &str) {
        if v != default {
            self.string(name, v);
        }
    }

    pub fn raw_string(&mut self, name: &str, v: &[u8]) {
        self.push(name, AttrValue::String(v.to_vec()));
    }

    pub fn raw_strings(&mut self, name: &str, v: Vec<Vec<u8>>) {
        self.push(name, AttrValue::Strings(v));
    }

    pub fn tensor(&mut self, name: &str, t: &Tensor) {
        self.push(name, AttrValue::Tensor(t.clone()));
    }

    pub fn graph(&mut self, name: &str, g: &Graph) {
        self.push(name, AttrValue::Graph(Box::new(g.clone())));
    }

    pub fn strings(&mut self, name: &str, v: &[&str]) {
        let v = v.iter().map(|s| s.as_bytes().to_vec()).collect();
        self.push(name, AttrValue::Strings(v));
    }

    pub fn sparse_tensor(&mut self, name: &str, t: &Tensor) {
        self.push(name, AttrValue::SparseTensor(t.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> Vec<Attribute> {
        vec![
            Attribute::new("a", AttrValue::Int(3)),
            Attribute::new("b", AttrValue::Floats(vec![1.0])),
            Attribute::new("s", AttrValue::String(b"SAME_UPPER".to_vec())),
            Attribute::new("a", AttrValue::Int(4)),
        ]
    }

    #[test]
    fn takes_each_attribute_once() {
        let list = attrs();
        let mut r = AttrReader::new(&list);
        assert_eq!(r.int("a").unwrap(), Some(3));
        assert_eq!(r.int_or("missing", 7).unwrap(), 7);
        assert_eq!(r.string("s").unwrap().as_deref(), Some("SAME_UPPER"));
        assert_eq!(r.leftovers(), vec!["b", "a"]);
        assert_eq!(r.floats("b").unwrap(), Some(vec![1.0]));
        assert_eq!(r.leftovers(), vec!["a"]);
    }

    #[test]
    fn wrong_kind_and_bad_values_are_errors() {
        let list = attrs();
        let mut r = AttrReader::new(&list);
        assert_eq!(
            r.ints("a"),
            Err(OpError::AttrType {
                name: "a".into(),
                want: "INTS",
                found: "INT"
            })
        );
        assert!(matches!(
            r.flag_or("a", false),
            Err(OpError::AttrValue { .. })
        ));
        let e = r.enum_or("s", 0, |_| None::<i32>, "X or Y").unwrap_err();
        assert!(e.to_string().contains("'s'") && e.to_string().contains("SAME_UPPER"));
    }

    #[test]
    fn writer_skips_defaults() {
        let mut w = AttrWriter::new();
        w.int_unless("group", 1, 1);
        w.float_unless("alpha", 0.5, 1.0);
        w.flag_unless("keepdims", true, true);
        let names: Vec<_> = w.finish().into_iter().map(|a| a.name).collect();
        assert_eq!(names, vec!["alpha"]);
    }
}
