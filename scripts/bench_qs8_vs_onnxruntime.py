#!/usr/bin/env python3
"""Int8 GEMM: MobiQuant's qs8_gemm against onnxruntime on the same shapes, same machine, same run.

Builds the Rust bench (`core/benches/qs8_gemm.rs`) once, then for each thread count and each of
`--rounds` rounds runs, shape by shape and interleaved: the Rust bench on that shape (the tiers
asked for), then onnxruntime's MatMulInteger (u8 x s8 -> i32), QLinearMatMul (u8 x s8 -> u8) and
f32 MatMul with Intel AMX blocked (shared/tools/no_amx.py: phones and emulator hosts have no AMX,
so MLAS's AVX-512 VNNI path is the fair peer). Each round also measures the VPDPBUSD zmm peak of
one core. Prints medians over the rounds of GOPS (2*M*N*K per second) and the ratios.

With one thread both sides time the CPU time of the measuring thread (Linux
CLOCK_THREAD_CPUTIME_ID: the Rust bench's `--cpu-time`, Python's `time.thread_time`; onnxruntime
with one intra-op thread runs the op on the calling thread), so that time spent preempted by other
processes on a shared machine is not counted; `--wall` times wall clock instead (always with
more than one thread).

    python3 scripts/bench_qs8_vs_onnxruntime.py [--threads 1 2] [--rounds 3]
        [--tiers avx512vnni,avxvnni,avx2] [--shapes MxKxN,...] [--ms 200] [--wall]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIQUANT_SHARED", REPO.parent / "shared"))


def build_bench(name="qs8_gemm"):
    """Path of the release bench executable `name` (built if needed)."""
    cmd = ["cargo", "bench", "-q", "-p", "mobiquant-core", "--bench", name, "--no-run",
           "--message-format", "json"]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("executable") and msg.get("target", {}).get("name") == name:
            return msg["executable"]
    sys.exit(f"no {name} bench executable built")


def run_bench(exe, *args):
    """Rows of the bench's CSV output: (tier, name, m, k, n, static GOPS, dynamic GOPS, label)."""
    out = subprocess.run([exe, "--csv", *args], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(",", 7)
        if len(parts) == 8:
            tier, name, m, k, n, gs, gd, label = parts
            rows.append((tier, name, int(m), int(k), int(n), float(gs), float(gd), label))
    return rows


def setup(bench, shapes_arg):
    """(bench executable, [(m, k, n)] from `--shapes` or the bench's list, onnxruntime imported
    with AMX blocked)."""
    exe = build_bench(bench)
    if shapes_arg:
        shapes = [tuple(int(d) for d in s.split("x")) for s in shapes_arg.split(",")]
    else:
        shapes = [(r[2], r[3], r[4]) for r in run_bench(exe, "--no-peak", "--tiers", "reference", "--ms", "1")]

    sys.path.insert(0, str(SHARED / "tools"))
    import no_amx  # noqa: E402

    if not no_amx.block_amx():
        sys.exit("could not block AMX: the onnxruntime numbers would not be comparable")
    import onnxruntime as ort  # noqa: E402
    return exe, shapes, ort


def best_time(run, budget, clock=time.perf_counter):
    run()
    t0 = clock()
    run()
    once = max(clock() - t0, 1e-7)
    reps = max(1, int(budget / 5 / once))
    best = float("inf")
    for _ in range(5):
        t0 = clock()
        for _ in range(reps):
            run()
        best = min(best, (clock() - t0) / reps)
    return best


def ort_sessions(ort, m, k, n, threads):
    """[(name, session, feed)] for MatMulInteger, QLinearMatMul and f32 MatMul, [m,k] x [k,n]."""
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
    return [("ort MMI", mmi, {"A": a_u8}), ("ort QLMM", qlm, {"A": a_u8}), ("ort f32", f32, {"A": a_f32})]


def measure(exe, ort, shapes, tiers, threads, rounds, ms, cpu):
    """Medians over `rounds`: ({(shape, column): GOPS, and '... %peak' shares}, labels)."""
    samples, labels = {}, {}
    sessions = {s: ort_sessions(ort, *s, threads) for s in shapes}
    clock = time.thread_time if cpu else time.perf_counter
    cpu_flag = ["--cpu-time"] if cpu else []
    for _ in range(rounds):
        for shape in shapes:
            m, k, n = shape
            # The bench measures the VPDPBUSD peak right before the shape, so that the share of
            # the peak compares numbers taken under the same load.
            rows = run_bench(exe, "--shapes", f"{m}x{k}x{n}", "--tiers", tiers,
                             "--threads", str(threads), "--ms", str(ms), *cpu_flag)
            for tier, _name, *_dims, gs, gd, label in rows:
                if tier == "peak":
                    samples.setdefault((shape, "peak"), []).append(gs)
                    continue
                samples.setdefault((shape, f"{tier} s8"), []).append(gs)
                samples.setdefault((shape, f"{tier} dyn"), []).append(gd)
                labels[shape] = label
            ops = 2.0 * m * k * n
            for name, sess, feed in sessions[shape]:
                t = best_time(lambda: sess.run(None, feed), ms / 1000, clock)
                samples.setdefault((shape, name), []).append(ops / t / 1e9)
    medians = {key: statistics.median(v) for key, v in samples.items()}
    # Shares of the peak: the median over rounds of each round's GOPS / that round's peak.
    for (shape, column), values in list(samples.items()):
        peaks = samples.get((shape, "peak"))
        if peaks and column != "peak":
            medians[(shape, f"{column} %peak")] = statistics.median(
                100 * v / p for v, p in zip(values, peaks))
    return medians, labels


def parse_args(doc, threads, tiers):
    """The options of the GEMM peer scripts, with these defaults for --threads and --tiers."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=threads)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiers", default=tiers,
                        help="MobiQuant tiers, best first (unsupported ones are skipped)")
    parser.add_argument("--shapes", help="MxKxN,... (default: the Rust bench's list)")
    parser.add_argument("--ms", type=int, default=200, help="time budget per measurement")
    parser.add_argument("--wall", action="store_true",
                        help="time wall clock with one thread too (default: the thread's CPU time)")
    return parser.parse_args()


def main():
    args = parse_args(__doc__, [1, 2], "avx512vnni,avxvnni,avx2")

    exe, shapes, ort = setup("qs8_gemm", args.shapes)

    for threads in args.threads:
        cpu = threads == 1 and not args.wall
        med, labels = measure(exe, ort, shapes, args.tiers, threads, args.rounds, args.ms, cpu)
        peaks = [v for (_, c), v in med.items() if c == "peak"]
        peak = statistics.median(peaks) if peaks else None
        tiers = [t for t in args.tiers.split(",") if any(c == f"{t} s8" for _, c in med)]
        best = tiers[0]
        print(f"\nonnxruntime {ort.__version__} (AMX blocked), threads {threads}, "
              f"median of {args.rounds} interleaved rounds, "
              f"{'CPU time of the measuring thread' if cpu else 'wall time'}")
        if peak:
            print(f"VPDPBUSD zmm peak of one core, measured by the Rust bench before each shape: "
                  f"median {peak:.1f} GOPS, range {min(peaks):.1f}-{max(peaks):.1f}")
        print("GOPS (2*M*N*K/s); 's8' = static s8 -> s8, 'dyn' = f32 -> dynamic int8 -> f32")
        cols = ["ort MMI", "ort QLMM", "ort f32"] + [f"{t} {p}" for t in tiers for p in ("s8", "dyn")]
        print(f"{'MxKxN':>15} " + " ".join(f"{c:>15}" for c in cols) + f" {'best/MMI':>9} {'best/QLMM':>9}  shape")
        for shape in shapes:
            line = f"{'x'.join(map(str, shape)):>15} " + " ".join(f"{med[(shape, c)]:15.1f}" for c in cols)
            gs = med[(shape, f"{best} s8")]
            line += f" {gs / med[(shape, 'ort MMI')]:9.2f} {gs / med[(shape, 'ort QLMM')]:9.2f}  {labels.get(shape, '')}"
            print(line)
        if peak and threads == 1:
            for shape in [(512, 512, 512), (1024, 1024, 1024)]:
                if (shape, f"{best} s8 %peak") in med:
                    print(f"{best} at {'x'.join(map(str, shape))}: "
                          f"{med[(shape, f'{best} s8 %peak')]:.0f} % of the VPDPBUSD peak measured "
                          f"just before (onnxruntime MatMulInteger: {med[(shape, 'ort MMI %peak')]:.0f} %)")


if __name__ == "__main__":
    main()
