//! The ONNX writer: IR model → `ModelProto` → file.
