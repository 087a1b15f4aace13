#!/usr/bin/env python3
"""Peer comparison for `nnslim compile --passes 'fold,quantize(...)'`: nnslim vs ONNX Runtime's
quantizer on the fixtures. A benchmark, not a test.

Usage:
    .venv/bin/python scripts/compare_quant.py NNSLIM_BIN [--runs N] [--calib-n 256]
        [--peer-batch B] [--only static] [--json FILE] [--keep DIR]

Static int8 (the headline rows), on tests/fixtures/{seed,mobile}_cnn_fashion.onnx, with the same
calibration samples (the first `--calib-n` Fashion-MNIST training images, pixel/255, NCHW):
  - nnslim: `NNSLIM_BIN compile MODEL -o OUT --passes 'fold,quantize(int8)'
    --calib fashion-mnist:train:N --fidelity-runs 0 -q` (per-channel symmetric int8 weights,
    per-tensor asymmetric uint8 activations, min/max ranges: nnslim's defaults);
  - ORT: `quantize_static(QDQ, per_channel=True, activation_type=QUInt8, weight_type=QInt8,
    calibrate_method=MinMax)` on the original model, as one `python -c` process that imports
    onnxruntime.quantization, reads the samples from the gzip file, calibrates, quantizes and saves;
  - ORT+pre (mobile CNN only): the same, after ORT's recommended
    `onnxruntime.quantization.shape_inference.quant_pre_process` (symbolic shape inference + ORT
    graph optimisations, which fold its BatchNormalization nodes into the Convs), in the same
    process. nnslim gets `fold` for the same reason.
Other modes (accuracy and size; time shown for information):
  - dynamic int8: nnslim `quantize(dynamic)` vs ORT `quantize_dynamic` (QInt8 weights, defaults)
    on digits_mlp (and on the two CNNs);
  - nnslim only: `quantize(fp16)`, `quantize(bf16)`, `quantize(weights=int4, block=32)`,
    `quantize(kmeans=16)`.

Accuracy is measured in ONNX Runtime (CPU, default graph optimisations) on all 10 000
Fashion-MNIST test images, or on the 360 samples of tests/fixtures/digits_test.npz; drop is in
percentage points against the float model; every result is checked with onnx.checker.
Time is whole-process wall time, median of N runs after one untimed warm-up, tools interleaved
(the peer's Python start-up and imports count, as do nnslim's process start and data reading).
Peak RSS is the kernel's ru_maxrss of the tool process.

Exit status 0 when every tool ran; 1 when one failed (the table says which).
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_fold as cf  # noqa: E402  (run_measured: wall time + ru_maxrss of a child)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(REPO, "tests", "fixtures")
FMNIST = "/usr/share/datasets/fashion-mnist"
TRAIN_IMAGES = os.path.join(FMNIST, "train-images-idx3-ubyte.gz")

# ---------------------------------------------------------------- the peer, as user scripts

# quantize_static as a user runs it: python -c CODE SRC DST N BATCH INPUT_NAME PRE
# (PRE: "-" for none, else where quant_pre_process writes the pre-processed model).
PEER_STATIC_CODE = f"""
import gzip, sys
import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
src, dst, n, batch, name, pre = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
if pre != "-":
    from onnxruntime.quantization.shape_inference import quant_pre_process
    quant_pre_process(src, pre)
    src = pre
with gzip.open({TRAIN_IMAGES!r}, "rb") as f:
    f.read(16)
    x = np.frombuffer(f.read(n * 784), np.uint8).reshape(n, 1, 28, 28).astype(np.float32) / 255

class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter([{{name: x[i:i + batch]}} for i in range(0, n, batch)])
    def get_next(self):
        return next(self.it, None)

quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax)
"""

# quantize_dynamic with its defaults (QInt8 weights, per-tensor): python -c CODE SRC DST
PEER_DYNAMIC_CODE = """
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
"""


def peer_static_cmd(src, dst, n, batch, input_name, pre=None):
    return [sys.executable, "-c", PEER_STATIC_CODE, src, dst, str(n), str(batch), input_name, pre or "-"]


def peer_dynamic_cmd(src, dst):
    return [sys.executable, "-c", PEER_DYNAMIC_CODE, src, dst]


def nnslim_cmd(binary, src, dst, passes, calib=None):
    cmd = [binary, "compile", src, "-o", dst, "--passes", passes, "--fidelity-runs", "0", "-q"]
    if calib:
        cmd += ["--calib", calib]
    return cmd


# ---------------------------------------------------------------- data and accuracy


def read_idx_images(path, start, count):
    """Images [count,1,28,28] float32 in [0,1] from an idx3 gzip file, streaming only what is needed."""
    import numpy as np

    with gzip.open(path, "rb") as f:
        f.read(16 + start * 784)
        raw = f.read(count * 784)
    return np.frombuffer(raw, np.uint8).reshape(count, 1, 28, 28).astype(np.float32) / 255


def read_idx_labels(path, count):
    import numpy as np

    with gzip.open(path, "rb") as f:
        f.read(8)
        return np.frombuffer(f.read(count), np.uint8).astype(np.int64)


def fashion_test():
    return (read_idx_images(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"), 0, 10000),
            read_idx_labels(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), 10000))


def digits_test():
    import numpy as np

    d = np.load(os.path.join(FIX, "digits_test.npz"))
    return d["x"].astype(np.float32), d["y"].astype(np.int64)


def session(path, threads=0, optimized_path=None, level=None):
    """An ORT CPU session; threads=0 lets ORT choose. optimized_path: write ORT's optimised graph."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    if level is not None:
        so.graph_optimization_level = level
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def accuracy(path, x, y, batch=1000):
    """Top-1 accuracy of the model at `path` in ORT on (x, y); (correct, total)."""
    s = session(path)
    name = s.get_inputs()[0].name
    correct = 0
    for i in range(0, len(x), batch):
        logits = s.run(None, {name: x[i:i + batch]})[0]
        correct += int((logits.argmax(axis=1) == y[i:i + batch]).sum())
    return correct, len(x)


def checker(path):
    """None when onnx.checker.check_model(full_check=True) passes, else its message (first line)."""
    import onnx

    try:
        onnx.checker.check_model(path, full_check=True)
        return None
    except Exception as e:  # noqa: BLE001 - any checker failure is reported, not raised
        return str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__


def input_name(path):
    import onnx

    m = onnx.load(path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs), {cpu}; load average {load}"


def versions(binary):
    from importlib.metadata import version

    try:
        nn = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nn = "?"
    return f"{nn}; onnxruntime {version('onnxruntime')}, onnx {version('onnx')}, Python {sys.version.split()[0]}"


# ---------------------------------------------------------------- running tools


def time_tools(tools, runs, workdir, timeout=900):
    """Runs each {name: (cmd, out_path)} once untimed, then `runs` times interleaved.

    Returns {name: {"median_s", "runs", "peak_rss_mib"} or {"failed": msg}}; the output files of
    the last run stay in place.
    """
    samples = {k: [] for k in tools}
    failed = {}
    for i in range(runs + 1):
        for name, (cmd, out) in tools.items():
            if name in failed:
                continue
            rc, wall, rss, err = cf.run_measured(cmd, timeout=timeout)
            if rc != 0 or not os.path.exists(out):
                failed[name] = cf.short_error(rc, err) if rc != 0 else "no output written"
            elif i > 0:
                samples[name].append((wall, rss))
    res = {}
    for name in tools:
        if name in failed:
            res[name] = {"failed": failed[name]}
        else:
            walls = [w for w, _ in samples[name]]
            res[name] = {"median_s": statistics.median(walls), "runs": walls,
                         "peak_rss_mib": statistics.median(r for _, r in samples[name])}
    return res


def cases(binary, tmp, n, batch, only_static):
    """The comparisons: (model label, float path, data name, mode, {tool: (cmd, out)})."""
    seed = os.path.join(FIX, "seed_cnn_fashion.onnx")
    mobile = os.path.join(FIX, "mobile_cnn_fashion.onnx")
    digits = os.path.join(FIX, "digits_mlp.onnx")
    calib = f"fashion-mnist:train:{n}"
    out = lambda tag: os.path.join(tmp, tag + ".onnx")  # noqa: E731
    cs = [
        ("seed_cnn", seed, "fashion", "static int8", {
            "nnslim": (nnslim_cmd(binary, seed, out("seed_nn_s8"), "fold,quantize(int8)", calib), out("seed_nn_s8")),
            "ORT": (peer_static_cmd(seed, out("seed_ort_s8"), n, batch, input_name(seed)), out("seed_ort_s8")),
        }),
        ("mobile_cnn", mobile, "fashion", "static int8", {
            "nnslim": (nnslim_cmd(binary, mobile, out("mob_nn_s8"), "fold,quantize(int8)", calib), out("mob_nn_s8")),
            "ORT": (peer_static_cmd(mobile, out("mob_ort_s8"), n, batch, input_name(mobile)), out("mob_ort_s8")),
            "ORT+pre": (peer_static_cmd(mobile, out("mob_ortp_s8"), n, batch, input_name(mobile), out("mob_pre")),
                        out("mob_ortp_s8")),
        }),
    ]
    if only_static:
        return cs
    for label, path, data in (("digits_mlp", digits, "digits"), ("seed_cnn", seed, "fashion"),
                              ("mobile_cnn", mobile, "fashion")):
        cs.append((label, path, data, "dynamic int8", {
            "nnslim": (nnslim_cmd(binary, path, out(label + "_nn_dyn"), "fold,quantize(dynamic)"), out(label + "_nn_dyn")),
            "ORT": (peer_dynamic_cmd(path, out(label + "_ort_dyn")), out(label + "_ort_dyn")),
        }))
    for label, path, data in (("seed_cnn", seed, "fashion"), ("mobile_cnn", mobile, "fashion"),
                              ("digits_mlp", digits, "digits")):
        for mode, spec in (("fp16", "fp16"), ("bf16", "bf16"), ("int4 weight-only", "weights=int4, block=32"),
                           ("kmeans=16", "kmeans=16")):
            tag = f"{label}_nn_{spec.split(',')[0].replace('=', '')}"
            cs.append((label, path, data, mode, {
                "nnslim": (nnslim_cmd(binary, path, out(tag), f"fold,quantize({spec})"), out(tag)),
            }))
    return cs


def fmt_t(r):
    if "failed" in r:
        return "FAILED"
    s = r["median_s"]
    return f"{s * 1e3:.0f} ms" if s < 10 else f"{s:.1f} s"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", metavar="NNSLIM_BIN")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    ap.add_argument("--calib-n", type=int, default=256, help="calibration samples (default 256)")
    ap.add_argument("--peer-batch", type=int, default=1,
                    help="samples per CalibrationDataReader item for the peer (default 1; "
                         "MinMax ranges do not depend on it)")
    ap.add_argument("--only", choices=["static"], help="only the static int8 rows")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--keep", help="copy the quantized models into this directory")
    a = ap.parse_args(argv)
    binary = os.path.abspath(a.binary)

    print(f"machine: {machine()}")
    print(f"versions: {versions(binary)}")
    print(f"calibration: first {a.calib_n} Fashion-MNIST training images (peer batch {a.peer_batch}); "
          f"time: whole process, median of {a.runs} runs")
    data = {"fashion": fashion_test(), "digits": digits_test()}
    rows, failed = [], False
    float_acc = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, src, dname, mode, tools in cases(binary, tmp, a.calib_n, a.peer_batch, a.only):
            x, y = data[dname]
            if src not in float_acc:
                c, t = accuracy(src, x, y)
                float_acc[src] = c / t
                rows.append({"model": label, "mode": "float", "tool": "-", "accuracy": c / t, "correct": c,
                             "samples": t, "bytes": os.path.getsize(src), "drop_pts": 0.0})
            timing = time_tools(tools, a.runs, tmp)
            for tool, (_cmd, out) in tools.items():
                r = {"model": label, "mode": mode, "tool": tool, **timing[tool]}
                if "failed" not in r:
                    c, t = accuracy(out, x, y)
                    r.update(accuracy=c / t, correct=c, samples=t, bytes=os.path.getsize(out),
                             drop_pts=100 * (float_acc[src] - c / t), checker=checker(out))
                    r["size_pct"] = 100 * r["bytes"] / os.path.getsize(src)
                    if a.keep:
                        os.makedirs(a.keep, exist_ok=True)
                        import shutil

                        shutil.copy(out, os.path.join(a.keep, os.path.basename(out)))
                else:
                    failed = True
                rows.append(r)
            nn = timing.get("nnslim", {})
            for tool in tools:
                if tool != "nnslim" and "median_s" in nn and "median_s" in timing[tool]:
                    rows.append({"model": label, "mode": mode, "tool": f"{tool}/nnslim time",
                                 "ratio": timing[tool]["median_s"] / nn["median_s"]})

    print()
    print(f"{'model':11} {'mode':17} {'tool':8} {'accuracy':>9} {'drop pts':>9} {'bytes':>9} {'% float':>8} "
          f"{'time':>8} {'RSS MiB':>8}  checker")
    for r in rows:
        if "ratio" in r:
            print(f"{r['model']:11} {r['mode']:17} {'':8} {r['tool']} = {r['ratio']:.2f}x")
            continue
        if "failed" in r:
            print(f"{r['model']:11} {r['mode']:17} {r['tool']:8} FAILED: {r['failed']}")
            continue
        pct = f"{r['size_pct']:.1f}" if "size_pct" in r else "100.0"
        t = fmt_t(r) if "median_s" in r else "-"
        rss = f"{r['peak_rss_mib']:.0f}" if "peak_rss_mib" in r else "-"
        chk = "" if r["mode"] == "float" else ("ok" if r.get("checker") is None else r["checker"])
        print(f"{r['model']:11} {r['mode']:17} {r['tool']:8} {r['accuracy']:9.4f} {r['drop_pts']:9.2f} "
              f"{r['bytes']:9d} {pct:>8} {t:>8} {rss:>8}  {chk}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "versions": versions(binary), "calib_n": a.calib_n,
                       "runs": a.runs, "rows": rows}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
