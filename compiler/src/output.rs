//! Writing results atomically: a temporary file in the destination folder, then a rename, so a
//! failed run never leaves a half-written file.

use nnslim_backends::onnx::{ExternalPolicy, WriteError, WriteOptions, model_to_proto};
use nnslim_ir::Model;
use nnslim_proto::Message;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_chunks_atomic(path, &[(0, bytes)])
}

/// Writes chunks at their offsets (gaps zero-filled) to `path` atomically.
fn write_chunks_atomic(path: &Path, chunks: &[(u64, &[u8])]) -> Result<(), OutputError> {
    let io = |cause| OutputError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".nnslim-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        let mut at = 0u64;
        for (offset, data) in chunks {
            if *offset > at {
                std::io::copy(&mut std::io::repeat(0).take(offset - at), &mut w).map_err(io)?;
            }
            w.write_all(data).map_err(io)?;
            at = offset + data.len() as u64;
        }
        w.flush().map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    // Temporary files are private (0600); the output is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

use std::io::Read as _;

/// Writes a model as an `.onnx` file (and `<file>.data` when tensors go external).
/// `threshold`: `None` = automatic (inline unless over 2 GiB), `Some(n)` = tensors of at least
/// `n` bytes go external.
/// Gzip-compressed size (default level, like `gzip`) of the files in `paths` that exist,
/// summed.
pub fn gzip_size(paths: &[PathBuf]) -> std::io::Result<u64> {
    /// Counts what the encoder writes.
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut gz = 0;
    for p in paths.iter().filter(|p| p.is_file()) {
        let mut enc = flate2::write::GzEncoder::new(Count(0), flate2::Compression::default());
        std::io::copy(&mut std::fs::File::open(p)?, &mut enc)?;
        gz += enc.finish()?.0;
    }
    Ok(gz)
}

/// The external data file [`write_onnx`] writes beside `path` when weights go out of line.
pub fn external_data_path(path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.onnx".into());
    path.with_file_name(format!("{file_name}.data"))
}

/// Writes `model` to `path` (and its weights to an external data file beside it when the
/// policy says so), atomically; returns the files written.
pub fn write_onnx(
    path: &Path,
    model: &Model,
    threshold: Option<u64>,
) -> Result<Vec<PathBuf>, OutputError> {
    let data_path = external_data_path(path);
    let opts = WriteOptions {
        external: match threshold {
            None => ExternalPolicy::Auto,
            Some(t) => ExternalPolicy::Threshold(t),
        },
        external_location: data_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let (proto, external) = model_to_proto(model, &opts)?;
    let bytes = proto.encode_to_vec();
    if let Some(ext) = &external {
        let chunks: Vec<(u64, &[u8])> = ext.chunks.iter().map(|(o, b)| (*o, &b[..])).collect();
        write_chunks_atomic(&data_path, &chunks)?;
    }
    if let Err(e) = write_atomic(path, &bytes) {
        if external.is_some() {
            let _ = std::fs::remove_file(&data_path);
        }
        return Err(e);
    }
    let mut written = vec![path.to_path_buf()];
    written.extend(external.map(|_| data_path));
    Ok(written)
}
