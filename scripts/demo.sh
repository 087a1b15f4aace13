#!/usr/bin/env bash
# The main job on a bundled model, from a fresh machine: installs what nnslim needs
# (scripts/setup.sh), builds nnslim, reads the ONNX "light" SqueezeNet (shipped in the onnx
# package the setup installs) into nnslim's IR, writes it back, and checks in ONNX Runtime that
# the result computes bit-identical outputs. Results go to out/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

scripts/setup.sh
cargo build -q -p nnslim
NNSLIM="$REPO/target/debug/nnslim"
PY="$REPO/.venv/bin/python"

mkdir -p out
MODEL="$("$PY" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/light/light_squeezenet.onnx"))')"

echo "demo: nnslim convert $(basename "$MODEL") -> out/squeezenet.onnx"
"$NNSLIM" convert "$MODEL" out/squeezenet.onnx

echo "demo: checking out/squeezenet.onnx in onnx.checker and ONNX Runtime against the original"
"$PY" - "$MODEL" out/squeezenet.onnx <<'PY'
import sys, numpy as np, onnx, onnxruntime as ort
orig, conv = sys.argv[1], sys.argv[2]
onnx.checker.check_model(conv)
x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
outs = []
for path in (orig, conv):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = [i.name for i in s.get_inputs() if i.name == "data_0"][0]
    outs.append(s.run(None, {name: x}))
same = all(a.tobytes() == b.tobytes() for a, b in zip(*outs))
print(f"demo: outputs bit-identical: {same}")
sys.exit(0 if same else 1)
PY
