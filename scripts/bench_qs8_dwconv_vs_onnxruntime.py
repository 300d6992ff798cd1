#!/usr/bin/env python3
"""Int8 depthwise convolution: MobiQuant's qs8_dwconv (every tier this CPU has) against
onnxruntime's QLinearConv (u8 activations, s8 per-channel weights, group = channels) on the
depthwise layers of MobileNetV2, same machine, same run, one thread by default.

Each repeat runs `cargo bench -p mobiquant-core --bench qs8_dwconv -- --csv` and then onnxruntime
on every shape (Intel AMX blocked with shared/tools/no_amx.py, as for the GEMM comparison), so both
see the same machine load; the table gives the median over repeats of GOPS (2*OH*OW*C*9 per
second) and of the ratio best tier / onnxruntime.

    python3 scripts/bench_qs8_dwconv_vs_onnxruntime.py [--threads N] [--repeats R]
"""
import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench_qs8_vs_onnxruntime import best_time

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIQUANT_SHARED", REPO.parent / "shared"))


def run_mobiquant(threads):
    """{(tier, h, w, c, stride): GOPS} and {tier: lut GB/s} from one run of the Rust bench."""
    cmd = ["cargo", "bench", "-q", "-p", "mobiquant-core", "--bench", "qs8_dwconv", "--",
           "--csv", "--threads", str(threads)]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    rows, lut = {}, {}
    for line in out.splitlines():
        parts = line.split(",")
        if parts[0] == "dwconv" and len(parts) == 9:
            _, _name, tier, h, w, c, s, _k, gops = parts
            rows[(tier, int(h), int(w), int(c), int(s))] = float(gops)
        elif parts[0] == "lut" and len(parts) == 5:
            lut[parts[2]] = float(parts[4])
    return rows, lut


def ort_session(ort, h, w, c, stride, threads):
    """A QLinearConv depthwise 3x3 (padding 1) model and its input."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, (c, 1, 3, 3), dtype=np.int8)
    arr = numpy_helper.from_array
    inits = [
        arr(np.array(0.02, np.float32), "xs"), arr(np.array(128, np.uint8), "xz"),
        arr(weights, "W"), arr(np.full(c, 0.01, np.float32), "ws"), arr(np.zeros(c, np.int8), "wz"),
        arr(np.array(0.05, np.float32), "ys"), arr(np.array(0, np.uint8), "yz"),
        arr(np.full(c, 2500, np.int32), "B"),
    ]
    node = helper.make_node("QLinearConv", ["X", "xs", "xz", "W", "ws", "wz", "ys", "yz", "B"], ["Y"],
                            group=c, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
    graph = helper.make_graph([node], "dw", [helper.make_tensor_value_info("X", TensorProto.UINT8, [1, c, h, w])],
                              [helper.make_tensor_value_info("Y", TensorProto.UINT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = rng.integers(0, 256, (1, c, h, w), dtype=np.uint8)
    return sess, {"X": x}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(SHARED / "tools"))
    import no_amx  # noqa: E402

    if not no_amx.block_amx():
        sys.exit("could not block AMX: the onnxruntime numbers would not be comparable")
    import onnxruntime as ort  # noqa: E402

    mq_runs, ort_runs, lut_runs = [], [], []
    sessions = {}
    for _ in range(args.repeats):
        rows, lut = run_mobiquant(args.threads)
        mq_runs.append(rows)
        lut_runs.append(lut)
        shapes = sorted({key[1:] for key in rows}, key=lambda s: (-s[0], s[3], s[2]))
        ort_gops = {}
        for (h, w, c, s) in shapes:
            if (h, w, c, s) not in sessions:
                sessions[(h, w, c, s)] = ort_session(ort, h, w, c, s, args.threads)
            sess, feed = sessions[(h, w, c, s)]
            oh, ow = (h - 1) // s + 1, (w - 1) // s + 1
            ort_gops[(h, w, c, s)] = 2.0 * oh * ow * c * 9 / best_time(lambda: sess.run(None, feed), 0.3) / 1e9
        ort_runs.append(ort_gops)

    # The tier the runtime picks (Tier::best: the most specialised one the CPU has), first.
    order = ["avx512vnni", "avxvnni", "avx2", "i8mm", "dotprod", "neon", "reference"]
    tiers = sorted({key[0] for key in mq_runs[0]}, key=order.index)
    best = tiers[0]
    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"onnxruntime {ort.__version__} QLinearConv (AMX blocked), threads {args.threads}, "
          f"median of {args.repeats} interleaved repeats")
    print("int8 depthwise 3x3, padding 1, u8 -> u8: GOPS (2*OH*OW*C*9/s)")
    header = f"{'HxWxC/stride':>16} {'ort':>8}" + "".join(f" {t:>11}" for t in tiers) + f" {best + '/ort':>16}"
    print(header)
    for key in shapes:
        line = f"{'x'.join(map(str, key[:3])) + '/' + str(key[3]):>16} {med(r[key] for r in ort_runs):8.2f}"
        for t in tiers:
            line += f" {med(r[(t, *key)] for r in mq_runs):11.2f}"
        line += f" {med(m[(best, *key)] / o[key] for m, o in zip(mq_runs, ort_runs)):16.2f}"
        print(line)
    print("table lookup (sigmoid table, 1 MiB): GB/s " +
          ", ".join(f"{t} {med(r[t] for r in lut_runs):.2f}" for t in tiers if t in lut_runs[0]))


if __name__ == "__main__":
    main()
