#!/usr/bin/env python3
"""Float model speed: MobiQuant (`mobiquant bench`) against its peers (scripts/peer_bench.py) on
the same real inputs, in the same run, 1 and 2 threads: onnxruntime with and without Intel AMX,
LiteRT on the models that have a TFLite twin, tract (one thread). Prints a Markdown table of p50
latencies and ratios (peer time / MobiQuant time: above 1 means MobiQuant is faster); the last
column compares with the fastest peer that runs without AMX (phones have none).

    scripts/bench_models.py [--seconds 2] [--no-litert] [--no-tract] [-- model ...]

Needs scripts/fetch-models.sh and scripts/make_cases.py first, a release build of the CLI, and for
LiteRT `scripts/setup.sh peers` (without it, LiteRT is left out).
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


def peer(name, models, threads, seconds, models_dir, no_amx=False):
    """{(model, threads): result} from scripts/peer_bench.py for one peer."""
    cmd = [sys.executable, os.path.join(HERE, "peer_bench.py"), "--peer", name, "--models-dir",
           models_dir, "--seconds", str(seconds), "--threads", *map(str, threads), "--", *models]
    if no_amx:
        cmd.insert(2, "--no-amx")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {(r["model"], r["threads"]): r for r in map(json.loads, out.strip().splitlines())}


def cell(result, mine):
    """A peer's p50 and its ratio to MobiQuant's, or why there is none."""
    if result is None:
        return "-", None
    if "error" in result:
        return "fails", None
    p50 = result["p50_ms"]
    return f"{p50:.3f} ({p50 / mine:.2f})" if mine else f"{p50:.3f}", p50


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", default=os.path.join(ROOT, "target/models"))
    parser.add_argument("--cli", default=os.path.join(ROOT, "target/release/mobiquant"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-litert", action="store_true")
    parser.add_argument("--no-tract", action="store_true")
    parser.add_argument("models", nargs="*")
    args = parser.parse_args()
    models = args.models or sorted(os.listdir(os.path.join(args.models_dir, "cases")))
    peers = {"onnxruntime (AMX)": dict(peer="onnxruntime"), "onnxruntime": dict(peer="onnxruntime", no_amx=True)}
    try:
        import ai_edge_litert  # noqa: F401
        if not args.no_litert:
            peers["LiteRT"] = dict(peer="litert")
    except ImportError:
        print("LiteRT left out: run scripts/setup.sh peers", file=sys.stderr)
    if not args.no_tract:
        peers["tract"] = dict(peer="tract")
    print("p50 latency in ms; in parentheses the peer's time over MobiQuant's (above 1: MobiQuant is faster)\n")
    print("| model | threads | MobiQuant | " + " | ".join(peers) + " | vs fastest peer without AMX |")
    print("|---|---|---|" + "---|" * len(peers) + "---|")
    for model in models:
        # One model at a time, MobiQuant first and its peers right after, so that a change in
        # the machine's load between models hits both sides alike.
        mine = {t: ours(args.cli, args.models_dir, model, t, args.seconds) for t in args.threads}
        results = {name: peer(p["peer"], [model], args.threads, args.seconds, args.models_dir,
                              p.get("no_amx", False))
                   for name, p in peers.items()}
        for t in args.threads:
            result, error = mine[t]
            m = result["p50_ms"] if result else None
            cells, rivals = [], []
            for name in peers:
                text, p50 = cell(results[name].get((model, t)), m)
                cells.append(text)
                if p50 is not None and name != "onnxruntime (AMX)":
                    rivals.append(p50)
            ours_text = f"{m:.3f}" if m else f"does not run yet ({error[:60]})"
            best = f"{min(rivals) / m:.2f}" if m and rivals else "-"
            print(f"| {model} | {t} | {ours_text} | " + " | ".join(cells) + f" | {best} |", flush=True)

if __name__ == "__main__":
    main()
