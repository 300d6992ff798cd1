"""Writes small ONNX models that exercise the importer: import/opset12.onnx uses opset-12
attribute forms, Constant nodes of several kinds, an If whose bodies read an outer value, an
omitted optional output and dtype-changing ops. Used by tests/import.rs."""
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "import")
os.makedirs(here, exist_ok=True)
T = onnx.TensorProto

then_body = helper.make_graph(
    [helper.make_node("Relu", ["s"], ["then_y"], name="then_relu")],
    "then", [], [helper.make_tensor_value_info("then_y", T.FLOAT, ["d0", "d1"])])
else_body = helper.make_graph(
    [helper.make_node("Neg", ["s"], ["else_y"], name="else_neg")],
    "else", [], [helper.make_tensor_value_info("else_y", T.FLOAT, ["d0", "d1"])])
nodes = [
    helper.make_node("Constant", [], ["two"], value_float=2.0),
    helper.make_node("Constant", [], ["axes"], value_ints=[1]),
    helper.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(True))),
    helper.make_node("Mul", ["x", "two"], ["m"], name="mul"),
    helper.make_node("Unsqueeze", ["m"], ["u"], name="unsq", axes=[0]),
    helper.make_node("ReduceSum", ["u"], ["s"], name="rsum", axes=[2], keepdims=0),
    helper.make_node("Shape", ["s"], ["shape"], name="shape"),
    helper.make_node("Cast", ["shape"], ["shape_f"], name="cast", to=T.FLOAT),
    helper.make_node("If", ["cond"], ["branch"], name="if", then_branch=then_body,
                     else_branch=else_body),
    helper.make_node("Dropout", ["branch"], ["dropped", ""], name="dropout"),
    helper.make_node("Greater", ["dropped", "two"], ["mask"], name="gt"),
]
graph = helper.make_graph(
    nodes, "import_cases",
    [helper.make_tensor_value_info("x", T.FLOAT, ["batch", 3])],
    [helper.make_tensor_value_info("shape_f", T.FLOAT, [2]),
     helper.make_tensor_value_info("mask", T.BOOL, ["d0", "d1"])],
    [numpy_helper.from_array(np.arange(4, dtype=np.int8), "unused_i8")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save_model(model, os.path.join(here, "opset12.onnx"))

# Opset 11: Softmax, LogSoftmax and Hardmax flatten their input to 2-D at `axis` (default 1).
nodes = [
    helper.make_node("Softmax", ["x"], ["sm"], name="softmax", axis=1),
    helper.make_node("LogSoftmax", ["x"], ["lsm"], name="logsoftmax"),
    helper.make_node("Hardmax", ["x"], ["hm"], name="hardmax", axis=-1),
]
graph = helper.make_graph(
    nodes, "softmax11",
    [helper.make_tensor_value_info("x", T.FLOAT, ["batch", 3, 4])],
    [helper.make_tensor_value_info(n, T.FLOAT, ["batch", 3, 4]) for n in ["sm", "lsm", "hm"]],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
model.ir_version = 6
onnx.checker.check_model(model)
onnx.save_model(model, os.path.join(here, "softmax11.onnx"))

# Gelu exists from opset 20 on: an opset-19 model using it is refused (not checked: it is invalid).
graph = helper.make_graph(
    [helper.make_node("Gelu", ["x"], ["y"], name="gelu")], "gelu19",
    [helper.make_tensor_value_info("x", T.FLOAT, [2])],
    [helper.make_tensor_value_info("y", T.FLOAT, [2])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
model.ir_version = 9
onnx.save_model(model, os.path.join(here, "gelu19.onnx"))
