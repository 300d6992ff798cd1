#!/bin/sh
# Generates the ONNX node test suite (about 1,900 cases: node/test_*/model.onnx and
# test_data_set_*/{input,output}_*.pb) from the case generators that the `onnx` Python wheel ships.
# Output: <workspace>/target/onnx-node-tests, or the folder given as the first argument.
# The convert crate's node_suite and import tests read it from there (or from $ONNX_NODE_TESTS).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$(cd "$here/.." && pwd)/target/onnx-node-tests"}
python3 - "$out" <<'PY'
import argparse, sys
import onnx.backend.test.cmd_tools as tools
from onnx.backend.test.case import node
tools.model_test.collect_testcases = lambda: node.collect_testcases()
tools.generate_data(argparse.Namespace(output=sys.argv[1]))
PY
echo "ONNX node tests written to $out"
