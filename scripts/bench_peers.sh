#!/usr/bin/env bash
# Peer benchmark (not a test): nnslim's interpreter vs ONNX Runtime (1 and 2 threads) vs tract
# on the fixtures and the light SqueezeNet and ResNet-50 (random weights), in one run.
# Builds nnslim in release mode, installs tract into the venv, generates test data if needed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/setup.sh >/dev/null
.venv/bin/pip install -q -r scripts/bench-requirements.txt
.venv/bin/python scripts/gen_testdata.py target/testdata >/dev/null
cargo build -q --release -p nnslim
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
.venv/bin/python scripts/bench_peers.py target/release/nnslim \
    tests/fixtures/seed_cnn_fashion.onnx \
    tests/fixtures/mobile_cnn_fashion.onnx \
    tests/fixtures/digits_mlp.onnx \
    target/testdata/light_random/light_squeezenet.onnx \
    target/testdata/light_random/light_resnet50.onnx
