#!/usr/bin/env bash
# Inference latency side by side: Pare vs PyTorch eager vs onnxruntime (resnet18, mobilenet_v2).
# See bench/setup.sh for the environment it prepares.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
exec "$venv/bin/python" bench/compare_inference.py --pare "$pare" "$@"
