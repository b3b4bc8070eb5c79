# Pare — build, test, demo and benchmarks. `make demo` and `make test` install what they
# need (Debian packages via apt-get, only when missing) and then run.

SWIFT       ?= swift
THREADS     ?= 2
APT_PACKAGES = libdnnl-dev libopenblas-dev pkg-config dataset-fashion-mnist libpng-dev libjpeg62-turbo-dev zlib1g-dev
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Python environment for the ONNX export check (numpy, onnx, onnxruntime from PyPI).
ONNX_VENV   ?= .venv-onnx

.PHONY: deps build release test onnx-venv onnx-fixtures demo bench fuzz clean

## deps: install the Debian packages Pare builds against (only those missing)
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	else echo "system packages present: $(APT_PACKAGES)"; fi

## build: debug build of the library and the `pare` command
build: deps
	$(SWIFT) build

## release: optimised build (used by demo and bench)
release: deps
	$(SWIFT) build -c release

## test: the whole test suite (debug build). The ONNX export check against onnxruntime runs
## with $$PARE_PYTHON if set, else python3 if it has onnx and onnxruntime, else the
## environment `make onnx-venv` makes; when none can be had it is skipped and says why.
test: deps
	$(SWIFT) build --build-tests
	@python="$${PARE_PYTHON:-}"; \
	if [ -z "$$python" ]; then \
	  if python3 -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then python=python3; \
	  elif python3 -m venv --help >/dev/null 2>&1 && $(MAKE) --no-print-directory onnx-venv; then \
	    python="$(CURDIR)/$(ONNX_VENV)/bin/python"; \
	  else echo "note: no Python with onnx and onnxruntime could be set up; the ONNX export check will be skipped"; fi; \
	fi; \
	if [ -n "$$python" ]; then export PARE_PYTHON="$$python"; echo "ONNX export check with $$python"; fi; \
	$(SWIFT) test --skip-build

## onnx-venv: a Python virtual environment ($(ONNX_VENV)) with numpy, onnx and onnxruntime
## from PyPI, for the ONNX export check (scripts/check-onnx-export.py)
onnx-venv:
	@if $(ONNX_VENV)/bin/python -c 'import onnxruntime, onnx, numpy' 2>/dev/null; then \
	  echo "$(ONNX_VENV) has numpy, onnx and onnxruntime"; \
	elif python3 -m venv $(ONNX_VENV) && $(ONNX_VENV)/bin/pip install -q numpy onnx onnxruntime; then \
	  echo "$(ONNX_VENV): installed numpy, onnx and onnxruntime"; \
	else \
	  echo "could not set up $(ONNX_VENV) (python3 -m venv or pip install numpy onnx onnxruntime failed)"; exit 1; \
	fi

## onnx-fixtures: regenerate the committed ONNX import fixtures (Tests/PareIOTests/Fixtures/onnx) with
## $(PYTHON), which needs torch, torchvision, onnx, onnxruntime, onnxscript and safetensors. Run by
## hand; CI uses the committed files.
onnx-fixtures:
	@if [ -z "$(PYTHON)" ]; then echo "usage: make onnx-fixtures PYTHON=/path/to/python (with torch, torchvision, onnx, onnxruntime, onnxscript, safetensors)"; exit 2; fi
	$(PYTHON) scripts/make-onnx-fixtures.py

## demo: Pare's main job on Fashion-MNIST (about 3 minutes on 2 cores after the build): train a
## smallcnn teacher, compress it (sensitivity, allocation, pruning with distillation, int8) to at
## most 25,000 parameters, print every step and the table; the report is .build/demo/report.html.
## (`pare demo --synthetic` needs no data.)
demo: release
	rm -rf .build/demo
	$$($(SWIFT) build -c release --show-bin-path)/pare demo --threads $(THREADS) --out .build/demo

## bench: convolution GFLOP/s (fwd, bwd-data, bwd-weights) and page faults per training step
bench: release
	$$($(SWIFT) build -c release --show-bin-path)/pare bench-kernels --threads $(THREADS)

## fuzz: build the libFuzzer targets of Fuzz/ (separate package, AddressSanitizer, scratch
## path .build-fuzz), write their seed corpora and run each for $(SECONDS) seconds; fails on any
## crash, leak, timeout or over-limit allocation. Needs only what `deps` installs (clang's
## libFuzzer and ASan runtimes ship with the Swift toolchain). See Fuzz/README.md.
SECONDS ?= 60
fuzz: deps
	Fuzz/run.sh $(SECONDS)

clean:
	rm -rf .build
