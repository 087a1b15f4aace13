//! The ONNX frontend: reads `.onnx` files (memory-mapped, external data confined to the model's
//! folder) into the IR, preserving names, order, metadata and everything it does not interpret.

mod external;
mod graph;
mod tensor;

pub use external::{ExternalError, map_file};
pub use graph::{ImportError, import_model, import_with_files};
pub use tensor::TensorReadError;

/// Reads a serialized `TensorProto` file (such as an ONNX test's `input_0.pb`): its name and
/// tensor. External data is not allowed here.
pub fn read_tensor_file(path: &Path) -> Result<(String, nnslim_ir::Tensor), LoadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|cause| LoadError::Io {
        path: shown.clone(),
        cause,
    })?;
    let proto = nnslim_proto::decode_tensor(&bytes).map_err(|e| LoadError::Decode {
        path: shown.clone(),
        cause: e.to_string(),
    })?;
    let mut ext = external::ExternalData::new(None);
    let t = tensor::read_tensor(&proto, &mut ext).map_err(|e| LoadError::Io {
        path: shown,
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;
    Ok((proto.name().to_string(), t))
}

use nnslim_ir::Model;
use std::path::{Path, PathBuf};

/// A model read from a file, with facts about the file.
#[derive(Debug)]
pub struct Loaded {
    pub model: Model,
    /// Size of the `.onnx` file in bytes.
    pub file_size: u64,
    /// External data files the model's tensors live in (canonical paths).
    pub external_files: Vec<PathBuf>,
}

/// Why a model file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: not a valid ONNX model (protobuf decoding failed: {cause})")]
    Decode { path: String, cause: String },
    #[error("{path}: {cause}")]
    Import { path: String, cause: ImportError },
}

/// Loads an ONNX model file. Tensor data stays in the memory-mapped file (and external data
/// files), shared rather than copied.
pub fn load_model(path: &Path) -> Result<Model, LoadError> {
    load(path).map(|l| l.model)
}

/// Loads an ONNX model file and reports its size and external data files.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let shown = path.display().to_string();
    let bytes = external::map_file(path).map_err(|e| match e {
        ExternalError::Io { cause, .. } => LoadError::Io {
            path: shown.clone(),
            cause,
        },
        other => LoadError::Io {
            path: shown.clone(),
            cause: std::io::Error::other(other.to_string()),
        },
    })?;
    if bytes.is_empty() {
        return Err(LoadError::Io {
            path: shown,
            cause: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"),
        });
    }
    let file_size = bytes.len() as u64;
    let proto = nnslim_proto::decode_model_bytes(bytes).map_err(|e| LoadError::Decode {
        path: shown.clone(),
        cause: shorten_path(&e.to_string()),
    })?;
    let base = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let (model, external_files) =
        import_with_files(proto, base).map_err(|cause| LoadError::Import { path: shown, cause })?;
    Ok(Loaded {
        model,
        file_size,
        external_files,
    })
}

/// prost names every enclosing message of a decoding error (`GraphProto.node: AttributeProto.g:
/// ...`): for deeply nested files keep the outermost and innermost steps only.
fn shorten_path(message: &str) -> String {
    let parts: Vec<&str> = message.split(": ").collect();
    if parts.len() <= 8 {
        return message.to_string();
    }
    let n = parts.len();
    format!(
        "{}: … {} levels …: {}",
        parts[..3].join(": "),
        n - 6,
        parts[n - 3..].join(": ")
    )
}
