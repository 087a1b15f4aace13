#!/usr/bin/python3
"""Trains nnslim's small real-weight test models and exports them to tests/fixtures/.

What it makes (all ONNX opset 13, input `input`, output `logits` = raw class scores
(no softmax), batch dimension dynamic and named `N`):

  seed_cnn_fashion.onnx     Fashion-MNIST CNN, input [N,1,28,28] float32 in [0,1] (pixel/255):
                            Conv(32,3x3) Relu MaxPool(2) Conv(64,3x3) Relu MaxPool(2) Flatten
                            Gemm(64) Relu Gemm(10). Ops: Conv Relu MaxPool Flatten Gemm.
  mobile_cnn_fashion.onnx   Fashion-MNIST mobile-style CNN, same input: stem Conv(16,3x3) then
                            three depthwise-separable blocks (depthwise 3x3 Conv with
                            group = channels, pointwise 1x1 Conv), every Conv followed by
                            BatchNormalization and HardSwish or ReLU6, stride 2 in blocks 1 and
                            2, GlobalAveragePool, Flatten, Gemm(10). The BatchNormalization nodes
                            are KEPT (not folded into the Convs); the script asserts their count.
                            At opset 13 HardSwish is exported as HardSigmoid + Mul and ReLU6 as
                            Clip(0, 6).
  digits_mlp.onnx           sklearn digits MLP, input [N,64] float32 in [0,1] (pixel/16):
                            Gemm(64) Relu Gemm(32) Relu Gemm(10).
  digits_test.npz           the digits test split the MLP never saw: x float32 [360,64] in [0,1],
                            y int64 [360]. Written with fixed zip timestamps (byte-reproducible).
  training_summary.json     recipe (seed, epochs, optimiser, batch) and the accuracy PyTorch
                            measured in eval mode for each model; tests/fixtures/measure_accuracy.py
                            checks that ONNX Runtime gets the same.

How to run (fresh Debian 12):

    apt-get install -y python3-torch python3-sklearn dataset-fashion-mnist
    /usr/bin/python3 scripts/train_fixtures.py            # about 9-14 minutes on 2 cores
    .venv/bin/python tests/fixtures/measure_accuracy.py   # ONNX Runtime accuracies

Run it with Debian's /usr/bin/python3 (python3-torch 1.13 lives there), not a pyenv/venv
python. Data sources:
  - Fashion-MNIST: the Debian package dataset-fashion-mnist,
    /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    (MNIST idx format, gzip), read with gzip + numpy. Override with --fashion-dir.
  - sklearn digits: the CSV sklearn/datasets/data/digits.csv.gz (1797 rows of 64 pixel values
    0..16 and the label). By default it is read from the installed scikit-learn package (Debian's
    python3-sklearn puts it in /usr/lib/python3/dist-packages/sklearn/datasets/data/); sklearn is
    located, not imported. Without python3-sklearn, pass --digits-csv with either that .csv.gz or
    a scikit-learn wheel (`python3 -m pip download --no-deps --only-binary=:all: scikit-learn -d
    /tmp/skl` with any pip): the CSV is the same in every scikit-learn release.

Determinism: every model re-seeds torch and numpy before it is built, batches come from a seeded
torch.Generator, torch.use_deterministic_algorithms(True), a fixed thread count (2), no
DataLoader workers. On one machine two runs write byte-identical files (checked); another CPU
or torch build may round differently and give slightly different weights.

After training, if a Python with onnxruntime is found (--verify-python, default the repo's
.venv/bin/python), the script runs tests/fixtures/measure_accuracy.py with it, which checks every
file with onnx.checker and compares ONNX Runtime's accuracy with PyTorch's.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures"
DEFAULT_FASHION = Path("/usr/share/datasets/fashion-mnist")
DIGITS_CSV_IN_PACKAGE = "sklearn/datasets/data/digits.csv.gz"

SEED = 20240611
THREADS = 2
OPSET = 13
MOBILE_BN_COUNT = 7  # stem + 3 blocks x (depthwise, pointwise)


# ----------------------------------------------------------------------------- data


def read_idx_gz(path: Path) -> np.ndarray:
    """Reads a gzip'd MNIST idx file (ubyte data) into a uint8 array of its shape."""
    data = gzip.decompress(path.read_bytes())
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: not an idx ubyte file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_fashion(fashion_dir: Path):
    """Fashion-MNIST as float32 NCHW in [0,1] (pixel/255) and int64 labels."""

    def images(name):
        return (read_idx_gz(fashion_dir / name).astype(np.float32) / 255.0)[:, None, :, :]

    def labels(name):
        return read_idx_gz(fashion_dir / name).astype(np.int64)

    xtr = images("train-images-idx3-ubyte.gz")
    ytr = labels("train-labels-idx1-ubyte.gz")
    xte = images("t10k-images-idx3-ubyte.gz")
    yte = labels("t10k-labels-idx1-ubyte.gz")
    assert xtr.shape == (60000, 1, 28, 28) and ytr.shape == (60000,)
    assert xte.shape == (10000, 1, 28, 28) and yte.shape == (10000,)
    return xtr, ytr, xte, yte


def find_digits_csv(arg: str | None) -> tuple[bytes, str]:
    """The gzip'd digits CSV bytes and a description of where they came from."""
    if arg:
        p = Path(arg)
        if p.suffix == ".whl":
            with zipfile.ZipFile(p) as z:
                return z.read(DIGITS_CSV_IN_PACKAGE), f"{p.name}:{DIGITS_CSV_IN_PACKAGE}"
        return p.read_bytes(), str(p)
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc).parent / DIGITS_CSV_IN_PACKAGE
            if p.is_file():
                return p.read_bytes(), str(p)
    sys.exit(
        "train_fixtures: sklearn digits not found. Install Debian's python3-sklearn, or pass "
        "--digits-csv PATH (digits.csv.gz, or a scikit-learn wheel from "
        "`pip download --no-deps --only-binary=:all: scikit-learn`)."
    )


def load_digits(csv_gz: bytes):
    """sklearn digits: x float32 [1797,64] in [0,1] (value/16), y int64 [1797]."""
    text = gzip.decompress(csv_gz).decode("ascii")
    rows = np.array([[int(v) for v in line.split(",")] for line in text.split("\n") if line.strip()])
    assert rows.shape == (1797, 65), rows.shape
    x = rows[:, :64].astype(np.float32) / np.float32(16.0)
    y = rows[:, 64].astype(np.int64)
    return x, y


def digits_split(x, y, seed: int):
    """Seeded 80/20 split: a legacy-RandomState permutation (stable across numpy versions);
    the last 360 indices are the test set."""
    perm = np.random.RandomState(seed).permutation(len(y))
    test, train = perm[-360:], perm[:-360]
    return x[train], y[train], x[test], y[test]


def save_npz_deterministic(path: Path, **arrays):
    """Like np.savez (np.load reads it), but with fixed zip timestamps so equal arrays give
    byte-identical files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            b = io.BytesIO()
            np.lib.format.write_array(b, np.ascontiguousarray(arr), allow_pickle=False)
            z.writestr(info, b.getvalue())
    path.write_bytes(buf.getvalue())


# ----------------------------------------------------------------------------- models


class SeedCNN(nn.Module):
    """Keras' classic MNIST CNN without dropout: ~122k parameters."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(64 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 26x26 -> 13x13
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 11x11 -> 5x5
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def conv_bn_act(cin, cout, k, stride, groups, act):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        act(),
    )


class DSBlock(nn.Module):
    """Depthwise-separable block: depthwise 3x3 (group = channels) then pointwise 1x1."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.dw = conv_bn_act(cin, cin, 3, stride, cin, act)
        self.pw = conv_bn_act(cin, cout, 1, 1, 1, act)

    def forward(self, x):
        return self.pw(self.dw(x))


class MobileCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn_act(1, 16, 3, 1, 1, nn.Hardswish)  # 28x28
        self.block1 = DSBlock(16, 32, 2, nn.ReLU6)  # -> 14x14
        self.block2 = DSBlock(32, 64, 2, nn.Hardswish)  # -> 7x7
        self.block3 = DSBlock(64, 128, 1, nn.Hardswish)  # 7x7
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 32)
        self.fc3 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


# ----------------------------------------------------------------------------- training


def seed_everything(seed: int):
    torch.manual_seed(seed)
    np.random.seed(seed)


def train(model, x, y, *, epochs, batch, lr, seed, name, schedule="constant"):
    """Adam, cross-entropy, seeded shuffling; optional cosine decay per step."""
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n = len(yt)
    steps_per_epoch = (n + batch - 1) // batch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = None
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            xb, yb = xt[idx], yt[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.item() * len(yb)
            correct += int((out.argmax(1) == yb).sum())
            total += len(yb)
        print(
            f"  {name} epoch {ep + 1}/{epochs}: loss {loss_sum / total:.4f} "
            f"train acc {correct / total:.4f} ({time.time() - t0:.1f} s)",
            flush=True,
        )


@torch.no_grad()
def evaluate(model, x, y, batch=1000) -> int:
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        out = model(torch.from_numpy(x[i : i + batch]))
        correct += int((out.argmax(1).numpy() == y[i : i + batch]).sum())
    return correct


# ----------------------------------------------------------------------------- export


def export(model, example, path: Path, *, keep_bn: bool):
    model.eval()
    kwargs = dict(
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=OPSET,
        do_constant_folding=True,
    )
    if keep_bn:
        # Eval-mode export folds BatchNormalization into the preceding Conv
        # (_jit_pass_onnx_eval_peephole). PRESERVE keeps the module's mode (eval: BN uses its
        # running statistics, one output) but skips that pass, so BN stays a node.
        # torch warns about constant folding with PRESERVE even for an eval-mode model; the
        # warning is about training-mode models, whose BN parameters folding could mutate.
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="It is recommended that constant folding")
        torch.onnx.export(model, example, str(path), **kwargs)


def _varint(buf: bytes, i: int):
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def _fields(buf: bytes):
    """Yields (field number, wire type, value) of a protobuf message; LEN values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i : i + 8], i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i : i + n], i + n
        elif wt == 5:
            v, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield field, wt, v


def onnx_op_types(path: Path) -> list[str]:
    """op_type of every top-level node, read with a minimal protobuf walker (Debian's python has
    no onnx package): ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4."""
    ops = []
    for f, wt, graph in _fields(path.read_bytes()):
        if f == 7 and wt == 2:
            for g, gwt, node in _fields(graph):
                if g == 1 and gwt == 2:
                    for h, hwt, v in _fields(node):
                        if h == 4 and hwt == 2:
                            ops.append(v.decode())
    return ops


def op_histogram(ops: list[str]) -> dict[str, int]:
    hist: dict[str, int] = {}
    for op in ops:
        hist[op] = hist.get(op, 0) + 1
    return dict(sorted(hist.items()))


@torch.no_grad()
def check_dynamic_batch(model, example_shape):
    """Sanity check on the PyTorch side: the model works on batch 3 (ORT checks the file)."""
    model.eval()
    out = model(torch.zeros((3,) + tuple(example_shape[1:])))
    assert out.shape == (3, 10), out.shape


# ----------------------------------------------------------------------------- main

RECIPES = {
    "seed_cnn_fashion": dict(epochs=10, batch=64, lr=1e-3, schedule="constant"),
    "mobile_cnn_fashion": dict(epochs=10, batch=128, lr=3e-3, schedule="cosine"),
    "digits_mlp": dict(epochs=60, batch=32, lr=1e-3, schedule="constant"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--fashion-dir", type=Path, default=DEFAULT_FASHION)
    ap.add_argument("--digits-csv", help="digits.csv.gz or a scikit-learn wheel")
    ap.add_argument(
        "--only", action="append", choices=sorted(RECIPES), help="train only these (repeatable)"
    )
    ap.add_argument(
        "--verify-python",
        default=str(REPO / ".venv" / "bin" / "python"),
        help="python with onnx + onnxruntime for the final check ('' to skip)",
    )
    args = ap.parse_args()

    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    if hasattr(torch.backends, "mkldnn") and hasattr(torch.backends.mkldnn, "deterministic"):
        torch.backends.mkldnn.deterministic = True
    args.out.mkdir(parents=True, exist_ok=True)
    which = args.only or list(RECIPES)
    summary_path = args.out / "training_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["generator"] = {
        "script": "scripts/train_fixtures.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "threads": THREADS,
        "opset": OPSET,
    }
    summary.setdefault("models", {})
    t_all = time.time()

    fashion = None
    if any(m.endswith("_fashion") for m in which):
        fashion = load_fashion(args.fashion_dir)

    for i, name in enumerate(RECIPES):
        if name not in which:
            continue
        r = RECIPES[name]
        model_seed = SEED + i
        seed_everything(model_seed)
        t0 = time.time()
        print(f"{name}: {r}", flush=True)
        if name == "digits_mlp":
            csv_gz, src = find_digits_csv(args.digits_csv)
            x, y = load_digits(csv_gz)
            xtr, ytr, xte, yte = digits_split(x, y, model_seed)
            model = DigitsMLP()
            example = torch.zeros(1, 64)
            print(f"  digits CSV from {src}", flush=True)
            data_note = (
                f"sklearn digits (digits.csv.gz, sha256 of the decompressed CSV "
                f"{hashlib.sha256(gzip.decompress(csv_gz)).hexdigest()[:16]}...), x/16; "
                f"RandomState({model_seed}).permutation, last 360 = test, {len(ytr)} train"
            )
        else:
            xtr, ytr, xte, yte = fashion
            model = SeedCNN() if name == "seed_cnn_fashion" else MobileCNN()
            example = torch.zeros(1, 1, 28, 28)
            data_note = "Fashion-MNIST (Debian dataset-fashion-mnist), pixel/255, 60000 train"
        train(model, xtr, ytr, seed=model_seed, name=name, **r)
        correct = evaluate(model, xte, yte)
        train_s = time.time() - t0
        path = args.out / f"{name}.onnx"
        check_dynamic_batch(model, example.shape)
        export(model, example, path, keep_bn=(name == "mobile_cnn_fashion"))
        ops = op_histogram(onnx_op_types(path))
        if name == "mobile_cnn_fashion":
            bn = ops.get("BatchNormalization", 0)
            assert bn == MOBILE_BN_COUNT, f"expected {MOBILE_BN_COUNT} BatchNormalization, got {ops}"
        else:
            assert "BatchNormalization" not in ops
        if name == "digits_mlp":
            save_npz_deterministic(args.out / "digits_test.npz", x=xte, y=yte)
        params = sum(p.numel() for p in model.parameters())
        print(
            f"{name}: torch eval accuracy {correct / len(yte):.4f} ({correct}/{len(yte)}), "
            f"{params} parameters, {path.stat().st_size} bytes, ops {ops}, {train_s:.0f} s",
            flush=True,
        )
        summary["models"][name] = {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "parameters": params,
            "ops": ops,
            "data": data_note,
            "recipe": {
                **r,
                "optimizer": "Adam",
                "loss": "cross-entropy",
                "seed": model_seed,
            },
            "torch_test_correct": correct,
            "test_total": int(len(yte)),
        }
    summary["models"] = dict(sorted(summary["models"].items()))
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"total {time.time() - t_all:.0f} s; wrote {summary_path}", flush=True)

    vp = args.verify_python
    if vp and Path(vp).exists():
        print(f"verifying with {vp} tests/fixtures/measure_accuracy.py", flush=True)
        rc = subprocess.call(
            [vp, str(REPO / "tests" / "fixtures" / "measure_accuracy.py"), "--dir", str(args.out)]
            + which
        )
        sys.exit(rc)
    elif vp:
        print(f"(no {vp}: skipping the ONNX Runtime check)")


if __name__ == "__main__":
    main()
