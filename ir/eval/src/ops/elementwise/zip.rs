//! Combining two broadcasting operands element by element without per-element index maps:
//! equal shapes and scalars zip slices directly; otherwise the output splits into an outer
//! part (index maps over the outer dims only) and a contiguous inner block in which each
//! operand either advances or stays put.

use crate::ops::broadcast::{broadcast_index, broadcast_shapes};
use crate::run::{KernelError, invalid};

/// `f` applied to the broadcast pairs of `a` (shape `sa`) and `b` (shape `sb`): the output
/// shape and elements.
pub(crate) fn zip<'a, 'b, A, B, O>(
    a: &'a [A],
    sa: &[usize],
    b: &'b [B],
    sb: &[usize],
    f: impl Fn(&'a A, &'b B) -> O,
) -> Result<(Vec<usize>, Vec<O>), KernelError> {
    if sa == sb {
        return Ok((sa.to_vec(), a.iter().zip(b).map(|(x, y)| f(x, y)).collect()));
    }
    let Some(out) = broadcast_shapes(&[sa, sb]) else {
        return invalid(format!("shapes {sa:?} and {sb:?} do not broadcast"));
    };
    if b.len() == 1 && out == sa {
        let y = &b[0];
        return Ok((out, a.iter().map(|x| f(x, y)).collect()));
    }
    if a.len() == 1 && out == sb {
        let x = &a[0];
        return Ok((out, b.iter().map(|y| f(x, y)).collect()));
    }
    let r = out.len();
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut p = vec![1; r - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (pa, pb) = (pad(sa), pad(sb));
    // Whether each operand spans the output along dim `i` (both do where the output dim is 1).
    let full = |i: usize| (pa[i] == out[i], pb[i] == out[i]);
    // The inner block: the longest suffix of dims where each operand either spans the
    // output on every dim or is 1 on every dim.
    let mode = (0..r)
        .rev()
        .find(|&i| out[i] != 1)
        .map_or((true, true), full);
    let mut k = r;
    while k > 0 && (out[k - 1] == 1 || full(k - 1) == mode) {
        k -= 1;
    }
    let inner: usize = out[k..].iter().product();
    let n: usize = out.iter().product();
    let mut o = Vec::with_capacity(n);
    if n == 0 {
        return Ok((out, o));
    }
    let outer_a = broadcast_index(&pa[..k], &out[..k]);
    let outer_b = broadcast_index(&pb[..k], &out[..k]);
    let step_a = if mode.0 { inner } else { 1 };
    let step_b = if mode.1 { inner } else { 1 };
    for (&ia, &ib) in outer_a.iter().zip(&outer_b) {
        let (ia, ib) = (ia * step_a, ib * step_b);
        match mode {
            (true, true) => o.extend(
                a[ia..ia + inner]
                    .iter()
                    .zip(&b[ib..ib + inner])
                    .map(|(x, y)| f(x, y)),
            ),
            (true, false) => o.extend(a[ia..ia + inner].iter().map(|x| f(x, &b[ib]))),
            (false, true) => o.extend(b[ib..ib + inner].iter().map(|y| f(&a[ia], y))),
            (false, false) => o.push(f(&a[ia], &b[ib])),
        }
    }
    Ok((out, o))
}

#[cfg(test)]
mod tests {
    use super::zip;
    use crate::ops::broadcast::{broadcast_index, broadcast_shapes};

    /// `zip` agrees with the index-map definition of broadcasting.
    #[test]
    fn matches_index_maps() {
        let cases: [(&[usize], &[usize]); 9] = [
            (&[2, 3], &[2, 3]),
            (&[2, 3], &[]),
            (&[1], &[4, 2]),
            (&[2, 3, 4], &[3, 1]),
            (&[2, 1, 4], &[3, 1]),
            (&[3, 1], &[1, 4]),
            (&[2, 3, 4, 5], &[3, 1, 1]),
            (&[1, 3, 1], &[2, 1, 5]),
            (&[0, 3], &[3]),
        ];
        for (sa, sb) in cases {
            let a: Vec<usize> = (0..sa.iter().product()).collect();
            let b: Vec<usize> = (0..sb.iter().product()).map(|x| x * 1000).collect();
            let (shape, got) = zip(&a, sa, &b, sb, |x, y| x + y).unwrap();
            let out = broadcast_shapes(&[sa, sb]).unwrap();
            let (ia, ib) = (broadcast_index(sa, &out), broadcast_index(sb, &out));
            let want: Vec<usize> = ia.iter().zip(&ib).map(|(&i, &j)| a[i] + b[j]).collect();
            assert_eq!((shape, got), (out, want), "{sa:?} {sb:?}");
        }
        assert!(zip(&[1, 2], &[2], &[1, 2, 3], &[3], |x, y| x + y).is_err());
    }
}
