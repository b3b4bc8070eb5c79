#!/usr/bin/env bash
# Is an int8 speed-up possible on this CPU? Prints the ISA, the per-core peak of fp32 FMA
# against AVX2's int8 dot product (bench/int8_peak.c), then oneDNN's fp32 and int8
# convolution primitives alone on resnet18 and mobilenet_v2 shapes (bench/int8_conv_peak.cpp).
# Needs a C and a C++ compiler and libdnnl-dev (make deps installs it). Quiet machine only.
#   bench/int8-peak.sh [THREADS]   (default 2)
set -euo pipefail
threads="${1:-2}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$(dirname "$0")"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores"
echo "isa: $(grep -o -w -E 'avx512[a-z_]*|avx2|avx_vnni|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
"${CC:-cc}" -O2 -o "$out/int8_peak" int8_peak.c
"$out/int8_peak"
"${CXX:-c++}" -O2 -std=c++17 -o "$out/int8_conv_peak" int8_conv_peak.cpp -ldnnl
echo
echo "oneDNN $(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?') convolutions alone, $threads threads (median of 40; GMAC/s from the minimum):"
OMP_NUM_THREADS="$threads" "$out/int8_conv_peak"
