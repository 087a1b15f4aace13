//! Sparse storage: initializers that are mostly zeros become ONNX sparse initializers (COO:
//! the non-zero values plus their INT64 linear indices). Nodes keep reading them as the dense
//! tensors they encode; ONNX Runtime densifies sparse initializers when it loads the model, so
//! this shrinks the file, not the memory or the work at run time.

use crate::PassError;
use crate::rewrite::captured_values;
use nnslim_ir::{DType, Graph, Op, SparseData, Tensor, TensorData, ValueId};
use serde_json::json;
use std::sync::Arc;

/// Bytes of one stored index: ONNX's checker requires INT64 indices.
pub const INDEX_BYTES: u64 = 8;

/// Tensors with fewer elements stay dense: a `SparseTensorProto` (two tensors with their own
/// dims and type) costs a few dozen bytes more than a dense one, more than they could save,
/// and the checker refuses rank-0 sparse tensors.
pub const MIN_ELEMENTS: u64 = 16;

/// What sparse storage did with one initializer.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorReport {
    /// The initializer's name.
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<i64>,
    pub elements: u64,
    /// Elements whose bytes are not all zero (so `-0.0` counts as a value: storage is exact).
    pub nonzeros: u64,
    /// Bytes as a dense tensor.
    pub dense_bytes: u64,
    /// Bytes in COO form: values plus INT64 indices.
    pub sparse_bytes: u64,
    /// Whether the initializer is now stored sparse.
    pub sparse: bool,
}

impl TensorReport {
    /// Fraction of elements that are zero.
    pub fn sparsity(&self) -> f64 {
        if self.elements == 0 {
            return 0.0;
        }
        1.0 - self.nonzeros as f64 / self.elements as f64
    }

    /// Bytes after the pass (sparse or dense, whichever it kept).
    pub fn bytes_after(&self) -> u64 {
        if self.sparse {
            self.sparse_bytes
        } else {
            self.dense_bytes
        }
    }

    /// The report row.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "dtype": self.dtype.to_string(),
            "dims": self.dims,
            "elements": self.elements,
            "nonzeros": self.nonzeros,
            "sparsity": self.sparsity(),
            "dense_bytes": self.dense_bytes,
            "sparse_bytes": self.sparse_bytes,
            "stored": if self.sparse { "sparse" } else { "dense" },
        })
    }
}

/// Bytes of one element of the types sparse storage handles; `None` for the others: strings,
/// bool, sub-byte and 8-bit float types, and 64-bit integers (the type of shapes, axes and pads,
/// which shape inference reads as constants, and whose COO form saves only above 50 % zeros).
pub fn element_bytes(dtype: DType) -> Option<u64> {
    Some(match dtype {
        DType::F64 => 8,
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
        DType::I8 | DType::U8 => 1,
        _ => return None,
    })
}

/// Bytes of the COO form of `nonzeros` elements of `width` bytes each.
pub fn sparse_bytes(nonzeros: u64, width: u64) -> u64 {
    nonzeros * (width + INDEX_BYTES)
}

/// The COO form of a dense tensor of a type [`element_bytes`] knows: the values of the elements
/// whose bytes are not all zero, in row-major order, and their INT64 linear indices `[NNZ]`
/// (strictly increasing, as ONNX requires). `None` for other types or storage.
pub fn to_sparse(t: &Tensor) -> Option<Tensor> {
    let width = element_bytes(t.dtype)? as usize;
    let raw = t.raw()?;
    let mut values = Vec::new();
    let mut indices = Vec::new();
    for (i, e) in raw.chunks_exact(width).enumerate() {
        if e.iter().any(|&b| b != 0) {
            values.extend_from_slice(e);
            indices.push(i as i64);
        }
    }
    let nnz = indices.len() as i64;
    let values = Tensor::from_raw(t.dtype, vec![nnz], values.into()).ok()?;
    let indices = Tensor::from_i64(vec![nnz], &indices).ok()?;
    Some(Tensor {
        dtype: t.dtype,
        dims: t.dims.clone(),
        data: TensorData::Sparse(Arc::new(SparseData { values, indices })),
        doc_string: t.doc_string.clone(),
    })
}

/// Counts the elements of a dense tensor whose bytes are not all zero.
fn nonzeros(raw: &[u8], width: usize) -> u64 {
    raw.chunks_exact(width)
        .filter(|e| e.iter().any(|&b| b != 0))
        .count() as u64
}

/// Stores every eligible initializer of the main graph sparse when its COO form is smaller than
/// its dense form and at least `min_sparsity` of its elements are zero; the others stay dense.
///
/// Eligible: a dense initializer of a type [`element_bytes`] knows with at least
/// [`MIN_ELEMENTS`] elements, not a graph input (an overridable default) or output, and not read
/// by a subgraph. The stored value is exact: an element is zero only when all its bytes are
/// (`-0.0` is kept as a value). The value's type and every reader stay as they were.
///
/// Returns one report per eligible initializer, in file order.
pub fn store_sparse(g: &mut Graph, min_sparsity: f64) -> Result<Vec<TensorReport>, PassError> {
    let captured = captured_values(g);
    let outputs: Vec<ValueId> = g.outputs().to_vec();
    let mut reports = Vec::new();
    for v in g.initializers() {
        if g.is_input(v.node) || outputs.contains(&v) || captured.contains(&v) {
            continue;
        }
        let Op::Initializer(t) = &g.node(v.node).op else {
            continue;
        };
        let (Some(width), Some(raw)) = (element_bytes(t.dtype), t.raw()) else {
            continue;
        };
        let elements = t.len();
        if elements < MIN_ELEMENTS {
            continue;
        }
        let nnz = nonzeros(raw, width as usize);
        let mut report = TensorReport {
            name: g.value(v).name.clone(),
            dtype: t.dtype,
            dims: t.dims.clone(),
            elements,
            nonzeros: nnz,
            dense_bytes: raw.len() as u64,
            sparse_bytes: sparse_bytes(nnz, width),
            sparse: false,
        };
        if report.sparse_bytes < report.dense_bytes && report.sparsity() >= min_sparsity {
            let sparse = to_sparse(t).ok_or_else(|| PassError::Unsupported {
                pass: "sparsify".into(),
                message: format!("initializer {:?}: no COO form", report.name),
            })?;
            g.node_mut(v.node).op = Op::Initializer(sparse);
            report.sparse = true;
        }
        reports.push(report);
    }
    Ok(reports)
}
