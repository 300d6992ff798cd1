#!/usr/bin/env python3
"""Before/after speed of a change: two builds of the CLI (`mobiquant bench --profile`) run
alternately on the same models and real inputs, REPEATS times each; prints the median p50 of each
and, per op type, the median milliseconds per run of the `--profile` table with the ratio.

    scripts/bench_profile_ab.py BEFORE_CLI AFTER_CLI [--repeats 5] [--seconds 2] [model ...]

Build BEFORE_CLI from the base commit in a copy of the tree, e.g.
`git archive BASE | tar -x -C /tmp/base && cargo build --release -p mobiquant-cli` there.
Models (default: the PP-OCRv4 and openWakeWord ones) are read from target/models/*.mq with the
first case's inputs (scripts/fetch-models.sh and scripts/make_cases.py first).
"""
import argparse
import os
import re
import statistics
import subprocess
from collections import defaultdict

from bench_models import ROOT, first_case_inputs

MODELS = ["ppocr_v4_rec", "ppocr_v4_det", "oww_melspectrogram", "oww_embedding"]


def profile(cli, model, seconds):
    models = os.path.join(ROOT, "target", "models")
    cmd = [cli, "bench", os.path.join(models, model + ".mq"), "--profile",
           "--seconds", str(seconds)]
    for f in first_case_inputs(os.path.join(models, "cases"), model):
        cmd += ["--input", f"{os.path.basename(f)[:-4]}={f}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    p50 = float(re.search(r"steady p50 ([\d.]+) ms", out).group(1))
    ops = {op: float(ms) for op, ms in re.findall(r"^\| (\w+) \| \d+ \| ([\d.]+) \|", out, re.M)}
    return p50, ops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2)
    args = ap.parse_intermixed_args()
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[0]}")
    for model in args.models:
        runs = {"before": ([], defaultdict(list)), "after": ([], defaultdict(list))}
        for _ in range(args.repeats):
            for side in ("before", "after"):
                p50, ops = profile(getattr(args, side), model, args.seconds)
                runs[side][0].append(p50)
                for op, ms in ops.items():
                    runs[side][1][op].append(ms)
        (bp, bops), (ap50, aops) = runs["before"], runs["after"]
        b, a = statistics.median(bp), statistics.median(ap50)
        print(f"\n{model}: p50 {b:.2f} -> {a:.2f} ms ({b / a:.2f}x), median of {args.repeats}")
        med = lambda d, op: statistics.median(d[op]) if op in d else 0.0
        for op in sorted(set(bops) | set(aops), key=lambda o: -med(bops, o)):
            x, y = med(bops, op), med(aops, op)
            if max(x, y) >= 0.05:
                print(f"  {op:18s} {x:8.3f} -> {y:8.3f} ms  ({x / max(y, 1e-9):.2f}x)")


if __name__ == "__main__":
    main()
