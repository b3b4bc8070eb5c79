#!/usr/bin/env bash
# `pare compress` on Fashion-MNIST, the runs issue 14 asks to measure (2 threads, batch-1 latency):
#
#   target   smallcnn teacher trained in the run, compressed (sensitivity, allocation, 3 pruning
#            steps with distillation, final distillation epochs, int8) to at most 25,000
#            parameters; goal: a file of at most 30 KB at >= 92.5% test accuracy within 30 minutes
#   residual a trained residual model ($RESIDUAL, a `pare train` checkpoint) pruned in 3 steps to a
#            third of its MACs (distilled, one epoch per step) and quantised: the MAC-ratio speed-up
#            beside the measured one per step
#   demo     `pare demo` as `make demo` runs it, timed
#
#   bench/compress-fashion-mnist.sh [target|residual|demo ...]   (default: all three)
# Environment: PARE (binary; default: the release build), OUT (default /tmp/pare-compress),
# THREADS (2), RESIDUAL (default: trains resnet20 for 10 epochs into $OUT/resnet20 first).
# Nothing else may run on the machine meanwhile: latencies and wall times are the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PARE:-}" ]; then swift build -c release --product pare >/dev/null; PARE="$(swift build -c release --show-bin-path)/pare"; fi
OUT="${OUT:-/tmp/pare-compress}" THREADS="${THREADS:-2}"
mkdir -p "$OUT"
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(target residual demo)
grep -o -w -E 'avx512[a-z_]*|avx2|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/^/ISA: /'; echo "; $(nproc) cores; threads $THREADS"
timed() { local start=$SECONDS; "$@"; echo "wall time: $((SECONDS - start)) s"; }
for run in "${runs[@]}"; do
  case "$run" in
    target)
      rm -rf "$OUT/target"
      timed "$PARE" compress smallcnn --data fashion-mnist --train-teacher --teacher-epochs 20 --augment crop=2 \
        --target params=25k --prune-steps 3 --finetune-epochs 3 --final-epochs 12 --max-drop 2 --threads "$THREADS" \
        --out "$OUT/target" ;;
    residual)
      model="${RESIDUAL:-$OUT/resnet20/best.safetensors}"
      [ -f "$model" ] || "$PARE" train resnet20 --data fashion-mnist --epochs 10 --threads "$THREADS" --out "$OUT/resnet20"
      macs=$("$PARE" summary "$model" --json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["operations"]["macs"] / 3))')
      rm -rf "$OUT/residual"
      timed "$PARE" compress "$model" --data fashion-mnist --target "macs=$macs" --recipe prune,distill,quantize \
        --prune-steps 3 --finetune-epochs 1 --max-drop 3 --threads "$THREADS" --out "$OUT/residual" ;;
    demo)
      rm -rf "$OUT/demo"
      timed "$PARE" demo --threads "$THREADS" --out "$OUT/demo" ;;
    *) echo "unknown run '$run': use target, residual or demo" >&2; exit 2 ;;
  esac
done
