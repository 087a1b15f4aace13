"""numpy's view of a model, for the inspect test: parameters (elements of initializers, sparse
initializers at their dense size, Constant node values and ConstantOfShape outputs whose shape is
constant), node count and op histogram, subgraphs included. Usage: count_params.py MODEL.onnx...
Prints one JSON object per model path."""

import collections
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def count(path):
    m = onnx.load(path, load_external_data=False)
    params = 0
    consts = {}
    for t in m.graph.initializer:
        params += int(np.prod(t.dims, dtype=np.int64))
        if t.data_location != onnx.TensorProto.EXTERNAL:
            consts[t.name] = numpy_helper.to_array(t)
    for s in m.graph.sparse_initializer:
        params += int(np.prod(s.dims, dtype=np.int64))
    ops = collections.Counter()
    nodes = 0

    def walk(graph):
        nonlocal params, nodes
        for n in graph.node:
            nodes += 1
            key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"
            ops[key] += 1
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
                a = n.attribute[0]
                if a.name == "value":
                    v = numpy_helper.to_array(a.t)
                    consts[n.output[0]] = v
                    params += v.size
                elif a.name == "sparse_value":
                    params += int(np.prod(a.sparse_tensor.dims, dtype=np.int64))
                elif a.name in ("value_floats", "value_ints", "value_strings"):
                    params += len(a.floats) + len(a.ints) + len(a.strings)
                else:
                    params += 1
            if n.op_type == "ConstantOfShape" and n.input and n.input[0] in consts:
                params += int(np.prod(consts[n.input[0]], dtype=np.int64))
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for g in a.graphs:
                    walk(g)

    walk(m.graph)
    return {"params": params, "nodes": nodes, "ops": dict(ops)}


print(json.dumps({p: count(p) for p in sys.argv[1:]}))
