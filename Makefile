# Sluice: two commands matter — `make demo` (a real export on embedded defaults) and
# `make test` (the whole suite). Both create .venv themselves on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test serve proto proto-check lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)  ## generate sample data, start the daemon, export with a progress bar, show the manifest
	$(BIN)/sluice demo

serve: $(STAMP)  ## run the daemon in the foreground with embedded defaults
	$(BIN)/sluice serve

test: $(STAMP)  ## everything CI runs: generated-code freshness, lint, types, all tests
	$(BIN)/python proto/generate.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

proto: $(STAMP)  ## regenerate proto/sluice/v1/*_pb2*.py(i) from the .proto files
	$(BIN)/python proto/generate.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## throughput and peak RSS of exports through the daemon (1M rows)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.export_bench

clean:
	rm -rf $(VENV) .sluice .sluice-demo .mypy_cache .ruff_cache
