#!/usr/bin/env bash
# Training images/s side by side: Pare vs PyTorch eager (smallcnn, resnet18-cifar; batch 128);
# pass --epoch for a real Fashion-MNIST epoch too. See bench/setup.sh for the environment.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
exec "$venv/bin/python" bench/compare_training.py --pare "$pare" "$@"
