#!/usr/bin/env bash
# Architecture rewrites' speed-up on resnet18 (224x224, batch 1): each rewrite written with
# `pare rewrite` and timed with `pare bench` against the original, on the same machine, threads
# and batch. Prints parameters, MACs, the MAC ratio, median latency and the measured speed-up
# (a latency ratio; the MAC ratio alone is not a speed-up), then the seed's depthwise-separable
# resnet18 with 11 classes: its file size on disk beside the original's (seed: 43 MB -> 5.7 MB).
# --kernel is left out: resnet18 has no 5x5 convolution (its 7x7 stem is not a rewrite target here).
# Options: --runs N (timed runs, default 30), --warmup N (default 10), --threads N (default 2),
# --batch N (default 1); environment: PARE (a built pare; default: build a release one),
# OUT (default .build/rewrite-latency).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=30 warmup=10 threads=2 batch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "${PARE:-}" ]; then swift build -c release >/dev/null; fi
pare=${PARE:-"$(swift build -c release --show-bin-path)/pare"}
out=${OUT:-.build/rewrite-latency}
mkdir -p "$out"
isa=$(grep -o -w -E 'avx512[a-z_]*|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "resnet18 3x224x224, batch $batch, $threads threads, $warmup warm-up + $runs timed runs (median); ISA: ${isa:-unknown}"

latency() {  # MODEL|FILE -> median ms
  "$pare" bench "$1" --batch "$batch" --threads "$threads" --warmup "$warmup" --runs "$runs" --json | jq -r '.medianMilliseconds'
}

base=$(latency resnet18)
"$pare" summary resnet18 --json > "$out/original.json"
base_params=$(jq -r '.trainableParameters' "$out/original.json")
base_macs=$(jq -r '.operations.macs' "$out/original.json")
printf '%-14s %12s %15s %7s %11s %9s\n' rewrite parameters MACs MACx "latency ms" speed-up
printf '%-14s %12s %15s %7s %11.3f %9s\n' original "$base_params" "$base_macs" 1.00 "$base" 1.00x

measure() {  # LABEL, then pare rewrite options
  local label=$1; shift
  "$pare" rewrite resnet18 "$@" --no-error --out "$out/$label.safetensors" --json > "$out/$label.json"
  local params macs ms
  params=$(jq -r '.totals.parametersAfter' "$out/$label.json")
  macs=$(jq -r '.totals.macsAfter' "$out/$label.json")
  ms=$(latency "$out/$label.safetensors")
  printf '%-14s %12s %15s %7.2f %11.3f %8.2fx\n' "$label" "$params" "$macs" \
    "$(echo "$base_macs / $macs" | bc -l)" "$ms" "$(echo "$base / $ms" | bc -l)"
}

measure dwpw --dwpw --skip conv1
measure dwpw-bn --dwpw-bn --skip conv1
measure svd-0.9 --svd --energy 0.9 --skip conv1
measure tucker-0.9 --tucker --energy 0.9 --skip conv1
measure grouped-2 --grouped 2 --skip conv1
measure grouped-4 --grouped 4 --skip conv1

# The seed's model: resnet18, 11 classes, dwpw + BN on every 3x3 conv but conv1.
"$pare" rewrite resnet18 --classes 11 --dwpw-bn --skip conv1 --no-error --out "$out/seed-dwpw-bn.safetensors" --json > "$out/seed.json"
jq -r '"resnet18 (11 classes) dwpw-bn: parameters \(.totals.parametersBefore) -> \(.totals.parametersAfter), file on disk \(.totals.fileBytesBefore) -> \(.totals.fileBytesAfter) bytes (seed: 44,788,712 -> 5,922,784, 43 MB -> 5.7 MB)"' "$out/seed.json"
