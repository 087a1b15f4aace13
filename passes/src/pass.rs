//! The `Pass` trait and what a pass may use while it runs: a seeded generator, calibration and
//! validation samples, a progress reporter, and a place for its report details.

use crate::PassError;
use nnslim_eval::{Array, Data, Value};
use nnslim_ir::{Model, Rng};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Whether a pass changed the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    No,
    Yes,
}

impl From<bool> for Changed {
    fn from(b: bool) -> Changed {
        if b { Changed::Yes } else { Changed::No }
    }
}

impl Changed {
    /// `true` for [`Changed::Yes`].
    pub fn any(self) -> bool {
        self == Changed::Yes
    }
}

/// A model transformation. Passes are built from a spec item by the [`crate::Registry`] (or
/// directly in code) and run by a [`crate::Pipeline`], which verifies the graph and records a
/// report row after each one.
pub trait Pass {
    /// The kebab-case name used by spec strings and reports.
    fn name(&self) -> &str;

    /// Transforms the model. Passes take the whole model, not just the graph, because what they
    /// may emit depends on its opsets (and some passes must raise them).
    fn run(&mut self, model: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError>;

    /// Whether the pass needs calibration data (`PassContext::calib`); the CLI then supplies a
    /// default data set or asks for `--calib`.
    fn needs_calibration(&self) -> bool {
        false
    }
}

/// An accuracy floor that passes which trade accuracy for size must hold on the validation
/// data (`--max-accuracy-drop`, `--min-agreement`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AccuracyFloor {
    /// Top-1 accuracy may drop at most this many percentage points below the float model's.
    MaxDrop(f64),
    /// At least this fraction of top-1 predictions must agree with the float model's.
    MinAgreement(f64),
}

/// One batch of samples: input values by graph-input name, either held as they are or kept as
/// 8-bit rows and decoded to f32 when used (image data sets stay one byte per pixel in memory,
/// so thousands of calibration or validation images cost little).
#[derive(Clone, Debug)]
pub struct Batch(BatchData);

#[derive(Clone, Debug)]
enum BatchData {
    Values(HashMap<String, Value>),
    Bytes {
        input: String,
        /// Shape of the decoded batch (rows first).
        shape: Vec<usize>,
        raw: Arc<Vec<u8>>,
        /// Offset of the batch's first byte in `raw`.
        start: usize,
        scale: f32,
    },
}

impl From<HashMap<String, Value>> for Batch {
    fn from(v: HashMap<String, Value>) -> Batch {
        Batch(BatchData::Values(v))
    }
}

impl Batch {
    /// `rows` rows of `row_shape` bytes each from `raw[start..]` for `input`, decoded as
    /// `byte as f32 * scale`.
    pub fn bytes(
        input: String,
        rows: usize,
        row_shape: &[usize],
        raw: Arc<Vec<u8>>,
        start: usize,
        scale: f32,
    ) -> Batch {
        let mut shape = vec![rows];
        shape.extend_from_slice(row_shape);
        Batch(BatchData::Bytes {
            input,
            shape,
            raw,
            start,
            scale,
        })
    }

    /// The input values, decoded if needed.
    pub fn values(&self) -> Cow<'_, HashMap<String, Value>> {
        match &self.0 {
            BatchData::Values(v) => Cow::Borrowed(v),
            BatchData::Bytes {
                input,
                shape,
                raw,
                start,
                scale,
            } => {
                let n: usize = shape.iter().product();
                let end = (start + n).min(raw.len());
                let x: Vec<f32> = raw[(*start).min(end)..end]
                    .iter()
                    .map(|&b| f32::from(b) * scale)
                    .collect();
                let a = Array::new(shape.clone(), Data::F32(x))
                    .unwrap_or_else(|_| Array::f32(vec![0], Vec::new()));
                Cow::Owned(HashMap::from([(input.clone(), Value::Tensor(a))]))
            }
        }
    }

    /// Samples in the batch (the first axis of its first input).
    pub fn rows(&self) -> usize {
        match &self.0 {
            BatchData::Values(v) => v
                .values()
                .filter_map(Value::as_tensor)
                .filter_map(|a| a.shape.first().copied())
                .min()
                .unwrap_or(0),
            BatchData::Bytes { shape, .. } => shape.first().copied().unwrap_or(0),
        }
    }

    /// The first `n` samples of the batch.
    pub fn head(&self, n: usize) -> Batch {
        self.rows_range(0..n.min(self.rows()))
    }

    /// Samples `range` of the batch (clamped to the rows it has).
    pub fn rows_range(&self, range: std::ops::Range<usize>) -> Batch {
        let rows = self.rows();
        let (lo, hi) = (range.start.min(rows), range.end.min(rows));
        if lo == 0 && hi == rows {
            return self.clone();
        }
        let hi = hi.max(lo);
        match &self.0 {
            BatchData::Values(v) => Batch(BatchData::Values(
                v.iter()
                    .map(|(k, v)| {
                        let v = match v.as_tensor() {
                            Some(a) if a.rank() > 0 => Value::Tensor(a.slice_rows(lo..hi)),
                            _ => v.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )),
            BatchData::Bytes {
                input,
                shape,
                raw,
                start,
                scale,
            } => {
                let row: usize = shape[1..].iter().product();
                Batch::bytes(
                    input.clone(),
                    hi - lo,
                    &shape[1..],
                    raw.clone(),
                    start + lo * row,
                    *scale,
                )
            }
        }
    }
}

/// Samples to run a model on: calibration data, validation data, or seeded random inputs.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// What the samples are (a data spec, or "8 random inputs (seed 0)"), for reports.
    pub description: String,
    /// Batches of inputs; each batch holds one or more samples.
    pub batches: Vec<Batch>,
    /// Class labels of all samples in batch order, when the data has them.
    pub labels: Option<Vec<i64>>,
}

impl Samples {
    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.batches.iter().map(Batch::rows).sum()
    }

    /// The first `n` samples (whole batches, the last one cut).
    pub fn head(&self, n: usize) -> Samples {
        let mut batches = Vec::new();
        let mut left = n;
        for b in &self.batches {
            if left == 0 {
                break;
            }
            let take = b.rows().min(left);
            batches.push(b.head(take));
            left -= take;
        }
        Samples {
            description: self.description.clone(),
            batches,
            labels: self
                .labels
                .as_ref()
                .map(|l| l[..(n - left).min(l.len())].to_vec()),
        }
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Progress of long work (calibration, sensitivity scans): the CLI shows a bar, tests ignore it.
pub trait Progress {
    /// Starts a unit of work with `total` steps.
    fn begin(&self, label: &str, total: u64);
    /// Marks `n` more steps done.
    fn advance(&self, n: u64);
    /// Ends the current unit of work.
    fn end(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// What a running pass may use.
pub struct PassContext<'a> {
    /// The pipeline's seed; passes that need randomness draw from [`PassContext::rng`].
    pub seed: u64,
    /// A generator seeded from `seed` and the pass's position in the pipeline.
    pub rng: Rng,
    /// Calibration samples (`--calib`), when given.
    pub calib: Option<&'a Samples>,
    /// Validation samples (`--validate-with`), when given.
    pub validate: Option<&'a Samples>,
    /// The accuracy floor to hold on `validate`, when asked for.
    pub floor: Option<AccuracyFloor>,
    pub progress: &'a dyn Progress,
    details: serde_json::Map<String, serde_json::Value>,
    notes: Vec<String>,
}

impl<'a> PassContext<'a> {
    /// A context with a seed and nothing else.
    pub fn new(seed: u64, progress: &'a dyn Progress) -> PassContext<'a> {
        PassContext {
            seed,
            rng: Rng::new(seed),
            calib: None,
            validate: None,
            floor: None,
            progress,
            details: serde_json::Map::new(),
            notes: Vec::new(),
        }
    }

    /// Records a pass-specific detail for the report (`details.KEY` of the pass's row).
    pub fn detail(&mut self, key: &str, value: serde_json::Value) {
        self.details.insert(key.to_string(), value);
    }

    /// Records a one-line note for the terminal summary (and the report's `notes`).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Takes the details and notes recorded so far.
    pub(crate) fn take_records(
        &mut self,
    ) -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
        (
            std::mem::take(&mut self.details),
            std::mem::take(&mut self.notes),
        )
    }
}
