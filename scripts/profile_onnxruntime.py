#!/usr/bin/env python3
"""Per-op time of onnxruntime (AMX blocked, one thread) on a model, to set beside `mobiquant bench
MODEL.mq --profile`: milliseconds per run by op type, then the slowest nodes.

    python3 scripts/profile_onnxruntime.py MODEL.onnx NAME=FILE.npy [NAME=FILE.npy ...] [--runs 30]
"""
import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MOBIQUANT_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(SHARED / "tools"))
import no_amx  # noqa: E402

if not no_amx.block_amx():
    sys.exit("could not block AMX: the onnxruntime numbers would not be comparable")
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("inputs", nargs="+", help="NAME=FILE.npy")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    feeds = {}
    for item in args.inputs:
        name, path = item.split("=", 1)
        feeds[name] = np.load(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    for _ in range(args.runs):
        session.run(None, feeds)
    path = session.end_profiling()
    by_type, by_node = collections.defaultdict(float), collections.defaultdict(float)
    for event in json.load(open(path)):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_type[event["args"]["op_name"]] += event["dur"]
            by_node[event["name"][: -len("_kernel_time")]] += event["dur"]
    os.remove(path)
    per_run = lambda us: us / args.runs / 1000
    print(f"onnxruntime {ort.__version__}, 1 thread, {args.runs} runs: "
          f"{per_run(sum(by_type.values())):.3f} ms of kernels per run")
    print("| op type | ms per run |\n|---|---|")
    for op, us in sorted(by_type.items(), key=lambda kv: -kv[1]):
        print(f"| {op} | {per_run(us):.3f} |")
    print("\n| node | ms per run |\n|---|---|")
    for node, us in sorted(by_node.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {node} | {per_run(us):.3f} |")


if __name__ == "__main__":
    main()
