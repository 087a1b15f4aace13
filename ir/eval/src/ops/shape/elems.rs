//! Moving elements without converting them, for every element type (numbers, bool, strings,
//! and packed types such as float8 or int4): gathers from one or more sources, row-major
//! enumeration of per-axis index tables, and one-element fill values.

use crate::Data;
use crate::run::{KernelError, invalid, unsupported};
use half::{bf16, f16};
use nnslim_ir::DType;

/// The largest element count a shape kernel builds (a guard against absurd shapes in a file).
pub(crate) const MAX_ELEMENTS: usize = 1 << 32;

/// The element count of `shape`, or an error when it overflows or exceeds [`MAX_ELEMENTS`].
pub(crate) fn element_count(shape: &[usize]) -> Result<usize, KernelError> {
    match shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_ELEMENTS => Ok(n),
        _ => invalid(format!("output shape {shape:?} is too large")),
    }
}

/// A run of output elements: `len` elements of source `src` from `start` on, or element
/// `start` repeated `len` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub src: usize,
    pub start: usize,
    pub len: usize,
    pub repeat: bool,
}

impl Run {
    /// `len` consecutive elements of `src` from `start`.
    pub(crate) fn span(src: usize, start: usize, len: usize) -> Run {
        Run {
            src,
            start,
            len,
            repeat: false,
        }
    }

    /// The element indices of the run.
    fn indices(self) -> impl Iterator<Item = (usize, usize)> {
        (0..self.len).map(move |k| {
            let i = if self.repeat {
                self.start
            } else {
                self.start + k
            };
            (self.src, i)
        })
    }
}

fn take<T: Clone>(
    srcs: &[&[T]],
    n: usize,
    runs: impl Iterator<Item = Run>,
) -> Result<Vec<T>, KernelError> {
    let mut out = Vec::with_capacity(n);
    for r in runs {
        let src = srcs.get(r.src).copied().unwrap_or_default();
        if r.len == 1 {
            match src.get(r.start) {
                Some(x) => out.push(x.clone()),
                None => {
                    return invalid(format!(
                        "element {} of source {} is out of range",
                        r.start, r.src
                    ));
                }
            }
            continue;
        }
        let end = if r.repeat {
            r.start + 1
        } else {
            r.start + r.len
        };
        let Some(part) = src.get(r.start..end) else {
            return invalid(format!(
                "elements {}..{end} of source {} are out of range",
                r.start, r.src
            ));
        };
        if r.repeat {
            out.extend(std::iter::repeat_n(part[0].clone(), r.len));
        } else {
            out.extend_from_slice(part);
        }
    }
    Ok(out)
}

/// Reads `bits` bits at bit offset `at` (little-endian, least significant bit first).
fn read_bits(bytes: &[u8], at: usize, bits: usize) -> Option<u64> {
    let mut v = 0u64;
    for k in 0..bits {
        let b = at + k;
        let bit = (bytes.get(b / 8)? >> (b % 8)) & 1;
        v |= u64::from(bit) << k;
    }
    Some(v)
}

fn write_bits(bytes: &mut [u8], at: usize, bits: usize, v: u64) {
    for k in 0..bits {
        let b = at + k;
        if (v >> k) & 1 == 1 {
            bytes[b / 8] |= 1 << (b % 8);
        }
    }
}

fn take_packed(
    dtype: DType,
    srcs: &[&[u8]],
    n: usize,
    runs: impl Iterator<Item = Run>,
) -> Result<Vec<u8>, KernelError> {
    let picks = runs.flat_map(Run::indices);
    let bits = dtype.bits();
    let Some(total) = dtype.storage_bytes(n as u64) else {
        return unsupported(format!("cannot move elements of {dtype}"));
    };
    let mut out = vec![0u8; total as usize];
    let oob = |s, i| invalid(format!("element {i} of source {s} is out of range"));
    for (k, (s, i)) in picks.enumerate() {
        let Some(src) = srcs.get(s).filter(|_| k < n) else {
            return oob(s, i);
        };
        if bits.is_multiple_of(8) {
            let w = bits / 8;
            let Some(from) = src.get(i * w..(i + 1) * w) else {
                return oob(s, i);
            };
            out[k * w..(k + 1) * w].copy_from_slice(from);
        } else {
            let Some(v) = read_bits(src, i * bits, bits) else {
                return oob(s, i);
            };
            write_bits(&mut out, k * bits, bits, v);
        }
    }
    Ok(out)
}

macro_rules! gather_variants {
    ($srcs:expr, $n:expr, $runs:expr; $($variant:ident),*) => {
        match $srcs[0] {
            $(Data::$variant(_) => {
                let vs: Vec<&[_]> = $srcs
                    .iter()
                    .map(|d| match d {
                        Data::$variant(v) => &v[..],
                        _ => &[][..],
                    })
                    .collect();
                Data::$variant(take(&vs, $n, $runs)?)
            })*
            Data::Packed(dtype, _) => {
                let vs: Vec<&[u8]> = $srcs
                    .iter()
                    .map(|d| match d {
                        Data::Packed(_, b) => &b[..],
                        _ => &[][..],
                    })
                    .collect();
                Data::Packed(*dtype, take_packed(*dtype, &vs, $n, $runs)?.into())
            }
        }
    };
}

/// A new `Data` of `n` elements made of `runs` of the sources, in order. Every source must have
/// the same element type.
pub(crate) fn gather_runs(
    srcs: &[&Data],
    n: usize,
    runs: impl Iterator<Item = Run>,
) -> Result<Data, KernelError> {
    let Some(first) = srcs.first() else {
        return invalid("nothing to gather from");
    };
    if let Some(d) = srcs.iter().find(|d| d.dtype() != first.dtype()) {
        return invalid(format!(
            "element types differ: {} and {}",
            first.dtype(),
            d.dtype()
        ));
    }
    Ok(gather_variants!(srcs, n, runs;
        F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str))
}

/// The elements of `data` at the row-major offsets of `tables` (see [`Offsets`]); a `None`
/// offset takes the one-element `fill` (a zero when not given). Consecutive offsets along the
/// last axis are copied as runs.
pub(crate) fn gather_tables(
    data: &Data,
    fill: Option<&Data>,
    tables: &[Vec<Option<usize>>],
) -> Result<Data, KernelError> {
    let lens: Vec<usize> = tables.iter().map(Vec::len).collect();
    let n = element_count(&lens)?;
    let zero;
    let fill = match fill {
        Some(f) => f,
        None => {
            zero = zero_of(data.dtype())?;
            &zero
        }
    };
    let Some((inner, outer)) = tables.split_last() else {
        return gather_runs(&[data, fill], n, std::iter::once(Run::span(0, 0, 1)));
    };
    // The last axis as segments: runs of consecutive offsets, or of fill elements.
    let mut segs: Vec<(Option<usize>, usize)> = Vec::new();
    for &o in inner {
        match (segs.last_mut(), o) {
            (Some((Some(s), len)), Some(c)) if *s + *len == c => *len += 1,
            (Some((None, len)), None) => *len += 1,
            _ => segs.push((o, 1)),
        }
    }
    if data.dtype() != fill.dtype() {
        return invalid(format!(
            "element types differ: {} and {}",
            data.dtype(),
            fill.dtype()
        ));
    }
    macro_rules! typed {
        ($($variant:ident),*) => {
            match (data, fill) {
                $((Data::$variant(d), Data::$variant(f)) => {
                    return Ok(Data::$variant(take_tables(d, f, n, outer, &segs)?));
                })*
                _ => {}
            }
        };
    }
    typed!(
        F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str
    );
    let segs = &segs;
    let runs = Offsets::new(outer).flat_map(move |base| {
        segs.iter().map(move |&(s, len)| match (base, s) {
            (Some(b), Some(s)) => Run::span(0, b + s, len),
            _ => Run {
                src: 1,
                start: 0,
                len,
                repeat: true,
            },
        })
    });
    gather_runs(&[data, fill], n, runs)
}

/// [`gather_tables`] for one element type: the outer axes by [`Offsets`], the last axis by
/// segments of consecutive offsets (or of fill elements).
fn take_tables<T: Clone>(
    data: &[T],
    fill: &[T],
    n: usize,
    outer: &[Vec<Option<usize>>],
    segs: &[(Option<usize>, usize)],
) -> Result<Vec<T>, KernelError> {
    let mut out = Vec::with_capacity(n);
    let oob = |at: usize| invalid(format!("element {at} is out of range"));
    let Some(f) = fill.first() else {
        return invalid("no fill element");
    };
    for base in Offsets::new(outer) {
        for &(s, len) in segs {
            match (base, s) {
                (Some(b), Some(s)) if len == 1 => match data.get(b + s) {
                    Some(x) => out.push(x.clone()),
                    None => return oob(b + s),
                },
                (Some(b), Some(s)) => match data.get(b + s..b + s + len) {
                    Some(part) => out.extend_from_slice(part),
                    None => return oob(b + s),
                },
                _ => out.extend(std::iter::repeat_n(f.clone(), len)),
            }
        }
    }
    Ok(out)
}

/// Element `i` of `data` repeated `n` times.
pub(crate) fn repeat(data: &Data, i: usize, n: usize) -> Result<Data, KernelError> {
    let run = Run {
        src: 0,
        start: i,
        len: n,
        repeat: true,
    };
    gather_runs(&[data], n, std::iter::once(run))
}

/// One zero (false, empty string, all-zero bits) of `dtype`.
pub(crate) fn zero_of(dtype: DType) -> Result<Data, KernelError> {
    match dtype {
        DType::String => Ok(Data::Str(vec![Vec::new()])),
        _ => match scalar_f64(dtype, 0.0) {
            Some(d) => Ok(d),
            None => match dtype.storage_bytes(1) {
                Some(n) => Ok(Data::Packed(dtype, vec![0u8; n as usize].into())),
                None => unsupported(format!("no zero of {dtype}")),
            },
        },
    }
}

/// One element of `dtype` holding `v` (rounded, and saturated for integers); `None` for types
/// without a conversion here (strings, packed types).
pub(crate) fn scalar_f64(dtype: DType, v: f64) -> Option<Data> {
    Some(match dtype {
        DType::F32 => Data::F32(vec![v as f32]),
        DType::F64 => Data::F64(vec![v]),
        DType::F16 => Data::F16(vec![f16::from_f64(v)]),
        DType::BF16 => Data::BF16(vec![bf16::from_f64(v)]),
        DType::I8 => Data::I8(vec![v.round_ties_even() as i8]),
        DType::I16 => Data::I16(vec![v.round_ties_even() as i16]),
        DType::I32 => Data::I32(vec![v.round_ties_even() as i32]),
        DType::I64 => Data::I64(vec![v.round_ties_even() as i64]),
        DType::U8 => Data::U8(vec![v.round_ties_even() as u8]),
        DType::U16 => Data::U16(vec![v.round_ties_even() as u16]),
        DType::U32 => Data::U32(vec![v.round_ties_even() as u32]),
        DType::U64 => Data::U64(vec![v.round_ties_even() as u64]),
        DType::Bool => Data::Bool(vec![v != 0.0]),
        _ => return None,
    })
}

/// Row-major offsets of an output whose axis `a` maps coordinate `c` to `tables[a][c]`: an
/// input offset (coordinate times stride) or `None` for an element outside the input. The
/// offset of an element is the sum over its axes; any `None` makes it `None`.
pub(crate) struct Offsets<'t> {
    tables: &'t [Vec<Option<usize>>],
    counter: Vec<usize>,
    done: bool,
}

impl<'t> Offsets<'t> {
    pub(crate) fn new(tables: &'t [Vec<Option<usize>>]) -> Offsets<'t> {
        Offsets {
            tables,
            counter: vec![0; tables.len()],
            done: tables.iter().any(Vec::is_empty),
        }
    }
}

impl Iterator for Offsets<'_> {
    type Item = Option<usize>;

    fn next(&mut self) -> Option<Option<usize>> {
        if self.done {
            return None;
        }
        let mut sum = Some(0usize);
        for (t, &c) in self.tables.iter().zip(&self.counter) {
            sum = match (sum, t[c]) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        // Advance the odometer, last axis fastest.
        self.done = true;
        for a in (0..self.tables.len()).rev() {
            self.counter[a] += 1;
            if self.counter[a] < self.tables[a].len() {
                self.done = false;
                break;
            }
            self.counter[a] = 0;
        }
        Some(sum)
    }
}

/// Tables that read every coordinate of `shape` with `strides` (axis `a` of the output reads
/// axis `a` of the input).
pub(crate) fn identity_tables(shape: &[usize], strides: &[usize]) -> Vec<Vec<Option<usize>>> {
    shape
        .iter()
        .zip(strides)
        .map(|(&n, &s)| (0..n).map(|c| Some(c * s)).collect())
        .collect()
}
