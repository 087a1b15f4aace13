#!/usr/bin/env python3
"""Peer benchmark: nnslim's interpreter vs ONNX Runtime (1 and 2 threads) vs tract, measured in
one run on the same machine, batch 1, median latency after warm-up. A benchmark, not a test.

Usage: scripts/bench_peers.sh (builds nnslim in release mode and installs tract), or
    .venv/bin/python scripts/bench_peers.py NNSLIM_BINARY MODEL...
Prints a table of median milliseconds and nnslim's ratio to each peer (lower is better).
"""

import json
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

ort.set_default_logger_severity(3)


def input_spec(path):
    """(name, shape with dynamic dims as 1, numpy dtype) of the model's one real input."""
    m = onnx.load(path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    assert len(inputs) == 1, f"{path}: benchmark models have one input"
    t = inputs[0].type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in t.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
    return inputs[0].name, shape, dtype


def median_seconds(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_ort(path, x, name, threads, iters, warmup):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return median_seconds(lambda: s.run(None, {name: x}), iters, warmup)


def bench_tract(path, x, iters, warmup):
    try:
        import tract
    except ImportError:
        return None
    dt = {np.float32: "f32"}.get(x.dtype.type, "f32")
    fact = ",".join(str(d) for d in x.shape) + "," + dt
    model = tract.onnx().load(path)
    model.set_input_fact(0, fact)
    runnable = model.into_model().into_runnable()
    return median_seconds(lambda: runnable.run([x]), iters, warmup)


def bench_nnslim(binary, path, iters, warmup):
    out = subprocess.run(
        [binary, "bench", path, "--json", "--iters", str(iters), "--warmup", str(warmup)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["median_ms"] / 1e3


def fmt(s):
    return "      n/a" if s is None else f"{s * 1e3:9.3f}"


def main():
    binary, models = sys.argv[1], sys.argv[2:]
    print(f"{'model':28} {'nnslim':>9} {'ORT 1t':>9} {'ORT 2t':>9} {'tract':>9}   ratios nnslim/peer (ms, median, batch 1)")
    for path in models:
        name, shape, dtype = input_spec(path)
        x = np.random.default_rng(0).random(shape, dtype=np.float32).astype(dtype)
        big = np.prod(shape) > 100_000
        iters, warmup = (20, 3) if big else (200, 20)
        ours = bench_nnslim(binary, path, iters, warmup)
        o1 = bench_ort(path, x, name, 1, iters, warmup)
        o2 = bench_ort(path, x, name, 2, iters, warmup)
        tr = bench_tract(path, x, iters, warmup)
        ratios = f"ORT1 {ours / o1:5.2f}x  ORT2 {ours / o2:5.2f}x" + (f"  tract {ours / tr:5.2f}x" if tr else "")
        label = path.rsplit("/", 1)[-1].removesuffix(".onnx")
        print(f"{label:28} {fmt(ours)} {fmt(o1)} {fmt(o2)} {fmt(tr)}   {ratios}", flush=True)


if __name__ == "__main__":
    main()
