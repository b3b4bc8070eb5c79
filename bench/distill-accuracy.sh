#!/usr/bin/env bash
# Knowledge distillation on Fashion-MNIST (Debian's dataset-fashion-mnist), the seed's
# experiment (seeds/003 question 2): a teacher, a small student trained alone, and the same
# student (same seed, epochs, augmentation and schedule) distilled from the teacher and from a
# weaker teacher; then a rewrite of the teacher (depthwise-separable conv2, low-rank fc1) trained
# alone and distilled. Prints each run's final test accuracy, parameters and mean epoch time, then
# `pare compare` of all of them (size on disk, MACs, latency at batch 1).
# Writes everything under ${OUT:-.build/distill}; a finished run is not redone.
#   TEACHER (zoo model, default smallcnn) TEACHER_WIDTH (default 2) TEACHER_EPOCHS (default 15)
#   WEAK_WIDTH (default 1) WEAK_EPOCHS (default 2), or WEAK_TEACHER (a model file to use as the weak
#   teacher instead of training one, e.g. an early epoch's best.safetensors of the teacher's run)
#   STUDENT (default smallcnn) STUDENT_WIDTH (default 0.25) STUDENT_EPOCHS (default 10)
#   ALPHA (default 0.5) TEMPERATURE (default 20: the seed's) EXTRA (more T:ALPHA pairs, default
#   "4:0.9 4:0.5 2:0.5") RANK (the rewritten student's fc1 rank, default 16) AUGMENT (default crop,flip)
#   LR (every run's --lr; default pare's 0.05) THREADS (default 2) PARE (a built pare; default: build one)
#   REWRITE (pare rewrite options for the rewritten student, default "--dwpw --svd --rank $RANK --skip conv1
#   --skip fc2", smallcnn's), REWRITE_MORE (a second pare rewrite pass on its result, e.g. "--grouped 2 --kind
#   conv1x1"), REWRITE_EPOCHS (default STUDENT_EPOCHS), REWRITE_LR (default 0.01: it starts from trained weights),
#   REWRITE_ALPHA and REWRITE_TEMPERATURE (default ALPHA and TEMPERATURE), REWRITE_HINTS (node names, e.g. "relu_24
#   relu_47 relu_70": the rewritten student is also distilled with a FitNets hint from each of the teacher's nodes to
#   its own node of the same name, adapters starting as the identity; HINT_WEIGHT default pare's), PLAIN_STUDENT=0
#   (skip the plain student's runs)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-.build/distill}
threads=${THREADS:-2}
augment=${AUGMENT:-crop,flip}
if [ -z "${PARE:-}" ]; then swift build -c release >/dev/null; fi
pare=${PARE:-"$(swift build -c release --show-bin-path)/pare"}
mkdir -p "$out"
echo "ISA: $(grep -o -w -E 'avx512[a-z_]*|avx2|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')threads $threads, batch 128"
common=(--data fashion-mnist --val-fraction 0.1 --threads "$threads" --augment "$augment" --log-every 1000 ${LR:+--lr "$LR"})

train() {  # name model width epochs
  [ -f "$out/$1/summary.json" ] && [ "$(python3 -c "import json;s=json.load(open('$out/$1/summary.json'));print(s['completedEpochs']==$4)")" = True ] && return
  if [ -f "$out/$1/last.safetensors" ]; then "$pare" train --resume "$out/$1" --log-every 1000; return; fi
  local width=(--width-multiplier "$3"); [ "$3" = - ] && width=()
  "$pare" train "$2" "${width[@]}" --epochs "$4" "${common[@]}" --out "$out/$1"
}
distill() {  # name teacher-file [temperature alpha]
  [ -f "$out/$1/student.safetensors" ] && return
  if [ -f "$out/$1/last.safetensors" ]; then "$pare" distill --resume "$out/$1" --log-every 1000; return; fi
  "$pare" distill --teacher "$2" --student "${STUDENT:-smallcnn}" --width-multiplier "${STUDENT_WIDTH:-0.25}" \
    --epochs "${STUDENT_EPOCHS:-10}" --alpha "${4:-${ALPHA:-0.5}}" --temperature "${3:-${TEMPERATURE:-20}}" "${common[@]}" --out "$out/$1"
}

train teacher "${TEACHER:-smallcnn}" "${TEACHER_WIDTH:-2}" "${TEACHER_EPOCHS:-15}"
if [ -n "${WEAK_TEACHER:-}" ]; then
  weak="$WEAK_TEACHER"
else
  train weak-teacher "${TEACHER:-smallcnn}" "${WEAK_WIDTH:-1}" "${WEAK_EPOCHS:-2}"
  weak="$out/weak-teacher/best.safetensors"
fi
teacher="$out/teacher/best.safetensors"
runs=(teacher)
[ -n "${WEAK_TEACHER:-}" ] || runs=(teacher weak-teacher)
plain_files=()
if [ "${PLAIN_STUDENT:-1}" != 0 ]; then
  train student-alone "${STUDENT:-smallcnn}" "${STUDENT_WIDTH:-0.25}" "${STUDENT_EPOCHS:-10}"
  distill distilled "$teacher"
  distill distilled-from-weak "$weak"
  runs+=(student-alone distilled distilled-from-weak)
  plain_files=("$out/student-alone/best.safetensors" "$out/distilled/student.safetensors" "$out/distilled-from-weak/student.safetensors")
  # More temperatures and weights (EXTRA="T:ALPHA ..."; default 4:0.9 4:0.5 2:0.5), from both teachers.
  for pair in ${EXTRA-4:0.9 4:0.5 2:0.5}; do
    t=${pair%%:*} a=${pair##*:}
    distill "distilled-T$t-a$a" "$teacher" "$t" "$a"; distill "distilled-from-weak-T$t-a$a" "$weak" "$t" "$a"
    runs+=("distilled-T$t-a$a" "distilled-from-weak-T$t-a$a")
  done
fi

# The other student the seed compares: a rewrite of the teacher itself, initialised from its
# weights (default: depthwise-separable conv2, fc1 factored at rank 16; REWRITE and REWRITE_MORE
# change it), trained alone and distilled from both teachers.
rewritten="$out/teacher-rewritten.safetensors"
if [ ! -f "$rewritten" ]; then
  # shellcheck disable=SC2086
  "$pare" rewrite "$teacher" ${REWRITE:---dwpw --svd --rank ${RANK:-16} --skip conv1 --skip fc2} --out "$rewritten"
  if [ -n "${REWRITE_MORE:-}" ]; then
    # shellcheck disable=SC2086
    "$pare" rewrite "$rewritten" $REWRITE_MORE --out "$rewritten.more.safetensors" && mv "$rewritten.more.safetensors" "$rewritten"
  fi
fi
rewrite_epochs=${REWRITE_EPOCHS:-${STUDENT_EPOCHS:-10}}
rewrite_common=(--data fashion-mnist --val-fraction 0.1 --threads "$threads" --augment "$augment" --log-every 1000 --lr "${REWRITE_LR:-0.01}")
[ -f "$out/rewritten-alone/summary.json" ] && [ "$(python3 -c "import json;s=json.load(open('$out/rewritten-alone/summary.json'));print(s['completedEpochs']==$rewrite_epochs)")" = True ] || {
  if [ -f "$out/rewritten-alone/last.safetensors" ]; then "$pare" train --resume "$out/rewritten-alone" --log-every 1000; else
  "$pare" train "$rewritten" --epochs "$rewrite_epochs" "${rewrite_common[@]}" --out "$out/rewritten-alone"; fi; }
distill_rewritten() {  # name teacher-file [pare distill options]
  [ -f "$out/$1/student.safetensors" ] && return
  if [ -f "$out/$1/last.safetensors" ]; then "$pare" distill --resume "$out/$1" --log-every 1000; return; fi
  "$pare" distill --teacher "$2" --student "$rewritten" --epochs "$rewrite_epochs" --alpha "${REWRITE_ALPHA:-${ALPHA:-0.5}}" \
    --temperature "${REWRITE_TEMPERATURE:-${TEMPERATURE:-20}}" "${rewrite_common[@]}" "${@:3}" --out "$out/$1"
}
distill_rewritten rewritten-distilled "$teacher"
rewritten_runs=(rewritten-alone rewritten-distilled)
hints=()
if [ -n "${REWRITE_HINTS:-}" ]; then
  hints=(--hint-init identity ${HINT_WEIGHT:+--hint-weight "$HINT_WEIGHT"})
  for node in $REWRITE_HINTS; do hints+=(--hint "$node=$node"); done
  distill_rewritten rewritten-hinted "$teacher" "${hints[@]}"
  rewritten_runs+=(rewritten-hinted)
fi
distill_rewritten rewritten-distilled-from-weak "$weak"
rewritten_runs+=(rewritten-distilled-from-weak)
if [ -n "${REWRITE_HINTS:-}" ]; then
  distill_rewritten rewritten-hinted-from-weak "$weak" "${hints[@]}"
  rewritten_runs+=(rewritten-hinted-from-weak)
fi

echo
printf "%-30s %12s %14s %16s\n" run parameters "test accuracy" "s per epoch"
summaries=()
for run in "${runs[@]}" "${rewritten_runs[@]}"; do summaries+=("$out/$run/summary.json:$run"); done
# A WEAK_TEACHER copied from an early epoch of a run keeps that run's summary.json beside it.
[ -n "${WEAK_TEACHER:-}" ] && [ -f "$(dirname "$WEAK_TEACHER")/summary.json" ] && summaries=("${summaries[0]}" "$(dirname "$WEAK_TEACHER")/summary.json:weak-teacher" "${summaries[@]:1}")
for entry in "${summaries[@]}"; do
  python3 - "${entry%:*}" "${entry##*:}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if "summary" in s: s = s["summary"]
epochs = s["history"]
print("%-30s %12s %13.2f%% %16.1f" % (sys.argv[2], format(s["trainableParameters"], ","), 100 * epochs[-1]["test"]["accuracy"],
      sum(e["seconds"] for e in epochs) / len(epochs)))
PY
done
echo
rewritten_files=("$out/rewritten-alone/best.safetensors")
for run in "${rewritten_runs[@]:1}"; do rewritten_files+=("$out/$run/student.safetensors"); done
"$pare" compare "$teacher" "$weak" "${plain_files[@]}" "${rewritten_files[@]}" --data fashion-mnist --threads "$threads"
