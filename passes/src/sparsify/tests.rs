//! Unit tests of `sparsify`: storage choice, COO indices, the densify round trip through the
//! interpreter, OMP and dictionary learning on synthetic exactly-sparse problems, and the pass
//! on small graphs (numerics checked against the interpreter).

use super::coding::{self, CodingOptions};
use super::storage::{self, to_sparse};
use super::{Mode, SparsifyPass};
use crate::{NoProgress, Pass, PassContext, Registry};
use faer::Mat;
use nnslim_eval::{Array, Value};
use nnslim_ir::{DType, Graph, Model, NewNode, Op, Rng, Tensor, TensorData, Type, ValueId};
use std::collections::HashMap;

/// `n` values where index `i` is non-zero exactly when `i % keep == 0`.
fn every(n: usize, keep: usize) -> Vec<f32> {
    (0..n)
        .map(|i| if i % keep == 0 { 0.5 + i as f32 } else { 0.0 })
        .collect()
}

/// A model `y = Gemm(x, w, b)` (`transB` as given) with `w` of dims `wdims`.
fn gemm_model(w: Tensor, b: Tensor, trans_b: bool) -> Model {
    let mut g = Graph::new();
    let n_in = if trans_b { w.dims[1] } else { w.dims[0] };
    let x = g.add_input(
        "x",
        Type::tensor(DType::F32, Some(vec![2.into(), n_in.into()])),
    );
    let w = g.add_initializer("w", w);
    let b = g.add_initializer("b", b);
    let op = nnslim_ir::op::Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b,
    };
    let id = g
        .add_node(NewNode::new(
            Op::Gemm(op),
            vec![Some(x), Some(w), Some(b)],
            vec!["y".into()],
        ))
        .unwrap();
    g.add_output(ValueId { node: id, slot: 0 });
    Model {
        graph: g,
        ir_version: 4,
        opsets: vec![nnslim_ir::OpsetId {
            domain: String::new(),
            version: 13,
        }],
        ..Model::default()
    }
}

/// The output `y` of a model on a seeded input.
fn run(m: &Model) -> Vec<f32> {
    let x = g_input(&m.graph);
    let mut inputs = HashMap::new();
    inputs.insert("x".to_string(), Value::Tensor(x));
    let out = nnslim_eval::run(&m.graph, &inputs).unwrap();
    out[0].as_tensor().unwrap().to_f32_vec().unwrap()
}

fn g_input(g: &Graph) -> Array {
    let x = g.inputs()[0];
    let dims = g.value(x).ty.as_tensor().unwrap().static_dims().unwrap();
    let n: i64 = dims.iter().product();
    let mut rng = Rng::new(7);
    let v: Vec<f32> = (0..n).map(|_| rng.unit_f32() * 2.0 - 1.0).collect();
    Array::f32(dims.iter().map(|&d| d as usize).collect(), v)
}

fn sparsify(m: &mut Model, mode: Mode) -> serde_json::Map<String, serde_json::Value> {
    let mut cx = PassContext::new(0, &NoProgress);
    SparsifyPass { mode }.run(m, &mut cx).unwrap();
    let (details, _) = cx.take_records();
    nnslim_ir::verify(&m.graph).unwrap();
    details
}

#[test]
fn coo_indices_are_linear_row_major_and_exact() {
    let t = Tensor::from_f32(vec![2, 3], &[0.0, 1.5, 0.0, -0.0, 0.0, -2.0]).unwrap();
    let sp = to_sparse(&t).unwrap();
    let TensorData::Sparse(d) = &sp.data else {
        panic!("not sparse")
    };
    // -0.0 is kept: storage is bit-exact.
    assert_eq!(d.indices.to_i64_vec().unwrap(), vec![1, 3, 5]);
    assert_eq!(d.indices.dtype, DType::I64);
    assert_eq!(d.values.to_f32_vec().unwrap(), vec![1.5, -0.0, -2.0]);
    assert_eq!(sp.dims, vec![2, 3]);
    // The interpreter densifies it back, bit for bit.
    let back = Array::from_tensor(&sp).unwrap().to_tensor();
    assert_eq!(back.raw(), t.raw());
    // int8 too; int64 (shape-like) and bool are not handled.
    let i8t = Tensor::from_raw(DType::I8, vec![4], vec![0, 3, 0, 0xfe].into()).unwrap();
    let sp8 = to_sparse(&i8t).unwrap();
    assert_eq!(
        Array::from_tensor(&sp8).unwrap().to_tensor().raw(),
        i8t.raw()
    );
    assert!(to_sparse(&Tensor::from_i64(vec![2], &[0, 1]).unwrap()).is_none());
}

#[test]
fn storage_is_chosen_only_when_smaller() {
    // 64×32 f32: 12 bytes per non-zero against 4 per element, so sparse wins below 1/3
    // non-zero. Every 4th kept → 25 % non-zero: sparse. Every 2nd → 50 %: dense.
    let w = Tensor::from_f32(vec![32, 64], &every(2048, 4)).unwrap();
    let b = Tensor::from_f32(vec![32], &every(32, 2)).unwrap();
    let mut m = gemm_model(w, b, true);
    let want = run(&m);
    let details = sparsify(&mut m, Mode::Storage { min_sparsity: 0.0 });
    let tensors = details["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 2);
    assert_eq!(tensors[0]["name"], "w");
    assert_eq!(tensors[0]["stored"], "sparse");
    assert_eq!(tensors[0]["nonzeros"], 512);
    assert_eq!(tensors[0]["dense_bytes"], 8192);
    assert_eq!(tensors[0]["sparse_bytes"], 512 * 12);
    assert_eq!(tensors[1]["stored"], "dense", "50 % zeros: 12·16 > 4·32");
    assert_eq!(details["total"]["bytes_after"], 512 * 12 + 128);
    let w = m.graph.find_value("w").unwrap();
    let Op::Initializer(t) = &m.graph.node(w.node).op else {
        panic!("w is an initializer")
    };
    assert!(matches!(t.data, TensorData::Sparse(_)));
    // The value stays a dense f32[32,64] for its reader, and the output is bit-identical.
    assert_eq!(m.graph.value(w).ty.shape().map(Vec::len), Some(2));
    assert_eq!(run(&m), want);
    assert_eq!(m.ir_version, super::MIN_IR_VERSION);
    // Idempotent: nothing more to do.
    let mut cx = PassContext::new(0, &NoProgress);
    let again = SparsifyPass {
        mode: Mode::Storage { min_sparsity: 0.0 },
    }
    .run(&mut m, &mut cx)
    .unwrap();
    assert!(!again.any());
}

#[test]
fn min_sparsity_keeps_less_sparse_tensors_dense() {
    let w = Tensor::from_f32(vec![32, 64], &every(2048, 4)).unwrap();
    let b = Tensor::from_f32(vec![32], &[1.0; 32]).unwrap();
    let mut m = gemm_model(w, b, true);
    let details = sparsify(&mut m, Mode::Storage { min_sparsity: 0.8 });
    assert_eq!(details["tensors"][0]["stored"], "dense", "75 % < 80 %");
    assert_eq!(details["total"]["sparse_tensors"], 0);
}

/// A random m×k dictionary with unit-norm columns, and n columns of exactly `s`-sparse codes.
fn synthetic(
    m: usize,
    k: usize,
    n: usize,
    s: usize,
    seed: u64,
) -> (Mat<f64>, Vec<Vec<(usize, f64)>>) {
    let mut rng = Rng::new(seed);
    let mut d = Mat::from_fn(m, k, |_, _| rng.normal());
    for a in 0..k {
        let norm = d.col(a).norm_l2();
        for i in 0..m {
            d[(i, a)] /= norm;
        }
    }
    let codes = (0..n)
        .map(|_| {
            let mut support: Vec<usize> = Vec::new();
            while support.len() < s {
                let a = rng.below(k);
                if !support.contains(&a) {
                    support.push(a);
                }
            }
            support.sort();
            support
                .into_iter()
                .map(|a| {
                    let x = rng.unit_f32() as f64 + 0.5;
                    (
                        a,
                        if rng.next_u64().is_multiple_of(2) {
                            x
                        } else {
                            -x
                        },
                    )
                })
                .collect()
        })
        .collect();
    (d, codes)
}

fn product(d: &Mat<f64>, codes: &[Vec<(usize, f64)>]) -> Mat<f64> {
    let f = coding::Factors {
        dictionary: d.clone(),
        codes: codes.to_vec(),
        error: 0.0,
    };
    d * f.code_matrix()
}

#[test]
fn omp_recovers_exactly_sparse_codes() {
    let (d, codes) = synthetic(64, 96, 300, 3, 1);
    let w = product(&d, &codes);
    let found = coding::code_columns(w.as_ref(), d.as_ref(), 3);
    for (j, (got, want)) in found.iter().zip(&codes).enumerate() {
        let mut got = got.clone();
        got.sort_by_key(|p| p.0);
        let atoms: Vec<usize> = got.iter().map(|p| p.0).collect();
        let want_atoms: Vec<usize> = want.iter().map(|p| p.0).collect();
        assert_eq!(atoms, want_atoms, "column {j}: support");
        for (g, w) in got.iter().zip(want) {
            assert!((g.1 - w.1).abs() < 1e-9, "column {j}: {g:?} vs {w:?}");
        }
    }
}

#[test]
fn omp_stops_at_an_exact_fit_and_at_the_atom_budget() {
    let (d, _) = synthetic(16, 20, 1, 1, 2);
    let gram = d.transpose() * &d;
    // A signal that is exactly atom 5 × 2: one atom suffices even with a budget of 4.
    let dtw: Vec<f64> = (0..20).map(|i| 2.0 * gram[(i, 5)]).collect();
    let got = coding::omp(gram.as_ref(), &dtw, 4);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 5);
    assert!((got[0].1 - 2.0).abs() < 1e-12);
    // A zero signal has no code.
    assert!(coding::omp(gram.as_ref(), &[0.0; 20], 4).is_empty());
}

#[test]
fn dictionary_learning_fits_a_sparse_model() {
    // 600 signals in 24 dimensions, each 3 of 16 unknown atoms: learned from the data alone.
    let (d, codes) = synthetic(24, 16, 600, 3, 3);
    let w = product(&d, &codes);
    let f = coding::learn(w.as_ref(), 16, 3, 40);
    assert!(f.codes.iter().all(|c| c.len() <= 3));
    let c = f.code_matrix();
    let err = coding::relative_error(w.as_ref(), f.dictionary.as_ref(), c.as_ref());
    assert!((err - f.error).abs() < 1e-12);
    // The first coding pass (initial dictionary) against the learned one.
    let first = coding::learn(w.as_ref(), 16, 3, 0);
    eprintln!(
        "relative error: initial {:.4}, learned {:.2e}",
        first.error, f.error
    );
    assert!(
        f.error < 0.1 * first.error,
        "{} vs {}",
        f.error,
        first.error
    );
    assert!(f.error < 0.05, "{}", f.error);
    // Same input, same factors.
    let again = coding::learn(w.as_ref(), 16, 3, 40);
    assert_eq!(again.error, f.error);
}

#[test]
fn coding_replaces_the_weight_in_both_orientations() {
    for trans_b in [true, false] {
        // The stored weight is [out, in] with transB, [in, out] without: 16 × 96 or 96 × 16,
        // built from 12 atoms with 2 non-zeros per column, so K=12, S=2 fits it closely.
        let (d, codes) = synthetic(16, 12, 96, 2, 4);
        let w16 = product(&d, &codes);
        let (rows, cols) = if trans_b { (16, 96) } else { (96, 16) };
        let vals: Vec<f32> = (0..rows * cols)
            .map(|p| {
                let (i, j) = (p / cols, p % cols);
                (if trans_b { w16[(i, j)] } else { w16[(j, i)] }) as f32
            })
            .collect();
        let w = Tensor::from_f32(vec![rows as i64, cols as i64], &vals).unwrap();
        let b = Tensor::from_f32(vec![16], &[0.25; 16]).unwrap();
        let mut m = gemm_model(w, b, trans_b);
        let want = run(&m);
        let details = sparsify(
            &mut m,
            Mode::Coding(CodingOptions {
                dictionary: 12,
                atoms: 2,
                iterations: 30,
            }),
        );
        let l = &details["layers"][0];
        assert_eq!(l["factorised"], if trans_b { "W" } else { "W^T" });
        assert_eq!(l["stored_values_before"], 16 * 96);
        assert!(l["stored_values_after"].as_u64().unwrap() <= 16 * 12 + 2 * 96);
        let err = l["relative_error"].as_f64().unwrap();
        assert!(err < 0.05, "transB={trans_b}: {err}");
        // The weight is now MatMul(dictionary, codes) under its own name.
        let wv = m.graph.find_value("w").unwrap();
        assert!(matches!(m.graph.node(wv.node).op, Op::MatMul));
        let got = run(&m);
        let rel = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            .sqrt()
            / want.iter().map(|b| b * b).sum::<f32>().sqrt();
        assert!(rel < 0.1, "transB={trans_b}: output error {rel}");
    }
}

#[test]
fn coding_skips_weights_it_cannot_shrink() {
    // 8×8 with K=8: the dictionary alone is as large as the weight.
    let w = Tensor::from_f32(vec![8, 8], &every(64, 1)).unwrap();
    let b = Tensor::from_f32(vec![8], &[0.0; 8]).unwrap();
    let mut m = gemm_model(w, b, true);
    let details = sparsify(
        &mut m,
        Mode::Coding(CodingOptions {
            dictionary: 8,
            atoms: 2,
            iterations: 2,
        }),
    );
    assert_eq!(details["layers"].as_array().unwrap().len(), 0);
    assert_eq!(details["kept_dense"].as_array().unwrap().len(), 1);
    let wv = m.graph.find_value("w").unwrap();
    assert!(matches!(m.graph.node(wv.node).op, Op::Initializer(_)));
}

#[test]
fn options_are_checked() {
    let r = Registry::with_builtins();
    assert!(r.build("sparsify").is_ok());
    assert!(r.build("sparsify(min-sparsity=0.5)").is_ok());
    assert!(
        r.build("sparsify(dictionary=32, atoms=4, iterations=5)")
            .is_ok()
    );
    for bad in [
        "sparsify(min-sparsity=2)",
        "sparsify(atoms=4)",
        "sparsify(dictionary=4, atoms=8)",
        "sparsify(dictionary=4, min-sparsity=0.5)",
        "sparsify(dictionary=0)",
    ] {
        assert!(
            matches!(r.build(bad), Err(crate::PassError::Options { .. })),
            "{bad}"
        );
    }
    assert_eq!(storage::sparse_bytes(10, 4), 120);
    assert_eq!(storage::sparse_bytes(10, 1), 90);
}
