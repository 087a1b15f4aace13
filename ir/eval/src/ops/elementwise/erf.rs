//! The error function in f64 (stable std has none), written for nnslim from the textbook
//! definitions: the Maclaurin series near zero and the classic continued fraction of erfc for
//! larger |x|. Callers round the result to f32 or narrower, so ~1e-14 relative error is ample.

use std::f64::consts::PI;

/// erf(x) = 2/√π · Σ (−1)ⁿ x²ⁿ⁺¹ / (n! (2n+1)), summed until the terms stop mattering.
fn series(x: f64) -> f64 {
    let x2 = x * x;
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x2 / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() <= 1e-17 * sum.abs() {
            break;
        }
    }
    sum * 2.0 / PI.sqrt()
}

/// erfc(x) for x ≥ 2.5: e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
/// evaluated from the tail.
fn erfc_fraction(x: f64) -> f64 {
    let mut k = x;
    for i in (1..=80).rev() {
        k = x + (i as f64 / 2.0) / k;
    }
    (-x * x).exp() / (PI.sqrt() * k)
}

/// The error function.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let y = if a < 2.5 {
        series(a)
    } else if a < 6.0 {
        1.0 - erfc_fraction(a)
    } else {
        1.0
    };
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // Reference values from Python's math.erf.
        for (x, want) in [
            (0.0, 0.0),
            (1e-30, 1.1283791670955126e-30),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (-1.1, -0.8802050695740817),
            (2.0, 0.9953222650189527),
            (2.49, 0.9995707121322661),
            (2.51, 0.9996142945182758),
            (3.5, 0.9999992569016276),
            (-7.0, -1.0),
            (f64::INFINITY, 1.0),
        ] {
            let got = super::erf(x);
            assert!(
                (got - want).abs() <= 1e-13 * want.abs().max(1e-300),
                "{x}: {got} vs {want}"
            );
        }
        assert!(super::erf(f64::NAN).is_nan());
    }
}
