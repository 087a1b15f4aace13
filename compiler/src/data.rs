//! Data specs (`--data`, `--calib`, `--validate-with`): Fashion-MNIST from Debian's
//! `dataset-fashion-mnist` (streamed: only the samples asked for are decoded), `.npz` with `x`
//! and optional `y`, or `.npy` inputs; each optionally cut to `:N` or `:A..B`.

use crate::npy::{Npz, read_npy_file};
use flate2::read::GzDecoder;
use nnslim_eval::Array;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where Debian's `dataset-fashion-mnist` puts the files; `NNSLIM_FASHION_MNIST` overrides.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which samples of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Samples {
    All,
    /// The first N.
    First(usize),
    /// Samples A to B-1.
    Range(usize, usize),
}

/// What data to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    FashionMnist { train: bool, samples: Samples },
    Npz { path: PathBuf, samples: Samples },
    Npy { path: PathBuf, samples: Samples },
}

/// A bad spec, or data that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "data spec {0:?}: expected fashion-mnist:train|test[:N|:A..B], FILE.npz[:N|:A..B] or FILE.npy[:N|:A..B]"
    )]
    Spec(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error(transparent)]
    Npy(#[from] crate::npy::NpyError),
    #[error("{spec}: asked for samples {start}..{end} but there are only {len}")]
    OutOfRange {
        spec: String,
        start: usize,
        end: usize,
        len: usize,
    },
}

/// Inputs and optional labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `[N, ...]`: one sample per row of the first axis. With `pixel_scale`, u8 values that
    /// stand for `value * pixel_scale` (images stay one byte per pixel until used).
    pub x: Array,
    /// Class labels, one per sample.
    pub y: Option<Vec<i64>>,
    /// Set when `x` holds u8 pixels: the f32 input is `pixel * pixel_scale`.
    pub pixel_scale: Option<f32>,
}

impl Dataset {
    /// The inputs as the model takes them (u8 pixels decoded to f32).
    pub fn inputs(&self) -> std::borrow::Cow<'_, Array> {
        match (self.pixel_scale, &self.x.data) {
            (Some(s), nnslim_eval::Data::U8(v)) => std::borrow::Cow::Owned(Array::f32(
                self.x.shape.clone(),
                v.iter().map(|&p| f32::from(p) * s).collect(),
            )),
            _ => std::borrow::Cow::Borrowed(&self.x),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.shape.first().copied().unwrap_or(0)
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_samples(s: &str) -> Option<Samples> {
    if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (a.parse().ok()?, b.parse().ok()?);
        (a <= b).then_some(Samples::Range(a, b))
    } else {
        s.parse().ok().map(Samples::First)
    }
}

impl FromStr for DataSpec {
    type Err = DataError;

    fn from_str(spec: &str) -> Result<DataSpec, DataError> {
        let bad = || DataError::Spec(spec.to_string());
        if let Some(rest) = spec.strip_prefix("fashion-mnist:") {
            let (split, samples) = match rest.split_once(':') {
                Some((split, s)) => (split, parse_samples(s).ok_or_else(bad)?),
                None => (rest, Samples::All),
            };
            let train = match split {
                "train" => true,
                "test" => false,
                _ => return Err(bad()),
            };
            return Ok(DataSpec::FashionMnist { train, samples });
        }
        // A trailing `:N` or `:A..B` selects samples; anything else is part of the path.
        let (path, samples) = match spec.rsplit_once(':') {
            Some((p, s)) if parse_samples(s).is_some() => (p, parse_samples(s).ok_or_else(bad)?),
            _ => (spec, Samples::All),
        };
        let path = PathBuf::from(path);
        match path.extension().and_then(|e| e.to_str()) {
            Some("npz") => Ok(DataSpec::Npz { path, samples }),
            Some("npy") => Ok(DataSpec::Npy { path, samples }),
            _ => Err(bad()),
        }
    }
}

impl Samples {
    /// The range of sample indices out of `len` (error if it does not fit).
    fn range(&self, len: usize, spec: &str) -> Result<Range<usize>, DataError> {
        let (start, end) = match *self {
            Samples::All => (0, len),
            Samples::First(n) => (0, n),
            Samples::Range(a, b) => (a, b),
        };
        if end > len {
            return Err(DataError::OutOfRange {
                spec: spec.to_string(),
                start,
                end,
                len,
            });
        }
        Ok(start..end)
    }
}

/// Rows `range` of an array (along the first axis).
pub fn slice_rows(a: &Array, range: Range<usize>) -> Array {
    a.slice_rows(range)
}

/// Loads the data a spec names.
pub fn load(spec: &DataSpec) -> Result<Dataset, DataError> {
    let shown = spec_text(spec);
    match spec {
        DataSpec::FashionMnist { train, samples } => {
            let dir = std::env::var_os("NNSLIM_FASHION_MNIST")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(FASHION_MNIST_DIR));
            let prefix = if *train { "train" } else { "t10k" };
            fashion_mnist(&dir, prefix, samples, &shown)
        }
        DataSpec::Npz { path, samples } => {
            let mut npz = Npz::open(path)?;
            let x = npz.array("x")?.ok_or_else(|| DataError::File {
                path: path.display().to_string(),
                message: "has no array `x` (the inputs)".into(),
            })?;
            let y = npz.array("y")?;
            let n = x.shape.first().copied().unwrap_or(0);
            let range = samples.range(n, &shown)?;
            let y = match y {
                None => None,
                Some(y) => {
                    let labels = y.to_i64_vec().ok_or_else(|| DataError::File {
                        path: path.display().to_string(),
                        message: format!("labels `y` must be integers, not {}", y.dtype()),
                    })?;
                    if labels.len() != n {
                        return Err(DataError::File {
                            path: path.display().to_string(),
                            message: format!(
                                "`x` has {n} samples but `y` has {} labels",
                                labels.len()
                            ),
                        });
                    }
                    Some(labels[range.clone()].to_vec())
                }
            };
            Ok(Dataset {
                x: slice_rows(&x, range),
                y,
                pixel_scale: None,
            })
        }
        DataSpec::Npy { path, samples } => {
            let x = read_npy_file(path)?;
            let n = x.shape.first().copied().unwrap_or(0);
            let range = samples.range(n, &shown)?;
            Ok(Dataset {
                x: slice_rows(&x, range),
                y: None,
                pixel_scale: None,
            })
        }
    }
}

/// How a spec reads in messages.
pub fn spec_text(spec: &DataSpec) -> String {
    let s = |samples: &Samples| match samples {
        Samples::All => String::new(),
        Samples::First(n) => format!(":{n}"),
        Samples::Range(a, b) => format!(":{a}..{b}"),
    };
    match spec {
        DataSpec::FashionMnist { train, samples } => {
            format!(
                "fashion-mnist:{}{}",
                if *train { "train" } else { "test" },
                s(samples)
            )
        }
        DataSpec::Npz { path, samples } | DataSpec::Npy { path, samples } => {
            format!("{}{}", path.display(), s(samples))
        }
    }
}

/// Reads a big-endian u32.
fn be32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// Opens an idx.gz file and checks its magic number; returns the reader and its dims.
fn idx(
    path: &Path,
    magic: u32,
) -> Result<(GzDecoder<std::io::BufReader<std::fs::File>>, Vec<usize>), DataError> {
    let ferr = |message: String| DataError::File {
        path: path.display().to_string(),
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| {
        ferr(format!(
            "{e} (install Debian's dataset-fashion-mnist, or set NNSLIM_FASHION_MNIST to its folder)"
        ))
    })?;
    let mut r = GzDecoder::new(std::io::BufReader::new(f));
    let m = be32(&mut r).map_err(|e| ferr(format!("not an idx.gz file: {e}")))?;
    if m != magic {
        return Err(ferr(format!("magic number {m:#x}, expected {magic:#x}")));
    }
    let rank = (magic & 0xff) as usize;
    let dims = (0..rank)
        .map(|_| be32(&mut r).map(|d| d as usize))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ferr(format!("truncated header: {e}")))?;
    Ok((r, dims))
}

/// Reads rows `range` of an idx stream whose rows are `row` bytes, skipping the rest unread.
fn read_rows(
    r: &mut impl Read,
    row: usize,
    range: &Range<usize>,
    path: &Path,
) -> Result<Vec<u8>, DataError> {
    let skip = (range.start * row) as u64;
    std::io::copy(&mut r.by_ref().take(skip), &mut std::io::sink()).map_err(|e| {
        DataError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    })?;
    let mut buf = vec![0u8; range.len() * row];
    r.read_exact(&mut buf).map_err(|e| DataError::File {
        path: path.display().to_string(),
        message: format!("truncated data: {e}"),
    })?;
    Ok(buf)
}

fn fashion_mnist(
    dir: &Path,
    prefix: &str,
    samples: &Samples,
    shown: &str,
) -> Result<Dataset, DataError> {
    let images = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let labels = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let (mut ri, dims) = idx(&images, 0x0803)?;
    let (n, h, w) = match dims[..] {
        [n, h, w] => (n, h, w),
        _ => unreachable!("idx3 has three dims"),
    };
    let range = samples.range(n, shown)?;
    let pixels = read_rows(&mut ri, h * w, &range, &images)?;
    let (mut rl, ldims) = idx(&labels, 0x0801)?;
    if ldims.first() != Some(&n) {
        return Err(DataError::File {
            path: labels.display().to_string(),
            message: format!("{} labels for {n} images", ldims.first().unwrap_or(&0)),
        });
    }
    let y = read_rows(&mut rl, 1, &range, &labels)?;
    Ok(Dataset {
        x: Array::new(vec![range.len(), 1, h, w], nnslim_eval::Data::U8(pixels)).map_err(|e| {
            DataError::File {
                path: images.display().to_string(),
                message: e.to_string(),
            }
        })?,
        y: Some(y.iter().map(|&l| l as i64).collect()),
        pixel_scale: Some(1.0 / 255.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let s: DataSpec = "fashion-mnist:train:50000..60000".parse().unwrap();
        assert_eq!(
            s,
            DataSpec::FashionMnist {
                train: true,
                samples: Samples::Range(50000, 60000)
            }
        );
        let s: DataSpec = "fashion-mnist:test".parse().unwrap();
        assert_eq!(
            s,
            DataSpec::FashionMnist {
                train: false,
                samples: Samples::All
            }
        );
        let s: DataSpec = "d/x.npz:256".parse().unwrap();
        assert_eq!(
            s,
            DataSpec::Npz {
                path: "d/x.npz".into(),
                samples: Samples::First(256)
            }
        );
        assert!("fashion-mnist:valid".parse::<DataSpec>().is_err());
        assert!("fashion-mnist:test:9..2".parse::<DataSpec>().is_err());
        assert!("model.onnx".parse::<DataSpec>().is_err());
    }

    #[test]
    fn slices_rows() {
        let a = Array::f32(vec![3, 2], vec![0., 1., 2., 3., 4., 5.]);
        let b = slice_rows(&a, 1..3);
        assert_eq!(b.shape, vec![2, 2]);
        assert_eq!(b.as_f32().unwrap(), &[2., 3., 4., 5.]);
    }
}
