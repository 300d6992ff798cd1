#!/usr/bin/env python3
"""Times a peer runtime on the real models, with the same inputs MobiQuant runs: the first case of
each model under target/models/cases (scripts/make_cases.py). Prints one JSON object per line:
{"model", "peer", "threads", "amx", "p50_ms", "p90_ms", "p99_ms", "runs"} (LiteRT adds
"max_abs_diff", its outputs' distance from the ONNX model's expected outputs, to show that the
TFLite twin computes the same thing).

    scripts/peer_bench.py [--peer onnxruntime|litert|tract] [--threads 1 2] [--no-amx] [--seconds 2] [-- model ...]

Peers:
- onnxruntime (PyPI) runs the ONNX model; --no-amx blocks Intel AMX (../shared/tools/no_amx.py)
  before it loads, as a phone, laptop or emulator host has none.
- litert (PyPI ai-edge-litert, `scripts/setup.sh peers`) runs the TFLite twin of a model from
  target/models/tflite (scripts/fetch-models.sh) where one exists; other models are skipped.
- tract (crates.io) runs the ONNX model through peers/tract, built on first use into
  target/peers; one thread only (other thread counts are skipped).
Absolute times on shared machines are noise: compare ratios measured in the same run.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def first_case(models_dir, model):
    cases = os.path.join(models_dir, "cases", model)
    return sorted(glob.glob(os.path.join(cases, "*", "inputs")) +
                  glob.glob(os.path.join(cases, "*", "step_000", "inputs")))[0]


def load_feed(case):
    import numpy as np
    return {os.path.basename(f)[:-4]: np.load(f) for f in glob.glob(os.path.join(case, "*.npy"))}


def timed(run, seconds):
    run()
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 10:
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 4)
    return {"p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99), "runs": len(times)}


def onnxruntime_peer(args, model, case, threads):
    import numpy as np
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(os.path.join(args.models_dir, "onnx", model + ".onnx"), opts,
                                   providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    inputs = {k: v for k, v in load_feed(case).items() if k in names}
    if "state" in names and "state" not in inputs:  # streaming models start from zeros
        inputs["state"] = np.zeros((2, 1, 128), np.float32)
    return timed(lambda: session.run(None, inputs), args.seconds)


def litert_peer(args, model, case, threads):
    path = os.path.join(args.models_dir, "tflite", model + ".tflite")
    if not os.path.exists(path):
        return None
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    feed = load_feed(case)
    interpreter = Interpreter(model_path=path, num_threads=threads)
    details = interpreter.get_input_details()
    if len(details) != len(feed):
        sys.exit(f"{model}: the TFLite twin has {len(details)} inputs, the case {len(feed)}")
    # Twins have one input each here; it takes the case's only array.
    (array,) = feed.values()
    interpreter.resize_tensor_input(details[0]["index"], array.shape)
    interpreter.allocate_tensors()

    def run():
        interpreter.set_tensor(details[0]["index"], array)
        interpreter.invoke()

    result = timed(run, args.seconds)
    run()
    expected = [np.load(f) for f in sorted(glob.glob(os.path.join(os.path.dirname(case), "expected", "*.npy")))]
    outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    if len(expected) == 1 and len(outputs) == 1 and outputs[0].size == expected[0].size:
        result["max_abs_diff"] = float(np.max(np.abs(outputs[0].reshape(-1) - expected[0].reshape(-1))))
    return result


def tract_peer(args, model, case, threads):
    if threads != 1:
        return None
    binary = os.path.join(ROOT, "target/peers/release/mobiquant-peer-tract")
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "-q", "--manifest-path",
                        os.path.join(ROOT, "peers/tract/Cargo.toml"), "--target-dir",
                        os.path.join(ROOT, "target/peers")], check=True)
    cmd = [binary, os.path.join(args.models_dir, "onnx", model + ".onnx"), model, str(args.seconds)]
    cmd += [f"{os.path.basename(f)[:-4]}={f}" for f in sorted(glob.glob(os.path.join(case, "*.npy")))]
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RUST_BACKTRACE": "0"})
    if run.returncode != 0:  # tract prints the error chain: its first and last causes say most
        lines = [l.strip() for l in run.stderr.splitlines() if l.strip() and l.strip() != "Caused by:"]
        return {"error": " / ".join(lines[:1] + lines[-1:])[:200] or "failed"}
    line = json.loads(run.stdout.strip().splitlines()[-1])
    return {k: line[k] for k in ("p50_ms", "p90_ms", "p99_ms", "runs")}


PEERS = {"onnxruntime": onnxruntime_peer, "litert": litert_peer, "tract": tract_peer}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default=os.path.join(ROOT, "target/models"))
    parser.add_argument("--peer", choices=sorted(PEERS), default="onnxruntime")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-amx", action="store_true")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("models", nargs="*")
    args = parser.parse_args()
    if args.no_amx:
        sys.path.insert(0, os.path.join(ROOT, "../shared/tools"))
        import no_amx
        if not no_amx.block_amx():
            sys.exit("could not block AMX")
    models = args.models or sorted(os.listdir(os.path.join(args.models_dir, "cases")))
    for model in models:
        case = first_case(args.models_dir, model)
        for threads in args.threads:
            result = PEERS[args.peer](args, model, case, threads)
            if result is None:
                continue
            print(json.dumps({"model": model, "peer": args.peer, "threads": threads,
                              "amx": args.peer == "onnxruntime" and not args.no_amx, **result}),
                  flush=True)


if __name__ == "__main__":
    main()
