# Pixel Warden. `make scan` sets up and runs the main job; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PW := $(BIN)/pixelwarden
CORPUS ?= ../shared/corpus
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' host/pixelwarden/__init__.py)

.PHONY: install test test-python test-engine lint bench scan clean

# The package is installed editable; its C reader (host/pixelwarden/_native.c) is compiled into
# the source folder, so a change to it or to the build files reinstalls.
$(BIN)/pixelwarden: host/pyproject.toml host/setup.py host/pixelwarden/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'host[dev]'
	touch $@

install: $(BIN)/pixelwarden

# Every test: engine, DNS, native host, add-on unit tests, lint, and the real-Thunderbird run.
test: install lint lint-extension test-python test-extension e2e

# One pytest run per tier: each tier has its own conftest fixtures (a loopback DNS server, a host
# process pipe) and they stay out of each other's way.
test-python: install
	$(BIN)/pytest -q tests/engine
	$(BIN)/pytest -q tests/dns
	$(BIN)/pytest -q tests/host

test-engine: install
	$(BIN)/pytest -q tests/engine

lint: install
	$(BIN)/ruff check host tests bench
	$(BIN)/ruff format --check host tests bench
	$(BIN)/mypy --config-file host/pyproject.toml host/pixelwarden

bench: install
	$(BIN)/python bench/bench_engine.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_trackers.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_dns.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_mail.py --corpus $(CORPUS)
	$(BIN)/python bench/bench_host.py
	$(BIN)/python bench/bench_parsers.py

# The main job: audit mail files (by default the shared corpus of real mail) with the engine.
# No DNS by default here: an audit of someone else's mail should not look up its senders' names.
SCAN ?= $(CORPUS)
scan: install
	$(PW) scan --no-dns $(SCAN)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

-include mk/xpi.mk
-include mk/e2e.mk
