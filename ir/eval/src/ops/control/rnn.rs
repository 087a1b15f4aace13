//! `RNN`, `GRU` and `LSTM`: forward, reverse and bidirectional passes with per-batch
//! `sequence_lens` (steps past a sequence's end are skipped and give zeros in `Y`), initial
//! states, peepholes, clip, coupled input/forget gates, `linear_before_reset` and `layout`.

use super::cell::{Act, Float};
use super::{array, ints, opt_tensor, tensor};
use crate::ops::shape::layout_permute as permute;
use crate::run::{KernelError, invalid};
use crate::{Array, Data, Value};
use half::{bf16, f16};
use nnslim_ir::DType;
use nnslim_ir::op::{Cell, Direction, Recurrent};

pub(crate) fn eval(
    op: &Recurrent,
    inputs: &[Option<&Value>],
    outputs: usize,
) -> Result<Vec<Value>, KernelError> {
    match tensor(inputs, 0)?.dtype() {
        DType::F64 => run::<f64>(op, inputs, outputs),
        DType::F32 | DType::F16 | DType::BF16 => run::<f32>(op, inputs, outputs),
        d => invalid(format!("X must be floating point, got {d}")),
    }
}

/// The elements of a floating-point array in the compute type.
fn floats<T: Float>(a: &Array, what: &str) -> Result<Vec<T>, KernelError> {
    match &a.data {
        Data::F64(v) => Ok(v.iter().map(|&x| T::from_f64(x)).collect()),
        Data::F32(_) | Data::F16(_) | Data::BF16(_) => Ok(a
            .to_f32_vec()
            .unwrap_or_default()
            .into_iter()
            .map(|x| T::from_f64(f64::from(x)))
            .collect()),
        d => invalid(format!("{what} must be floating point, got {}", d.dtype())),
    }
}

fn expect(a: &Array, want: &[usize], what: &str) -> Result<(), KernelError> {
    if a.shape == want {
        Ok(())
    } else {
        invalid(format!("{what} has shape {:?}, expected {want:?}", a.shape))
    }
}

/// Sizes of one evaluation.
#[derive(Clone, Copy)]
struct Dims {
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    ndir: usize,
}

/// One direction's weights: `w` (`gates·H × input`), `r` (`gates·H × H`), biases, peepholes.
struct Weights<'a, T> {
    w: &'a [T],
    r: &'a [T],
    wb: &'a [T],
    rb: &'a [T],
    p: &'a [T],
}

fn run<T: Float>(
    op: &Recurrent,
    inputs: &[Option<&Value>],
    outputs: usize,
) -> Result<Vec<Value>, KernelError> {
    let x = tensor(inputs, 0)?;
    let (w, r) = (tensor(inputs, 1)?, tensor(inputs, 2)?);
    if x.rank() != 3 || r.rank() != 3 {
        return invalid(format!(
            "X and R must have rank 3, got {:?} and {:?}",
            x.shape, r.shape
        ));
    }
    let x = if op.batch_major {
        permute(x, &[1, 0, 2])?
    } else {
        x.clone()
    };
    let (seq, batch, input) = (x.shape[0], x.shape[1], x.shape[2]);
    let ndir = op.direction.count();
    let hidden = r.shape[2];
    if let Some(h) = op.hidden_size
        && usize::try_from(h).ok() != Some(hidden)
    {
        return invalid(format!("hidden_size is {h} but R has {hidden} columns"));
    }
    let gh = op.cell.gates() * hidden;
    expect(w, &[ndir, gh, input], "W")?;
    expect(r, &[ndir, gh, hidden], "R")?;
    let dims = Dims {
        seq,
        batch,
        input,
        hidden,
        ndir,
    };
    let xs = floats::<T>(&x, "X")?;
    let (ws, rs) = (floats::<T>(w, "W")?, floats::<T>(r, "R")?);
    let bias = match opt_tensor(inputs, 3)? {
        Some(b) => {
            expect(b, &[ndir, 2 * gh], "B")?;
            floats::<T>(b, "B")?
        }
        None => vec![T::default(); ndir * 2 * gh],
    };
    let lens: Vec<usize> = match opt_tensor(inputs, 4)? {
        Some(l) => {
            let v = ints(l, "sequence_lens")?;
            if v.len() != batch || v.iter().any(|&n| n < 0 || n as usize > seq) {
                return invalid(format!(
                    "sequence_lens {v:?} do not fit batch {batch} and {seq} steps"
                ));
            }
            v.into_iter().map(|n| n as usize).collect()
        }
        None => vec![seq; batch],
    };
    let state = |slot: usize, what: &str| -> Result<Vec<T>, KernelError> {
        match opt_tensor(inputs, slot)? {
            Some(s) => {
                let s = if op.batch_major {
                    permute(s, &[1, 0, 2])?
                } else {
                    s.clone()
                };
                expect(&s, &[ndir, batch, hidden], what)?;
                floats::<T>(&s, what)
            }
            None => Ok(vec![T::default(); ndir * batch * hidden]),
        }
    };
    let h0 = state(5, "initial_h")?;
    let lstm = matches!(op.cell, Cell::Lstm { .. });
    let c0 = if lstm {
        state(6, "initial_c")?
    } else {
        Vec::new()
    };
    let peep = match opt_tensor(inputs, 7)? {
        Some(p) if lstm => {
            expect(p, &[ndir, 3 * hidden], "P")?;
            floats::<T>(p, "P")?
        }
        _ => vec![T::default(); ndir * 3 * hidden],
    };
    let fns = op.activation_fns();
    let mut y = vec![T::default(); seq * ndir * batch * hidden];
    let mut yh = Vec::with_capacity(ndir * batch * hidden);
    let mut yc = Vec::with_capacity(ndir * batch * hidden);
    for d in 0..ndir {
        let acts: Vec<Act<T>> = fns
            .get(d)
            .map(|f| f.iter().map(|&f| Act::new(f, op.clip)).collect())
            .unwrap_or_default();
        if acts.len() != op.cell.activations_per_direction() {
            return invalid("activations do not fit the cell");
        }
        let wts = Weights {
            w: &ws[d * gh * input..(d + 1) * gh * input],
            r: &rs[d * gh * hidden..(d + 1) * gh * hidden],
            wb: &bias[d * 2 * gh..d * 2 * gh + gh],
            rb: &bias[d * 2 * gh + gh..(d + 1) * 2 * gh],
            p: &peep[d * 3 * hidden..(d + 1) * 3 * hidden],
        };
        let reverse = op.direction == Direction::Reverse || d == 1;
        let range = d * batch * hidden..(d + 1) * batch * hidden;
        let c_init = if lstm { &c0[range.clone()] } else { &[][..] };
        let (h, c) = direction(
            op.cell, &acts, dims, &xs, &wts, &lens, reverse, &h0[range], c_init, d, &mut y,
        );
        yh.extend(h);
        yc.extend(c);
    }
    let out = |shape: Vec<usize>, v: Vec<T>, perm: &[usize]| -> Result<Value, KernelError> {
        let a = array(shape, narrow(x.dtype(), &v))?;
        Ok(Value::Tensor(if op.batch_major {
            permute(&a, perm)?
        } else {
            a
        }))
    };
    let mut outs = vec![
        out(vec![seq, ndir, batch, hidden], y, &[2, 0, 1, 3])?,
        out(vec![ndir, batch, hidden], yh, &[1, 0, 2])?,
    ];
    if lstm {
        outs.push(out(vec![ndir, batch, hidden], yc, &[1, 0, 2])?);
    }
    outs.truncate(outputs);
    Ok(outs)
}

/// Computed values back in the data's element type.
fn narrow<T: Float>(dtype: DType, v: &[T]) -> Data {
    match dtype {
        DType::F64 => Data::F64(v.iter().map(|x| x.to_f64()).collect()),
        DType::F16 => Data::F16(v.iter().map(|x| f16::from_f64(x.to_f64())).collect()),
        DType::BF16 => Data::BF16(v.iter().map(|x| bf16::from_f64(x.to_f64())).collect()),
        _ => Data::F32(v.iter().map(|x| x.to_f64() as f32).collect()),
    }
}

/// One direction over the whole batch; writes `Y[t, d, b, :]` and returns the final hidden
/// (and, for LSTM, cell) states.
#[allow(clippy::too_many_arguments)]
fn direction<T: Float>(
    cell: Cell,
    acts: &[Act<T>],
    dims: Dims,
    xs: &[T],
    wts: &Weights<'_, T>,
    lens: &[usize],
    reverse: bool,
    h0: &[T],
    c0: &[T],
    d: usize,
    y: &mut [T],
) -> (Vec<T>, Vec<T>) {
    let Dims {
        seq,
        batch,
        input,
        hidden: hs,
        ndir,
    } = dims;
    let gh = cell.gates() * hs;
    let gru_h = matches!(cell, Cell::Gru { .. }).then_some(2 * hs..3 * hs);
    // X·Wᵀ for every step at once, plus the biases (for GRU's h gate only Wb: Rb goes inside
    // or outside the reset gate).
    let mut xw = vec![T::default(); seq * batch * gh];
    T::gemm_bt(&mut xw, xs, wts.w, seq * batch, gh, input, false);
    for row in xw.chunks_mut(gh.max(1)) {
        for (j, v) in row.iter_mut().enumerate() {
            let rb = if gru_h.as_ref().is_some_and(|g| g.contains(&j)) {
                T::default()
            } else {
                wts.rb[j]
            };
            *v = *v + wts.wb[j] + rb;
        }
    }
    let mut h = h0.to_vec();
    let mut c = c0.to_vec();
    let mut hr = vec![T::default(); batch * gh];
    let mut rh = vec![T::default(); batch * hs];
    let mut rhr = vec![T::default(); batch * hs];
    let one = T::from_f64(1.0);
    for s in 0..seq {
        let step = |b: usize| (s < lens[b]).then(|| if reverse { lens[b] - 1 - s } else { s });
        if (0..batch).all(|b| step(b).is_none()) {
            break;
        }
        T::gemm_bt(&mut hr, &h, wts.r, batch, gh, hs, false);
        if let Cell::Gru {
            linear_before_reset: false,
        } = cell
        {
            // (r ⊙ h)·Rhᵀ needs the reset gate first.
            for b in 0..batch {
                let Some(t) = step(b) else { continue };
                let g = &xw[(t * batch + b) * gh..][..gh];
                for j in 0..hs {
                    let r = acts[0].apply(g[hs + j] + hr[b * gh + hs + j]);
                    rh[b * hs + j] = r * h[b * hs + j];
                }
            }
            T::gemm_bt(&mut rhr, &rh, &wts.r[2 * hs * hs..], batch, hs, hs, false);
        }
        for b in 0..batch {
            let Some(t) = step(b) else { continue };
            let g = &xw[(t * batch + b) * gh..][..gh];
            let hrow = &hr[b * gh..][..gh];
            let at = |j: usize| g[j] + hrow[j];
            for j in 0..hs {
                let hp = h[b * hs + j];
                let hn = match cell {
                    Cell::Rnn => acts[0].apply(at(j)),
                    Cell::Gru {
                        linear_before_reset,
                    } => {
                        let z = acts[0].apply(at(j));
                        let r = acts[0].apply(at(hs + j));
                        let rbh = wts.rb[2 * hs + j];
                        let pre = if linear_before_reset {
                            g[2 * hs + j] + r * (hrow[2 * hs + j] + rbh)
                        } else {
                            g[2 * hs + j] + rhr[b * hs + j] + rbh
                        };
                        let ht = acts[1].apply(pre);
                        (one - z) * ht + z * hp
                    }
                    Cell::Lstm { input_forget } => {
                        let (p, cp) = (wts.p, c[b * hs + j]);
                        let i = acts[0].apply(at(j) + p[j] * cp);
                        let f = if input_forget {
                            one - i
                        } else {
                            acts[0].apply(at(2 * hs + j) + p[2 * hs + j] * cp)
                        };
                        let cc = acts[1].apply(at(3 * hs + j));
                        let cn = f * cp + i * cc;
                        let o = acts[0].apply(at(hs + j) + p[hs + j] * cn);
                        c[b * hs + j] = cn;
                        o * acts[2].raw(cn)
                    }
                };
                h[b * hs + j] = hn;
                y[((t * ndir + d) * batch + b) * hs + j] = hn;
            }
        }
    }
    // A sequence of length 0 has no last state: ONNX Runtime reports zeros.
    for (b, _) in lens.iter().enumerate().filter(|(_, n)| **n == 0) {
        h[b * hs..(b + 1) * hs].fill(T::default());
        if !c.is_empty() {
            c[b * hs..(b + 1) * hs].fill(T::default());
        }
    }
    (h, c)
}
