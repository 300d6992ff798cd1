#!/usr/bin/env python3
"""Float model speed: MobiQuant (`mobiquant bench`) against onnxruntime (scripts/peer_bench.py) on
the same real inputs, in the same run, 1 and 2 threads, onnxruntime with and without Intel AMX.
Prints a Markdown table of p50 latencies and ratios (onnxruntime time / MobiQuant time: above 1
means MobiQuant is faster).

    scripts/bench_models.py [--seconds 2] [model ...]

Needs scripts/fetch-models.sh and scripts/make_cases.py first, and a release build of the CLI.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STATES = {"silero_vad": ["state=stateN"], "silero_vad_op18_ifless": ["state=stateN"]}


def first_case_inputs(cases, model):
    case = sorted(glob.glob(os.path.join(cases, model, "*", "inputs")) +
                  glob.glob(os.path.join(cases, model, "*", "step_000", "inputs")))[0]
    return sorted(glob.glob(os.path.join(case, "*.npy")))


def ours(cli, models_dir, model, threads, seconds):
    mq = os.path.join(models_dir, model + ".mq")
    convert = [cli, "convert", os.path.join(models_dir, "onnx", model + ".onnx"), "-o", mq]
    for s in STATES.get(model, []):
        convert += ["--state", s]
    subprocess.run(convert, check=True, capture_output=True)
    cmd = [cli, "bench", mq, "--threads", str(threads), "--seconds", str(seconds), "--json"]
    for f in first_case_inputs(os.path.join(models_dir, "cases"), model):
        name = os.path.basename(f)[:-4]
        cmd += ["--input", f"{name}={f}"]  # a state's array sets where the stream starts
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip().splitlines()[-1]
    return json.loads(run.stdout.strip().splitlines()[-1]), None


def peer(models, threads, no_amx, seconds, models_dir):
    cmd = [sys.executable, os.path.join(HERE, "peer_bench.py"), "--models-dir", models_dir,
           "--seconds", str(seconds), "--threads", *map(str, threads), "--", *models]
    if no_amx:
        cmd.insert(2, "--no-amx")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {(r["model"], r["threads"]): r for r in map(json.loads, out.strip().splitlines())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default=os.path.join(ROOT, "target/models"))
    parser.add_argument("--cli", default=os.path.join(ROOT, "target/release/mobiquant"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("models", nargs="*")
    args = parser.parse_args()
    models = args.models or sorted(os.listdir(os.path.join(args.models_dir, "cases")))
    with_amx = peer(models, args.threads, False, args.seconds, args.models_dir)
    without_amx = peer(models, args.threads, True, args.seconds, args.models_dir)
    print("| model | threads | MobiQuant p50 ms | onnxruntime p50 ms (AMX blocked) | ratio | onnxruntime p50 ms (AMX) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        for t in args.threads:
            mine, error = ours(args.cli, args.models_dir, model, t, args.seconds)
            p_no, p_amx = without_amx[(model, t)]["p50_ms"], with_amx[(model, t)]["p50_ms"]
            if mine is None:
                print(f"| {model} | {t} | does not run yet ({error[:60]}) | {p_no:.3f} | - | {p_amx:.3f} | - |")
                continue
            m = mine["p50_ms"]
            print(f"| {model} | {t} | {m:.3f} | {p_no:.3f} | {p_no / m:.2f} | {p_amx:.3f} | {p_amx / m:.2f} |")


if __name__ == "__main__":
    main()
