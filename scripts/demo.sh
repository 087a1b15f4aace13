#!/usr/bin/env bash
# The main job on a bundled model, from a fresh machine: installs what nnslim needs
# (scripts/setup.sh), builds nnslim, and on the bundled Fashion-MNIST mobile CNN
# (tests/fixtures/mobile_cnn_fashion.onnx, with 7 BatchNormalization layers): inspects it,
# compiles it with the `fold` pipeline (out/mobile_cnn.onnx, report in out/mobile_cnn.json,
# fidelity measured on 1000 held-out training images), checks the result in onnx.checker and
# ONNX Runtime against the original, and measures its accuracy on the 10 000 test images with
# nnslim's interpreter next to the original. Then it compresses the bundled seed CNN with
# `fold,prune(ratio=0.8,method=sensitivity),quantize(int8),sparsify` (out/seed_cnn_deep.onnx)
# and prints its accuracy in ONNX Runtime and its raw and gzip sizes next to the original's.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

scripts/setup.sh
cargo build -q -p nnslim
NNSLIM="$REPO/target/debug/nnslim"
PY="$REPO/.venv/bin/python"
MODEL=tests/fixtures/mobile_cnn_fashion.onnx
mkdir -p out

echo "demo: nnslim inspect $MODEL"
"$NNSLIM" inspect "$MODEL"

echo "demo: nnslim compile $MODEL -o out/mobile_cnn.onnx --passes fold ..."
"$NNSLIM" compile "$MODEL" -o out/mobile_cnn.onnx --passes fold \
    --validate-with fashion-mnist:train:59000..60000 --report out/mobile_cnn.json

echo "demo: checking out/mobile_cnn.onnx in onnx.checker and ONNX Runtime against the original"
"$PY" - "$MODEL" out/mobile_cnn.onnx <<'PY'
import sys, numpy as np, onnx, onnxruntime as ort
orig, new = sys.argv[1], sys.argv[2]
onnx.checker.check_model(new)
ops = [n.op_type for n in onnx.load(new).graph.node]
x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
a, b = [ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        for p in (orig, new)]
ok = bool(np.all(np.abs(b - a) <= 1e-4 * np.abs(a) + 1e-5))
print(f"demo: {len(ops)} nodes, {ops.count('BatchNormalization')} BatchNormalization; "
      f"outputs match the original (|a-b| <= 1e-4|b| + 1e-5): {ok}; "
      f"max abs diff {float(np.abs(b - a).max()):.2e}")
sys.exit(0 if ok else 1)
PY

echo "demo: nnslim eval out/mobile_cnn.onnx --data fashion-mnist:test --reference $MODEL"
"$NNSLIM" eval out/mobile_cnn.onnx --data fashion-mnist:test --reference "$MODEL"

SEED=tests/fixtures/seed_cnn_fashion.onnx
SPEC="fold,prune(ratio=0.8,method=sensitivity),quantize(int8),sparsify"
echo "demo: nnslim compile $SEED -o out/seed_cnn_deep.onnx --passes '$SPEC' ..."
"$NNSLIM" compile "$SEED" -o out/seed_cnn_deep.onnx --passes "$SPEC" \
    --validate-with fashion-mnist:train:59000..60000 --report out/seed_cnn_deep.json
"$PY" - "$SEED" out/seed_cnn_deep.onnx <<'PY'
import gzip, sys, numpy as np, onnx, onnxruntime as ort
def read(name):
    with gzip.open(f"/usr/share/datasets/fashion-mnist/{name}") as f:
        return f.read()
x = np.frombuffer(read("t10k-images-idx3-ubyte.gz"), np.uint8, offset=16)
x = x.reshape(-1, 1, 28, 28).astype(np.float32) / 255
y = np.frombuffer(read("t10k-labels-idx1-ubyte.gz"), np.uint8, offset=8)
for path in sys.argv[1:]:
    onnx.checker.check_model(path)
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    correct = sum(int((s.run(None, {"input": x[i:i + 1000]})[0].argmax(1) == y[i:i + 1000]).sum())
                  for i in range(0, len(x), 1000))
    raw = open(path, "rb").read()
    print(f"demo: {path}: ONNX Runtime {correct}/{len(x)} correct; "
          f"{len(raw)} bytes, gzip {len(gzip.compress(raw))} bytes")
PY
