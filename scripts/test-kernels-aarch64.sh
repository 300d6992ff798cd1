#!/usr/bin/env bash
# Runs the core test suite (with every kernel tier) for aarch64 under qemu-user, once per emulated
# CPU model: max (neon+dotprod+i8mm), cortex-a76 (neon+dotprod), cortex-a53 (neon only).
# Doc tests are left out (rustdoc comes from the host toolchain, which has no aarch64 std).
# Extra arguments go to `cargo test` (e.g. `--release`, or a test-name filter after `--`).
#
# The runner uses `-L /` (Debian's arm64 multiarch loader and libc, which match each other):
# with `-L /usr/aarch64-linux-gnu` the cross toolchain's ld.so loads the multiarch libc of a
# different build, and every thread spawn (libtest, rayon) hangs.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC="${RUSTC:-/usr/bin/rustc}"
export CC_aarch64_unknown_linux_gnu="${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /"
for cpu in ${QEMU_CPUS:-max cortex-a76 cortex-a53}; do
    echo "== QEMU_CPU=$cpu"
    QEMU_CPU="$cpu" cargo test -p mobiquant-core --target aarch64-unknown-linux-gnu \
        --target-dir target-aarch64 -j2 --lib --tests "$@"
done
