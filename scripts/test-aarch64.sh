#!/usr/bin/env bash
# Runs the core test suite for aarch64 under qemu-user, once per CPU model that selects a
# different kernel tier at run time: max (dotprod + i8mm), cortex-a76 (dotprod), cortex-a53
# (baseline NEON). Built once with Debian's rustc (it has the aarch64 standard library), in its
# own target folder since its version differs from the host toolchain's.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC=/usr/bin/rustc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
# Doc tests are left to the host run: rustup's rustdoc has no aarch64 standard library.
args=(-p mobiquant-core --lib --tests --target aarch64-unknown-linux-gnu --target-dir target-aarch64 --release)
cargo test "${args[@]}" --no-run
for cpu in max cortex-a76 cortex-a53; do
  echo "=== aarch64 tests under qemu -cpu $cpu ==="
  QEMU_CPU=$cpu cargo test "${args[@]}"
done
