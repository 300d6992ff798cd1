#!/usr/bin/env bash
# The whole test suite: host (x86-64) tests of every crate, then the core tests for aarch64 under
# qemu with three CPU models. Installs what it needs (scripts/setup.sh) and generates the ONNX
# node test suite first; test data that is missing then fails the tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
[[ -d target/onnx-node-tests/node ]] || bash scripts/onnx-node-tests.sh
bash scripts/fetch-models.sh > /dev/null
[[ -d target/models/cases ]] || python3 scripts/make_cases.py
export MOBIQUANT_REQUIRE_TEST_DATA=1
# The converter's op-version table must match the pinned onnx package's schemas.
python3 scripts/gen_op_versions.py --check
# Formatting is part of the build (generated tables carry #[rustfmt::skip]).
if cargo fmt --version > /dev/null 2>&1; then
    cargo fmt --all --check
else
    echo "rustfmt is not installed: formatting NOT checked"
fi
echo "=== host tests (x86-64) ==="
cargo test --workspace --release
bash scripts/test-aarch64.sh
echo "=== all test suites passed ==="
