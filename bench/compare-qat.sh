#!/usr/bin/env bash
# Int8 accuracy, Pare against torch.ao, from one trained smallcnn: post-training and
# quantisation-aware (bench/compare_qat.py). Trains the model first when none is given.
#   bench/compare-qat.sh [MODEL.safetensors] [--qat-epochs 1 --qat-lr 0.0001 --calibration-batches 16 --batch 64]
set -euo pipefail
source "$(dirname "$0")/setup.sh"
model="${1:-}"
if [ -z "$model" ] || [[ "$model" == --* ]]; then
  model=.build/compare-qat/smallcnn/best.safetensors
  [ -f "$model" ] || "$pare" train smallcnn --data fashion-mnist --epochs 8 --threads 2 --log-every 1000 --out .build/compare-qat/smallcnn
else
  shift
fi
exec "$venv/bin/python" bench/compare_qat.py --pare "$pare" --model "$model" "$@"
