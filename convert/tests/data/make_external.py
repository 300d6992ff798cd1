"""Writes external/model.onnx + external/weights.bin: a model whose two initializers live in one
external data file, as the `onnx` Python package lays it out. Used by tests/external_data.rs."""
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "external")
w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 4, "w")
b = numpy_helper.from_array(np.array([-1, 2, -3], dtype=np.int64), "b")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
    "external",
    [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])],
    [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 4])],
    [w, b],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.save_model(
    model,
    os.path.join(here, "model.onnx"),
    save_as_external_data=True,
    all_tensors_to_one_file=True,
    location="weights.bin",
    size_threshold=0,
)
