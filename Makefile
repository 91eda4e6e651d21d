# Sluice: two commands matter — `make demo` (a real export on embedded defaults) and
# `make test` (the whole suite). Both create .venv themselves on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# The code laid out as installed (sluice/server -> server/, ...), as links, for mypy,
# which cannot follow setuptools' package-dir mapping.
TYPECHECK_TREE := $(VENV)/typecheck/sluice

# Tools the tests drive as real peers. `make test` installs whichever are missing
# (Debian packages with apt-get as root; npm packages into .tools/).
DEBIAN_TEST_PACKAGES := age p7zip-full postgresql poppler-utils strace
NPM_TEST_PACKAGES    := azurite@3
TOOLS                := .tools
# pytest worker processes (pytest-xdist). The tests mostly wait on real daemons and
# servers, so three workers on two cores finish the suite in about 14 minutes instead of
# 35+; each worker starts its own moto, Azurite and PostgreSQL on free loopback ports.
# Work stealing: with xdist's default `load` scheduling, a run at 204aaa5 spent its last
# minutes (96% → 100%: 9 of its 19:05) at load ~1, on one worker still holding its
# queue; with `--dist worksteal` the same tree took 11:48.
TEST_WORKERS         ?= 3
# Every distribution the environments install, at one exact version each (`make lock`
# writes them; README "Install"): .venv, CI, the image and `make bench` install with
# `-c $(LOCK)`. The PostgreSQL peer's venv has its own, for its older DuckDB.
LOCK    := constraints.txt
PG_LOCK := constraints-pg-duckdb.txt

.PHONY: demo test test-tools typecheck-tree serve proto proto-check lint typecheck lock bench bench-diff bench-postgres clean

# Rebuilt when pyproject.toml or the lock is newer than it (a pull, a checkout, `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# The `sluice` package as mypy reads it (pyproject.toml's mypy_path): made again on every
# run, so a module added under proto/sluice/ since the venv was installed is seen.
typecheck-tree:
	rm -rf $(VENV)/typecheck && mkdir -p $(TYPECHECK_TREE)
	for f in proto/sluice/*; do ln -s $(CURDIR)/$$f $(TYPECHECK_TREE)/$${f##*/}; done
	for d in server client sinks; do ln -s $(CURDIR)/$$d $(TYPECHECK_TREE)/$$d; done

demo: $(STAMP)  ## generate sample data, start the daemon, export with a progress bar, show the manifest
	$(BIN)/sluice demo

serve: $(STAMP)  ## run the daemon in the foreground with embedded defaults
	$(BIN)/sluice serve

test-tools:  ## install the external programs the tests run against
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@test -z "$(NPM_TEST_PACKAGES)" || test -x $(TOOLS)/node_modules/.bin/azurite || \
	  npm install --silent --no-audit --no-fund --prefix $(TOOLS) $(NPM_TEST_PACKAGES)

test: $(STAMP) test-tools typecheck-tree  ## everything CI runs: generated-code freshness, lint, types, all tests
	$(BIN)/python proto/generate.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

proto: $(STAMP)  ## regenerate proto/sluice/v1/*_pb2*.py(i) from the .proto files
	$(BIN)/python proto/generate.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP) typecheck-tree
	$(BIN)/mypy

# What `make lock` passes on to `uv pip compile`: `LOCK_ARGS='--upgrade-package ruff'` raises
# one package (and what it needs), `LOCK_ARGS=--upgrade` everything. Without it every pin
# already in the lock is kept and only what pyproject.toml added, dropped or no longer
# allows is resolved anew.
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --python $(BIN)/python \
	--custom-compile-command 'make lock  (LOCK_ARGS="--upgrade-package NAME" raises one: see README, Install)' $(LOCK_ARGS)

# Not on $(STAMP): installing .venv with a lock that pyproject.toml no longer allows (a
# raised lower bound) would fail, and this is what mends it. uv comes at the lock's version.
# The peer venv's lock shares every pin of the main one but DuckDB's (bench-pg-duckdb
# holds its own).
lock:  ## re-resolve constraints.txt (dev and bench extras) and constraints-pg-duckdb.txt with uv
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) uv
	$(UV_COMPILE) --extra dev --extra bench -o $(LOCK)
	grep -v '^duckdb==' $(LOCK) > $(VENV)/lock-without-duckdb.txt
	$(UV_COMPILE) --extra bench-pg-duckdb -c $(VENV)/lock-without-duckdb.txt -o $(PG_LOCK)

# Rows of the benchmark dataset; e.g. `make bench BENCH_ROWS=100000` for a quick look.
# BENCH_PEERS_ARGS go to peers_bench, e.g. BENCH_PEERS_ARGS='--note "shared machine"'.
BENCH_ROWS ?= 1000000
BENCH_PEERS_ARGS ?=

bench: $(STAMP)  ## exports through the daemon, then side by side with DuckDB, Polars, dlt, pandas (~12 min)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[bench]'
	@command -v rclone >/dev/null || (apt-get update -qq && apt-get install -y -qq rclone >/dev/null)
	$(BIN)/python -m benchmarks.export_bench --rows $(BENCH_ROWS)
	$(BIN)/python -m benchmarks.peers_bench --rows $(BENCH_ROWS) $(BENCH_PEERS_ARGS)
	$(BIN)/python -m benchmarks.stage_budget --rows $(BENCH_ROWS)

bench-diff: $(STAMP)  ## record-level diff of two 10M-key exports: time and peak RSS
	$(BIN)/python -m benchmarks.diff_bench --keys 10000000 --also 1000000

PG_PEER_VENV := benchmarks/.venv-pg-duckdb

bench-postgres: $(STAMP) test-tools  ## PostgreSQL source: Sluice beside DuckDB postgres_scan, dlt, psql (1M and 10M rows)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[bench]'
	test -x $(PG_PEER_VENV)/bin/python || $(PYTHON) -m venv $(PG_PEER_VENV)
	$(PG_PEER_VENV)/bin/python -m pip install --quiet -c $(PG_LOCK) -e '.[bench-pg-duckdb]'
	$(BIN)/python -m benchmarks.postgres_source_bench --rows $(BENCH_ROWS) --scale 10

clean:
	rm -rf $(VENV) .sluice .sluice-demo .mypy_cache .ruff_cache
