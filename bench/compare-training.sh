#!/usr/bin/env bash
# Training images/s side by side: Pare vs PyTorch eager (smallcnn, resnet18-cifar; batch 128).
# Creates .venv-bench (torch, torchvision from PyPI; Pare itself never needs Python), builds
# Pare in release mode, and runs bench/compare_training.py (pass --epoch for a real
# Fashion-MNIST epoch too).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-bench
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.13.0 torchvision==0.28.0 onnx onnxruntime
fi
swift build -c release >/dev/null
# PyTorch at its best uses tcmalloc (Debian's libgoogle-perftools4) when it is installed;
# TCMALLOC=0 keeps glibc malloc. Pare's own processes always run without LD_PRELOAD.
tcmalloc=$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -1 || true)
if [ "${TCMALLOC:-1}" != 0 ] && [ -n "$tcmalloc" ]; then export LD_PRELOAD="$tcmalloc"; fi
exec "$venv/bin/python" bench/compare_training.py --pare "$(swift build -c release --show-bin-path)/pare" "$@"
