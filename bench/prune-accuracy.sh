#!/usr/bin/env bash
# Accuracy of structured pruning on Fashion-MNIST (Debian's dataset-fashion-mnist): a trained
# $MODEL (default smallcnn) pruned globally to at most 30% of its parameters, fine-tuned between steps, for
# several criteria, then the seed reports' per-step rates (0.975, 0.95, 0.9) on one plot.
# Writes everything under ${OUT:-.build/prune-accuracy}; prints each run's steps table.
#   MODEL (a zoo model, default smallcnn), BN_SPARSITY (the base's --bn-sparsity, for the
#   bn-gamma criterion; default 0), EPOCHS (base training, default 10), FINETUNE (epochs per step, default 2),
#   CRITERIA (default "l1 taylor random"), SWEEP (default 0.975,0.95,0.9; empty to skip),
#   SWEEP_TARGET (default params=0.5), THREADS (default 2), PARE (a built pare; default: build one)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-.build/prune-accuracy}
epochs=${EPOCHS:-10}
finetune=${FINETUNE:-2}
criteria=${CRITERIA:-l1 taylor random}
sweep=${SWEEP-0.975,0.95,0.9}
threads=${THREADS:-2}
model=${MODEL:-smallcnn}
if [ -z "${PARE:-}" ]; then swift build -c release >/dev/null; fi
pare=${PARE:-"$(swift build -c release --show-bin-path)/pare"}
mkdir -p "$out"
grep -o -w -E 'avx512[a-z_]*|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo "threads $threads"
if [ ! -f "$out/base/best.safetensors" ]; then
  "$pare" train "$model" --data fashion-mnist --epochs "$epochs" --val-fraction 0.1 --threads "$threads" \
    --bn-sparsity "${BN_SPARSITY:-0}" --out "$out/base" --log-every 1000
fi
for c in $criteria; do
  if [ -f "$out/$c/run.json" ]; then args=(--resume "$out/$c"); else
    args=("$out/base/best.safetensors" --data fashion-mnist --criterion "$c" --scope global --per-step 0.2
          --target params=0.3 --finetune-epochs "$finetune" --val-fraction 0.1 --lr 0.01 --threads "$threads" --out "$out/$c")
  fi
  echo "== $c"; "$pare" prune "${args[@]}" --log-every 1000
  cat "$out/$c/steps.csv"
done
if [ -n "$sweep" ] && [ ! -f "$out/sweep/accuracy-vs-parameters.svg" ]; then
  echo "== sweep $sweep"
  "$pare" prune "$out/base/best.safetensors" --data fashion-mnist --criterion l1 --scope global --sweep "$sweep" \
    --target "${SWEEP_TARGET:-params=0.5}" --finetune-epochs 1 --val-fraction 0.1 --lr 0.01 --threads "$threads" \
    --out "$out/sweep" --log-every 1000
  for f in "$out"/sweep/rate-*/steps.csv; do echo "$f"; cat "$f"; done
fi
