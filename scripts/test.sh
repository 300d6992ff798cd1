#!/usr/bin/env bash
# The whole test suite: host (x86-64) tests of every crate, then the core tests for aarch64 under
# qemu with three CPU models. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
echo "=== host tests (x86-64) ==="
cargo test --workspace --release
bash scripts/test-aarch64.sh
echo "=== all test suites passed ==="
