#!/usr/bin/env python3
"""Peer comparison for `nnslim compile --passes fold`: nnslim vs onnxsim + onnxoptimizer.

Usage:
    .venv/bin/python scripts/compare_fold.py NNSLIM_BIN MODEL... [--json FILE] [--ops] [--keep DIR]
    .venv/bin/python scripts/compare_fold.py --peer-only MODEL... [--json FILE] [--ops]

For each model, with fixed batch-1 input shapes (the graph inputs that are not initializers;
symbolic or unknown dims become 1):
  - the peer: `onnxsim.simplify(model, overwrite_input_shapes=...)` then
    `onnxoptimizer.optimize(model, PEER_PASSES)`, through their Python APIs in a child Python
    process (so that a peer crash or out-of-memory kill is reported as a peer failure);
  - nnslim: `NNSLIM_BIN compile MODEL -o OUT --passes fold --input-shape NAME=D1,...`.
It counts *compute nodes* (main-graph nodes whose value depends transitively on a real graph
input) and total nodes in the original and both results, checks both results with
onnx.checker, and runs all three in ONNX Runtime (no graph optimisations) on one seeded random
input (floats in [0, 1)), reporting the max abs/rel difference to the original.

Exit status: 0 if on every model nnslim succeeded, passed the checker, has at most as many
compute nodes as the peer (or the peer failed) and matches the original
(|a-b| <= 1e-4*|b| + 1e-5; if the peer itself misses that, nnslim may use the loose bound
|a-b| <= 1e-3*|b| + 1e-4, reported as "loose"); 1 otherwise.

Also used by scripts/bench_fold.py: `compare_fold.py --peer-worker IN OUT [--input-shape N=D,..]`
runs the peer alone, the way a user runs it (load, simplify, optimize, save).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

# onnxoptimizer passes applied after onnxsim (the peer's fusions/eliminations).
PEER_PASSES = [
    "fuse_bn_into_conv",
    "fuse_pad_into_conv",
    "fuse_matmul_add_bias_into_gemm",
    "fuse_transpose_into_gemm",
    "fuse_consecutive_transposes",
    "eliminate_identity",
    "eliminate_nop_transpose",
    "eliminate_nop_pad",
    "eliminate_deadend",
]

RTOL, ATOL = 1e-4, 1e-5  # CLI-CONTRACT "matches"
LOOSE_RTOL, LOOSE_ATOL = 1e-3, 1e-4  # only when the peer itself misses the strict bound
TWO_GB = 2**31 - 1


# ---------------------------------------------------------------- shapes and the peer


def parse_shape_args(items):
    """['name=1,3,224,224', ...] -> {name: [1, 3, 224, 224]} (split at the first '=')."""
    shapes = {}
    for item in items or []:
        name, _, dims = item.partition("=")
        shapes[name] = [int(d) for d in dims.split(",")] if dims else []
    return shapes


def real_inputs(model):
    """Graph inputs that are not initializers (IR-3 models list initializers as inputs too)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def fixed_shapes(model):
    """{input name: batch-1 shape}: symbolic, unknown or non-positive dims become 1."""
    shapes = {}
    for vi in real_inputs(model):
        t = vi.type.tensor_type
        shapes[vi.name] = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in t.shape.dim
        ]
    return shapes


def shape_args(shapes):
    out = []
    for name, dims in shapes.items():
        out += ["--input-shape", f"{name}={','.join(str(d) for d in dims)}"]
    return out


def save_model(model, path):
    """onnx.save, with external data when the model is over protobuf's 2 GiB limit."""
    import onnx

    try:
        big = model.ByteSize() > TWO_GB
    except Exception:  # ByteSize itself can fail past 2 GiB
        big = True
    if big:
        onnx.save(model, path, save_as_external_data=True, location=os.path.basename(path) + ".data")
    else:
        onnx.save(model, path)


def peer_worker(src, dst, shapes):
    """The peer as a user runs it: load, onnxsim.simplify, onnxoptimizer.optimize, save."""
    import onnx
    import onnxoptimizer
    import onnxsim

    model = onnx.load(src)
    model, _ok = onnxsim.simplify(model, overwrite_input_shapes=shapes or None)
    model = onnxoptimizer.optimize(model, PEER_PASSES)
    save_model(model, dst)


def peer_versions():
    try:
        from importlib.metadata import version

        return {p: version(p) for p in ("onnxsim", "onnxoptimizer", "onnx", "onnxruntime")}
    except Exception as e:  # pragma: no cover
        return {"error": str(e)}


# Runs argv[2:] as a child of this small process and writes {"rc", "wall_s", "maxrss_kib"} to
# the file argv[1]. The indirection matters: a process forked from a big parent (this script,
# holding models and ONNX Runtime sessions) inherits the parent's RSS high-water mark through
# fork+exec, so ru_maxrss would be wrong; a grandchild forked from this ~10 MB process is not.
_WRAPPER = r"""
import json, os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "wall_s": wall, "maxrss_kib": ru.ru_maxrss}, f)
"""


def run_measured(cmd, timeout=None):
    """Runs cmd; returns (returncode, wall seconds, peak RSS MiB, stderr text).

    Wall time is measured around fork+exec+wait of cmd itself; peak RSS is its ru_maxrss (the
    kernel's high-water mark of the whole process). A negative return code is the signal that
    killed it; "timeout" when it ran past `timeout` seconds.
    """
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile(suffix=".json") as res:
        wrapper = [sys.executable, "-S", "-I", "-c", _WRAPPER, res.name] + list(cmd)
        p = subprocess.Popen(wrapper, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)  # the wrapper and the tool: its own session, started here
            p.wait()
            err.seek(0)
            return "timeout", float(timeout), 0.0, err.read().decode(errors="replace")
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        try:
            with open(res.name) as f:
                r = json.load(f)
        except (OSError, ValueError):
            return (p.returncode or -1), 0.0, 0.0, stderr
        return r["rc"], r["wall_s"], r["maxrss_kib"] / 1024, stderr


def peer_cmd(src, dst, shapes):
    return [sys.executable, os.path.abspath(__file__), "--peer-worker", src, dst] + shape_args(shapes)


def nnslim_cmd(binary, src, dst, shapes):
    return [binary, "compile", src, "-o", dst, "--passes", "fold"] + shape_args(shapes)


def short_error(rc, stderr):
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    last = lines[-1][:160] if lines else ""
    if rc == "timeout":
        return "timeout"
    if isinstance(rc, int) and rc < 0:
        import signal

        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"killed by {name}" + (" (out of memory?)" if -rc == 9 else "") + (f": {last}" if last else "")
    return f"exit {rc}: {last}"


# ---------------------------------------------------------------- counting


def _subgraph_refs(node):
    """Every name a node's graph attributes (If/Loop/Scan bodies) read, recursively."""
    refs = set()
    for a in node.attribute:
        graphs = list(a.graphs)
        if a.HasField("g"):
            graphs.append(a.g)
        for g in graphs:
            for n in g.node:
                refs.update(n.input)
                refs |= _subgraph_refs(n)
    return refs


def compute_nodes(model):
    """Main-graph nodes whose value depends transitively on a real graph input."""
    g = model.graph
    live = {vi.name for vi in real_inputs(model)}
    reads = [set(n.input) | _subgraph_refs(n) for n in g.node]
    marked = [False] * len(g.node)
    changed = True
    while changed:  # nodes are normally in topological order: one sweep, a second to confirm
        changed = False
        for i, n in enumerate(g.node):
            if not marked[i] and reads[i] & live:
                marked[i] = True
                live.update(o for o in n.output if o)
                changed = True
    return [n for n, m in zip(g.node, marked) if m]


def model_stats(model):
    comp = compute_nodes(model)
    return {
        "compute_nodes": len(comp),
        "total_nodes": len(model.graph.node),
        "compute_ops": dict(sorted(collections.Counter(n.op_type for n in comp).items())),
        "all_ops": dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items())),
        "initializer_mib": sum(len(t.raw_data) for t in model.graph.initializer) / 2**20,
    }


# ---------------------------------------------------------------- numerics


def random_feeds(model, shapes, seed):
    import numpy as np
    import onnx

    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in real_inputs(model):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        shape = shapes[vi.name]
        if np.issubdtype(dtype, np.floating):
            feeds[vi.name] = rng.random(shape, dtype=np.float32).astype(dtype)
        else:
            feeds[vi.name] = np.zeros(shape, dtype=dtype)
    return feeds


def ort_run(path, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, feeds)))


def diff(ref, got):
    """Max abs diff, max rel diff and max of |a-b| / (rtol*|b| + atol) (<= 1: matches)."""
    import numpy as np

    if set(ref) != set(got):  # names changed: match by position
        if len(ref) != len(got):
            return {"error": f"{len(got)} outputs, original has {len(ref)}"}
        got = dict(zip(ref, got.values()))
    out = {"max_abs": 0.0, "max_rel": 0.0, "strict": 0.0, "loose": 0.0}
    for k, b in ref.items():
        a = got[k]
        if a.shape != b.shape:
            return {"error": f"output {k}: shape {list(a.shape)}, original {list(b.shape)}"}
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.size == 0:
            continue
        d = np.abs(a64 - b64)
        if not np.all(np.isfinite(d) | (a64 == b64)):
            return {"error": f"output {k}: non-finite difference"}
        d = np.where(a64 == b64, 0.0, d)
        out["max_abs"] = max(out["max_abs"], float(d.max()))
        out["max_rel"] = max(out["max_rel"], float((d / np.maximum(np.abs(b64), 1e-30)).max()))
        out["strict"] = max(out["strict"], float((d / (RTOL * np.abs(b64) + ATOL)).max()))
        out["loose"] = max(out["loose"], float((d / (LOOSE_RTOL * np.abs(b64) + LOOSE_ATOL)).max()))
    return out


def check(path):
    import onnx

    try:
        onnx.checker.check_model(path, full_check=False)
        return None
    except Exception as e:
        return str(e).strip().splitlines()[0][:200]


# ---------------------------------------------------------------- driver


def compare_one(binary, src, workdir, seed, timeout):
    import onnx

    label = os.path.basename(os.path.dirname(src)) + "/" + os.path.basename(src).removesuffix(".onnx")
    original = onnx.load(src)
    shapes = fixed_shapes(original)
    row = {"model": src, "label": label, "input_shapes": shapes, "original": model_stats(original)}
    del original
    feeds = random_feeds(onnx.load(src, load_external_data=False), shapes, seed)
    try:
        ref = ort_run(src, feeds)
    except Exception as e:  # the original does not run: no numeric comparison possible
        ref = None
        row["original"]["ort_error"] = str(e).strip().splitlines()[0][:200]

    sides = [("peer", peer_cmd)] + ([("nnslim", lambda s, d, sh: nnslim_cmd(binary, s, d, sh))] if binary else [])
    for side, make_cmd in sides:
        dst = os.path.join(workdir, f"{side}_{os.path.basename(src)}")
        rc, wall, rss, stderr = run_measured(make_cmd(src, dst, shapes), timeout=timeout)
        r = {"wall_s": wall, "peak_rss_mib": rss}
        row[side] = r
        if rc != 0 or not os.path.exists(dst):
            r["failed"] = short_error(rc, stderr)
            continue
        r["file_mib"] = os.path.getsize(dst) / 2**20
        r["checker"] = check(dst)
        model = onnx.load(dst)
        r.update(model_stats(model))
        del model
        try:
            if ref is None:
                raise RuntimeError(f"original does not run: {row['original']['ort_error']}")
            r["diff"] = diff(ref, ort_run(dst, feeds))
        except Exception as e:
            r["diff"] = {"error": f"ONNX Runtime: {str(e).strip().splitlines()[0][:200]}"}
    verdict(row, bool(binary))
    return row


def verdict(row, have_nnslim):
    peer, ours = row["peer"], row.get("nnslim")
    problems = []
    peer_strict = "diff" in peer and "error" not in peer["diff"] and peer["diff"]["strict"] <= 1
    if not have_nnslim:
        row["ok"], row["verdict"] = True, "peer only"
        return
    if "failed" in ours:
        problems.append(f"nnslim failed ({ours['failed']})")
    else:
        if ours["checker"]:
            problems.append(f"checker: {ours['checker']}")
        d = ours["diff"]
        if "error" in d:
            problems.append(d["error"])
        elif d["strict"] > 1:
            if peer_strict or d["loose"] > 1:
                problems.append(f"outputs differ (max abs {d['max_abs']:.3g})")
            else:
                row["loose"] = True
        if "failed" not in peer and ours["compute_nodes"] > peer["compute_nodes"]:
            problems.append(f"{ours['compute_nodes']} compute nodes > peer {peer['compute_nodes']}")
    row["ok"] = not problems
    if problems:
        row["verdict"] = "FAIL: " + "; ".join(problems)
    elif "failed" in peer:
        row["verdict"] = "ok (peer failed)"
    else:
        row["verdict"] = "ok" + (" (loose match; peer off too)" if row.get("loose") else "")


def fmt_counts(r):
    if r is None:
        return "-"
    if "failed" in r:
        return "FAILED"
    return f"{r['compute_nodes']} ({r['total_nodes']})"


def fmt_rel(r):
    if r is None or "failed" in r:
        return "-"
    d = r.get("diff", {})
    return "err" if "error" in d else f"{d['max_rel']:.1e}"


def print_table(rows, have_nnslim):
    head = f"{'model':32} {'original':>10} {'peer':>10} {'nnslim':>10}  {'max rel diff peer / nnslim':>27}  verdict (nnslim <= peer?)"
    print("compute nodes (total nodes in parentheses)")
    print(head)
    print("-" * len(head))
    for row in rows:
        o = row["original"]
        rel = f"{fmt_rel(row['peer'])} / {fmt_rel(row.get('nnslim'))}"
        print(
            f"{row['label']:32} {fmt_counts(o):>10} {fmt_counts(row['peer']):>10} "
            f"{fmt_counts(row.get('nnslim')):>10}  {rel:>27}  {row['verdict']}",
            flush=True,
        )
    notes = []
    for row in rows:
        for side in ("peer", "nnslim"):
            r = row.get(side)
            if not r:
                continue
            if "failed" in r:
                notes.append(f"{row['label']}: {side} failed: {r['failed']}")
                continue
            if r.get("checker"):
                notes.append(f"{row['label']}: {side} output fails onnx.checker: {r['checker']}")
            d = r.get("diff", {})
            if "error" in d:
                notes.append(f"{row['label']}: {side}: {d['error']}")
            elif d["strict"] > 1:
                notes.append(
                    f"{row['label']}: {side} misses |a-b|<=1e-4|b|+1e-5 (max abs {d['max_abs']:.3g}, "
                    f"{d['strict']:.2f}x the bound)"
                )
    if notes:
        print("\nnotes:")
        for n in notes:
            print("  " + n)


def print_ops(rows):
    print("\nop types of the compute nodes that remain (count):")
    for row in rows:
        print(f"{row['label']}")
        for side in ("original", "peer", "nnslim"):
            r = row.get(side)
            if not r or "failed" in r:
                continue
            ops = ", ".join(f"{k} {v}" for k, v in r["compute_ops"].items())
            extra = r["total_nodes"] - r["compute_nodes"]
            print(f"  {side:9} {ops}" + (f"  [+{extra} non-compute nodes]" if extra else ""))


def main(argv):
    if argv[:1] == ["--peer-worker"]:
        ap = argparse.ArgumentParser(prog="compare_fold.py --peer-worker")
        ap.add_argument("src")
        ap.add_argument("dst")
        ap.add_argument("--input-shape", action="append")
        a = ap.parse_args(argv[1:])
        peer_worker(a.src, a.dst, parse_shape_args(a.input_shape))
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer-only", action="store_true", help="no nnslim binary: every argument is a model")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--ops", action="store_true", help="also list the op types left per model")
    ap.add_argument("--keep", help="write the peer and nnslim outputs to this folder (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per tool run (default 900)")
    ap.add_argument("paths", nargs="+", metavar="NNSLIM_BIN MODEL")
    a = ap.parse_args(argv)
    binary, models = (None, a.paths) if a.peer_only else (a.paths[0], a.paths[1:])
    if not models:
        ap.error("no models")

    vers = peer_versions()
    print("peer: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = a.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for src in models:
            rows.append(compare_one(binary, src, workdir, a.seed, a.timeout))
            r = rows[-1]
            print(
                f"  {r['label']}: peer {fmt_counts(r['peer'])} in {r['peer']['wall_s']:.2f}s"
                + (f", nnslim {fmt_counts(r['nnslim'])} in {r['nnslim']['wall_s']:.2f}s" if binary else "")
                + f" -> {r['verdict']}",
                file=sys.stderr,
                flush=True,
            )
            if not a.keep:
                for f in os.listdir(tmp):
                    os.remove(os.path.join(tmp, f))
    print()
    print_table(rows, bool(binary))
    if a.ops:
        print_ops(rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"versions": vers, "peer_passes": PEER_PASSES, "rows": rows}, f, indent=1)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
