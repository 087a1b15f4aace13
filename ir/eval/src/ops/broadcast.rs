//! Numpy-style broadcasting of shapes, and index maps from an output element to the element of
//! a broadcast input.

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The broadcast of several shapes, or `None` when two dims differ and neither is 1.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// For every element of `out` (row-major), the flat index of the element of an input of shape
/// `shape` that broadcasts to it. `shape` must broadcast to `out`.
pub fn broadcast_index(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    if shape == out {
        return (0..n).collect();
    }
    let rank = out.len();
    let off = rank - shape.len();
    let in_strides = strides(shape);
    // Stride of each output axis in the input (0 where the input broadcasts).
    let eff: Vec<usize> = (0..rank)
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                in_strides[i - off]
            }
        })
        .collect();
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; rank];
    let mut at = 0usize;
    for _ in 0..n {
        idx.push(at);
        for ax in (0..rank).rev() {
            counter[ax] += 1;
            at += eff[ax];
            if counter[ax] < out[ax] {
                break;
            }
            at -= eff[ax] * counter[ax];
            counter[ax] = 0;
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(broadcast_shapes(&[&[2, 3], &[3]]), Some(vec![2, 3]));
        assert_eq!(
            broadcast_shapes(&[&[2, 1, 4], &[3, 1]]),
            Some(vec![2, 3, 4])
        );
        assert_eq!(broadcast_shapes(&[&[2, 3], &[4]]), None);
        assert_eq!(broadcast_shapes(&[&[], &[5]]), Some(vec![5]));
    }

    #[test]
    fn indices() {
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_index(&[], &[2, 2]), vec![0, 0, 0, 0]);
        assert_eq!(broadcast_index(&[2, 2], &[2, 2]), vec![0, 1, 2, 3]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
