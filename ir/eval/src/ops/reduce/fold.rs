//! The reduction loop. Axes are merged into runs that are all reduced or all kept (size-1
//! axes dropped), so the input is walked once in order: the innermost run is a contiguous
//! row folded into one accumulator (reduced) or into a row of accumulators (kept), and an
//! odometer over the outer runs tracks where the row's accumulators are.

/// Folds each element of `x` (row-major, shape `shape`) into the accumulator of its output
/// position with `step`; `mask` marks the reduced axes. Returns the accumulators in
/// row-major order of the kept axes (`init` where nothing was folded in).
pub(super) fn fold<T: Copy, A: Copy>(
    x: &[T],
    shape: &[usize],
    mask: &[bool],
    init: A,
    step: impl Fn(A, T) -> A,
) -> Vec<A> {
    let kept = shape.iter().zip(mask).filter(|(_, m)| !**m);
    let mut acc = vec![init; kept.map(|(d, _)| d).product()];
    if x.is_empty() || x.len() != shape.iter().product::<usize>() {
        return acc;
    }
    let mut runs: Vec<(usize, bool)> = Vec::new();
    for (&d, &m) in shape.iter().zip(mask) {
        match runs.last_mut() {
            _ if d == 1 => {}
            Some((len, reduced)) if *reduced == m => *len *= d,
            _ => runs.push((d, m)),
        }
    }
    let Some((&(len, reduced), outer)) = runs.split_last() else {
        // A single element.
        acc[0] = step(acc[0], x[0]);
        return acc;
    };
    // Where the accumulators of each outer run's index step (0 for reduced runs).
    let mut strides = vec![0; outer.len()];
    let mut s = if reduced { 1 } else { len };
    for (i, &(d, m)) in outer.iter().enumerate().rev() {
        if !m {
            strides[i] = s;
            s *= d;
        }
    }
    let mut counter = vec![0usize; outer.len()];
    let mut o = 0usize;
    for row in x.chunks_exact(len) {
        if reduced {
            acc[o] = row.iter().fold(acc[o], |a, &v| step(a, v));
        } else {
            for (a, &v) in acc[o..o + len].iter_mut().zip(row) {
                *a = step(*a, v);
            }
        }
        for i in (0..outer.len()).rev() {
            counter[i] += 1;
            o += strides[i];
            if counter[i] < outer[i].0 {
                break;
            }
            o -= strides[i] * counter[i];
            counter[i] = 0;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn sums_over_any_axes() {
        let x: Vec<i64> = (0..24).collect();
        let shape = [2, 3, 4];
        let sum = |mask: &[bool]| fold(&x, &shape, mask, 0, |a, v| a + v);
        assert_eq!(sum(&[true, true, true]), vec![276]);
        assert_eq!(sum(&[false, false, false]), x);
        assert_eq!(sum(&[false, false, true]), vec![6, 22, 38, 54, 70, 86]);
        assert_eq!(
            sum(&[true, false, false]),
            (12..24).map(|i| 2 * i - 12).collect::<Vec<_>>()
        );
        assert_eq!(
            sum(&[false, true, false]),
            vec![12, 15, 18, 21, 48, 51, 54, 57]
        );
        assert_eq!(sum(&[true, false, true]), vec![60, 92, 124]);
        assert_eq!(
            fold(&[5], &[1, 1], &[true, false], 0, |a, v| a + v),
            vec![5]
        );
        assert_eq!(
            fold::<i64, i64>(&[], &[2, 0], &[false, true], 7, |a, v| a + v),
            vec![7, 7]
        );
    }
}
