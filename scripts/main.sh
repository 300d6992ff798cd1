#!/usr/bin/env bash
# The main job, at this stage of MobiQuant: build the desktop CLI, write a small quantized model
# with the core's writer, and inspect it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh host
cargo build --release --bin mobiquant --example write_demo_model -p mobiquant-cli
mkdir -p target/models
./target/release/examples/write_demo_model target/models/demo.mq
./target/release/mobiquant inspect target/models/demo.mq
