#!/usr/bin/env python3
"""Times onnxruntime (the peer) on the real models, with the same inputs MobiQuant runs: the first
case of each model under target/models/cases (scripts/make_cases.py). Prints one JSON object per
line: {"model", "threads", "amx", "p50_ms", "p90_ms", "p99_ms", "runs"}.

    scripts/peer_bench.py [--threads 1 2] [--no-amx] [--seconds 2]

--no-amx blocks Intel AMX (../shared/tools/no_amx.py) before onnxruntime loads, as a phone,
laptop or emulator host has none. Absolute times on shared machines are noise: compare ratios
measured in the same run.
"""
import argparse
import glob
import json
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default="target/models")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-amx", action="store_true")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("models", nargs="*")
    args = parser.parse_args()
    if args.no_amx:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../shared/tools"))
        import no_amx
        if not no_amx.block_amx():
            sys.exit("could not block AMX")
    import numpy as np
    import onnxruntime as ort

    cases = os.path.join(args.models_dir, "cases")
    models = args.models or sorted(os.listdir(cases))
    for model in models:
        case = sorted(glob.glob(os.path.join(cases, model, "*", "inputs")) +
                      glob.glob(os.path.join(cases, model, "*", "step_000", "inputs")))[0]
        feed = {os.path.basename(f)[:-4]: np.load(f) for f in glob.glob(os.path.join(case, "*.npy"))}
        for threads in args.threads:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(os.path.join(args.models_dir, "onnx", model + ".onnx"), opts,
                                           providers=["CPUExecutionProvider"])
            names = {i.name for i in session.get_inputs()}
            inputs = {k: v for k, v in feed.items() if k in names}
            if "state" in names and "state" not in inputs:  # streaming models start from zeros
                inputs["state"] = np.zeros((2, 1, 128), np.float32)
            session.run(None, inputs)
            times = []
            deadline = time.perf_counter() + args.seconds
            while time.perf_counter() < deadline or len(times) < 10:
                start = time.perf_counter()
                session.run(None, inputs)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
            print(json.dumps({"model": model, "threads": threads, "amx": not args.no_amx,
                              "p50_ms": round(pick(0.5), 4), "p90_ms": round(pick(0.9), 4),
                              "p99_ms": round(pick(0.99), 4), "runs": len(times)}), flush=True)


if __name__ == "__main__":
    main()
