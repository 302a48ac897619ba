# TallyIO: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FOUNDRY_BINS := node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil \
                node_modules/@foundry-rs/forge-linux-amd64/bin/forge \
                node_modules/@foundry-rs/cast-linux-amd64/bin/cast
FORGE := $(CURDIR)/node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: setup demo test lint pytest forge-test bench clean

setup: .stamp-venv .stamp-node .stamp-apt

# System packages the tests start (PostgreSQL, promtool, headless Chromium): Debian's, installed
# only when missing. Append to APT_PACKAGES; the stamp re-runs when the list changes.
APT_PACKAGES := postgresql prometheus chromium
.stamp-apt: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi
	touch $@

# Python: re-run only when the lock, the package metadata or the C fast path change
# (`pip install -e .` compiles tallyio.protocols._fastmath from setup.py).
FASTMATH_SOURCES := $(wildcard src/tallyio/protocols/_fastmath_c/*.[ch])
.stamp-venv: requirements.lock pyproject.toml setup.py $(FASTMATH_SOURCES)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Node tools and protocol artifacts: exactly what the lockfile says.
.stamp-node: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	chmod +x $(FOUNDRY_BINS)
	touch $@

demo: setup
	$(BIN)/tallyio demo

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

forge-test: setup
	cd contracts && $(FORGE) test

pytest: setup
	$(BIN)/pytest

test: setup lint forge-test pytest

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules .stamp-venv .stamp-node .stamp-apt contracts/out contracts/cache .devnet
