#!/usr/bin/env bash
# Benchmarks of issue 6 (not tests): (a) ONNX Runtime latency of nnslim's static-int8 seed CNN vs
# the model ORT's own quantizer makes, (b) nnslim's peak memory with 10 000 vs 100 calibration
# samples, (c) whole-process quantization time of nnslim vs ORT's quantize_static. Prints the
# machine and medians of several runs. Builds nnslim in release mode and sets up the venv first
# (scripts/requirements.txt has all the peer needs: onnxruntime + sympy for its quantizer).
#
#   scripts/bench_quant.sh [--only a,b,c] [--runs N] [--json FILE] ...   # see bench_quant.py
#   scripts/bench_quant.sh --compare [--runs N] [--json FILE] ...        # compare_quant.py instead:
#                         # accuracy / size / time vs ORT's quantizer on every fixture and mode
#   scripts/bench_quant.sh --perf [N]   # perf profile of `quantize(int8)` on N samples (256):
#                         # time per quantize phase (calibrate, sensitivity, diagnosis, ...)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/setup.sh >/dev/null
cargo build -q --release -p nnslim
BIN=target/release/nnslim
echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

case "${1:-}" in
--compare)
    shift
    exec .venv/bin/python scripts/compare_quant.py "$BIN" "$@"
    ;;
--perf)
    n="${2:-256}"
    command -v perf >/dev/null || { echo "--perf needs perf (Debian: linux-perf)" >&2; exit 1; }
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    perf record -q --call-graph dwarf,16384 -F 4999 -o "$tmp/perf.data" \
        "$BIN" compile tests/fixtures/seed_cnn_fashion.onnx -o "$tmp/q.onnx" \
        --passes "quantize(int8, samples=$n)" --calib "fashion-mnist:train:$n" --fidelity-runs 0 -q \
        2>/dev/null
    echo "perf, $n samples: columns are inclusive % and self % of all samples (all threads)"
    perf report -i "$tmp/perf.data" --stdio -g none 2>/dev/null | grep -m1 -E '^# Samples' || true
    perf report -i "$tmp/perf.data" --children --sort symbol -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed -E 's/ +/ /g; s/ - - *$//' | cut -c1-150 |
        grep -E '\] (nnslim|gemm_|exc_page_fault$|__memmove|__memset)' | grep -v -E '\{closure|\{impl' |
        grep -E 'compile::compile$|quantize::|data::|onnx::|ops::nn::quant::[a-z_0-9]+$|Plan::run$|page_fault|ops::nn::conv::conv$|ops::nn::gemm|gemm_|mem(move|set)' |
        awk '!seen[$0]++' | head -40
    ;;
*)
    exec .venv/bin/python scripts/bench_quant.py "$BIN" "$@"
    ;;
esac
