#!/usr/bin/env python3
"""f32 GEMM: MobiQuant's f32_gemm against onnxruntime's f32 MatMul on the same shapes, same run.

Builds the Rust bench (`core/benches/f32_gemm.rs`) once, then for each thread count and each of
`--rounds` rounds runs, shape by shape and interleaved: the Rust bench on that shape (the tiers
asked for; it measures the VFMADD231PS zmm peak of one core just before), then onnxruntime's f32
MatMul `[M, K] x [K, N]` with a constant B and Intel AMX blocked (shared/tools/no_amx.py). Prints
medians over the rounds of GFLOPS (2*M*N*K per second) and the ratio to onnxruntime.

Columns: 'gemm' = B packed beforehand (constant weights of Gemm/MatMul, like onnxruntime's
prepacked constant B); 'pack+gemm' = B packed on every call (what Conv's im2col path does with
its input); 'in place' = B read where it is, row-major (`f32_gemm_rows`: a pointwise Conv).

    python3 scripts/bench_f32_vs_onnxruntime.py [--threads 1 2] [--rounds 3]
        [--tiers avx512vnni,avx2] [--shapes MxKxN,...] [--ms 200]
"""
import statistics
import subprocess
import numpy as np

from bench_qs8_vs_onnxruntime import best_time, parse_args, setup

COLUMNS = ("gemm", "pack+gemm", "in place")


def run_bench(exe, *args):
    """Rows of the f32 bench's CSV output: (tier, [GFLOPS of each of COLUMNS], label)."""
    out = subprocess.run([exe, "--csv", *args], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(",", 5 + len(COLUMNS))
        if len(parts) == 6 + len(COLUMNS):
            rows.append((parts[0], [float(x) for x in parts[5:-1]], parts[-1]))
    return rows


def ort_matmul(ort, m, k, n, threads):
    """(session, feed) of an f32 MatMul [m,k] x [k,n] with B a constant."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"])], "g",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess, {"A": rng.standard_normal((m, k), dtype=np.float32)}


def main():
    args = parse_args(__doc__, [1], "avx512vnni,avx2")

    exe, shapes, ort = setup("f32_gemm", args.shapes)

    tiers = args.tiers.split(",")
    for threads in args.threads:
        sessions = {s: ort_matmul(ort, *s, threads) for s in shapes}
        samples, labels = {}, {}
        for _ in range(args.rounds):
            for shape in shapes:
                m, k, n = shape
                rows = run_bench(exe, "--shapes", f"{m}x{k}x{n}", "--tiers", args.tiers,
                                 "--threads", str(threads), "--ms", str(args.ms))
                for tier, values, label in rows:
                    if tier == "peak":
                        samples.setdefault((shape, "peak"), []).append(values[0])
                        continue
                    for col, v in zip(COLUMNS, values):
                        samples.setdefault((shape, f"{tier} {col}"), []).append(v)
                    labels[shape] = label
                sess, feed = sessions[shape]
                t = best_time(lambda: sess.run(None, feed), args.ms / 1000)
                samples.setdefault((shape, "ort f32"), []).append(2.0 * m * k * n / t / 1e9)
        med = {key: statistics.median(v) for key, v in samples.items()}
        present = [t for t in tiers if any(c == f"{t} gemm" for _, c in med)]
        peaks = [v for (_, c), v in med.items() if c == "peak"]
        print(f"\nonnxruntime {ort.__version__} (AMX blocked), threads {threads}, "
              f"median of {args.rounds} interleaved rounds")
        if peaks:
            print(f"VFMADD231PS zmm peak of one core, measured before each shape: median "
                  f"{statistics.median(peaks):.1f} GFLOPS, range {min(peaks):.1f}-{max(peaks):.1f}")
        cols = ["ort f32"] + [f"{t} {c}" for t in present for c in COLUMNS]
        print(f"{'MxKxN':>15} " + " ".join(f"{c:>20}" for c in cols) + f" {'best/ort':>9}  shape")
        for shape in shapes:
            line = f"{'x'.join(map(str, shape)):>15} " + " ".join(f"{med[(shape, c)]:20.1f}" for c in cols)
            ratio = med[(shape, f"{present[0]} gemm")] / med[(shape, "ort f32")] if present else float("nan")
            print(line + f" {ratio:9.2f}  {labels.get(shape, '')}")


if __name__ == "__main__":
    main()
