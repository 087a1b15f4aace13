#!/usr/bin/env python3
"""Benchmark: whole-process wall time and peak RSS of `nnslim compile --passes fold` vs the peer
(onnxsim.simplify + onnxoptimizer.optimize, run the way a user runs it: one Python process that
imports them, loads the model, simplifies, optimizes and saves). A benchmark, not a test.

Usage: scripts/bench_fold.sh (builds nnslim in release mode, installs the peers), or
    .venv/bin/python scripts/bench_fold.py NNSLIM_BIN MODEL... [--runs N] [--json FILE]

Both get the same fixed batch-1 input shapes (real graph inputs, symbolic dims -> 1). Runs
alternate nnslim / peer after one untimed warm-up of each (file cache); the table shows the
median of N runs (default 5) of wall time and of peak RSS (the kernel's ru_maxrss of the tool
process). nnslim runs its CLI exactly as a user would, including its default fidelity check on
4 seeded random inputs; the peer runs with onnxsim's defaults (check_n=0: no check). When the
binary has `--fidelity-runs`, nnslim is also timed with `--fidelity-runs 0` (no check either:
the like-for-like comparison), shown as "nnslim -f0".
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_fold as cf  # noqa: E402

# The peer as a user script: python -c "...", nothing else imported.
PEER_CODE = f"""
import json, sys
import onnx, onnxoptimizer, onnxsim
src, dst, shapes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
model = onnx.load(src)
model, ok = onnxsim.simplify(model, overwrite_input_shapes=shapes)
model = onnxoptimizer.optimize(model, {cf.PEER_PASSES!r})
onnx.save(model, dst)
"""


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu}{mem}, {platform.system()} {platform.release()}"


def nnslim_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def has_fidelity_runs(binary):
    try:
        out = subprocess.run([binary, "compile", "--help"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "--fidelity-runs" in out


def bench_model(binary, src, runs, timeout, no_check):
    import onnx

    shapes = cf.fixed_shapes(onnx.load(src, load_external_data=False))
    label = os.path.basename(os.path.dirname(src)) + "/" + os.path.basename(src).removesuffix(".onnx")
    row = {"model": src, "label": label, "input_shapes": shapes}
    with tempfile.TemporaryDirectory() as tmp:
        tools = {
            "nnslim": cf.nnslim_cmd(binary, src, os.path.join(tmp, "nnslim.onnx"), shapes),
            **({"nnslim_f0": cf.nnslim_cmd(binary, src, os.path.join(tmp, "nnslim.onnx"), shapes)
                + ["--fidelity-runs", "0"]} if no_check else {}),
            "peer": [sys.executable, "-c", PEER_CODE, src, os.path.join(tmp, "peer.onnx"), json.dumps(shapes)],
        }
        samples = {k: [] for k in tools}
        failed = {}
        for i in range(runs + 1):  # run 0 is the warm-up
            for name, cmd in tools.items():
                if name in failed:
                    continue
                rc, wall, rss, stderr = cf.run_measured(cmd, timeout=timeout)
                if rc != 0:
                    failed[name] = cf.short_error(rc, stderr)
                elif i > 0:
                    samples[name].append((wall, rss))
                for f in os.listdir(tmp):
                    os.remove(os.path.join(tmp, f))
    for name in tools:
        if name in failed:
            row[name] = {"failed": failed[name]}
        else:
            walls = [w for w, _ in samples[name]]
            row[name] = {
                "median_s": statistics.median(walls),
                "min_s": min(walls),
                "max_s": max(walls),
                "peak_rss_mib": statistics.median(r for _, r in samples[name]),
                "runs": walls,
            }
    if "failed" not in row["nnslim"] and "failed" not in row["peer"]:
        row["ratio"] = row["peer"]["median_s"] / row["nnslim"]["median_s"]
    if no_check and "failed" not in row["nnslim_f0"] and "failed" not in row["peer"]:
        row["ratio_f0"] = row["peer"]["median_s"] / row["nnslim_f0"]["median_s"]
    return row


def fmt_time(r):
    if "failed" in r:
        return "FAILED"
    s = r["median_s"]
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def fmt_rss(r):
    return "-" if "failed" in r else f"{r['peak_rss_mib']:.0f}"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", metavar="NNSLIM_BIN")
    ap.add_argument("models", nargs="+", metavar="MODEL")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per tool and model (default 5)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run (default 900)")
    ap.add_argument("--json", help="write every measurement to this file")
    a = ap.parse_args(argv)

    vers = cf.peer_versions()
    no_check = has_fidelity_runs(a.binary)
    print(f"machine: {machine()}")
    print(f"nnslim: {nnslim_version(a.binary)} ({a.binary}); peer: onnxsim {vers.get('onnxsim')} + onnxoptimizer {vers.get('onnxoptimizer')} (Python {platform.python_version()})")
    print(f"whole-process wall time, median of {a.runs} runs; peak RSS MiB (median); goal: peer/nnslim >= 10x")
    head = f"{'model':32} {'nnslim':>10}"
    head += f" {'nnslim -f0':>10}" if no_check else ""
    head += f" {'peer':>10} {'peer/nnslim':>12}"
    head += f" {'peer/-f0':>9}" if no_check else ""
    head += f" {'RSS nnslim':>11}"
    head += f" {'RSS -f0':>8}" if no_check else ""
    head += f" {'RSS peer':>9}"
    print(head)
    print("-" * len(head), flush=True)
    rows = []
    for src in a.models:
        row = bench_model(a.binary, src, a.runs, a.timeout, no_check)
        rows.append(row)
        ratio = f"{row['ratio']:.1f}x" if "ratio" in row else "-"
        ratio0 = f"{row['ratio_f0']:.1f}x" if "ratio_f0" in row else "-"
        print(
            f"{row['label']:32} {fmt_time(row['nnslim']):>10}"
            + (f" {fmt_time(row['nnslim_f0']):>10}" if no_check else "")
            + f" {fmt_time(row['peer']):>10} {ratio:>12}"
            + (f" {ratio0:>9}" if no_check else "")
            + f" {fmt_rss(row['nnslim']):>11}"
            + (f" {fmt_rss(row['nnslim_f0']):>8}" if no_check else "")
            + f" {fmt_rss(row['peer']):>9}",
            flush=True,
        )
    print()
    for key, what in (("ratio", "nnslim (default, 4-input fidelity check)"), ("ratio_f0", "nnslim --fidelity-runs 0")):
        ratios = [r[key] for r in rows if key in r]
        if ratios:
            print(
                f"{what}: geometric mean peer/nnslim {statistics.geometric_mean(ratios):.1f}x; >= 10x faster on "
                f"{sum(x >= 10 for x in ratios)} of {len(ratios)} models (min {min(ratios):.1f}x, max {max(ratios):.1f}x)"
            )
    for r in rows:
        for side in ("nnslim", "nnslim_f0", "peer"):
            if side in r and "failed" in r[side]:
                print(f"{r['label']}: {side} failed: {r[side]['failed']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "versions": vers, "runs": a.runs, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
