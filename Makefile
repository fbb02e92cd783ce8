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

.PHONY: all deps build demo test lint test-rust examples bench clean

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
	./scripts/demo.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: deps
	$(CARGO) test --workspace

# Examples run in CI so they never rot.
examples: deps
	$(CARGO) run -q -p duo-provisioning-examples --bin guide

test: lint test-rust examples

bench: deps
	$(CARGO) bench --workspace

clean:
	$(CARGO) clean
