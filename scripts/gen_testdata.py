#!/usr/bin/env python3
"""Generates nnslim's test data (not committed) into OUTDIR, normally target/testdata.

Usage: gen_testdata.py OUTDIR [--force]     (run with .venv/bin/python; scripts/test.sh does)

Writes:
  node/<test>/model.onnx, node/<test>/test_data_set_0/{input_N,output_N}.pb
      the ONNX backend node tests, regenerated from onnx's test-case code (the wheel ships none)
  node_ort.txt        sorted names of the node tests ONNX Runtime can load and run on their inputs
  light/light_*.onnx  the ONNX "light" models shipped in the onnx wheel (weights = ConstantOfShape(0.02))
  light_random/light_*.onnx
                      the same models with each float ConstantOfShape turned into an initializer
                      of seeded random values, so that outputs depend on every weight (the last
                      layer before Softmax is scaled so the output is not saturated one-hot)
  light_inputs/<model stem>/input_N.pb
                      one seeded random tensor per real (non-initializer) graph input, by name;
                      the same inputs serve light/ and light_random/
  STAMP               written last: onnx/onnxruntime/numpy versions and a hash of the generators.
                      When it is up to date the script exits at once (unless --force).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBDIRS = ("node", "light", "light_random", "light_inputs")


def stamp_text() -> str:
    """What STAMP holds: tool versions and a hash of the scripts that shape the data."""
    lines = [f"onnx {importlib.metadata.version('onnx')}"]
    for pkg in ("onnxruntime", "numpy"):
        lines.append(f"{pkg} {importlib.metadata.version(pkg)}")
    h = hashlib.sha256()
    for script in ("gen_testdata.py", "ort_compare.py"):
        h.update((HERE / script).read_bytes())
    lines.append(f"generator {h.hexdigest()[:16]}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- node tests


def gen_node_tests(out: Path) -> list[str]:
    """Writes out/node/<name>/... with onnx's own backend-test-data writer; returns the names."""
    import numpy as np
    import onnx.backend.test.case.node as node_cases
    import onnx.backend.test.cmd_tools as cmd_tools

    np.random.seed(0)  # the test cases draw their inputs from np.random
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # overflow/divide warnings from cases that want inf/NaN
        cases = node_cases.collect_testcases()
    # generate_data() writes every case of model_test.collect_testcases() to
    # <output>/<case.kind>/<case.name>; feed it the node cases only (kind "node").
    cmd_tools.model_test.collect_testcases = lambda *a, **k: cases
    cmd_tools.generate_data(argparse.Namespace(output=str(out)))
    names = sorted(c.name for c in cases)
    assert len(set(names)) == len(names), "duplicate node test names"
    assert {c.kind for c in cases} == {"node"}, {c.kind for c in cases}
    return names


def ort_runnable(node_dir: Path, names: list[str]) -> list[str]:
    """Names of the node tests ORT (CPU) can load and run on test_data_set_0."""
    from ort_compare import run_model

    ok = []
    for name in names:
        d = node_dir / name
        inputs = sorted(
            (d / "test_data_set_0").glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1])
        )
        try:
            run_model(str(d / "model.onnx"), [str(p) for p in inputs], log_level=4)
        except Exception:  # noqa: BLE001 - not supported by ORT: simply not listed
            continue
        ok.append(name)
    return ok


# ---------------------------------------------------------------- light models


def _consumers(graph):
    from collections import defaultdict

    uses = defaultdict(list)
    for node in graph.node:
        for i, name in enumerate(node.input):
            uses[name].append((node, i))
    return uses


def _feeds_sum(node, uses) -> bool:
    """Whether a node's output ends a residual branch (goes into a Sum or Add)."""
    return any(user.op_type in ("Sum", "Add") for user, _ in uses.get(node.output[0], []))


def _role(name: str, uses, depth: int = 0) -> str:
    """How a weight is used: 'scale' (BN scale/var, Mul), 'residual_scale' (BN scale at the end of
    a residual branch), 'shift' (BN bias/mean, Add) or 'other'.

    Looks through the Unsqueeze/Reshape that some models put between a weight and its user.
    """
    for node, i in uses.get(name, []):
        op = node.op_type
        if op in ("Unsqueeze", "Reshape", "Squeeze", "Identity") and i == 0 and depth < 4:
            r = _role(node.output[0], uses, depth + 1)
            if r != "other":
                return r
        elif op == "BatchNormalization" and i == 1 and _feeds_sum(node, uses):
            return "residual_scale"
        elif op == "BatchNormalization" and i in (1, 4):
            return "scale"
        elif op == "BatchNormalization" and i in (2, 3):
            return "shift"
        elif op == "Mul":
            return "scale"
        elif op == "Add":
            return "shift"
    return "other"


def _random_values(shape: list[int], dtype, role: str, rng):
    """Values that keep activations finite and informative (He-uniform weights, BN stats near 1/0)."""
    import numpy as np

    if role == "scale":
        a = rng.uniform(0.5, 1.5, size=shape)
    elif role == "residual_scale":  # small, as in trained ResNets, so the sums don't blow up
        a = rng.uniform(0.1, 0.3, size=shape)
    elif role == "shift" or len(shape) < 2:
        a = rng.normal(0.0, 0.1, size=shape)  # biases and other vectors
    else:
        dims = list(shape)
        while len(dims) > 2 and dims[0] == 1:  # e.g. [1, 1, N, K] reshaped to [N, K]
            dims.pop(0)
        fan_in = int(np.prod(dims[1:])) or 1  # Conv [M, C/g, kh, kw], Gemm B with transB=1 [N, K]
        # uniform(-limit, limit) has variance 2/fan_in; done in place, as vgg19 has 140M weights.
        limit = np.float32(np.sqrt(6.0 / fan_in))
        a = rng.random(size=shape, dtype=np.float32)
        a *= 2 * limit
        a -= limit
    return np.asarray(a).astype(dtype, copy=False)


def randomize_weights(model, seed: int = 0):
    """Replaces every float ConstantOfShape with a constant shape by a random initializer."""
    import numpy as np
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    uses = _consumers(g)
    keep, new_inits, shape_names = [], [], set()
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx") and node.input[0] in inits:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            dtype = numpy_helper.to_array(value).dtype if value is not None else np.dtype(np.float32)
            if dtype.kind == "f":
                shape = numpy_helper.to_array(inits[node.input[0]]).astype(np.int64).tolist()
                arr = _random_values(shape, dtype, _role(node.output[0], uses), rng)
                new_inits.append(numpy_helper.from_array(arr, node.output[0]))
                shape_names.add(node.input[0])
                continue
        keep.append(node)
    del g.node[:]
    g.node.extend(keep)

    # Drop the shape initializers nothing uses any more (and their IR<4 graph-input twins).
    used = {n for node in g.node for n in node.input} | {o.name for o in g.output}
    dead = {n for n in shape_names if n not in used}
    kept_inits = [t for t in g.initializer if t.name not in dead]
    kept_inputs = [i for i in g.input if i.name not in dead]
    del g.initializer[:]
    g.initializer.extend(kept_inits + new_inits)
    del g.input[:]
    g.input.extend(kept_inputs)

    new_names = {t.name for t in new_inits}
    vis = [v for v in g.value_info if v.name not in new_names]
    del g.value_info[:]
    g.value_info.extend(vis)
    if model.ir_version < 4:  # IR 3 lists every initializer as a graph input too
        for t in new_inits:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return model


# Ops through which a Softmax input scales linearly with the last Conv/Gemm's weights and bias.
_HOMOGENEOUS = {"Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Flatten",
                "Dropout", "Identity", "Squeeze", "Unsqueeze"}


def calibrate_logits(model, input_paths: list[str], target_std: float = 2.0) -> None:
    """Scales the classifier so its logits have std target_std, lest Softmax saturate to one-hot.

    Random weights leave deep models' activations far from unit scale (BN statistics don't match
    the data), so the logits of e.g. ShuffleNet are huge. The Conv/Gemm feeding an output Softmax
    (through only positively homogeneous ops) gets its weight and bias multiplied by one factor,
    measured with one ORT run.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    from ort_compare import make_session, load_inputs

    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    inits = {t.name: t for t in g.initializer}
    outputs = {o.name for o in g.output}

    def initializer_behind(name: str):
        while name not in inits and name in producer and producer[name].op_type in _HOMOGENEOUS:
            name = producer[name].input[0]
        return inits.get(name)

    targets = []  # (logits name, [initializers to scale])
    for sm in g.node:
        if sm.op_type not in ("Softmax", "LogSoftmax") or sm.output[0] not in outputs:
            continue
        name = sm.input[0]
        while name in producer and producer[name].op_type in _HOMOGENEOUS:
            name = producer[name].input[0]
        layer = producer.get(name)
        if layer is None or layer.op_type not in ("Conv", "Gemm"):
            continue
        params = [initializer_behind(i) for i in layer.input[1:] if i]
        if all(t is not None and t.data_type == params[0].data_type for t in params):
            targets.append((sm.input[0], params))
    if not targets:
        return

    n_out = len(g.output)
    for name, params in targets:
        g.output.append(helper.make_tensor_value_info(name, params[0].data_type, None))
    sess = make_session(model.SerializeToString(), log_level=4)
    logits = sess.run([name for name, _ in targets], load_inputs(sess, input_paths))
    del g.output[n_out:]
    for (_, params), y in zip(targets, logits):
        std = float(np.std(y))
        if not np.isfinite(std) or std == 0:
            continue
        for t in params:
            a = numpy_helper.to_array(t)
            t.CopyFrom(numpy_helper.from_array((a * (target_std / std)).astype(a.dtype), t.name))


def real_inputs(model) -> list:
    """Graph inputs that are not initializers (IR 3 lists the weights as inputs too)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def random_inputs(model, seed: int = 0) -> list:
    """One seeded random TensorProto (named) per real graph input."""
    import numpy as np
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    protos = []
    for vi in real_inputs(model):
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if dtype.kind == "f":
            a = rng.standard_normal(size=shape).astype(dtype)
        elif dtype.kind == "b":
            a = rng.integers(0, 2, size=shape).astype(dtype)
        else:
            a = rng.integers(0, 10, size=shape).astype(dtype)
        protos.append(numpy_helper.from_array(a, vi.name))
    return protos


def gen_light(out: Path) -> list[str]:
    """Writes light/, light_random/ and light_inputs/; checks the random models in ORT."""
    import numpy as np
    import onnx

    from ort_compare import run_model

    src_dir = Path(onnx.__file__).parent / "backend/test/data/light"
    stems = []
    for src in sorted(src_dir.glob("light_*.onnx")):
        stem = src.stem
        stems.append(stem)
        shutil.copyfile(src, out / "light" / src.name)
        model = onnx.load(str(src))

        in_dir = out / "light_inputs" / stem
        in_dir.mkdir(parents=True)
        input_paths = []
        for n, proto in enumerate(random_inputs(model, seed=0)):
            p = in_dir / f"input_{n}.pb"
            p.write_bytes(proto.SerializeToString())
            input_paths.append(str(p))

        rand_path = out / "light_random" / src.name
        model = randomize_weights(model, seed=0)
        calibrate_logits(model, input_paths)
        onnx.save(model, str(rand_path))
        onnx.checker.check_model(str(rand_path), full_check=True)
        for i, y in enumerate(run_model(str(rand_path), input_paths)):
            y = np.asarray(y)
            if not np.isfinite(y).all() or y.size < 2 or (y == y.ravel()[0]).all():
                raise RuntimeError(f"{rand_path}: output {i} is not finite or constant")
            print(f"  {stem}: output {i} {list(y.shape)} range [{y.min():.3g}, {y.max():.3g}]")
    return stems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--force", action="store_true", help="regenerate even when STAMP is up to date")
    args = ap.parse_args()
    out: Path = args.outdir
    stamp = out / "STAMP"
    text = stamp_text()
    if not args.force and stamp.is_file() and stamp.read_text() == text:
        print(f"gen_testdata: {out} up to date")
        return 0

    t0 = time.monotonic()
    sys.path.insert(0, str(HERE))  # for ort_compare
    sys.dont_write_bytecode = True  # no scripts/__pycache__
    stamp.unlink(missing_ok=True)
    for sub in SUBDIRS:
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    (out / "node_ort.txt").unlink(missing_ok=True)

    names = gen_node_tests(out)
    print(f"gen_testdata: {len(names)} node tests ({time.monotonic() - t0:.1f} s)")
    t1 = time.monotonic()
    ok = ort_runnable(out / "node", names)
    (out / "node_ort.txt").write_text("".join(f"{n}\n" for n in ok))
    print(f"gen_testdata: {len(ok)} of them run in ONNX Runtime ({time.monotonic() - t1:.1f} s)")
    t1 = time.monotonic()
    stems = gen_light(out)
    print(f"gen_testdata: {len(stems)} light models + random-weight variants ({time.monotonic() - t1:.1f} s)")

    stamp.write_text(text)
    print(f"gen_testdata: done in {time.monotonic() - t0:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
