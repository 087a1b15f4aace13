"""ONNX Runtime's side of the interpreter tests.

  ort_reference.py run OUTDIR MODEL...   for each model: seeded input(s) as OUTDIR/<stem>/in_<name>.npy
                                          (from light_inputs/ when TESTDATA has them) and ORT's outputs
                                          as OUTDIR/<stem>/out_<i>.npy; prints a JSON list of
                                          {"model", "dir", "inputs": {name: file}, "outputs": [file]}
  ort_reference.py accuracy MODEL DATA   ORT's number of correct top-1 predictions on
                                          fashion-mnist:test (DATA=fashion-mnist) or an .npz (x, y),
                                          with onnx.checker's verdict on MODEL and its file size:
                                          {"correct", "samples", "checker": null | error, "bytes"}
"""

import gzip
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ort.set_default_logger_severity(3)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def real_inputs(path):
    m = onnx.load(path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    return [i for i in m.graph.input if i.name not in inits]


def run(outdir, models):
    td = os.environ.get("NNSLIM_TESTDATA", "")
    cases = []
    for path in models:
        stem = os.path.basename(path).removesuffix(".onnx")
        d = os.path.join(outdir, stem)
        os.makedirs(d, exist_ok=True)
        feed, files = {}, {}
        pb = os.path.join(td, "light_inputs", stem, "input_0.pb")
        for k, vi in enumerate(real_inputs(path)):
            if os.path.exists(pb) and k == 0:
                t = onnx.TensorProto()
                with open(pb, "rb") as f:
                    t.ParseFromString(f.read())
                x = numpy_helper.to_array(t)
            else:
                dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 3 for d in vi.type.tensor_type.shape.dim]
                x = np.random.default_rng(k).random(dims, dtype=np.float32)
            feed[vi.name] = x
            files[vi.name] = os.path.join(d, f"in_{k}.npy")
            np.save(files[vi.name], x)
        outs = session(path).run(None, feed)
        out_files = []
        for i, o in enumerate(outs):
            out_files.append(os.path.join(d, f"out_{i}.npy"))
            np.save(out_files[-1], o)
        cases.append({"model": path, "dir": d, "inputs": files, "outputs": out_files})
    print(json.dumps(cases))


def accuracy(model, data):
    if data == "fashion-mnist":
        root = "/usr/share/datasets/fashion-mnist"
        with gzip.open(f"{root}/t10k-images-idx3-ubyte.gz") as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
        with gzip.open(f"{root}/t10k-labels-idx1-ubyte.gz") as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    else:
        z = np.load(data)
        x, y = z["x"], z["y"]
    try:
        onnx.checker.check_model(model, full_check=False)
        checker = None
    except Exception as e:  # noqa: BLE001 - reported, not raised
        checker = f"{type(e).__name__}: {e}"
    s = session(model)
    name = s.get_inputs()[0].name
    batch = s.get_inputs()[0].shape[0]
    fixed = isinstance(batch, int) and batch > 0
    step = batch if fixed else 500
    n = len(x) - len(x) % step if fixed else len(x)
    pred = np.concatenate([s.run(None, {name: x[i : i + step]})[0].argmax(1) for i in range(0, n, step)])
    print(json.dumps({"correct": int((pred == y[:n]).sum()), "samples": int(n), "checker": checker,
                      "bytes": os.path.getsize(model)}))


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3:])
    else:
        accuracy(sys.argv[2], sys.argv[3])
