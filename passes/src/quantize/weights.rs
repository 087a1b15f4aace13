//! Weight quantization math shared by the modes: symmetric per-channel int8, SQNR, and the
//! layers (Conv, Gemm, MatMul with constant f32 weights) that quantization applies to.

use crate::PassError;

/// Placeholder for modes not written yet.
pub fn not_yet<T>(what: &str) -> Result<T, PassError> {
    Err(PassError::Unsupported {
        pass: "quantize".into(),
        message: format!("{what} is not available yet"),
    })
}

/// Signal-to-quantization-noise ratio of `approx` against `exact`, in dB (∞ when equal).
pub fn sqnr_db(exact: &[f32], approx: &[f32]) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (&a, &b) in exact.iter().zip(approx) {
        s += (a as f64) * (a as f64);
        n += (a as f64 - b as f64).powi(2);
    }
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// Per-channel symmetric int8 quantization of a weight: `channels` slices along `axis` of a
/// row-major tensor with `dims`; each channel gets scale = max|w|/127 (1 when the channel is
/// all zero) and values round(w/scale) clamped to [-127, 127] (zero point 0). Returns the int8
/// values and the per-channel scales.
pub fn symmetric_int8(w: &[f32], dims: &[i64], axis: usize) -> (Vec<i8>, Vec<f32>) {
    let (outer, channels, inner) = split_axis(dims, axis);
    let mut max = vec![0f32; channels];
    for o in 0..outer {
        for (c, m) in max.iter_mut().enumerate() {
            let base = (o * channels + c) * inner;
            for &x in &w[base..base + inner] {
                *m = m.max(x.abs());
            }
        }
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| {
            if m > 0.0 && m.is_finite() {
                m / 127.0
            } else {
                1.0
            }
        })
        .collect();
    let mut q = vec![0i8; w.len()];
    for o in 0..outer {
        for (c, &s) in scales.iter().enumerate() {
            let base = (o * channels + c) * inner;
            for i in base..base + inner {
                // |w / s| <= 127 unless the weight is not finite.
                q[i] = nnslim_eval::round_even_small((w[i] / s).clamp(-128.0, 128.0))
                    .clamp(-127.0, 127.0) as i8;
            }
        }
    }
    (q, scales)
}

/// The dequantized values of a per-channel quantized weight.
pub fn dequantize_per_channel(q: &[i8], scales: &[f32], dims: &[i64], axis: usize) -> Vec<f32> {
    let (outer, channels, inner) = split_axis(dims, axis);
    let mut w = vec![0f32; q.len()];
    for o in 0..outer {
        for (c, &s) in scales.iter().enumerate().take(channels) {
            let base = (o * channels + c) * inner;
            for i in base..base + inner {
                w[i] = q[i] as f32 * s;
            }
        }
    }
    w
}

/// (elements before `axis`, size of `axis`, elements after `axis`) of a row-major shape.
pub fn split_axis(dims: &[i64], axis: usize) -> (usize, usize, usize) {
    let d: Vec<usize> = dims.iter().map(|&x| x.max(0) as usize).collect();
    let outer = d[..axis.min(d.len())].iter().product();
    let channels = d.get(axis).copied().unwrap_or(1);
    let inner = d.get(axis + 1..).map_or(1, |r| r.iter().product());
    (outer, channels, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_int8_round_trips_within_half_a_step() {
        // [2 channels on axis 1] of a [3, 2] matrix.
        let w = [0.5, -2.0, -1.0, 1.0, 0.25, 0.0];
        let (q, s) = symmetric_int8(&w, &[3, 2], 1);
        assert_eq!(s, [1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(q[3], 64); // 1.0 / (2/127) = 63.5 → 64 (ties to even)
        assert_eq!(q[1], -127);
        let back = dequantize_per_channel(&q, &s, &[3, 2], 1);
        for ((a, b), i) in w.iter().zip(&back).zip(0..) {
            assert!((a - b).abs() <= s[i % 2] / 2.0 + 1e-7, "{a} vs {b}");
        }
        assert!(sqnr_db(&w, &back) > 40.0);
        // All-zero channels get scale 1 and stay zero.
        let (q, s) = symmetric_int8(&[0.0, 0.0], &[2, 1], 0);
        assert_eq!((q, s), (vec![0, 0], vec![1.0, 1.0]));
    }
}
