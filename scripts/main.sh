#!/usr/bin/env bash
# The main job, at this stage of MobiQuant: convert the real MobileNetV2 (ONNX, float) to a .mq
# model, inspect it, classify a real photograph with it (scikit-image's "chelsea", a cat), check
# the result against onnxruntime, and time it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh python
cargo build --release --bin mobiquant
bash scripts/fetch-models.sh > /dev/null
[[ -d target/models/cases/mobilenet_v2 ]] || python3 scripts/make_cases.py
mq=./target/release/mobiquant
case=target/models/cases/mobilenet_v2/chelsea
$mq convert target/models/onnx/mobilenet_v2.onnx -o target/models/mobilenet_v2.mq
$mq inspect target/models/mobilenet_v2.mq | head -16
$mq run target/models/mobilenet_v2.mq --input "input=$case/inputs/input.npy" --output-dir target/models/out
python3 - "$case" <<'PY'
import sys
import numpy as np
ours = np.load("target/models/out/logits.npy")[0]
peer = np.load(sys.argv[1] + "/expected/logits.npy")[0]
names = open("models/mobilenet_v2/imagenet_classes.txt").read().splitlines()
top = int(ours.argmax())
print(f"MobiQuant: class {top} ({names[top]}); onnxruntime: class {int(peer.argmax())}; "
      f"max |difference| {np.abs(ours - peer).max():.2e} on logits up to {np.abs(peer).max():.1f}")
PY
$mq bench target/models/mobilenet_v2.mq --input "input=$case/inputs/input.npy" --seconds 2
