#!/usr/bin/env python3
"""Weight-only GEMM/GEMV: MobiQuant's wo_gemm (int8 and int4 weights, f32 activations) against
onnxruntime's com.microsoft MatMulNBits and f32 MatMul on the same shapes, same machine, same run.

Alternates, `--repeats` times: `cargo bench -p mobiquant-core --bench wo_gemm -- --csv --tier T`,
then onnxruntime (AMX blocked with shared/tools/no_amx.py, as for the int8 peer), and prints the
median GOPS (2*M*N*K per second) of each and the ratios. onnxruntime's MatMulNBits runs with
accuracy_level 0 (f32 arithmetic, like MobiQuant's kernels), with zero points (like MobiQuant's
asymmetric layout), bits 4 at block sizes 32/64/128 and bits 8 at block sizes 32 and 128; plus
bits 4 block 32 at accuracy_level 4 (int8 activations: a less accurate class, for reference).

    python3 scripts/bench_weight_only_vs_onnxruntime.py [--threads N] [--repeats R] [--tier T]
"""
import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench_qs8_vs_onnxruntime import best_time  # the same timing as the int8 comparison

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOBIQUANT_SHARED", REPO.parent / "shared"))
FORMATS = ["q8c", "q8g32", "q4g32", "q4g64", "q4g128", "f32"]
# (label, bits, block size, accuracy level) of the onnxruntime MatMulNBits variants. Level 0 computes
# in f32 (MobiQuant's semantics); level 4 quantizes the activations to int8 on the fly (less
# accurate, shown for reference).
ORT_NBITS = [("q8g32", 8, 32, 0), ("q8g128", 8, 128, 0), ("q4g32", 4, 32, 0), ("q4g64", 4, 64, 0),
             ("q4g128", 4, 128, 0), ("q4g32a4", 4, 32, 4)]


def run_mobiquant(threads, tier):
    """{(tier, m, k, n): {format: GOPS}} from the Rust bench."""
    cmd = ["cargo", "bench", "-q", "-p", "mobiquant-core", "--bench", "wo_gemm", "--",
           "--csv", "--threads", str(threads), "--tier", tier]
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) != 4 + len(FORMATS):
            continue
        rows[(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))] = dict(
            zip(FORMATS, map(float, parts[4:])))
    return rows


class OrtShape:
    """onnxruntime sessions for one [m, k] x [k, n] product: MatMulNBits variants and f32 MatMul."""

    def __init__(self, ort, m, k, n, threads):
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(0)
        self.ops = 2.0 * m * n * k
        self.feed = {"A": rng.standard_normal((m, k), dtype=np.float32)}
        a_info = helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])
        y_info = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)

        def session(node, inits, domain_opsets):
            graph = helper.make_graph([node], "g", [a_info], [y_info], inits)
            model = helper.make_model(graph, opset_imports=domain_opsets)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

        self.sessions = {}
        for label, bits, block, level in ORT_NBITS:
            blocks = (k + block - 1) // block
            blob = block * bits // 8
            b = rng.integers(0, 256, (n, blocks, blob), dtype=np.uint8)
            scales = (rng.random(n * blocks, dtype=np.float32) * 0.01 + 0.001).astype(np.float32)
            zp_bytes = (blocks * bits + 7) // 8
            zps = rng.integers(0, 256, n * zp_bytes, dtype=np.uint8)
            node = helper.make_node("MatMulNBits", ["A", "B", "scales", "zp"], ["Y"], domain="com.microsoft",
                                    K=k, N=n, bits=bits, block_size=block, accuracy_level=level)
            inits = [numpy_helper.from_array(b, "B"), numpy_helper.from_array(scales, "scales"),
                     numpy_helper.from_array(zps, "zp")]
            try:
                self.sessions[label] = session(node, inits, [helper.make_opsetid("", 17),
                                                             helper.make_opsetid("com.microsoft", 1)])
            except Exception as e:  # noqa: BLE001 (an onnxruntime that rejects a variant)
                print(f"onnxruntime MatMulNBits {label} {m}x{k}x{n}: not run ({str(e).splitlines()[0]})")
        w = rng.standard_normal((k, n), dtype=np.float32)
        self.sessions["f32"] = session(helper.make_node("MatMul", ["A", "W"], ["Y"]),
                                       [numpy_helper.from_array(w, "W")], [helper.make_opsetid("", 17)])

    def gops(self):
        return {label: self.ops / best_time(lambda s=s: s.run(None, self.feed), 0.3) / 1e9
                for label, s in self.sessions.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tier", default="best", help="MobiQuant tier (default: the best this CPU has)")
    args = parser.parse_args()

    # Build before blocking AMX (the filter is inherited by child processes).
    subprocess.run(["cargo", "bench", "-q", "-p", "mobiquant-core", "--bench", "wo_gemm", "--no-run"],
                   cwd=REPO, check=True)
    sys.path.insert(0, str(SHARED / "tools"))
    import no_amx  # noqa: E402

    if not no_amx.block_amx():
        sys.exit("could not block AMX: the onnxruntime numbers would not be comparable")
    import onnxruntime as ort  # noqa: E402

    mq_runs, ort_runs, ort_shapes = [], [], {}
    for r in range(args.repeats):
        mq = run_mobiquant(args.threads, args.tier)
        mq_runs.append(mq)
        ort_run = {}
        for (_tier, m, k, n) in mq:
            if (m, k, n) not in ort_shapes:
                ort_shapes[(m, k, n)] = OrtShape(ort, m, k, n, args.threads)
            ort_run[(m, k, n)] = ort_shapes[(m, k, n)].gops()
        ort_runs.append(ort_run)
        print(f"repeat {r + 1}/{args.repeats} done", file=sys.stderr)

    med = lambda values: statistics.median(values)  # noqa: E731
    print(f"onnxruntime {ort.__version__} (AMX blocked), threads {args.threads}, "
          f"median of {args.repeats} interleaved runs; GOPS = 2*M*N*K/s")
    keys = sorted(mq_runs[0], key=lambda key: (key[1] > 1, key[1] * key[2] * key[3]))
    ort_labels = [label for label, *_ in ORT_NBITS if all(label in run[keys[0][1:]] for run in ort_runs)]
    print("| tier | MxKxN | " + " | ".join(f"mq {f}" for f in FORMATS) + " | "
          + " | ".join(f"ort {label}" for label in ort_labels)
          + " | ort f32 | q4g32/ort | q4g128/ort | q8g32/ort | q4g32/ort f32 |")
    print("|---" * (4 + len(FORMATS) + len(ort_labels) + 4) + "|")
    for key in keys:
        tier, m, k, n = key
        mq = {f: med([run[key][f] for run in mq_runs]) for f in FORMATS}
        ortm = {label: med([run[key[1:]][label] for run in ort_runs]) for label in ort_labels + ["f32"]}
        ratio = lambda a, b: f"{mq[a] / ortm[b]:.2f}" if b in ortm else "-"  # noqa: E731
        print(f"| {tier} | {m}x{k}x{n} | " + " | ".join(f"{mq[f]:.1f}" for f in FORMATS) + " | "
              + " | ".join(f"{ortm[label]:.1f}" for label in ort_labels) + f" | {ortm['f32']:.1f} | "
              + f"{ratio('q4g32', 'q4g32')} | {ratio('q4g128', 'q4g128')} | {ratio('q8g32', 'q8g32')} | "
              + f"{ratio('q4g32', 'f32')} |")


if __name__ == "__main__":
    main()
