#!/usr/bin/env bash
# Kill-and-resume campaign (issue 16). For `pare train`, `pare prune` and `pare compress`:
# run once uninterrupted (the reference), then KILLS times start or
# resume the same run and SIGKILL it at a random moment (uniform over the reference's
# duration: during a step, a checkpoint write or an evaluation), then KILLS times more the
# moment a checkpoint write has begun (its temporary file exists, anywhere under the run
# directory), check after every kill that each .safetensors and .json file in the run directory
# is complete and well formed, and resume. A run that
# finishes before its kill is compared and a new one started, until KILLS kills are done.
# Every finished run's files must be bit-identical (tensors: weights, running statistics,
# optimizer state) to the reference's, and hold no temporary file of an interrupted write
# (a resumed run deletes those). Then a full disk: the run directory on a small tmpfs
# (needs root, for mount), filled up before an epoch's checkpoint write; the write must fail
# with a clear message and leave the previous checkpoint readable and resumable.
#
# Small and fast by default: smallcnn at width 0.25 on the first TRAIN_SAMPLES/TEST_SAMPLES
# images of Fashion-MNIST (/usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist).
# `pare prune` starts from the train campaign's reference model (trained once, uninterrupted,
# when the train campaign is not run). `pare compress` runs every phase on smallcnn (full
# width): 1 teacher epoch, start, sensitivity, allocation, 2 pruning steps of 1 distillation
# epoch each to --target params=40k, int8 calibration, export; it is compared on its teacher,
# start, pruned, int8 and final model files (tensors) and final.onnx (every byte).
# Usage: bench/crash-campaign.sh     (KILLS=20 EPOCHS=3 TRAIN_SAMPLES=2000 TEST_SAMPLES=500 WORK=...;
#        CAMPAIGNS="train prune compress train-writes prune-writes compress-writes" by default,
#        CAMPAIGNS= for the full-disk check alone, FULL_DISK=0 to skip it)
set -uo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-20}
EPOCHS=${EPOCHS:-3}
TRAIN_SAMPLES=${TRAIN_SAMPLES:-2000}
TEST_SAMPLES=${TEST_SAMPLES:-500}
WORK=${WORK:-$PWD/.build/crash-campaign}
tools=(python3 bench/crash_campaign_tools.py)

swift build -c release --product pare 2>&1 | tail -1
pare="$(swift build -c release --show-bin-path)/pare"
rm -rf "$WORK"
mkdir -p "$WORK"
"${tools[@]}" subset /usr/share/datasets/fashion-mnist "$WORK/data" "$TRAIN_SAMPLES" "$TEST_SAMPLES" || exit 1
data="mnist:$WORK/data"
common=(--batch 32 --threads 2 --seed 3)

# Each runs as `exec`, so that the background job's PID is pare's own and SIGKILL reaches it.
train_fresh() { exec "$pare" train smallcnn --width-multiplier 0.25 --data "$data" --epochs "$EPOCHS" "${common[@]}" --out "$1"; }
train_resume() { exec "$pare" train --resume "$1"; }
prune_fresh() {
  exec "$pare" prune "$prune_model" --data "$data" --criterion l1 --per-step 0.3 --target params=0.4 \
    --finetune-epochs 1 --bench-runs 3 "${common[@]}" --out "$1"
}
prune_resume() { exec "$pare" prune --resume "$1"; }
compress_fresh() {
  exec "$pare" compress smallcnn --train-teacher --teacher-epochs 1 --data "$data" --target params=40k --prune-steps 2 \
    --finetune-epochs 1 --sensitivity-samples 200 --ratios 0.3,0.6 --round-to 4 --calibration-batches 4 --qat never \
    --max-drop 100 --bench-runs 3 "${common[@]}" --out "$1"
}
compress_resume() { exec "$pare" compress --resume "$1"; }

# The model prune starts from: the train campaign's reference, else one trained here.
starting_model() {
  [ -n "${prune_model:-}" ] && return 0
  if ! ( train_fresh "$WORK/model" ) > "$WORK/model.log" 2>&1; then
    echo "training the starting model failed (see $WORK/model.log)"; exit 1
  fi
  prune_model=$WORK/model/best.safetensors
}

now_ms() { date +%s%3N; }
summary=()

# campaign NAME TRIGGER STATE_FILE FILE... : TRIGGER is `random` (SIGKILL after a delay
# uniform over the reference run's duration) or `write` (SIGKILL as soon as an atomic write's
# temporary file appears: during a checkpoint write); STATE_FILE's presence means the run can
# be resumed; the FILEs are compared with the reference's.
campaign() {
  local name=$1 trigger=$2 state=$3
  shift 3
  local tag=$name-$trigger
  local files=("$@") reference=$WORK/$tag-reference log=$WORK/$tag.log
  local start end duration
  start=$(now_ms)
  if ! ( "${name}_fresh" "$reference" ) > "$WORK/$tag-reference.log" 2>&1; then
    echo "$name: the uninterrupted run failed (see $WORK/$tag-reference.log)"; exit 1
  fi
  end=$(now_ms)
  duration=$((end - start))
  echo "$name: uninterrupted run ${duration} ms"
  local kills=0 resumes=0 restarts=0 runs=0 litter=0 identical=0 differing=0 corrupt=0 midwrite=0 checks=0 round=0 dir
  dir=$WORK/$tag-killed-$round
  while [ "$kills" -lt "$KILLS" ] || [ -e "$dir/$state" ]; do
    if [ -e "$dir/$state" ]; then
      resumes=$((resumes + 1)); "${name}_resume" "$dir" >> "$log" 2>&1 &
    else
      rm -rf "$dir"; restarts=$((restarts + 1)); "${name}_fresh" "$dir" >> "$log" 2>&1 &
    fi
    local pid=$! killed=0
    if [ "$kills" -lt "$KILLS" ]; then
      local delay=$(( (RANDOM * 32768 + RANDOM) % duration )) fired=0
      if [ "$trigger" = write ]; then
        # Skip a random number of writes first, so that kills land in different ones.
        sleep "$(printf '%d.%03d' $((delay / 3000)) $((delay / 3 % 1000)))"
        "${tools[@]}" kill-on-write "$dir" "$pid" $((duration / 1000 + 5)) > /dev/null && fired=1
      else
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" && fired=1
      fi
      if [ "$fired" -eq 1 ]; then
        wait "$pid" 2>/dev/null; killed=1; kills=$((kills + 1))
        if pgrep -f -- "$dir\$" > /dev/null; then echo "$name: a pare process outlived its SIGKILL"; exit 1; fi
        local report
        report=$("${tools[@]}" check "$dir" 2>>"$log")
        checks=$((checks + 1))
        local c=${report#*corrupt=}; c=${c%% *}; local t=${report##*temporaries=}
        corrupt=$((corrupt + c))
        [ "$t" -gt 0 ] && midwrite=$((midwrite + 1))
        echo "  kill $kills after ${delay} ms: $report" >> "$log"
      fi
    fi
    if [ "$killed" -eq 0 ]; then
      if ! wait "$pid"; then echo "$name: a run failed (see $log)"; exit 1; fi
      runs=$((runs + 1))
      local same=1
      for f in "${files[@]}"; do
        case $f in
          *.safetensors) "${tools[@]}" same "$reference/$f" "$dir/$f" >> "$log" 2>&1 || same=0 ;;
          *) cmp "$reference/$f" "$dir/$f" >> "$log" 2>&1 || same=0 ;;
        esac
      done
      if [ "$same" -eq 1 ]; then identical=$((identical + 1)); else differing=$((differing + 1)); fi
      local left
      left=$("${tools[@]}" check "$dir" 2>>"$log")
      left=${left##*temporaries=}
      litter=$((litter + left))
      round=$((round + 1)); dir=$WORK/$tag-killed-$round
    fi
  done
  local line="$name ($trigger kills): kills $kills, resumes $resumes, fresh starts $restarts, finished runs $runs, bit-identical $identical, differing $differing, checks $checks, corrupt files $corrupt, kills that left a half-written temporary $midwrite, temporaries left in finished runs $litter"
  echo "$line"
  summary+=("$line")
  # The model the prune campaigns start from: the first trained reference.
  [ "$name" = train ] && prune_model=${prune_model:-$reference/best.safetensors}
  return 0
}

compress_files=(teacher.safetensors start.safetensors prune/step-1.safetensors prune/pruned.safetensors int8.safetensors
                final.safetensors final.onnx)
for c in ${CAMPAIGNS-train prune compress train-writes prune-writes compress-writes}; do
  case $c in
    train) campaign train random last.safetensors last.safetensors best.safetensors ;;
    prune) starting_model; campaign prune random run.json pruned.safetensors step-1.safetensors ;;
    compress) campaign compress random state.json "${compress_files[@]}" ;;
    train-writes) campaign train write last.safetensors last.safetensors best.safetensors ;;
    prune-writes) starting_model; campaign prune write run.json pruned.safetensors step-1.safetensors ;;
    compress-writes) campaign compress write state.json "${compress_files[@]}" ;;
    *) echo "unknown campaign $c"; exit 1 ;;
  esac
done

# Full disk during a checkpoint write.
mount=$WORK/full-disk
mkdir -p "$mount"
if [ "${FULL_DISK:-1}" = 0 ]; then
  line="full disk: skipped (FULL_DISK=0)"
elif mount -t tmpfs -o size=2m tmpfs "$mount" 2>/dev/null; then
  run=$mount/run
  "$pare" train smallcnn --width-multiplier 0.25 --data "$data" --epochs 1 "${common[@]}" --out "$run" > "$WORK/full-disk.log" 2>&1
  dd if=/dev/zero of="$mount/filler" bs=4k > /dev/null 2>&1  # until the disk is full
  "$pare" train --resume "$run" --epochs 2 >> "$WORK/full-disk.log" 2>&1
  rc=$?
  message=$(grep -m1 -i "no space" "$WORK/full-disk.log")
  check=$("${tools[@]}" check "$run" 2>&1)
  rm -f "$mount/filler"
  "$pare" train --resume "$run" --epochs 2 >> "$WORK/full-disk.log" 2>&1
  resumed=$?
  epochs=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['completedEpochs'])" "$run/summary.json" 2>/dev/null)
  umount "$mount"
  line="full disk: exit status $rc; message: ${message:-none}; after the failure: $check; resumed once space was freed: exit $resumed, $epochs epochs"
else
  line="full disk: skipped (cannot mount a tmpfs; needs root)"
fi
echo "$line"
summary+=("$line")
echo
printf '%s\n' "${summary[@]}" | tee "$WORK/summary.txt"
