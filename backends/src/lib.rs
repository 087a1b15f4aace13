//! nnslim-backends: the emitters that turn an IR model into files — ONNX today.

pub mod onnx;
