//! Constants: `Constant` (every value attribute form, dense value always available) and
//! `ConstantOfShape`.

use super::attrs::{AttrReader, AttrWriter, bad_value};
use super::facts::{input_err, out, required, unknown_dims};
use super::{InferInput, OpError};
use crate::{DType, Dim, Tensor, TensorData, Type, element_count};
use bytes::Bytes;
use std::sync::Arc;

/// Which attribute a `Constant` node spells its value with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstantForm {
    /// `value` (a tensor).
    Value,
    /// `sparse_value` (opset 11+).
    SparseValue,
    /// `value_float`: an f32 scalar (opset 12+, as are the forms below).
    Float,
    /// `value_floats`: a 1-D f32 tensor.
    Floats,
    /// `value_int`: an i64 scalar.
    Int,
    /// `value_ints`: a 1-D i64 tensor.
    Ints,
    /// `value_string`: a string scalar.
    String,
    /// `value_strings`: a 1-D string tensor.
    Strings,
}

impl ConstantForm {
    /// The attribute name.
    pub fn attr_name(self) -> &'static str {
        match self {
            ConstantForm::Value => "value",
            ConstantForm::SparseValue => "sparse_value",
            ConstantForm::Float => "value_float",
            ConstantForm::Floats => "value_floats",
            ConstantForm::Int => "value_int",
            ConstantForm::Ints => "value_ints",
            ConstantForm::String => "value_string",
            ConstantForm::Strings => "value_strings",
        }
    }

    /// First opset with the attribute.
    fn since(self) -> i64 {
        match self {
            ConstantForm::Value => 1,
            ConstantForm::SparseValue => 11,
            _ => 12,
        }
    }

    const ALL: [ConstantForm; 8] = [
        ConstantForm::Value,
        ConstantForm::SparseValue,
        ConstantForm::Float,
        ConstantForm::Floats,
        ConstantForm::Int,
        ConstantForm::Ints,
        ConstantForm::String,
        ConstantForm::Strings,
    ];
}

/// Dense value limit for densifying a sparse constant (bytes).
const MAX_DENSE_BYTES: u64 = 64 << 20;

/// `Constant`. The value is always held densely; a sparse original is kept alongside so that it
/// is written back as it was. Fields are private so that the two cannot disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    value: Tensor,
    form: ConstantForm,
    sparse: Option<Tensor>,
}

impl Constant {
    /// A constant spelled with the `value` attribute. A sparse tensor is densified (and written
    /// back as `sparse_value`); `None` when it cannot be (too large, or an element type without
    /// a whole-byte dense layout).
    pub fn new(value: Tensor) -> Option<Constant> {
        match &value.data {
            TensorData::Sparse(_) => Some(Constant {
                value: densify(&value)?,
                form: ConstantForm::SparseValue,
                sparse: Some(value),
            }),
            _ => Some(Constant {
                value,
                form: ConstantForm::Value,
                sparse: None,
            }),
        }
    }

    /// The dense value the op produces.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// The attribute form the value is written with.
    pub fn form(&self) -> ConstantForm {
        self.form
    }

    /// The sparse tensor as the file gave it, for the `sparse_value` form.
    pub fn sparse_value(&self) -> Option<&Tensor> {
        self.sparse.as_ref()
    }

    pub(crate) fn parse(opset: i64, r: &mut AttrReader<'_>) -> Result<Option<Constant>, OpError> {
        let forms: Vec<ConstantForm> = ConstantForm::ALL
            .into_iter()
            .filter(|f| opset >= f.since() && r.has(f.attr_name()))
            .collect();
        let form = match forms.as_slice() {
            [f] => *f,
            [] => return Err(OpError::MissingAttr("value".into())),
            many => {
                let names: Vec<&str> = many.iter().map(|f| f.attr_name()).collect();
                return Err(bad_value(
                    names[1],
                    format!(
                        "Constant takes exactly one value attribute, found {}",
                        names.join(", ")
                    ),
                ));
            }
        };
        let name = form.attr_name();
        let tensor = |r: std::result::Result<Tensor, crate::TensorError>| {
            r.map_err(|e| bad_value(name, e.to_string()))
        };
        let strings = |dims: Vec<i64>, s: Vec<Vec<u8>>| Tensor {
            dtype: DType::String,
            dims,
            data: TensorData::Strings(Arc::new(s)),
            doc_string: String::new(),
        };
        let value = match form {
            ConstantForm::Value => r.tensor(name)?,
            ConstantForm::SparseValue => {
                let Some(sparse) = r.sparse_tensor(name)? else {
                    return Ok(None);
                };
                // Not densifiable: keep the node opaque rather than lose the value.
                return Ok(Constant::new(sparse));
            }
            ConstantForm::Float => r
                .float(name)?
                .map(|v| tensor(Tensor::from_f32(vec![], &[v])))
                .transpose()?,
            ConstantForm::Floats => r
                .floats(name)?
                .map(|v| tensor(Tensor::from_f32(vec![v.len() as i64], &v)))
                .transpose()?,
            ConstantForm::Int => r
                .int(name)?
                .map(|v| tensor(Tensor::from_i64(vec![], &[v])))
                .transpose()?,
            ConstantForm::Ints => r
                .ints(name)?
                .map(|v| tensor(Tensor::from_i64(vec![v.len() as i64], &v)))
                .transpose()?,
            ConstantForm::String => r.raw_string(name)?.map(|s| strings(vec![], vec![s])),
            ConstantForm::Strings => r
                .raw_strings(name)?
                .map(|s| strings(vec![s.len() as i64], s)),
        };
        let Some(value) = value else {
            return Ok(None);
        };
        if matches!(value.data, TensorData::Sparse(_)) {
            return Err(bad_value(name, "expected a dense tensor"));
        }
        Ok(Some(Constant {
            value,
            form,
            sparse: None,
        }))
    }

    /// Writes the recorded form when `opset` has it, else the dense `value` tensor.
    pub(crate) fn write(&self, w: &mut AttrWriter, opset: i64) {
        let name = self.form.attr_name();
        if opset < self.form.since() {
            w.tensor("value", &self.value);
            return;
        }
        let strings = || match &self.value.data {
            TensorData::Strings(s) => Some(s.as_ref().clone()),
            _ => None,
        };
        let floats = || self.value.to_f32_vec().ok();
        let ints = || self.value.to_i64_vec().ok();
        match self.form {
            ConstantForm::SparseValue => {
                if let Some(s) = &self.sparse {
                    w.sparse_tensor(name, s);
                    return;
                }
            }
            ConstantForm::Float => {
                if let Some([v]) = floats().as_deref() {
                    w.float(name, *v);
                    return;
                }
            }
            ConstantForm::Floats => {
                if let Some(v) = floats() {
                    w.floats(name, &v);
                    return;
                }
            }
            ConstantForm::Int => {
                if let Some([v]) = ints().as_deref() {
                    w.int(name, *v);
                    return;
                }
            }
            ConstantForm::Ints => {
                if let Some(v) = ints() {
                    w.ints(name, &v);
                    return;
                }
            }
            ConstantForm::String => {
                if let Some([s]) = strings().as_deref() {
                    w.raw_string(name, s);
                    return;
                }
            }
            ConstantForm::Strings => {
                if let Some(s) = strings() {
                    w.raw_strings(name, s);
                    return;
                }
            }
            ConstantForm::Value => {}
        }
        w.tensor("value", &self.value);
    }

    pub(crate) fn infer(&self) -> Vec<Type> {
        vec![Type::tensor(
            self.value.dtype,
            Some(self.value.dims.iter().map(|&d| Dim::Known(d)).collect()),
        )]
    }
}

/// The dense form of a COO sparse tensor, for element types of whole bytes.
fn densify(t: &Tensor) -> Option<Tensor> {
    let TensorData::Sparse(sp) = &t.data else {
        return Some(t.clone());
    };
    let bits = t.dtype.bits();
    if bits == 0
        || !bits.is_multiple_of(8)
        || t.dtype == DType::String
        || sp.values.dtype != t.dtype
    {
        return None;
    }
    let width = bits / 8;
    let n = element_count(&t.dims).ok()?;
    let bytes = n.checked_mul(width as u64)?;
    if bytes > MAX_DENSE_BYTES {
        return None;
    }
    let values = sp.values.raw()?;
    let nnz = sp.values.len() as usize;
    if values.len() != nnz.checked_mul(width)? {
        return None;
    }
    let idx = sp.indices.to_i64_vec().ok()?;
    let rank = t.dims.len();
    // Linear indices [nnz], or coordinates [nnz, rank].
    let linear: Vec<u64> = match sp.indices.dims.as_slice() {
        [k] if *k as usize == nnz => idx
            .iter()
            .map(|&i| u64::try_from(i).ok())
            .collect::<Option<_>>()?,
        [k, r] if *k as usize == nnz && *r as usize == rank => idx
            .chunks_exact(rank.max(1))
            .map(|c| {
                c.iter().zip(&t.dims).try_fold(0u64, |acc, (&i, &d)| {
                    let (i, d) = (u64::try_from(i).ok()?, u64::try_from(d).ok()?);
                    if i >= d {
                        return None;
                    }
                    acc.checked_mul(d)?.checked_add(i)
                })
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let mut dense = vec![0u8; bytes as usize];
    for (j, &i) in linear.iter().enumerate() {
        if i >= n {
            return None;
        }
        let at = i as usize * width;
        dense[at..at + width].copy_from_slice(&values[j * width..(j + 1) * width]);
    }
    let mut out = Tensor::from_raw(t.dtype, t.dims.clone(), Bytes::from(dense)).ok()?;
    out.doc_string = t.doc_string.clone();
    Some(out)
}

/// `ConstantOfShape` (opset 9+): a tensor of the shape given by input 0, filled with `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    /// A one-element tensor; defaults to f32 0.
    pub value: Tensor,
}

impl Default for ConstantOfShape {
    fn default() -> ConstantOfShape {
        ConstantOfShape {
            value: default_fill(),
        }
    }
}

fn default_fill() -> Tensor {
    Tensor {
        dtype: DType::F32,
        dims: vec![1],
        data: TensorData::Dense(Bytes::from_static(&[0, 0, 0, 0])),
        doc_string: String::new(),
    }
}

impl ConstantOfShape {
    pub(crate) fn parse(r: &mut AttrReader<'_>) -> Result<ConstantOfShape, OpError> {
        let Some(value) = r.tensor("value")? else {
            return Ok(ConstantOfShape::default());
        };
        if value.len() != 1 || !matches!(value.data, TensorData::Dense(_)) {
            return Err(bad_value(
                "value",
                format!(
                    "expected a dense one-element tensor, got dims {:?}",
                    value.dims
                ),
            ));
        }
        Ok(ConstantOfShape { value })
    }

    pub(crate) fn write(&self, w: &mut AttrWriter) {
        if self.value != default_fill() {
            w.tensor("value", &self.value);
        }
    }

    pub(crate) fn infer(&self, inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Type>, OpError> {
        let shape_in = required(inputs, 0)?;
        let shape = match shape_in.const_ints() {
            Some(dims) => {
                if let Some(d) = dims.iter().find(|&&d| d < 0) {
                    return Err(input_err(
                        0,
                        format!("shape {dims:?} has negative size {d}"),
                    ));
                }
                Some(dims.into_iter().map(Dim::Known).collect())
            }
            None => shape_in.len_1d().map(unknown_dims),
        };
        Ok(vec![out(Some(self.value.dtype), shape)])
    }
}
