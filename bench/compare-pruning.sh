#!/usr/bin/env bash
# Structured pruning's speed-up side by side: `pare prune` vs Torch-Pruning on the same weights
# (resnet18, resnet18-cifar, mobilenet_v2; ratio 0.5, L1, uniform and global scope), timed in
# Pare, PyTorch eager and onnxruntime. See bench/setup.sh for the environment it prepares;
# this adds torch-pruning 1.6.x to it. Options: bench/compare_pruning.py --help.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(not m.version("torch-pruning").startswith("1.6."))' 2>/dev/null; then
  "$venv/bin/pip" install -q "torch-pruning>=1.6,<1.7"
fi
exec "$venv/bin/python" bench/compare_pruning.py --pare "$pare" "$@"
