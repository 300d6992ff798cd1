#!/usr/bin/env python3
"""Int8 GEMM: MobiQuant's qs8_gemm (every tier this CPU has) against onnxruntime on the same shapes,
same machine, same run, one thread by default.

Runs `cargo bench -p mobiquant-core --bench qs8_gemm -- --csv`, then onnxruntime's MatMulInteger
(u8 x s8 -> i32), QLinearMatMul (u8 x s8 -> u8) and f32 MatMul with Intel AMX blocked
(shared/tools/no_amx.py: phones and emulator hosts have no AMX, so MLAS's AVX-512 VNNI path is the
fair peer), and prints GOPS (2*M*N*K per second) and ratios.

    python3 scripts/bench_qs8_vs_onnxruntime.py [--threads N]
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIQUANT_SHARED", REPO.parent / "shared"))


def run_mobiquant(threads):
    """{(tier, m, k, n): (static GOPS, dynamic GOPS)} and the VPDPBUSD peak, from the Rust bench."""
    cmd = ["cargo", "bench", "-q", "-p", "mobiquant-core", "--bench", "qs8_gemm", "--",
           "--csv", "--threads", str(threads)]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    rows, peak = {}, None
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) != 7:
            continue
        tier, _name, m, k, n, gs, gd = parts
        if tier == "peak":
            peak = float(gs)
        else:
            rows[(tier, int(m), int(k), int(n))] = (float(gs), float(gd))
    return rows, peak


def best_time(run, budget=0.4):
    run()
    t0 = time.perf_counter()
    run()
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(budget / 5 / once))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            run()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def ort_gops(ort, onnx, m, k, n, threads):
    """GOPS of MatMulInteger, QLinearMatMul and f32 MatMul for [m,k] x [k,n]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    a_u8 = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b_s8 = rng.integers(-127, 128, (k, n), dtype=np.int8)
    a_f32 = rng.standard_normal((m, k), dtype=np.float32)
    b_f32 = rng.standard_normal((k, n), dtype=np.float32)
    scalar = lambda name, v, dt: numpy_helper.from_array(np.array(v, dtype=dt), name)  # noqa: E731

    def session(nodes, inputs, inits, out_type):
        graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("Y", out_type, None)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    a_info = helper.make_tensor_value_info("A", TensorProto.UINT8, [m, k])
    mmi = session([helper.make_node("MatMulInteger", ["A", "B", "azp", "bzp"], ["Y"])], [a_info],
                  [numpy_helper.from_array(b_s8, "B"), scalar("azp", 128, np.uint8), scalar("bzp", 0, np.int8)],
                  TensorProto.INT32)
    qlm = session([helper.make_node("QLinearMatMul", ["A", "as", "azp", "B", "bs", "bzp", "ys", "yzp"], ["Y"])],
                  [a_info],
                  [numpy_helper.from_array(b_s8, "B"), scalar("as", 0.02, np.float32), scalar("azp", 128, np.uint8),
                   scalar("bs", 0.01, np.float32), scalar("bzp", 0, np.int8), scalar("ys", 0.5, np.float32),
                   scalar("yzp", 128, np.uint8)],
                  TensorProto.UINT8)
    f32 = session([helper.make_node("MatMul", ["A", "B"], ["Y"])],
                  [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
                  [numpy_helper.from_array(b_f32, "B")], TensorProto.FLOAT)
    ops = 2.0 * m * n * k
    result = []
    for sess, a in ((mmi, a_u8), (qlm, a_u8), (f32, a_f32)):
        feed = {"A": a}
        result.append(ops / best_time(lambda: sess.run(None, feed)) / 1e9)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    rows, peak = run_mobiquant(args.threads)

    sys.path.insert(0, str(SHARED / "tools"))
    import no_amx  # noqa: E402

    if not no_amx.block_amx():
        sys.exit("could not block AMX: the onnxruntime numbers would not be comparable")
    import onnx  # noqa: E402
    import onnxruntime as ort  # noqa: E402

    print(f"onnxruntime {ort.__version__} (AMX blocked), threads {args.threads}")
    if peak:
        print(f"VPDPBUSD zmm peak measured by the Rust bench: {peak:.1f} GOPS (1 core)")
    shapes = sorted({key[1:] for key in rows}, key=lambda s: -s[0] * s[1] * s[2])
    tiers = sorted({key[0] for key in rows}, key=lambda t: [r for r in rows if r[0] == t] and
                   -max(rows[r][0] for r in rows if r[0] == t))
    best = tiers[0]
    header = f"{'MxKxN':>12} {'ort MMI':>8} {'ort QLMM':>8} {'ort f32':>8}"
    for t in tiers:
        header += f" {t + ' s8':>16} {t + ' dyn':>16}"
    header += f" {'best/MMI':>9} {'best/QLMM':>9}"
    print("GOPS (2*M*N*K/s); 'sN' = static s8 -> s8, 'dyn' = f32 -> dynamic int8 -> f32")
    print(header)
    for (m, k, n) in shapes:
        mmi, qlm, f32 = ort_gops(ort, onnx, m, k, n, args.threads)
        line = f"{f'{m}x{k}x{n}':>12} {mmi:8.1f} {qlm:8.1f} {f32:8.1f}"
        for t in tiers:
            gs, gd = rows[(t, m, k, n)]
            line += f" {gs:16.1f} {gd:16.1f}"
        gs = rows[(best, m, k, n)][0]
        line += f" {gs / mmi:9.2f} {gs / qlm:9.2f}"
        print(line)
    if peak:
        gs = rows[(best, 512, 512, 512)][0]
        print(f"{best} at 512x512x512: {100 * gs / peak:.0f} % of the VPDPBUSD peak")


if __name__ == "__main__":
    main()
