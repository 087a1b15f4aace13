//! `Dropout`: the identity at inference (mask all true); in training mode with a seed, the
//! mask numpy's legacy `RandomState(seed).uniform(0, 1, shape) >= ratio` draws, as the ONNX
//! reference does, so seeded results are reproducible.

use super::{array, opt_tensor, tensor};
use crate::run::{KernelError, invalid, unsupported};
use crate::{Array, Data, Value};
use half::{bf16, f16};
use nnslim_ir::op::Dropout;

/// The Mersenne Twister MT19937 with numpy's seeding and double generation.
pub(crate) struct Mt19937 {
    state: [u32; 624],
    pos: usize,
}

impl Mt19937 {
    pub(crate) fn new(seed: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, pos: 624 }
    }

    fn refill(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        for i in 0..624 {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % 624] & LOWER);
            let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 == 1 {
                v ^= 0x9908_b0df;
            }
            self.state[i] = v;
        }
        self.pos = 0;
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        if self.pos >= 624 {
            self.refill();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A double in `[0, 1)` from 53 random bits, as numpy draws it.
    pub(crate) fn next_f64(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

fn first_f32(a: &Array, what: &str) -> Result<f32, KernelError> {
    match a.to_f32_vec().and_then(|v| v.first().copied()) {
        Some(v) => Ok(v),
        None => invalid(format!("{what} must be a number")),
    }
}

/// All-true mask for `x`: bool, or ones of the data's type before opset 10.
fn ones_mask(op: &Dropout, x: &Array) -> Result<Array, KernelError> {
    let n = x.len();
    let data = if op.mask_like_data {
        match super::elems::scalar_f64(x.dtype(), 1.0) {
            Some(one) => super::elems::repeat(&one, 0, n)?,
            None => return unsupported(format!("a mask of {} elements", x.dtype())),
        }
    } else {
        Data::Bool(vec![true; n])
    };
    array(x.shape.clone(), data)
}

pub(crate) fn dropout(
    op: &Dropout,
    inputs: &[Option<&Value>],
    outputs: usize,
) -> Result<Vec<Value>, KernelError> {
    let x = tensor(inputs, 0)?;
    let (ratio, training) = match op.ratio {
        Some(r) => (r, false),
        None => {
            let ratio = match opt_tensor(inputs, 1)? {
                Some(r) => first_f32(r, "ratio")?,
                None => 0.5,
            };
            let training = match opt_tensor(inputs, 2)? {
                Some(t) => first_f32(t, "training_mode")? != 0.0,
                None => false,
            };
            (ratio, training)
        }
    };
    let mut outs = Vec::with_capacity(outputs);
    if !training || ratio == 0.0 {
        outs.push(Value::Tensor(x.clone()));
        if outputs > 1 {
            outs.push(Value::Tensor(ones_mask(op, x)?));
        }
        return Ok(outs);
    }
    if !(0.0..1.0).contains(&ratio) {
        return invalid(format!("ratio {ratio} is outside [0, 1)"));
    }
    let Some(seed) = op.seed else {
        return unsupported("training-mode Dropout without a seed is not reproducible");
    };
    let Ok(seed) = u32::try_from(seed) else {
        return unsupported(format!("seed {seed} is outside numpy's range"));
    };
    let mut rng = Mt19937::new(seed);
    let mask: Vec<bool> = (0..x.len())
        .map(|_| rng.next_f64() >= f64::from(ratio))
        .collect();
    let scale = 1.0f32 / (1.0 - ratio);
    let keep = |i: usize| f32::from(u8::from(mask[i]));
    let data = match &x.data {
        Data::F32(v) => Data::F32(
            v.iter()
                .enumerate()
                .map(|(i, &e)| keep(i) * e * scale)
                .collect(),
        ),
        Data::F64(v) => Data::F64(
            v.iter()
                .enumerate()
                .map(|(i, &e)| f64::from(keep(i)) * e * f64::from(scale))
                .collect(),
        ),
        Data::F16(v) => Data::F16(
            v.iter()
                .enumerate()
                .map(|(i, e)| f16::from_f32(keep(i) * e.to_f32() * scale))
                .collect(),
        ),
        Data::BF16(v) => Data::BF16(
            v.iter()
                .enumerate()
                .map(|(i, e)| bf16::from_f32(keep(i) * e.to_f32() * scale))
                .collect(),
        ),
        _ => return unsupported(format!("training-mode Dropout of {}", x.dtype())),
    };
    outs.push(Value::Tensor(array(x.shape.clone(), data)?));
    if outputs > 1 {
        outs.push(Value::Tensor(array(x.shape.clone(), Data::Bool(mask))?));
    }
    Ok(outs)
}
