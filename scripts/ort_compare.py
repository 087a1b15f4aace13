#!/usr/bin/env python3
"""Oracle for nnslim's round-trip tests: do two ONNX models give bit-identical outputs in ONNX Runtime?

Usage: ort_compare.py PAIRS.json

PAIRS.json is a JSON list of objects:
    {"name": str, "original": path, "converted": path,
     "inputs": [path to input_0.pb, input_1.pb, ...], "check_model": bool,
     "random_inputs": seed (optional), "tolerance": bool (optional)}
With "random_inputs", the inputs are seeded random float32 arrays in [0, 1) shaped like the
converted model's inputs (symbolic dims 1) instead of files. With "tolerance", float outputs match
when |a - b| <= 1e-4*|b| + 1e-5 element-wise (the CLI contract's "matches") instead of bit for bit:
for models whose graph was rewritten.
For each pair: optionally run onnx.checker.check_model on the converted model (by path, so models
with external data or over 2 GB work), run both models in ONNX Runtime (CPU, one thread) on the
inputs, and compare every output bit for bit (same dtype, shape and bytes, so NaNs match NaNs with
the same bits; strings, sequences, optionals and maps compared element by element).

An input file holds a TensorProto, SequenceProto, OptionalProto or MapProto, as in the ONNX backend
test data. It is bound to the session input named by its `name` field when that names one, else to
the session input at its position (the N-th input that is not an initializer).

Prints one JSON object on stdout:
    {"results": [{"name": str, "ok": bool, "error": str | null}], "passed": N, "failed": M}
A bad pair never stops the run: its error is reported and the next pair goes on.

gen_testdata.py imports load_inputs / run_model from here, so "ORT can run this node test" means
exactly what this oracle does.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ort.set_default_logger_severity(3)

_PROTO_BY_KIND = {
    "tensor": onnx.TensorProto,
    "seq": onnx.SequenceProto,
    "optional": onnx.OptionalProto,
    "map": onnx.MapProto,
}


def _kind(ort_type: str) -> str:
    """'tensor(float)' -> 'tensor', 'seq(tensor(int64))' -> 'seq', 'optional(...)' -> 'optional'."""
    kind = ort_type.split("(", 1)[0]
    return kind if kind in _PROTO_BY_KIND else "tensor"


def _parse(data: bytes, kind: str) -> tuple[str, Any]:
    """Parses one input file as the given kind; returns (stored name, value ORT accepts)."""
    proto = _PROTO_BY_KIND[kind]()
    proto.ParseFromString(data)
    if kind == "tensor":
        return proto.name, numpy_helper.to_array(proto)
    if kind == "seq":
        return proto.name, numpy_helper.to_list(proto)
    if kind == "optional":
        return proto.name, numpy_helper.to_optional(proto)
    return proto.name, numpy_helper.to_dict(proto)


def make_session(path: str | bytes, log_level: int = 3) -> ort.InferenceSession:
    """An ORT session on the CPU with one thread; log_level 3 = errors only, 4 = fatal only."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = log_level
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def load_inputs(sess: ort.InferenceSession, input_paths: list[str]) -> dict[str, Any]:
    """Reads input_N.pb files and binds each to a session input (by stored name, else position)."""
    sess_inputs = sess.get_inputs()
    kind_by_name = {i.name: _kind(i.type) for i in sess_inputs}
    feeds: dict[str, Any] = {}
    for pos, path in enumerate(input_paths):
        with open(path, "rb") as f:
            data = f.read()
        positional = sess_inputs[pos].name if pos < len(sess_inputs) else None
        guess = kind_by_name.get(positional, "tensor")
        try:
            name, value = _parse(data, guess)
        except Exception:  # noqa: BLE001 - wrong guess of the proto kind; try the others
            name = value = None
            for kind in _PROTO_BY_KIND:
                if kind == guess:
                    continue
                try:
                    name, value = _parse(data, kind)
                    guess = kind
                    break
                except Exception:  # noqa: BLE001
                    continue
            if name is None:
                raise ValueError(f"{path}: not a Tensor/Sequence/Optional/Map proto") from None
        if name and name in kind_by_name and kind_by_name[name] != guess:
            name, value = _parse(data, kind_by_name[name])
        target = name if name in kind_by_name else positional
        if target is None:
            raise ValueError(
                f"{os.path.basename(path)} (name {name!r}) matches no session input "
                f"and the session has only {len(sess_inputs)} inputs"
            )
        if target in feeds:
            raise ValueError(f"{os.path.basename(path)}: session input {target!r} bound twice")
        feeds[target] = value
    return feeds


def run_model(path: str, input_paths: list[str], log_level: int = 3) -> list[Any]:
    """Loads a model in ORT and runs it on the given input files; returns all outputs in order."""
    sess = make_session(path, log_level)
    return sess.run(None, load_inputs(sess, input_paths))


def _describe(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return f"array {a.dtype} {list(a.shape)}"
    return type(a).__name__


def _diff_arrays(a: np.ndarray, b: np.ndarray, where: str) -> str | None:
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"{where}: {_describe(a)} vs {_describe(b)}"
    if a.dtype == object:
        fa, fb = a.ravel().tolist(), b.ravel().tolist()
        bad = [i for i, (x, y) in enumerate(zip(fa, fb)) if type(x) is not type(y) or x != y]
    else:
        ba = np.ascontiguousarray(a).reshape(-1).view(np.uint8).reshape(a.size, a.dtype.itemsize)
        bb = np.ascontiguousarray(b).reshape(-1).view(np.uint8).reshape(b.size, b.dtype.itemsize)
        if np.array_equal(ba, bb):
            return None
        bad = np.flatnonzero((ba != bb).any(axis=1)).tolist()
    if not bad:
        return None
    i = bad[0]
    idx = np.unravel_index(i, a.shape) if a.shape else ()
    msg = f"{where}: {len(bad)}/{a.size} elements differ; first at {tuple(int(k) for k in idx)}: "
    x, y = a.ravel()[i], b.ravel()[i]
    if str(x) == str(y) and a.dtype != object:  # e.g. NaNs with different payloads
        x, y = f"{x} (0x{x.tobytes()[::-1].hex()})", f"{y} (0x{y.tobytes()[::-1].hex()})"
    msg += f"{str(x)} vs {str(y)}"
    if a.dtype.kind in "fc":
        wide = np.complex128 if a.dtype.kind == "c" else np.float64
        with np.errstate(all="ignore"):
            d = np.abs(a.ravel()[bad].astype(wide) - b.ravel()[bad].astype(wide))
        d = d[np.isfinite(d)]
        if d.size:
            msg += f"; max abs diff {float(d.max()):.3g}"
    return msg


def diff(a: Any, b: Any, where: str) -> str | None:
    """None when a and b are bit-identical ORT values, else a description of the first difference."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return f"{where}: {_describe(a)} vs {_describe(b)}"
        return _diff_arrays(a, b, where)
    if a is None or b is None:
        return None if a is None and b is None else f"{where}: {_describe(a)} vs {_describe(b)}"
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: sequence of {len(a)} vs {len(b)} elements"
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{where}: map keys {list(a)[:5]}... vs {list(b)[:5]}..."
        for k in a:
            d = diff(a[k], b[k], f"{where}[{k!r}]")
            if d:
                return d
        return None
    if type(a) is type(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes():
        return None
    return f"{where}: {a!r} vs {b!r}"


def compare_pair(pair: dict[str, Any]) -> str | None:
    """Returns None when the pair matches, else an error message."""
    if not isinstance(pair, dict) or not {"original", "converted"} <= pair.keys():
        return "malformed pair: want an object with original, converted, inputs, check_model"
    converted = pair["converted"]
    if pair.get("check_model", False):
        try:
            onnx.checker.check_model(converted, full_check=False)
        except Exception as e:  # noqa: BLE001
            return f"check_model: {type(e).__name__}: {e}"
    inputs = pair.get("inputs", [])
    seed = pair.get("random_inputs")
    try:
        sess = make_session(converted)
        names = [o.name for o in sess.get_outputs()]
        feeds = random_feeds(sess, seed) if seed is not None else load_inputs(sess, inputs)
        actual = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        return f"converted failed in ORT: {type(e).__name__}: {e}"
    try:
        if seed is not None:
            orig = make_session(pair["original"])
            expected = orig.run(None, {i.name: feeds[i.name] for i in orig.get_inputs()})
        else:
            expected = run_model(pair["original"], inputs)
    except Exception as e:  # noqa: BLE001
        return f"original failed in ORT: {type(e).__name__}: {e}"
    if len(expected) != len(actual):
        return f"{len(expected)} outputs in original vs {len(actual)} in converted"
    for i, (x, y) in enumerate(zip(expected, actual)):
        where = f"output {i} ({names[i]!r})"
        d = close(y, x, where) if pair.get("tolerance") else diff(x, y, where)
        if d:
            return d
    return None


def random_feeds(sess: ort.InferenceSession, seed: int) -> dict[str, Any]:
    """Seeded float32 inputs in [0, 1) shaped like the session's inputs (symbolic dims 1)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        feeds[i.name] = rng.random(shape, dtype=np.float32)
    return feeds


def close(actual: Any, expected: Any, where: str) -> str | None:
    """None when float arrays match within the contract tolerance (others: bit-identical)."""
    if not (isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray)):
        return diff(expected, actual, where)
    if actual.dtype != expected.dtype or actual.shape != expected.shape:
        return f"{where}: {_describe(actual)} vs expected {_describe(expected)}"
    if actual.dtype.kind != "f":
        return diff(expected, actual, where)
    a, b = actual.astype(np.float64), expected.astype(np.float64)
    bad = ~((np.abs(a - b) <= 1e-4 * np.abs(b) + 1e-5) | (np.isnan(a) & np.isnan(b)))
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad.ravel())[0])
    return (
        f"{where}: {int(bad.sum())}/{a.size} elements outside tolerance; first at flat index {i}: "
        f"{a.ravel()[i]} vs expected {b.ravel()[i]}; max abs diff {float(np.abs(a - b).max()):.3g}"
    )


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        pairs = json.load(f)
    # Keep stdout for the JSON report alone: anything native code prints goes to stderr.
    sys.stdout.flush()
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    faulthandler.enable()  # should ORT crash outright, the last progress line names the pair
    results = []
    for i, pair in enumerate(pairs):
        name = pair.get("name", f"#{i}") if isinstance(pair, dict) else f"#{i}"
        print(f"ort_compare: [{i + 1}/{len(pairs)}] {name}", file=sys.stderr, flush=True)
        try:
            error = compare_pair(pair)
        except Exception as e:  # noqa: BLE001 - never let one pair stop the run
            error = f"{type(e).__name__}: {e}"
        results.append({"name": name, "ok": error is None, "error": error})
    passed = sum(r["ok"] for r in results)
    json.dump({"results": results, "passed": passed, "failed": len(results) - passed}, report)
    report.write("\n")
    report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
