//! `quantize(fp16)` / `quantize(bf16)`: f32 initializers stored as 16-bit floats and cast back
//! to f32 where they are read, so the computation and the interface stay f32.
//!
//! Which tensors: every dense f32 initializer with at least [`MIN_ELEMENTS`] elements that only
//! nodes of the main graph read (not a graph input or output, not captured by a subgraph).
//! That covers the weights and biases of Conv, ConvTranspose, Gemm and MatMul and also other
//! large constants (embedding tables, normalisation scales); scalars and tiny vectors (clip
//! bounds, epsilons) stay f32, as they save nothing. For fp16, a tensor with a finite value
//! beyond the f16 range (|x| > 65504) stays f32 rather than turning into infinities.
//!
//! Each converted initializer `w` becomes `w.f16` (or `w.bf16`) plus `w = Cast(w.f16, to=FLOAT)`:
//! readers see the same value name and an f32 tensor. ONNX Runtime folds the Cast at load; our
//! `fold` pass does not fold it back (a Cast that inflates a constant of more than 64 elements
//! stays).

use super::LayerReport;
use crate::PassError;
use crate::rewrite::{Names, const_f32};
use crate::upgrade::upgrade_opset;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use nnslim_ir::op::Cast;
use nnslim_ir::{
    DType, Graph, Model, NewNode, NodeId, Op, Tensor, TensorData, ValueId, node_label,
};
use std::collections::{BTreeMap, HashMap};

/// Initializers with fewer elements stay f32.
pub const MIN_ELEMENTS: u64 = 16;

/// The opset from which `Cast` accepts bfloat16.
const BF16_OPSET: i64 = 13;

/// The first opset with the typed (integer `to`) `Cast`.
const CAST_OPSET: i64 = 6;

/// Stores the model's large f32 initializers as f16 (`bf16 == false`) or bf16, each followed by
/// a `Cast` to f32 (see the module docs for which tensors). Conversion rounds to nearest even
/// (`half`'s slice conversions); fp16 keeps about 11 significant bits (weight SQNR ≈ 70 dB on
/// typical weights), bf16 about 8 (≈ 50 dB).
///
/// bf16 needs opset 13 (`Cast` from bfloat16): a model importing an older opset is raised to 13
/// (and IR version 7) by the opset upgrade, which rewrites nodes whose spelling changed; when it
/// cannot, the pass fails with its message naming the node, and the model is unchanged. The
/// model's graph inputs and outputs are unchanged.
///
/// Returns one report per reading layer (the first node, in topological order, that reads a
/// converted tensor): its converted elements, bytes before and after, and the SQNR of the
/// converted tensors taken together (weight and bias).
pub fn to_half(model: &mut Model, bf16: bool) -> Result<Vec<LayerReport>, PassError> {
    let mut candidates = candidates(&model.graph, bf16)?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let opset = model.opset("");
    if bf16 {
        ensure_opset(model, BF16_OPSET, "bf16 weights (Cast from bfloat16)", true)?;
    } else {
        ensure_opset(
            model,
            CAST_OPSET,
            "f16 weights (Cast with an integer `to`)",
            false,
        )?;
    }
    if model.opset("") != opset {
        // The upgrade may have rebuilt the graph: find the tensors again.
        candidates = self::candidates(&model.graph, bf16)?;
    }

    let g = &mut model.graph;
    let mut names = Names::of(g);
    let (dtype, suffix) = if bf16 {
        (DType::BF16, "bf16")
    } else {
        (DType::F16, "f16")
    };
    let mut layers: BTreeMap<usize, Acc> = BTreeMap::new();
    let mut dead = Vec::with_capacity(candidates.len());
    // Only nodes are added until every candidate is done, so the ids collected stay valid.
    for c in candidates {
        let (raw, back) = if bf16 {
            encode::<bf16>(&c.values)
        } else {
            encode::<f16>(&c.values)
        };
        let acc = layers.entry(c.reader_pos).or_insert_with(|| Acc {
            layer: c.layer.clone(),
            op: c.op.clone(),
            ..Acc::default()
        });
        acc.add(&c.values, &back, raw.len() as u64);

        let name = g.value(c.value).name.clone();
        let t = Tensor::from_raw(dtype, c.dims.clone(), raw.into())
            .map_err(|e| node_err(&name, e.to_string()))?;
        // The original keeps a placeholder name until it is removed; the Cast's output takes
        // over its name so readers (and the text IR) see the same value.
        g.value_mut(c.value).name = names.fresh(&format!("{name}.f32"));
        let half = g.add_initializer(names.fresh(&format!("{name}.{suffix}")), t);
        let cast = g.add_node(
            NewNode::new(
                Op::Cast(Cast::to(DType::F32)),
                vec![Some(half)],
                vec![name.clone()],
            )
            .named(format!("{name}.to_f32")),
        )?;
        g.replace_all_uses(
            c.value,
            ValueId {
                node: cast,
                slot: 0,
            },
        )?;
        dead.push(c.value.node);
    }
    for id in dead {
        g.remove_node(id)?;
    }
    Ok(layers.into_values().map(Acc::report).collect())
}

/// An initializer to convert.
struct Candidate {
    value: ValueId,
    dims: Vec<i64>,
    values: Vec<f32>,
    /// Topological position, label and op type of its first reader.
    reader_pos: usize,
    layer: String,
    op: String,
}

/// The initializers to convert, in file order.
fn candidates(g: &Graph, bf16: bool) -> Result<Vec<Candidate>, PassError> {
    let order: HashMap<NodeId, usize> = g
        .topo_order()?
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let captured: Vec<ValueId> = g
        .node_ids()
        .flat_map(|n| g.node(n).captures().to_vec())
        .collect();
    let mut out = Vec::new();
    for v in g.initializers() {
        let Op::Initializer(t) = &g.node(v.node).op else {
            continue;
        };
        if t.dtype != DType::F32
            || !matches!(t.data, TensorData::Dense(_))
            || t.len() < MIN_ELEMENTS
            || g.is_input(v.node)
            || g.outputs().contains(&v)
            || captured.contains(&v)
        {
            continue;
        }
        let Some((reader, pos)) = g
            .uses(v)
            .into_iter()
            .filter_map(|(n, _)| order.get(&n).map(|&p| (n, p)))
            .min_by_key(|&(_, p)| p)
        else {
            continue;
        };
        let Some(values) = const_f32(g, v) else {
            continue;
        };
        if !bf16
            && values
                .iter()
                .any(|x| x.is_finite() && x.abs() > f16::MAX.to_f32())
        {
            continue;
        }
        let node = g.node(reader);
        out.push(Candidate {
            value: v,
            dims: t.dims.clone(),
            values,
            reader_pos: pos,
            layer: node_label(node),
            op: node.op.op_type().to_string(),
        });
    }
    Ok(out)
}

/// A 16-bit float type `half` converts slices of.
trait Half: Copy + Default
where
    [Self]: HalfFloatSliceExt,
{
}
impl Half for f16 {}
impl Half for bf16 {}

/// The little-endian bytes of `values` rounded to `H`, and the rounded values back as f32.
fn encode<H: Half>(values: &[f32]) -> (Vec<u8>, Vec<f32>)
where
    [H]: HalfFloatSliceExt,
{
    let mut h = vec![H::default(); values.len()];
    h.convert_from_f32_slice(values);
    let mut back = vec![0f32; values.len()];
    h.convert_to_f32_slice(&mut back);
    let raw = h
        .reinterpret_cast()
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    (raw, back)
}

/// Signal and noise summed over a layer's converted tensors.
#[derive(Default)]
struct Acc {
    layer: String,
    op: String,
    params: u64,
    bytes_before: u64,
    bytes_after: u64,
    signal: f64,
    noise: f64,
}

impl Acc {
    fn add(&mut self, exact: &[f32], approx: &[f32], bytes_after: u64) {
        self.params += exact.len() as u64;
        self.bytes_before += 4 * exact.len() as u64;
        self.bytes_after += bytes_after;
        for (&a, &b) in exact.iter().zip(approx) {
            let (a, b) = (f64::from(a), f64::from(b));
            self.signal += a * a;
            self.noise += (a - b) * (a - b);
        }
    }

    fn report(self) -> LayerReport {
        let sqnr = if self.noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (self.signal / self.noise).log10()
        };
        LayerReport {
            layer: self.layer,
            op: self.op,
            params: self.params,
            bytes_before: self.bytes_before,
            bytes_after: self.bytes_after,
            weight_sqnr_db: sqnr,
            output_sqnr_db: None,
        }
    }
}

/// Makes sure the model imports at least opset `need` of the default domain for `what` (the
/// feature that needs it, for messages). A missing import is added; an older one is raised
/// with [`upgrade_opset`] (which rewrites the nodes whose spelling changed and fails, leaving
/// the model unchanged, on any it cannot express) only if `raise` allows it.
pub(super) fn ensure_opset(
    model: &mut Model,
    need: i64,
    what: &str,
    raise: bool,
) -> Result<(), PassError> {
    let have = model.opset("");
    let unsupported = |message: String| PassError::Unsupported {
        pass: "quantize".into(),
        message,
    };
    match have {
        Some(have) if have >= need => Ok(()),
        Some(have) if !raise => Err(unsupported(format!(
            "{what} need opset {need} but the model imports opset {have}"
        ))),
        _ => upgrade_opset(model, need).map(|_| ()).map_err(|e| {
            let have = have.map_or("none".to_string(), |v| v.to_string());
            unsupported(format!(
                "{what} need opset {need}; the model imports opset {have} and cannot be \
                 raised: {e}"
            ))
        }),
    }
}

fn node_err(name: &str, message: String) -> PassError {
    PassError::Node {
        node: name.to_string(),
        op: "Initializer".into(),
        message,
    }
}

/// SQNR (dB) of `after`'s outputs against `before`'s on seeded random inputs, run by the
/// interpreter (which must run both).
#[cfg(test)]
pub(super) fn output_sqnr(before: &Model, after: &Model, seed: u64) -> f64 {
    use crate::testing::{random_inputs, run};
    let inputs = random_inputs(&before.graph, seed).unwrap();
    let want = run(&before.graph, &inputs).unwrap();
    let got = run(&after.graph, &inputs).unwrap();
    let flat = |vs: &[nnslim_eval::Value]| -> Vec<f32> {
        vs.iter()
            .flat_map(|v| v.as_tensor().and_then(|a| a.to_f32_vec()).unwrap())
            .collect()
    };
    super::weights::sqnr_db(&flat(&want), &flat(&got))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::model_of as model;

    const CNN: &str = r#"  input %x: f32[2,3,8,8]
  const %w: f32[8,3,3,3] = random(seed=1, scale=0.3)
  const %b: f32[8] = random(seed=2, scale=0.1)
  const %fw: f32[10,288] = random(seed=3, scale=0.05)
  const %fb: f32[10] = random(seed=4, scale=0.1)
  %c = Conv(%x, %w, %b) {kernel_shape=[3,3]}
  %r = Relu(%c)
  %f = Flatten(%r) {axis=1}
  %y = Gemm(%f, %fw, %fb) {transB=1}
  output %y"#;

    fn count(m: &Model, dtype: DType) -> usize {
        let g = &m.graph;
        g.initializers()
            .into_iter()
            .filter(|v| g.constant(*v).is_some_and(|t| t.dtype == dtype))
            .count()
    }

    #[test]
    fn fp16_and_bf16_keep_outputs_close() {
        for (bf16, weight_db, output_db) in [(false, 60.0, 55.0), (true, 40.0, 35.0)] {
            let original = model(13, CNN);
            let mut m = original.clone();
            let layers = to_half(&mut m, bf16).unwrap();
            // Conv weight (216) and Gemm weight (2880) convert; biases below 16 stay f32.
            assert_eq!(layers.len(), 2, "{layers:?}");
            assert_eq!((layers[0].op.as_str(), layers[0].params), ("Conv", 216));
            assert_eq!(layers[0].bytes_after * 2, layers[0].bytes_before);
            assert_eq!((layers[1].op.as_str(), layers[1].params), ("Gemm", 2880));
            assert!(
                layers.iter().all(|l| l.weight_sqnr_db > weight_db),
                "{layers:?}"
            );
            assert_eq!(count(&m, if bf16 { DType::BF16 } else { DType::F16 }), 2);
            assert_eq!(count(&m, DType::F32), 2);
            // The Cast outputs carry the original names.
            let g = &m.graph;
            let w = g.find_value("w").unwrap();
            assert!(matches!(g.node(w.node).op, Op::Cast(_)));
            nnslim_ir::verify(g).unwrap();
            let db = output_sqnr(&original, &m, 3);
            assert!(db > output_db, "output SQNR {db}");
        }
    }

    #[test]
    fn skips_small_interface_and_out_of_range_tensors() {
        let mut m = model(
            13,
            r#"  input %x: f32[4,32]
  const %big: f32[32,32] = splat(70000.0)
  const %out: f32[32] = random(seed=1)
  const %w: f32[32,32] = random(seed=2)
  %a = MatMul(%x, %big)
  %b = MatMul(%a, %w)
  %y = Add(%b, %out)
  output %y
  output %out"#,
        );
        let layers = to_half(&mut m, false).unwrap();
        // %big overflows f16 and %out is a graph output: only %w converts.
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].params, 1024);
        // bf16 has the f32 range: %big converts on a second run; the rest is done.
        let layers = to_half(&mut m, true).unwrap();
        assert_eq!(layers.len(), 1);
        assert!(layers[0].weight_sqnr_db.is_finite() && layers[0].weight_sqnr_db > 40.0);
        assert_eq!(count(&m, DType::F32), 1);
        assert!(to_half(&mut m, false).unwrap().is_empty());
    }

    #[test]
    fn bf16_raises_old_opsets_only_when_possible() {
        let mut m = model(11, CNN);
        to_half(&mut m, true).unwrap();
        assert_eq!((m.opset(""), m.ir_version), (Some(13), 8));
        // Squeeze with axes as an attribute is rewritten for opset 13 (axes as an input).
        let body = r#"  input %x: f32[1,32]
  const %w: f32[32,32] = random(seed=2)
  %a = MatMul(%x, %w)
  %y = Squeeze(%a) {axes=[0]}
  output %y"#;
        let original = model(11, body);
        let mut m = original.clone();
        assert_eq!(to_half(&mut m, true).unwrap().len(), 1);
        assert_eq!(m.opset(""), Some(13));
        assert!(output_sqnr(&original, &m, 1) > 40.0);
        // An op nnslim cannot check across versions stops the raise: a clear error, and the
        // model is unchanged.
        let body = r#"  input %x: f32[1,32]
  const %w: f32[32,32] = random(seed=2)
  %a = MatMul(%x, %w)
  %y = NoSuchOp(%a)
  output %y"#;
        let mut m = model(11, body);
        let err = to_half(&mut m, true).unwrap_err().to_string();
        assert!(
            err.contains("NoSuchOp") && err.contains("opset 13"),
            "{err}"
        );
        assert_eq!(m.opset(""), Some(11));
        assert_eq!(count(&m, DType::BF16), 0);
        // fp16 needs no raise.
        let mut m = model(11, body);
        assert_eq!(to_half(&mut m, false).unwrap().len(), 1);
        assert_eq!(m.opset(""), Some(11));
    }
}
