#!/usr/bin/env bash
# Int8 accuracy on Fashion-MNIST: each model (trained by `pare train`, checkpoint files) quantised
# post-training with every calibration method, test accuracy against its f32 model; plus fp16
# and bf16 weight files. Calibration draws from the training split only.
#
#   bench/int8-accuracy.sh MODEL.safetensors [MODEL.safetensors ...]
#   (no arguments: trains smallcnn for 10 epochs and resnet20 for 15 into $OUT first)
# Environment: PARE (binary; default: release build), OUT (default /tmp/pare-int8-accuracy),
# METHODS (default "minmax percentile=99.99 percentile=99.999 entropy mse"), BATCHES (16),
# BATCH (64), THREADS (2), EXTRA (more `pare quantize` options, e.g. "--weight-bits 8").
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PARE:-}" ]; then swift build -c release --product pare >/dev/null; PARE="$(swift build -c release --show-bin-path)/pare"; fi
OUT="${OUT:-/tmp/pare-int8-accuracy}"
METHODS="${METHODS:-minmax percentile=99.99 percentile=99.999 entropy mse}"
BATCHES="${BATCHES:-16}" BATCH="${BATCH:-64}" THREADS="${THREADS:-2}"
mkdir -p "$OUT"
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  [ -f "$OUT/smallcnn/best.safetensors" ] || "$PARE" train smallcnn --data fashion-mnist --epochs 10 --threads "$THREADS" --out "$OUT/smallcnn"
  [ -f "$OUT/resnet20/best.safetensors" ] || "$PARE" train resnet20 --data fashion-mnist --epochs 15 --threads "$THREADS" --out "$OUT/resnet20"
  models=("$OUT/smallcnn/best.safetensors" "$OUT/resnet20/best.safetensors")
fi
grep -o -w -E 'avx512[a-z_]*|avx2|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/^/ISA: /'; echo "; threads $THREADS; calibration $BATCHES x $BATCH training images"
printf '%-40s %-22s %8s %8s %8s %10s\n' model method f32 quant drop file-ratio
for model in "${models[@]}"; do
  name=$(basename "$(dirname "$model")")
  for method in $METHODS; do
    json=$("$PARE" quantize "$model" --method "$method" --calibration-batches "$BATCHES" --batch "$BATCH" --threads "$THREADS" \
             --eval --json ${EXTRA:-} --out "$OUT/$name-int8-${method//=/}.safetensors")
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); a,b=r["testAccuracyBefore"]*100,r["testAccuracyAfter"]*100
print("%-40s %-22s %7.2f%% %7.2f%% %+8.2f %10.3f" % (sys.argv[2], "int8 "+sys.argv[3]+" w"+str(r["quantization"]["weightBits"]), a, b, b-a, r["fileRatio"]))' "$json" "$name" "$method"
  done
  for weights in fp16 bf16; do
    json=$("$PARE" quantize "$model" --weights "$weights" --eval --json --threads "$THREADS" --out "$OUT/$name-$weights.safetensors")
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); a,b=r["testAccuracyBefore"]*100,r["testAccuracyAfter"]*100
print("%-40s %-22s %7.2f%% %7.2f%% %+8.2f %10.3f" % (sys.argv[2], sys.argv[3]+" weights", a, b, b-a, r["fileRatio"]))' "$json" "$name" "$weights"
  done
done
