#!/usr/bin/env python3
"""Before/after speed of a change on a busy machine: two builds of the CLI run alternately
(`mobiquant bench`) under `perf stat -e task-clock`, REPEATS times each; prints per model the
median CPU time per steady run (task clock minus the first run, over the steady runs: time the
process spent preempted does not count) and the median p50, with the ratios.

    scripts/bench_cpu_ab.py BEFORE_CLI AFTER_CLI [--repeats 5] [--seconds 1] [--threads 1] model ...

Models are read from target/models/*.mq with the first case's inputs, as bench_profile_ab.py.
"""
import argparse
import os
import re
import statistics
import subprocess

from bench_models import ROOT, first_case_inputs


def run(cli, model, seconds, threads):
    models = os.path.join(ROOT, "target", "models")
    cmd = ["perf", "stat", "-x,", "-e", "task-clock", cli, "bench",
           os.path.join(models, model + ".mq"), "--seconds", str(seconds), "--threads", str(threads)]
    for f in first_case_inputs(os.path.join(models, "cases"), model):
        cmd += ["--input", f"{os.path.basename(f)[:-4]}={f}"]
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    runs = int(re.search(r"\((\d+) runs\)", r.stdout).group(1))
    p50 = float(re.search(r"steady p50 ([\d.]+) ms", r.stdout).group(1))
    first = float(re.search(r"first run ([\d.]+) ms", r.stdout).group(1))
    task_ms = float(r.stderr.strip().splitlines()[-1].split(",")[0])
    return (task_ms - first) / runs, p50


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_intermixed_args()
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[0]}")
    print("| model | CPU ms/run before | after | ratio | p50 before | after | ratio |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        sides = {"before": [], "after": []}
        for _ in range(args.repeats):
            for side in sides:
                sides[side].append(run(getattr(args, side), model, args.seconds, args.threads))
        med = lambda side, i: statistics.median(x[i] for x in sides[side])
        cb, ca, pb, pa = med("before", 0), med("after", 0), med("before", 1), med("after", 1)
        print(f"| {model} | {cb:.4f} | {ca:.4f} | {cb / ca:.2f}x | {pb:.3f} | {pa:.3f} | "
              f"{pb / pa:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
