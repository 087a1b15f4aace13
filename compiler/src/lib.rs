//! nnslim: facade library of the ONNX model compiler — the ONNX frontend and the driver behind
//! the `nnslim` binary — re-exporting the IR, passes and backends.

pub mod alloc;
pub mod cli;
pub mod commands;
pub mod data;
pub mod exec;
pub mod frontend;
pub mod inspect;
pub mod npy;

pub use nnslim_backends as backends;
pub use nnslim_ir as ir;
pub use nnslim_passes as passes;
pub mod output;
pub mod shapes;
