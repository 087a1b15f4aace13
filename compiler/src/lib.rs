//! nnslim: facade library of the ONNX model compiler (frontend, driver) behind the `nnslim` binary.
