#!/usr/bin/env bash
# Builds the fuzz targets of Fuzz/Package.swift with libFuzzer and AddressSanitizer, writes
# their seed corpora (fuzz-seeds), and runs each target for SECONDS seconds on its corpus
# (kept in .build-fuzz/corpus between runs). Fails, naming the target and the input that did
# it, on any crash, leak, timeout or over-limit allocation.
#
# Usage: Fuzz/run.sh [SECONDS] [TARGET...]      e.g. Fuzz/run.sh 60   or   Fuzz/run.sh 10 idx png
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(idx idx-gzip cifar png jpeg safetensors architecture onnx checkpoint plan)
targets=("${@:-${all[@]}}")
[ $# -gt 0 ] || targets=("${all[@]}")
scratch=$PWD/.build-fuzz
work=$scratch/fuzzing
# One -sanitize= list: swiftc keeps only the last -sanitize= it is given, so SwiftPM's
# `--sanitize fuzzer --sanitize address` would compile without coverage instrumentation.
# `--sanitize fuzzer` makes SwiftPM link libFuzzer; -Xswiftc applies to every module, Pare's too.
build=(swift build --package-path Fuzz --scratch-path "$scratch" --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address)

echo "building the fuzz targets (libFuzzer + AddressSanitizer) in $scratch"
"${build[@]}" 2>&1 | grep -v "Cannot export local symbol" | tail -5
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz build failed"; exit 1; }
bin=$("${build[@]}" --show-bin-path)

rm -rf "$work/seeds"
ASAN_OPTIONS=detect_leaks=0 "$bin/fuzz-seeds" "$work/seeds" || { echo "seed generation failed"; exit 1; }
mkdir -p "$work/seeds/idx-gzip"
for f in "$work/seeds/idx/"*; do gzip -n -c "$f" > "$work/seeds/idx-gzip/$(basename "$f").gz"; done

failed=()
printf '%-14s %12s %8s %10s %8s  %s\n' target executions seconds exec/s corpus result > "$work/summary.txt"
for t in "${targets[@]}"; do
  corpus=$work/corpus/$t
  artifacts=$work/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  log=$work/$t.log
  echo "fuzz-$t: ${seconds}s on $corpus (seeds $(ls "$work/seeds/$t" | wc -l))"
  # -malloc_limit_mb: one allocation above 1 GiB is a failure (files may not ask for that
  # much); -timeout: one input taking over 10 s is a hang; leaks are reported (detect_leaks).
  dict=()
  [ -f "Fuzz/dictionaries/$t.dict" ] && dict=(-dict="Fuzz/dictionaries/$t.dict")
  "$bin/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1024 \
    -max_len=65536 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$artifacts/" "$corpus" "$work/seeds/$t" > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  size=$(ls "$corpus" | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (rc $rc)"; failed+=("$t"); fi
  rate=$(( ${runs:-0} / ( ${time:-0} > 0 ? ${time:-1} : 1 ) ))
  printf '%-14s %12s %8s %10s %8s  %s\n' "$t" "${runs:-?}" "${time:-?}" "$rate" "$size" "$result" | tee -a "$work/summary.txt"
  if [ $rc -ne 0 ]; then
    grep -E "ERROR|SUMMARY|Fatal error|Test unit written|==[0-9]+==" "$log" | head -8
  fi
done
echo
cat "$work/summary.txt"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs under $work/artifacts, logs $work/<target>.log)"
  exit 1
fi
