#!/usr/bin/env bash
# The main job, at this stage of MobiQuant: build the desktop CLI, convert the real MobileNetV2
# (ONNX, float) to a .mq model, and inspect the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh host
cargo build --release --bin mobiquant
mkdir -p target/models
./target/release/mobiquant convert ../shared/models/mobilenet_v2_imagenet.onnx -o target/models/mobilenet_v2.mq
./target/release/mobiquant inspect target/models/mobilenet_v2.mq
