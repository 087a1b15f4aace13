//! External tensor data: locations confined to the model's folder, files memory-mapped once,
//! offsets and lengths checked against the file.

use bytes::Bytes;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

/// Why external data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error(
        "external data location {0:?} is absolute; it must be a path inside the model's folder"
    )]
    Absolute(String),
    #[error("external data location {0:?} leaves the model's folder (`..`)")]
    Escapes(String),
    #[error(
        "external data location {location:?} resolves to {resolved} (through a link), outside the model's folder {base}"
    )]
    LinkEscapes {
        location: String,
        resolved: PathBuf,
        base: PathBuf,
    },
    #[error("external data location is empty or missing")]
    NoLocation,
    #[error("external data file {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("external data {field} {value:?} is not a non-negative integer")]
    BadNumber { field: &'static str, value: String },
    #[error(
        "external data in {location:?}: offset {offset} + length {length} is past the end of the file ({size} bytes)"
    )]
    OutOfRange {
        location: String,
        offset: u64,
        length: u64,
        size: u64,
    },
    #[error("external data for a model read from memory: no folder to resolve {0:?} against")]
    NoBaseDir(String),
}

/// Resolves and maps external data files below one base folder.
pub struct ExternalData {
    base: Option<PathBuf>,
    files: HashMap<PathBuf, Bytes>,
}

impl ExternalData {
    /// External data resolved against `base` (the model file's folder); `None` for a model
    /// read from memory, which may not use external data.
    pub fn new(base: Option<&Path>) -> ExternalData {
        ExternalData {
            base: base.map(Path::to_path_buf),
            files: HashMap::new(),
        }
    }

    /// Reads the bytes described by a tensor's `external_data` entries
    /// (`location`, optional `offset` and `length`).
    pub fn read(&mut self, entries: &[(String, String)]) -> Result<Bytes, ExternalError> {
        let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let location = get("location").ok_or(ExternalError::NoLocation)?.clone();
        let number = |field: &'static str| -> Result<Option<u64>, ExternalError> {
            get(field)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| ExternalError::BadNumber {
                            field,
                            value: v.clone(),
                        })
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let length = number("length")?;
        let path = self.confine(&location)?;
        let data = match self.files.get(&path) {
            Some(d) => d.clone(),
            None => {
                let d = map_file(&path)?;
                self.files.insert(path.clone(), d.clone());
                d
            }
        };
        let size = data.len() as u64;
        let length = length.unwrap_or(size.saturating_sub(offset));
        let end = offset.checked_add(length);
        match end {
            Some(end) if end <= size => Ok(data.slice(offset as usize..end as usize)),
            _ => Err(ExternalError::OutOfRange {
                location,
                offset,
                length,
                size,
            }),
        }
    }

    /// The files read so far (canonical paths, sorted).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut f: Vec<PathBuf> = self.files.keys().cloned().collect();
        f.sort();
        f
    }

    /// The canonical path of `location`, which must stay inside the base folder even after
    /// following links.
    fn confine(&self, location: &str) -> Result<PathBuf, ExternalError> {
        if location.is_empty() {
            return Err(ExternalError::NoLocation);
        }
        let rel = Path::new(location);
        if rel.is_absolute() || rel.has_root() || location.starts_with('\\') {
            return Err(ExternalError::Absolute(location.to_string()));
        }
        if rel
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
        {
            return Err(ExternalError::Escapes(location.to_string()));
        }
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| ExternalError::NoBaseDir(location.to_string()))?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |cause| ExternalError::Io { path, cause }
        };
        let base = base.canonicalize().map_err(io(base))?;
        let joined = base.join(rel);
        let resolved = joined.canonicalize().map_err(io(&joined))?;
        if !resolved.starts_with(&base) {
            return Err(ExternalError::LinkEscapes {
                location: location.to_string(),
                resolved,
                base,
            });
        }
        Ok(resolved)
    }
}

/// Maps a whole file read-only (an empty file becomes empty bytes).
pub fn map_file(path: &Path) -> Result<Bytes, ExternalError> {
    let io = |cause| ExternalError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is read-only; like every memory-mapping reader we rely on the file not
    // being truncated while the model is in use.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    Ok(Bytes::from_owner(map))
}
