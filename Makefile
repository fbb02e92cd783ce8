# duo-provisioning — developer entry points.
#   make demo   set up, then run the main job on the embedded defaults
#   make test   install what tests need, then run every test
#   make bench  print performance figures (no assertions)

SHELL := /bin/bash
CARGO ?= cargo
DUOPROV := target/debug/duoprov
# System packages: libusb + pkg-config for rusb, dfu-util for the conformance
# tests, openssl for cross-checking key files.
APT_PACKAGES := libusb-1.0-0-dev pkg-config dfu-util openssl

.PHONY: all deps build demo test lint test-rust examples bench clean test-python

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(CARGO) build --workspace

demo: build
	$(DUOPROV) demo

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: deps libusb-virtual
	$(CARGO) test --workspace

# Examples run in CI so they never rot.
examples: deps
	$(CARGO) run -q -p duo-provisioning-examples --bin guide
	$(CARGO) run -q -p duo-provisioning-examples --bin progress

test: lint test-rust examples

bench: deps
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean

# ---- issue 5: real peers (dfu-util, duoprov over rusb) against the virtual Duo ----
# The libusb-1.0 stand-in, under the soname the loader looks for, so either
#   LD_PRELOAD=$(LIBUSB_VIRTUAL)  or  LD_LIBRARY_PATH=$(dir $(LIBUSB_VIRTUAL))
# routes a program's libusb calls to the virtual Duos in $DUO_VIRTUAL_DIRS.
LIBUSB_VIRTUAL := target/libusb-virtual/libusb-1.0.so.0

.PHONY: libusb-virtual conformance bench-dfu

libusb-virtual: deps
	$(CARGO) build -p libusb-virtual
	@mkdir -p $(dir $(LIBUSB_VIRTUAL))
	@# Replace by rename: a running program may have the old file mapped.
	cp target/debug/liblibusb_virtual.so $(LIBUSB_VIRTUAL).tmp && mv -f $(LIBUSB_VIRTUAL).tmp $(LIBUSB_VIRTUAL)

conformance: deps libusb-virtual
	$(CARGO) build -p duo-provisioning --bin duoprov
	DUOPROV=$(DUOPROV) LIBUSB_VIRTUAL=$(LIBUSB_VIRTUAL) ./tests/conformance/conformance.sh

test: conformance

# The benchmarks run the release build users run (figures only).
DUOPROV_RELEASE := target/release/duoprov
.PHONY: build-release bench-keygen
build-release: deps
	$(CARGO) build --release -p duo-provisioning --bin duoprov

# Backing up and restoring the key slot with dfu-util and with duoprov on
# r4 and r6 boards at real device timing.
bench-dfu: deps libusb-virtual build-release
	DUOPROV=$(DUOPROV_RELEASE) LIBUSB_VIRTUAL=$(LIBUSB_VIRTUAL) ./tests/conformance/bench.sh

bench: bench-dfu

# RSA-1024 key generation, duoprov against openssl, whole process.
bench-keygen: build-release
	DUOPROV=$(DUOPROV_RELEASE) ./tests/bench/keygen.sh

bench: bench-keygen

# ---- issue 9: the Node binding (bindings-node, napi-rs) ----
# `npm install` builds the addon once, in release, into the shared target/
# (bindings-node/scripts/build.js); then its node:test suite, main.js as a
# child process, particle-api-js against the local cloud, tsc --strict on
# the shipped declarations, and the Node examples.
NPM ?= npm
NODE ?= node

.PHONY: node test-node bench-node

node: deps
	cd bindings-node && $(NPM) install --no-audit --no-fund --foreground-scripts

test-node: node
	cd bindings-node && $(NPM) test
	$(NODE) examples/node/provision.js
	$(NODE) --test examples/node/test-rig.test.js

test: test-node

bench-node: node
	$(NODE) bindings-node/bench/bench.js

bench: bench-node

# ---- issue 10: the Python binding (bindings-python/) ----
# A venv under target/ (ignored); pip builds ./bindings-python once, in
# release, from source (its isolated build fetches maturin from PyPI).
PYTHON ?= python3
PY_VENV := target/python-venv
PY_ENV := PYTHONDONTWRITEBYTECODE=1 MYPY_CACHE_DIR=$(CURDIR)/target/mypy-cache

.PHONY: python-venv test-python bench-python

python-venv: deps
	@test -x $(PY_VENV)/bin/python || $(PYTHON) -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install -q --disable-pip-version-check -r bindings-python/requirements-test.txt
	$(PY_VENV)/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps ./bindings-python

# The binding's tests, the example rig, mypy --strict on the rig, stubtest.
test-python: python-venv
	$(CARGO) build -p duo-provisioning --bin duoprov
	$(PY_ENV) DUOPROV=$(CURDIR)/$(DUOPROV) $(PY_VENV)/bin/pytest -p no:cacheprovider bindings-python/tests examples/python
	$(PY_ENV) $(PY_VENV)/bin/mypy --strict examples/python/test_rig.py
	cd target && $(PY_ENV) $(CURDIR)/$(PY_VENV)/bin/python -m mypy.stubtest duo_provisioning

test: test-python

# provision_many vs the CLI's batch rate (both release builds), import time.
bench-python: python-venv build-release
	$(PY_ENV) $(PY_VENV)/bin/python bindings-python/bench/bench.py $(DUOPROV_RELEASE)

bench: bench-python
