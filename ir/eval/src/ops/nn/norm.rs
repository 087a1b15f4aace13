//! `BatchNormalization` (inference with the running statistics, and training mode with batch
//! statistics and updated running ones) and `LRN`.

use super::{Compute, Float, compute_type, floats, input, numel};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Value};
use nnslim_ir::op::{BatchNorm, Lrn};

/// `BatchNormalization`: `Y` and, in training mode, the updated running mean and variance.
pub(super) fn batch_norm(
    op: &BatchNorm,
    inputs: &[Option<&Value>],
    num_outputs: usize,
) -> Result<Vec<Array>, KernelError> {
    let x = input(inputs, 0, "X")?;
    let names = ["X", "scale", "B", "input_mean", "input_var"];
    let scale = input(inputs, 1, names[1])?;
    let bias = input(inputs, 2, names[2])?;
    let mean = input(inputs, 3, names[3])?;
    let var = input(inputs, 4, names[4])?;
    if x.rank() < 2 {
        return invalid(format!("X {:?} must have rank 2 or more", x.shape));
    }
    numel(&x.shape)?;
    let c = x.shape[1];
    for (i, p) in [scale, bias, mean, var].into_iter().enumerate() {
        if p.shape != [c] {
            return invalid(format!(
                "{} {:?} must be 1-D with one value per channel of X {:?}",
                names[i + 1],
                p.shape,
                x.shape
            ));
        }
    }
    if num_outputs > 3 {
        return unsupported("the saved mean/variance outputs of BatchNormalization (opsets 9-13)");
    }
    let training = op.training_mode || num_outputs > 1;
    let dtype = x.dtype();
    let params = [scale, bias, mean, var];
    let outs = match compute_type(dtype) {
        Some(Compute::F32) => bn::<f32>(op, x, params, training)?,
        Some(Compute::F64) => bn::<f64>(op, x, params, training)?,
        None => return unsupported(format!("BatchNormalization on {dtype}")),
    };
    Ok(outs.into_iter().take(num_outputs.max(1)).collect())
}

fn bn<F: Float>(
    op: &BatchNorm,
    x: &Array,
    [scale, bias, mean, var]: [&Array; 4],
    training: bool,
) -> Result<Vec<Array>, KernelError> {
    let xv = floats::<F>(x, "X")?;
    let sv = floats::<F>(scale, "scale")?;
    let bv = floats::<F>(bias, "B")?;
    let mv = floats::<F>(mean, "input_mean")?;
    let vv = floats::<F>(var, "input_var")?;
    let c = x.shape[1];
    let inner: usize = x.shape[2..].iter().product();
    let eps = F::from_f64(op.epsilon as f64);
    // Statistics used to normalise: the running ones, or the batch's in training mode.
    let (use_mean, use_var) = if training {
        let count = F::from_usize(x.shape[0] * inner);
        let mut bm = vec![F::ZERO; c];
        let mut bvar = vec![F::ZERO; c];
        if inner > 0 {
            for (i, plane) in xv.chunks_exact(inner).enumerate() {
                bm[i % c] += plane.iter().fold(F::ZERO, |a, &v| a + v);
            }
            bm.iter_mut().for_each(|m| *m /= count);
            for (i, plane) in xv.chunks_exact(inner).enumerate() {
                let m = bm[i % c];
                bvar[i % c] += plane.iter().fold(F::ZERO, |a, &v| a + (v - m) * (v - m));
            }
            bvar.iter_mut().for_each(|v| *v /= count);
        }
        (bm, bvar)
    } else {
        (mv.to_vec(), vv.to_vec())
    };
    let factor: Vec<F> = (0..c).map(|i| sv[i] / (use_var[i] + eps).sqrt()).collect();
    let mut y = vec![F::ZERO; xv.len()];
    if inner > 0 {
        for (i, (yp, xp)) in y
            .chunks_exact_mut(inner)
            .zip(xv.chunks_exact(inner))
            .enumerate()
        {
            let ch = i % c;
            let (m, f, b) = (use_mean[ch], factor[ch], bv[ch]);
            for (yv, &xv) in yp.iter_mut().zip(xp) {
                *yv = (xv - m) * f + b;
            }
        }
    }
    let mut outs = vec![Array::new(x.shape.clone(), F::into_data(y, x.dtype())).expect("shape")];
    if training {
        let mom = F::from_f64(op.momentum as f64);
        let run = |old: &[F], batch: &[F], like: &Array| {
            let v: Vec<F> = old
                .iter()
                .zip(batch)
                .map(|(&o, &b)| o * mom + b * (F::ONE - mom))
                .collect();
            Array::new(vec![c], F::into_data(v, like.dtype())).expect("shape")
        };
        outs.push(run(&mv, &use_mean, mean));
        outs.push(run(&vv, &use_var, var));
    }
    Ok(outs)
}

/// `LRN`: `y = x / (bias + alpha / size * sum of squares over nearby channels) ^ beta`.
pub(super) fn lrn(op: &Lrn, inputs: &[Option<&Value>]) -> Result<Array, KernelError> {
    let x = input(inputs, 0, "X")?;
    if x.rank() < 2 {
        return invalid(format!("X {:?} must have rank 2 or more", x.shape));
    }
    numel(&x.shape)?;
    let dtype = x.dtype();
    let data = match compute_type(dtype) {
        Some(Compute::F32) => Float::into_data(lrn_impl::<f32>(op, x)?, dtype),
        Some(Compute::F64) => Float::into_data(lrn_impl::<f64>(op, x)?, dtype),
        None => return unsupported(format!("LRN on {dtype}")),
    };
    Ok(Array::new(x.shape.clone(), data).expect("shape"))
}

fn lrn_impl<F: Float>(op: &Lrn, x: &Array) -> Result<Vec<F>, KernelError> {
    let xv = floats::<F>(x, "X")?;
    let c = x.shape[1];
    let inner: usize = x.shape[2..].iter().product();
    let size = usize::try_from(op.size).unwrap_or(1).max(1);
    let (before, after) = ((size - 1) / 2, (size - 1).div_ceil(2));
    let alpha = F::from_f64(op.alpha as f64 / size as f64);
    let (beta, bias) = (F::from_f64(op.beta as f64), F::from_f64(op.bias as f64));
    let mut y = vec![F::ZERO; xv.len()];
    let image = c * inner;
    if image == 0 {
        return Ok(y);
    }
    let mut sum = vec![F::ZERO; inner];
    for (xi, yi) in xv.chunks_exact(image).zip(y.chunks_exact_mut(image)) {
        for ch in 0..c {
            sum.fill(F::ZERO);
            let lo = ch.saturating_sub(before);
            let hi = (ch + after).min(c - 1);
            for plane in xi[lo * inner..(hi + 1) * inner].chunks_exact(inner) {
                for (s, &v) in sum.iter_mut().zip(plane) {
                    *s += v * v;
                }
            }
            let xp = &xi[ch * inner..(ch + 1) * inner];
            let yp = &mut yi[ch * inner..(ch + 1) * inner];
            for ((yv, &xv), &s) in yp.iter_mut().zip(xp).zip(&sum) {
                *yv = xv / (bias + alpha * s).powf(beta);
            }
        }
    }
    Ok(y)
}
