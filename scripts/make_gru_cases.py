"""Writes convert/tests/data/gru/: the ONNX node suite's GRU cases with their opset set to 21,
and one case computed by onnxruntime (linear_before_reset = 1).

The suite stamps them with opset 22, which only added bfloat16 to GRU's types (its semantics are
opset 14's); the copies keep that meaning covered at opset 21. Inputs and expected outputs are
the suite's.
Usage: python3 scripts/make_gru_cases.py [NODE_TESTS_DIR]   (default target/onnx-node-tests/node)
"""
import pathlib
import shutil
import sys

import onnx

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/onnx-node-tests/node")
dst = pathlib.Path(__file__).resolve().parent.parent / "convert/tests/data/gru"
for case in sorted(src.glob("test_gru_*")):
    model = onnx.load(case / "model.onnx")
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = 21
    out = dst / case.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    onnx.save(model, out / "model.onnx")
    for data in case.glob("test_data_set_*"):
        shutil.copytree(data, out / data.name)
    print(out)

# One more case, outputs computed by onnxruntime: linear_before_reset = 1 (no node test covers
# it), bidirectional, bias, initial_h, batch 2, both outputs.
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(4)
seq, batch, ni, nh, dirs = 4, 2, 3, 5, 2
feeds = {
    "X": rng.standard_normal((seq, batch, ni)).astype(np.float32),
    "W": rng.standard_normal((dirs, 3 * nh, ni)).astype(np.float32) * 0.5,
    "R": rng.standard_normal((dirs, 3 * nh, nh)).astype(np.float32) * 0.5,
    "B": rng.standard_normal((dirs, 6 * nh)).astype(np.float32) * 0.5,
    "initial_h": rng.standard_normal((dirs, batch, nh)).astype(np.float32),
}
node = helper.make_node(
    "GRU", ["X", "W", "R", "B", "", "initial_h"], ["Y", "Y_h"],
    hidden_size=nh, direction="bidirectional", linear_before_reset=1,
)
graph = helper.make_graph(
    [node], "gru_lbr",
    [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in feeds.items()],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
     helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
outs = sess.run(None, feeds)
out = dst / "test_gru_ort_linear_before_reset"
shutil.rmtree(out, ignore_errors=True)
(out / "test_data_set_0").mkdir(parents=True)
onnx.save(model, out / "model.onnx")
for i, (k, v) in enumerate(feeds.items()):
    onnx.save_tensor(numpy_helper.from_array(v, k), out / f"test_data_set_0/input_{i}.pb")
for i, v in enumerate(outs):
    onnx.save_tensor(numpy_helper.from_array(v), out / f"test_data_set_0/output_{i}.pb")
print(out)
