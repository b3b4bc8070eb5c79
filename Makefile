# Pare — build, test, demo and benchmarks. `make demo` and `make test` install what they
# need (Debian packages via apt-get, only when missing) and then run.

SWIFT       ?= swift
THREADS     ?= 2
APT_PACKAGES = libdnnl-dev libopenblas-dev pkg-config dataset-fashion-mnist libpng-dev libjpeg62-turbo-dev zlib1g-dev
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test demo bench clean

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

## test: the whole test suite (debug build)
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## demo: train smallcnn on Fashion-MNIST for 3 epochs with a progress bar, then print its
## test accuracy, parameters, size and inference latency (`pare demo --synthetic` needs no data)
demo: release
	$$($(SWIFT) build -c release --show-bin-path)/pare demo --threads $(THREADS) --epochs 3 --save .build/demo-smallcnn.safetensors

## bench: convolution GFLOP/s (fwd, bwd-data, bwd-weights) and page faults per training step
bench: release
	$$($(SWIFT) build -c release --show-bin-path)/pare bench-kernels --threads $(THREADS)

clean:
	rm -rf .build
