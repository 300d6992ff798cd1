#!/usr/bin/env python3
"""Measures the quality of the aarch64 int8 GEMM kernels without Arm hardware.

1. Runs one GEMM per tier in the aarch64 bench binary under qemu (`-cpu max`, instruction log)
   and reports, among the instructions executed inside the kernel function, the share of the
   tier's multiply-accumulate instruction (SDOT for dotprod, SMMLA for i8mm, SMULL+SMLAL for neon).
2. Feeds the kernel's hottest block (its inner loop) to llvm-mca for Cortex-A55, A76 (LLVM's
   Neoverse N1 model: its cortex-a76 target uses the Cortex-A57 model), A710 and X3,
   and reports int8 MACs per cycle and the share of the core's SDOT/SMMLA peak (DESIGN.md §3).

    python3 scripts/neon_kernel_quality.py [--shape 16x512x64] [--keep-log DIR]

Needs the Debian aarch64 toolchain (rustc-web, gcc-aarch64-linux-gnu), qemu-user and llvm-22.
"""
import argparse
import collections
import os
import re
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = "aarch64-unknown-linux-gnu"
# MACs per instruction and peak MACs per cycle (DESIGN.md §3) of each tier's instruction.
TIERS = {
    "dotprod": {"insns": {"sdot": 16}, "peak": {"cortex-a55": 16, "neoverse-n1": 32, "cortex-a710": 32, "cortex-x3": 64}},
    "i8mm": {"insns": {"smmla": 32}, "peak": {"cortex-a710": 64, "cortex-x3": 128}},
    "neon": {"insns": {"smull": 8, "smull2": 8, "smlal": 8, "smlal2": 8}, "peak": {}},
}
# LLVM 22 schedules -mcpu=cortex-a76 with its Cortex-A57 model; Neoverse N1 (the server core
# built on Cortex-A76) has a model of its own, so it stands in for the A76.
CPUS = ["cortex-a55", "neoverse-n1", "cortex-a710", "cortex-x3"]
INSN = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{8})\s+(\S+)\s*(.*)$")
# qemu 7.2's disassembler prints SDOT and SMMLA as `.byte`: decode them from the instruction word.
DECODE = [(0xBFE0FC00, 0x0E809400, "sdot"), (0xFFE0FC00, 0x4E80A400, "smmla")]


def decode(word, mnemonic, operands):
    """(mnemonic, operands), with SDOT / SMMLA (vector, .4s <- .16b) recovered from `word`."""
    for mask, bits, name in DECODE:
        if word & mask == bits:
            d, n, m = word & 31, (word >> 5) & 31, (word >> 16) & 31
            return name, f"v{d}.4s, v{n}.16b, v{m}.16b"
    return mnemonic, operands
TRACE = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


def build_bench():
    env = dict(os.environ, RUSTC=os.environ.get("RUSTC", "/usr/bin/rustc"),
               CC_aarch64_unknown_linux_gnu="aarch64-linux-gnu-gcc")
    out = subprocess.run(
        ["cargo", "bench", "-p", "mobiquant-core", "--bench", "qs8_gemm", "--target", TARGET,
         "--target-dir", "target-aarch64", "--no-run", "--message-format", "json"],
        cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    exe = [m.group(1) for m in re.finditer(r'"executable":"([^"]+)"', out)]
    if not exe:
        raise SystemExit("no aarch64 bench executable built")
    return exe[-1]


def parse_log(path):
    """{pc: (symbol, [(mnemonic, operands)])} of translated blocks and {pc: executions}."""
    blocks, counts = {}, collections.Counter()
    symbol, pc, insns = None, None, []
    with open(path, errors="replace") as log:
        for line in log:
            line = line.rstrip("\n")
            if line.startswith("IN:"):
                symbol, pc, insns = line[3:].strip(), None, []
            elif (m := INSN.match(line)) and symbol is not None:
                pc = pc if pc is not None else int(m.group(1), 16)
                insns.append(decode(int(m.group(2), 16), m.group(3), m.group(4)))
            elif not line.strip() and symbol is not None and pc is not None:
                blocks[pc] = (symbol, insns)
                symbol, pc = None, None
            elif m := TRACE.match(line):
                counts[int(m.group(1), 16)] += 1
    return blocks, counts


def mca(insns, cpu):
    """llvm-mca cycles per iteration of a straight-line block (branches dropped)."""
    body = "\n".join(f"{m} {ops}" for m, ops in insns if not m.startswith(("b", "cb", "tb", "ret")))
    res = subprocess.run(["llvm-mca-22", "-mtriple=aarch64", f"-mcpu={cpu}", "-mattr=+dotprod,+i8mm",
                          "-iterations=300"], input=body, capture_output=True, text=True)
    if res.returncode != 0:
        return None
    total = re.search(r"Total Cycles:\s+(\d+)", res.stdout)
    return int(total.group(1)) / 300 if total else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="16x512x64", help="MxKxN of the traced GEMM")
    parser.add_argument("--keep-log", help="directory to keep the qemu logs in")
    args = parser.parse_args()
    exe = build_bench()
    logdir = Path(args.keep_log or tempfile.mkdtemp(prefix="mq-neon-"))
    logdir.mkdir(parents=True, exist_ok=True)
    print(f"GEMM {args.shape}, qemu -cpu max; llvm-mca-22 on the hottest kernel block")
    for tier, spec in TIERS.items():
        log = logdir / f"{tier}.log"
        run = subprocess.run(["qemu-aarch64", "-L", "/", "-cpu", "max", "-d", "in_asm,exec,nochain",
                              "-D", str(log), exe, "--trace", tier, args.shape],
                             capture_output=True, text=True, check=True)
        kernel = run.stdout.split()[0]
        blocks, counts = parse_log(log)
        total = macs = 0
        hot = None
        for pc, (symbol, insns) in blocks.items():
            if kernel not in symbol or not counts[pc]:
                continue
            total += counts[pc] * len(insns)
            n = sum(1 for m, _ in insns if m in spec["insns"])
            macs += counts[pc] * n
            weight = counts[pc] * len(insns)
            if n and (hot is None or weight > hot[0]):
                hot = (weight, insns)
        share = 100 * macs / total if total else 0
        print(f"{kernel}: {share:.1f} % of {total} executed kernel instructions are "
              f"{'/'.join(sorted(spec['insns'])).upper()}")
        if hot is None:
            continue
        insns = hot[1]
        per_iter = sum(spec["insns"].get(m, 0) for m, _ in insns)
        line = f"  inner block: {len(insns)} instructions, {per_iter} MACs;"
        for cpu in CPUS:
            cycles = mca(insns, cpu)
            if cycles is None:
                line += f" {cpu}: n/a;"
                continue
            rate = per_iter / cycles
            peak = spec["peak"].get(cpu)
            line += f" {cpu}: {rate:.1f} MAC/cycle" + (f" ({100 * rate / peak:.0f} % of peak);" if peak else ";")
        print(line)
        if not args.keep_log:
            log.unlink()


if __name__ == "__main__":
    main()
