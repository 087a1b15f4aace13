//! Build script: compiles our proto2 ONNX schema (`onnx.proto`) into Rust types with prost.

fn main() {
    println!("cargo:rerun-if-changed=onnx.proto");
    let fds = protox::compile(["onnx.proto"], ["."]).unwrap_or_else(|e| panic!("onnx.proto: {e}"));
    let mut config = prost_build::Config::new();
    // Tensor payloads decoded from a `bytes::Bytes` buffer share it instead of being copied.
    config.bytes([".onnx.TensorProto.raw_data"]);
    config
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating Rust for onnx.proto: {e}"));
}
