#!/usr/bin/env bash
# The main job on a bundled model, from a fresh machine: installs what nnslim needs
# (scripts/setup.sh), builds nnslim, and on the bundled Fashion-MNIST CNN
# (tests/fixtures/seed_cnn_fashion.onnx): inspects it, reads it into nnslim's IR and writes it
# back (out/seed_cnn.onnx), checks in onnx.checker and ONNX Runtime that the result computes
# bit-identical outputs, and measures its accuracy on the 10 000 test images with nnslim's own
# interpreter against the original.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

scripts/setup.sh
cargo build -q -p nnslim
NNSLIM="$REPO/target/debug/nnslim"
PY="$REPO/.venv/bin/python"
MODEL=tests/fixtures/seed_cnn_fashion.onnx
mkdir -p out

echo "demo: nnslim inspect $MODEL"
"$NNSLIM" inspect "$MODEL"

echo "demo: nnslim convert $MODEL out/seed_cnn.onnx"
"$NNSLIM" convert "$MODEL" out/seed_cnn.onnx

echo "demo: checking out/seed_cnn.onnx in onnx.checker and ONNX Runtime against the original"
"$PY" - "$MODEL" out/seed_cnn.onnx <<'PY'
import sys, numpy as np, onnx, onnxruntime as ort
orig, conv = sys.argv[1], sys.argv[2]
onnx.checker.check_model(conv)
x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
outs = [ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"input": x}) for p in (orig, conv)]
same = all(a.tobytes() == b.tobytes() for a, b in zip(*outs))
print(f"demo: outputs bit-identical: {same}")
sys.exit(0 if same else 1)
PY

echo "demo: nnslim eval out/seed_cnn.onnx --data fashion-mnist:test --reference $MODEL"
"$NNSLIM" eval out/seed_cnn.onnx --data fashion-mnist:test --reference "$MODEL"
