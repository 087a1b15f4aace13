#!/usr/bin/env bash
# Benchmark (not a test): whole-process wall time and peak RSS of `nnslim compile --passes fold`
# vs the peer (onnxsim.simplify + onnxoptimizer.optimize as one Python process, the way a user
# runs it), same models and input shapes, median of N runs. The goal is nnslim >= 10x faster.
# Builds nnslim in release mode, installs the peers into the venv, generates test data if needed.
#
#   scripts/bench_fold.sh [--runs N] [--json FILE] [MODEL...]
#   scripts/bench_fold.sh --compare [MODEL...]   # node counts + numerics instead (compare_fold.py)
#
# Without models: the three fixtures and the random-weight light models (target/testdata/light_random).
# Set LIGHT_SHIPPED=1 to add the light models as shipped (constant weights, target/testdata/light).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/setup.sh >/dev/null
.venv/bin/pip install -q -r scripts/bench-requirements.txt
.venv/bin/python scripts/gen_testdata.py target/testdata >/dev/null
cargo build -q --release -p nnslim

mode=bench
if [ "${1:-}" = "--compare" ]; then mode=compare; shift; fi
opts=() models=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs|--json|--timeout) opts+=("$1" "$2"); shift 2 ;;
        --*) opts+=("$1"); shift ;;
        *) models+=("$1"); shift ;;
    esac
done
if [ "${#models[@]}" -eq 0 ]; then
    models=(tests/fixtures/seed_cnn_fashion.onnx tests/fixtures/mobile_cnn_fashion.onnx
            tests/fixtures/digits_mlp.onnx target/testdata/light_random/light_*.onnx)
    if [ "${LIGHT_SHIPPED:-0}" = 1 ]; then models+=(target/testdata/light/light_*.onnx); fi
fi
if [ "$mode" = compare ]; then
    exec .venv/bin/python scripts/compare_fold.py --ops "${opts[@]}" target/release/nnslim "${models[@]}"
fi
exec .venv/bin/python scripts/bench_fold.py "${opts[@]}" target/release/nnslim "${models[@]}"
