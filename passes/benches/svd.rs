//! `cargo bench -p nnslim-passes --bench svd`: randomized against full SVD on a 1024×1024
//! matrix with a decaying spectrum, truncated at the same rank. Prints both times, the speed
//! ratio (goal: at least 3×) and both truncation errors ‖W − W_r‖_F (goal: the randomized one
//! within 1 % of the full one, which is optimal). A measurement, not a test: nothing asserts.

use faer::Mat;
use nnslim_ir::Rng;
use nnslim_passes::lowrank::svd::{
    Sketch, full_svd, orthonormal_basis, randomized_svd, truncation_error,
};
use std::time::{Duration, Instant};

const N: usize = 1024;
const RANK: usize = 64;
/// σ_i = DECAY^i: σ_64 ≈ 0.27, σ_256 ≈ 0.006.
const DECAY: f64 = 0.98;

/// `U·diag(σ)·Vᵀ` with random orthonormal `U`, `V` (QR of Gaussian matrices), row-major f32.
fn decaying_matrix(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut gaussian = || Mat::from_fn(n, n, |_, _| rng.normal());
    let u = orthonormal_basis(gaussian());
    let v = orthonormal_basis(gaussian());
    let mut us = u;
    for k in 0..n {
        let s = DECAY.powi(k as i32);
        for i in 0..n {
            us[(i, k)] *= s;
        }
    }
    let w = &us * v.transpose();
    let mut out = Vec::with_capacity(n * n);
    for i in 0..n {
        out.extend((0..n).map(|j| w[(i, j)] as f32));
    }
    out
}

/// The fastest of `runs` timings of `f`, and its last result.
fn fastest<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let w = decaying_matrix(N, 1);
    let sketch = Sketch::default();
    println!(
        "{N}×{N}, σ_i = {DECAY}^i, rank {RANK}; randomized: oversample {}, {} power iterations, one thread each",
        sketch.oversample, sketch.power_iters
    );
    let (t_full, full) = fastest(2, || full_svd(&w, N, N).expect("full SVD"));
    let (t_rand, fast) = fastest(5, || {
        randomized_svd(&w, N, N, RANK, sketch, &mut Rng::new(7)).expect("randomized SVD")
    });
    let e_full = truncation_error(&w, &full, RANK);
    let e_rand = truncation_error(&w, &fast, RANK);
    println!("full SVD:        {:>9.1} ms", t_full.as_secs_f64() * 1e3);
    println!("randomized SVD:  {:>9.1} ms", t_rand.as_secs_f64() * 1e3);
    println!(
        "speed-up:        {:>9.1}× (goal ≥ 3×)",
        t_full.as_secs_f64() / t_rand.as_secs_f64()
    );
    println!("‖W − W_r‖_F full:       {e_full:.6}");
    println!("‖W − W_r‖_F randomized: {e_rand:.6}");
    println!(
        "relative excess:        {:+.4} % (goal ≤ 1 %)",
        100.0 * (e_rand / e_full - 1.0)
    );
}
