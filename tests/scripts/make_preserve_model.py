"""Builds a small model that uses the ONNX features a round trip must keep: model and node
metadata, doc strings, a sparse initializer, value_info, a model-local function, and an If with
subgraphs reading outer values. Usage: make_preserve_model.py OUT.onnx INPUT.pb"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out_path, input_path = sys.argv[1], sys.argv[2]

# A model-local function: ScaleAdd(x, y) = x * 2 + y.
two = helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2.0, np.float32)))
fn = helper.make_function(
    "my.fns",
    "ScaleAdd",
    ["x", "y"],
    ["z"],
    [two, helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Add", ["x2", "y"], ["z"])],
    [helper.make_opsetid("", 17)],
)

dense = np.zeros((2, 3), np.float32)
dense[0, 1] = 1.5
dense[1, 2] = -2.0
sparse = helper.make_sparse_tensor(
    numpy_helper.from_array(np.array([1.5, -2.0], np.float32), "w_sparse"),
    numpy_helper.from_array(np.array([1, 5], np.int64)),
    [2, 3],
)

then_g = helper.make_graph(
    [helper.make_node("Add", ["h", "bias"], ["then_out"], name="then_add")],
    "then_branch",
    [],
    [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [2, 3])],
)
else_g = helper.make_graph(
    [helper.make_node("Sub", ["h", "bias"], ["else_out"], name="else_sub")],
    "else_branch",
    [],
    [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [2, 3])],
)

nodes = [
    helper.make_node("Add", ["x", "w_sparse"], ["a"], name="add_sparse", doc_string="adds the sparse weight"),
    helper.make_node("ScaleAdd", ["a", "x"], ["h"], name="", domain="my.fns"),
    helper.make_node("ReduceSum", ["h"], ["s"], name="", keepdims=0),
    helper.make_node("Greater", ["s", "zero"], ["cond"], name="gt"),
    helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g),
]
nodes[0].metadata_props.add(key="origin", value="hand-made")
graph = helper.make_graph(
    nodes,
    "preserve",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N_unused", 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    initializer=[
        numpy_helper.from_array(np.array([0.5, 0.25, -1.0], np.float32), "bias"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ],
    sparse_initializer=[sparse],
    doc_string="graph doc",
    value_info=[helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])],
)
# The input is really [2, 3]; a symbolic first dim exercises symbols.
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.fns", 1)],
    functions=[fn],
    producer_name="nnslim-tests",
    producer_version="1.0",
    doc_string="model doc",
)
model.ir_version = 8
helper.set_model_props(model, {"author": "nnslim", "purpose": "round-trip"})
onnx.checker.check_model(model)
onnx.save(model, out_path)
x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], np.float32)
with open(input_path, "wb") as f:
    f.write(numpy_helper.from_array(x, "x").SerializeToString())
