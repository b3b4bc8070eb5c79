# Sourced by the bench/compare-*.sh scripts: makes .venv-bench (torch, torchvision, onnx,
# onnxruntime from PyPI; Pare itself never needs Python), builds Pare in release mode and sets
# $venv and $pare. PyTorch at its best uses tcmalloc (Debian's libgoogle-perftools4) when it is
# installed; TCMALLOC=0 keeps glibc malloc. Pare's own processes always run without LD_PRELOAD.
cd "$(dirname "$0")/.."
venv=.venv-bench
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.13.0 torchvision==0.28.0 onnx onnxruntime
fi
swift build -c release >/dev/null
pare="$(swift build -c release --show-bin-path)/pare"
tcmalloc=$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -1 || true)
if [ "${TCMALLOC:-1}" != 0 ] && [ -n "$tcmalloc" ]; then export LD_PRELOAD="$tcmalloc"; fi
