#!/usr/bin/env bash
# Installs what MobiQuant's builds and tests need on a fresh Debian 12 x86-64 machine, skipping
# what is already there. Usage: scripts/setup.sh [host|aarch64|python|peers|all]  (default: all)
#   host     the Rust toolchain (rustup's, preinstalled) is all the host build needs
#   aarch64  Debian's rustc with an aarch64 standard library, the cross linker and qemu-user
#   python   onnx, onnxruntime, numpy and scikit-image (peers, test-data generators, sample
#            images), and Debian's alsa-utils WAVs and espeak-ng (speech inputs)
#   peers    ai-edge-litert, the LiteRT peer of the benchmarks (not needed by the tests; not in all)
set -euo pipefail
what="${1:-all}"

need_apt=()
if [[ "$what" == aarch64 || "$what" == all ]]; then
  command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
  command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
  [[ -x /usr/bin/rustc ]] || need_apt+=(rustc-web)
  [[ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu ]] || need_apt+=(libstd-rust-web-dev:arm64)
fi
if [[ "$what" == python || "$what" == all ]]; then
  [[ -f /usr/share/sounds/alsa/Front_Center.wav ]] || need_apt+=(alsa-utils)
  command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
fi
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -q
  apt-get install -y -q "${need_apt[@]}"
fi

if [[ "$what" == python || "$what" == all ]]; then
  if ! python3 -c "import onnx, onnxruntime, numpy, skimage" 2>/dev/null; then
    echo "setup: installing onnx, onnxruntime, numpy, scikit-image"
    python3 -m pip install -q onnx==1.23.* onnxruntime==1.32.* numpy sympy scikit-image
  fi
fi
if [[ "$what" == peers ]] && ! python3 -c "import ai_edge_litert" 2>/dev/null; then
  echo "setup: installing ai-edge-litert"
  python3 -m pip install -q ai-edge-litert==2.3.*
fi
command -v cargo >/dev/null || { echo "setup: cargo (rustup) is required" >&2; exit 1; }
