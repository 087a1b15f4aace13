//! Unit tests of k-means clustering: the 1-D algorithm, the packed form at every bit width,
//! per-tensor and per-channel codebooks rebuilt by the interpreter, and what stays float.

use super::super::half::output_sqnr;
use super::*;

fn model(body: &str) -> Model {
    crate::testing::model_of(13, body)
}

const NET: &str = r#"  input %x: f32[2,3,8,8]
  const %w: f32[8,3,3,3] = random(seed=1, scale=0.3)
  const %b: f32[8] = random(seed=2, scale=0.1)
  const %fw: f32[288,10] = random(seed=3, scale=0.05)
  const %mw: f32[10,7] = random(seed=4, scale=0.3)
  %c = Conv(%x, %w, %b) {kernel_shape=[3,3]}
  %r = Relu(%c)
  %f = Flatten(%r) {axis=1}
  %h = Gemm(%f, %fw) {transB=0}
  %y = MatMul(%h, %mw)
  output %y"#;

fn ops(m: &Model, op: &str) -> usize {
    let g = &m.graph;
    g.node_ids()
        .filter(|&n| g.node(n).op.op_type() == op)
        .count()
}

#[test]
fn one_d_kmeans_is_exact_for_few_values_and_converges() {
    let (c, a) = kmeans_1d(&[3.0, -1.0, 3.0, 0.5], 4);
    assert_eq!(c, [-1.0, 0.5, 3.0]);
    assert_eq!(a, [2, 0, 2, 1]);
    // Two well-separated blobs and k = 2: centroids at the blob means.
    let xs: Vec<f32> = (0..100)
        .map(|i| {
            if i % 2 == 0 {
                10.0 + (i % 7) as f32 * 0.01
            } else {
                -5.0
            }
        })
        .collect();
    let (c, a) = kmeans_1d(&xs, 2);
    let mean_hi = xs.iter().filter(|&&x| x > 0.0).sum::<f32>() / 50.0;
    assert_eq!(c[0], -5.0);
    assert!((c[1] - mean_hi).abs() < 1e-5);
    assert!(xs.iter().zip(&a).all(|(&x, &q)| (x > 0.0) == (q == 1)));
    // Uniform data: every value goes to its nearest centroid, each centroid is the mean of
    // its values (converged), and 16 clusters give about 4 bits (≈ 24 dB).
    let xs: Vec<f32> = (0..1000)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let (c, a) = kmeans_1d(&xs, 16);
    assert_eq!(c.len(), 16);
    for (&x, &q) in xs.iter().zip(&a) {
        let d = (x - c[q as usize]).abs();
        assert!(c.iter().all(|&y| (x - y).abs() >= d - 1e-6));
    }
    for (j, &cj) in c.iter().enumerate() {
        let run: Vec<f32> = xs
            .iter()
            .zip(&a)
            .filter(|(_, q)| **q as usize == j)
            .map(|(x, _)| *x)
            .collect();
        let mean = run.iter().sum::<f32>() / run.len() as f32;
        assert!(
            (mean - cj).abs() < 1e-5,
            "centroid {j}: {cj} vs mean {mean}"
        );
    }
    let back: Vec<f32> = a.iter().map(|&q| c[q as usize]).collect();
    assert!(sqnr_db(&xs, &back) > 22.0);
}

#[test]
fn duplicate_seeds_from_shared_values_are_respread() {
    // 80 % zeros (a pruned weight): most quantile seeds are 0, yet all 16 centroids end up in
    // use, and the zeros share one centroid next to 0.
    let xs: Vec<f32> = (0..1000)
        .map(|i| {
            if i % 5 == 0 {
                ((i * 37) % 199) as f32 / 100.0 - 1.0
            } else {
                0.0
            }
        })
        .collect();
    let (c, a) = kmeans_1d(&xs, 16);
    assert_eq!(c.len(), 16);
    let used: std::collections::BTreeSet<u8> = a.iter().copied().collect();
    assert_eq!(used.len(), 16);
    let zero = a[1];
    assert!(xs.iter().zip(&a).all(|(x, q)| *x != 0.0 || *q == zero));
    assert!(c[zero as usize].abs() < 0.01, "{c:?}");
    let back: Vec<f32> = a.iter().map(|&q| c[q as usize]).collect();
    assert!(sqnr_db(&xs, &back) > 20.0);
}

#[test]
fn per_tensor_and_per_channel_rebuild_the_clustered_weights() {
    for per_channel in [false, true] {
        let original = model(NET);
        let mut m = original.clone();
        let layers = cluster_weights(&mut m, 16, per_channel, &mut Rng::new(1)).unwrap();
        let g = &m.graph;
        nnslim_ir::verify(g).unwrap();
        // Per channel, the MatMul (7 channels of 10 values) would not shrink.
        let want: &[(&str, u64)] = if per_channel {
            &[("Conv", 216), ("Gemm", 2880)]
        } else {
            &[("Conv", 216), ("Gemm", 2880), ("MatMul", 70)]
        };
        let got: Vec<(&str, u64)> = layers.iter().map(|l| (l.op.as_str(), l.params)).collect();
        assert_eq!(got, want, "per_channel={per_channel}");
        for l in &layers {
            // Small weights pay for their codebook; large ones approach 4 bits per value.
            let bound = if l.params > 1000 { 5 } else { 1 };
            assert!(l.bytes_after < l.bytes_before / bound, "{l:?}");
            assert!(
                l.weight_sqnr_db > 18.0 && l.weight_sqnr_db.is_finite(),
                "{l:?}"
            );
        }
        assert_eq!(ops(&m, "Gather"), want.len());
        assert_eq!(ops(&m, "Add"), if per_channel { want.len() } else { 0 });
        // The rebuilt weight keeps its name; the emitted graph holds exactly the clustered
        // values (the interpreter runs it).
        let fw = g.find_value("fw").unwrap();
        assert!(matches!(g.node(fw.node).op, Op::Gather(_)));
        let db = output_sqnr(&original, &m, 5);
        assert!(db > 15.0, "output SQNR {db}");
        // One codebook for the Gemm weight, or one per output channel (axis 1, as transB=0).
        let book = g
            .find_value("fw.codebook")
            .and_then(|v| g.constant(v))
            .unwrap();
        assert_eq!(book.dims, [if per_channel { 160 } else { 16 }]);
    }
}

#[test]
fn packing_covers_every_bit_width_and_a_tail() {
    // 2 centroids → 1 bit (8 per byte); 37 elements leave a tail of 5.
    for (k, len) in [(2, 37), (4, 37), (16, 37), (200, 300), (16, 64)] {
        let body = format!(
            r#"  input %x: f32[3,{len}]
  const %w: f32[{len},1] = random(seed=9, scale=1.0)
  %y = MatMul(%x, %w)
  output %y"#
        );
        let original = model(&body);
        let mut m = original.clone();
        let layers = cluster_weights(&mut m, k, false, &mut Rng::new(2)).unwrap();
        if k == 200 {
            // 300 values in 200 clusters take 8 bits: still smaller than f32.
            assert_eq!(layers.len(), 1);
            assert!(layers[0].weight_sqnr_db > 40.0);
        }
        if layers.is_empty() {
            continue;
        }
        nnslim_ir::verify(&m.graph).unwrap();
        // The graph rebuilds exactly what the report measured.
        let inputs = crate::testing::random_inputs(&m.graph, 1).unwrap();
        let want = crate::testing::run(&original.graph, &inputs).unwrap();
        let got = crate::testing::run(&m.graph, &inputs).unwrap();
        let want = want[0].as_tensor().unwrap().to_f32_vec().unwrap();
        let got = got[0].as_tensor().unwrap().to_f32_vec().unwrap();
        assert!(sqnr_db(&want, &got) > 5.0, "k={k} len={len}");
    }
}

#[test]
fn skips_shared_interface_and_non_weight_readers() {
    let mut m = model(
        r#"  input %x: f32[32,32]
  const %w: f32[32,32] = random(seed=2)
  const %v: f32[32,32] = random(seed=3)
  %a = MatMul(%x, %w)
  %b = Add(%a, %w)
  %c = MatMul(%b, %v)
  %d = MatMul(%c, %v)
  output %d"#,
    );
    let layers = cluster_weights(&mut m, 16, false, &mut Rng::new(0)).unwrap();
    // %w is also read by Add; %v is read twice as a weight and clusters once.
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].layer, "<c>");
    assert_eq!(ops(&m, "Gather"), 1);
    assert!(cluster_weights(&mut m, 1, false, &mut Rng::new(0)).is_err());
}
