#!/usr/bin/env bash
# Int8 latency side by side: Pare fp32/int8, onnxruntime fp32/int8 (its own quantize_static and
# Pare's QDQ export), PyTorch fp32/torch.ao int8; file sizes. See bench/compare_int8.py.
#   bench/compare-int8.sh [--models smallcnn,resnet18-cifar,resnet18,mobilenet_v2] [--batches 1,16] [--runs 30] [--profile]
set -euo pipefail
source "$(dirname "$0")/setup.sh"
exec "$venv/bin/python" bench/compare_int8.py --pare "$pare" "$@"
