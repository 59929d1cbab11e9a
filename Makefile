# Every target creates .venv and installs what it needs: `make run` and `make test`
# are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: run test test-tools bench bench-full soak lint serve venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# A fresh quickstart each time (its run folder is its resume state). The config's
# `{python}` is the interpreter running the orchestrator, this venv's (with scikit-learn),
# and the embedded service starts on it too: nothing looks `python` up on PATH.
run: $(STAMP)
	rm -rf runs/quickstart
	$(BIN)/orchestrator run configs/quickstart.yaml

# System tools the tests drive for real: tmux shows the terminal a user sees (Ctrl-C and
# resume); Debian's chromium runs the pages' browser tests (Playwright drives it by path,
# no browser download); Debian's postgresql gives the binaries (in /usr/lib/postgresql/<ver>/bin,
# not on PATH) of the throwaway servers tests/support/postgres.py starts. Installed from
# Debian's packages when missing (CI runs as root). A policy-rc.d that says 101 keeps the
# package from starting a system server of its own on 5432; an image's own one is left alone.
test-tools:
	@command -v tmux >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; \
	  else echo "the tests need tmux: install it (e.g. sudo apt-get install tmux)"; exit 1; fi; }
	@[ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the tests need chromium: install it (e.g. sudo apt-get install chromium)"; exit 1; fi; }
	@[ -x "$${PG_BIN:-/nonexistent}/initdb" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    if [ ! -e /usr/sbin/policy-rc.d ]; then \
	      trap 'rm -f /usr/sbin/policy-rc.d' EXIT; printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	      chmod 755 /usr/sbin/policy-rc.d; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends postgresql >/dev/null; \
	  else echo "the tests need PostgreSQL: install it (e.g. sudo apt-get install postgresql)"; exit 1; fi; }

test: $(STAMP) test-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP) test-tools
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks

bench-full: $(STAMP) test-tools
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks --full

# Chaos soak (3 coordinators, kill -9s, ~20% network faults), the 10,000-evaluation leak
# measurement, and thousands of fuzz cases from the OpenAPI document; exits non-zero if a
# row misses its target.
soak: $(STAMP) test-tools
	$(BIN)/python -m benchmarks.soak
	$(BIN)/python -m benchmarks.fuzz

serve: $(STAMP)
	$(BIN)/orchestrator serve --host 127.0.0.1 --port 8080 --db runs/service.db

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs
