#!/usr/bin/env python3
"""f32 depthwise convolution: MobiQuant's DwConv (every tier this CPU has) against onnxruntime's
f32 Conv with group = channels, on the depthwise layers of MobileNetV2 (3x3, padding 1) and two
5x5 layers (padding 2), same machine, same run, one thread.

Each repeat runs `cargo bench -p mobiquant-core --bench f32_dwconv -- --csv` and then onnxruntime
on every shape (Intel AMX blocked with shared/tools/no_amx.py, as for the other comparisons; the
Conv has a fused-activation-free graph, bias included), so both see the same machine load; the
table gives the median over repeats of GMAC/s (OH*OW*C*K*K per second / 1e9) and of the ratio
best tier / onnxruntime, for its row kernels and for its channel blocks (`<tier>-16c`; the
Conv op takes the faster of the two per shape, `DwChannels::wins`).

    python3 scripts/bench_f32_dwconv_vs_onnxruntime.py [--repeats R]
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


def run_mobiquant():
    """{(tier, h, w, c, stride, k): GMAC/s} from one run of the Rust bench."""
    cmd = ["cargo", "bench", "-q", "-p", "mobiquant-core", "--bench", "f32_dwconv", "--", "--csv"]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split(",")
        if parts[0] == "dwconv" and len(parts) == 8:
            _, tier, h, w, c, s, k, gmacs = parts
            rows[(tier, int(h), int(w), int(c), int(s), int(k))] = float(gmacs)
    return rows


def ort_session(ort, h, w, c, stride, k):
    """An f32 depthwise Conv (k x k, padding k // 2, bias) model and its input."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    arr = numpy_helper.from_array
    inits = [arr(rng.standard_normal((c, 1, k, k)).astype(np.float32), "W"),
             arr(rng.standard_normal(c).astype(np.float32), "B")]
    p = k // 2
    node = helper.make_node("Conv", ["X", "W", "B"], ["Y"], group=c, kernel_shape=[k, k],
                            pads=[p, p, p, p], strides=[stride, stride])
    graph = helper.make_graph([node], "dw", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((1, c, h, w)).astype(np.float32)
    return sess, {"X": x}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(SHARED / "tools"))
    import no_amx  # noqa: E402

    if not no_amx.block_amx():
        sys.exit("could not block AMX: the onnxruntime numbers would not be comparable")
    import onnxruntime as ort  # noqa: E402

    mq_runs, ort_runs = [], []
    sessions = {}
    for _ in range(args.repeats):
        rows = run_mobiquant()
        mq_runs.append(rows)
        shapes = sorted({key[1:] for key in rows}, key=lambda s: (s[4], -s[0], s[3], s[2]))
        ort_gmacs = {}
        for (h, w, c, s, k) in shapes:
            if (h, w, c, s, k) not in sessions:
                sessions[(h, w, c, s, k)] = ort_session(ort, h, w, c, s, k)
            sess, feed = sessions[(h, w, c, s, k)]
            p = k // 2
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            macs = oh * ow * c * k * k
            ort_gmacs[(h, w, c, s, k)] = macs / best_time(lambda: sess.run(None, feed), 0.3) / 1e9
        ort_runs.append(ort_gmacs)

    # The tier the runtime picks (Tier::best: the most specialised one the CPU has), first.
    order = ["avx512vnni", "avxvnni", "avx2", "i8mm", "dotprod", "neon", "reference"]
    # Each tier's row kernels (`<tier>`) and channel blocks (`<tier>-16c`), side by side.
    tiers = sorted({key[0] for key in mq_runs[0]},
                   key=lambda t: (order.index(t.removesuffix("-16c")), t.endswith("-16c")))
    best = tiers[0]
    blocks = best + "-16c"
    med = statistics.median
    print(f"onnxruntime {ort.__version__} f32 Conv group=C (AMX blocked), 1 thread, "
          f"median of {args.repeats} interleaved repeats")
    print("f32 depthwise, padding K/2, bias: GMAC/s (OH*OW*C*K*K/s/1e9)")
    header = f"{'HxWxC/stride kK':>18} {'ort':>8}" + "".join(f" {t:>11}" for t in tiers) + f" {best + '/ort':>16} {blocks + '/ort':>20}"
    print(header)
    for key in shapes:
        name = f"{'x'.join(map(str, key[:3]))}/{key[3]} k{key[4]}"
        line = f"{name:>18} {med(r[key] for r in ort_runs):8.2f}"
        for t in tiers:
            line += f" {med(r[(t, *key)] for r in mq_runs):11.2f}"
        for t, width in ((best, 16), (blocks, 20)):
            line += f" {med(m[(t, *key)] / o[key] for m, o in zip(mq_runs, ort_runs)):{width}.2f}"
        print(line)


if __name__ == "__main__":
    main()
