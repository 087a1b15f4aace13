//! `.npy` / `.npz` files ↔ interpreter arrays (through the npyz crate).

use nnslim_eval::{Array, Data};
use npyz::{NpyFile, TypeChar, WriterBuilder};
use std::io::{Read, Seek};
use std::path::Path;

/// Why an array file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

fn err(path: &Path, message: impl Into<String>) -> NpyError {
    NpyError::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Reads one array from a `.npy` stream.
fn read_npy<R: Read>(r: R, path: &Path) -> Result<Array, NpyError> {
    let npy = NpyFile::new(r).map_err(|e| err(path, format!("not a valid .npy file: {e}")))?;
    from_npy(npy, path)
}

fn from_npy<R: Read>(npy: NpyFile<R>, path: &Path) -> Result<Array, NpyError> {
    if npy.order() != npyz::Order::C {
        return Err(err(
            path,
            "Fortran-ordered arrays are not supported; save with order='C'",
        ));
    }
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(path, "dimension too large")))
        .collect::<Result<_, _>>()?;
    let ts = match npy.dtype() {
        npyz::DType::Plain(ts) => ts,
        other => {
            return Err(err(
                path,
                format!("structured dtype {} is not supported", other.descr()),
            ));
        }
    };
    let io = |e: std::io::Error| err(path, format!("reading the data failed: {e}"));
    let data = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => Data::F32(npy.into_vec().map_err(io)?),
        (TypeChar::Float, 8) => Data::F64(npy.into_vec().map_err(io)?),
        (TypeChar::Float, 2) => Data::F16(npy.into_vec().map_err(io)?),
        (TypeChar::Int, 1) => Data::I8(npy.into_vec().map_err(io)?),
        (TypeChar::Int, 2) => Data::I16(npy.into_vec().map_err(io)?),
        (TypeChar::Int, 4) => Data::I32(npy.into_vec().map_err(io)?),
        (TypeChar::Int, 8) => Data::I64(npy.into_vec().map_err(io)?),
        (TypeChar::Uint, 1) => Data::U8(npy.into_vec().map_err(io)?),
        (TypeChar::Uint, 2) => Data::U16(npy.into_vec().map_err(io)?),
        (TypeChar::Uint, 4) => Data::U32(npy.into_vec().map_err(io)?),
        (TypeChar::Uint, 8) => Data::U64(npy.into_vec().map_err(io)?),
        (TypeChar::Bool, 1) => Data::Bool(npy.into_vec().map_err(io)?),
        _ => return Err(err(path, format!("dtype {ts} is not supported"))),
    };
    Array::new(shape, data).map_err(|e| err(path, e.to_string()))
}

/// Reads a `.npy` file.
pub fn read_npy_file(path: &Path) -> Result<Array, NpyError> {
    let f = std::fs::File::open(path).map_err(|e| err(path, e.to_string()))?;
    read_npy(std::io::BufReader::new(f), path)
}

/// An opened `.npz` archive.
pub struct Npz<R: Read + Seek> {
    archive: npyz::npz::NpzArchive<R>,
    path: std::path::PathBuf,
}

impl Npz<std::io::BufReader<std::fs::File>> {
    /// Opens a `.npz` file.
    pub fn open(path: &Path) -> Result<Self, NpyError> {
        let f = std::fs::File::open(path).map_err(|e| err(path, e.to_string()))?;
        let archive = npyz::npz::NpzArchive::new(std::io::BufReader::new(f))
            .map_err(|e| err(path, format!("not a valid .npz file: {e}")))?;
        Ok(Npz {
            archive,
            path: path.to_path_buf(),
        })
    }
}

impl<R: Read + Seek> Npz<R> {
    /// The array named `name`, if the archive has it.
    pub fn array(&mut self, name: &str) -> Result<Option<Array>, NpyError> {
        let path = self.path.clone();
        let names: Vec<String> = self.archive.array_names().map(String::from).collect();
        match self.archive.by_name(name) {
            Ok(Some(f)) => from_npy(f, &path.join(name)).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(err(
                &path,
                format!("array {name:?} (archive has {names:?}): {e}"),
            )),
        }
    }
}

/// Writes an array as `.npy` (bf16, which numpy lacks, is written as f32).
pub fn write_npy(path: &Path, a: &Array) -> Result<(), NpyError> {
    let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
    let mut buf: Vec<u8> = Vec::new();
    macro_rules! put {
        ($v:expr) => {{
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(std::io::Cursor::new(&mut buf))
                .begin_nd()
                .map_err(|e| err(path, e.to_string()))?;
            w.extend($v.iter().copied())
                .map_err(|e| err(path, e.to_string()))?;
            w.finish().map_err(|e| err(path, e.to_string()))?;
        }};
    }
    match &a.data {
        Data::F32(v) => put!(v),
        Data::F64(v) => put!(v),
        Data::F16(v) => put!(v),
        Data::BF16(v) => {
            let f: Vec<f32> = v.iter().map(|x| x.to_f32()).collect();
            put!(f)
        }
        Data::I8(v) => put!(v),
        Data::I16(v) => put!(v),
        Data::I32(v) => put!(v),
        Data::I64(v) => put!(v),
        Data::U8(v) => put!(v),
        Data::U16(v) => put!(v),
        Data::U32(v) => put!(v),
        Data::U64(v) => put!(v),
        Data::Bool(v) => put!(v),
        Data::Str(_) | Data::Packed(..) => {
            return Err(err(
                path,
                format!("{} arrays cannot be written as .npy", a.dtype()),
            ));
        }
    }
    crate::output::write_atomic(path, &buf).map_err(|e| err(path, e.to_string()))
}
